import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { libraryPackages, NODE_ONLY_PACKAGES, nodeOnlyPackages } from '../workspace';
import { nodeImportsOfBrowserBundle } from './bundle-check';

const libraries = libraryPackages();
const nodeOnly = nodeOnlyPackages();

/** The files among `files` that belong to a Node-only package. */
const nodeOnlyFiles = (files: readonly string[]) =>
  files.filter((file) => nodeOnly.some((p) => file.startsWith(`${p.dir}${sep}`)));

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
    // Every package declared Node only exists and is published (the list does not go stale).
    expect(nodeOnly.map((p) => p.name).sort()).toEqual(Object.keys(NODE_ONLY_PACKAGES).sort());
  });

  it.each(libraries.map((p) => [p.name, p] as const))(
    '%s imports no Node built-in and no Node-only package',
    async (_name, pkg) => {
      const { imports, bytes, files } = await nodeImportsOfBrowserBundle(pkg.browserSource);
      expect(
        nodeOnlyFiles(files),
        `${pkg.name}'s browser bundle includes a Node-only package`,
      ).toEqual([]);
      const report = imports.map((i) => `${i.importer} imports ${i.module}`).join('\n');
      expect(
        report,
        `${pkg.name} (${pkg.browserExport}) pulls Node built-ins into a browser bundle`,
      ).toBe('');
      expect(bytes).toBeGreaterThan(1000);
    },
  );
});

describe('the Node-only packages', () => {
  it.each(nodeOnly.map((p) => [p.name, p] as const))(
    '%s does need Node, and the check above recognises its files',
    async (_name, pkg) => {
      const { imports, files } = await nodeImportsOfBrowserBundle(pkg.browserSource);
      // Else it belongs with the browser libraries.
      expect(imports.length).toBeGreaterThan(0);
      // The library check is not vacuous: a bundle of the package is found to include it.
      expect(nodeOnlyFiles(files)).toContain(pkg.browserSource);
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
