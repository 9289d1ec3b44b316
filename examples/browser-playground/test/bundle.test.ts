import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { libraryPackages } from '../workspace';
import { nodeImportsOfBrowserBundle } from './bundle-check';

const libraries = libraryPackages();

describe('every library package bundles for the browser', () => {
  it('finds the library packages in the workspace (not the CLI, not private helpers)', () => {
    const names = libraries.map((p) => p.name);
    expect(names).toEqual(
      expect.arrayContaining([
        '@igm/core',
        '@igm/sam',
        '@igm/flat-projection',
        '@igm/models',
        '@igm/trainer',
        '@igm/alternating-trainer',
        '@igm/igm',
        '@igm/baselines',
        '@igm/datasets',
        '@igm/wasm-training',
        '@igm/progress',
      ]),
    );
    expect(names).not.toContain('@igm/cli');
    expect(names).not.toContain('@igm/test-utils');
  });

  it.each(libraries.map((p) => [p.name, p] as const))(
    '%s imports no Node built-in',
    async (_name, pkg) => {
      const { imports, bytes } = await nodeImportsOfBrowserBundle(pkg.browserSource);
      const report = imports.map((i) => `${i.importer} imports ${i.module}`).join('\n');
      expect(
        report,
        `${pkg.name} (${pkg.browserExport}) pulls Node built-ins into a browser bundle`,
      ).toBe('');
      expect(bytes).toBeGreaterThan(1000);
    },
  );
});

describe('the check itself', () => {
  const dir = join(tmpdir(), `igm-bundle-check-${process.pid}`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names every Node built-in a module would import, however it is imported', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'dep.ts'),
      "import { createHash } from 'crypto';\nexport const h = createHash;\n",
    );
    writeFileSync(
      join(dir, 'entry.ts'),
      [
        "import { readFile } from 'node:fs/promises';",
        "import { h } from './dep';",
        'export async function f() {',
        "  const os = await import('node:os');",
        '  let w: unknown;',
        "  try { w = require('worker_threads'); } catch {}",
        '  return [readFile, h, os, w];',
        '}',
      ].join('\n'),
    );
    const { imports } = await nodeImportsOfBrowserBundle(join(dir, 'entry.ts'));
    expect(imports.map((i) => i.module).sort()).toEqual(
      ['crypto', 'node:fs/promises', 'node:os', 'worker_threads'].sort(),
    );
    expect(imports.find((i) => i.module === 'crypto')!.importer).toMatch(/dep\.ts$/);
  });
});
