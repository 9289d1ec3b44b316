/**
 * The published entries of @igm/cli load in a fresh Node process, as a user loads them:
 * `require('@igm/cli')` (dist/index.cjs) and `import('@igm/cli')` (dist/index.js), each then
 * rendering the report's plots. Vega and Vega-Lite are ESM-only and Vega has top-level await: a
 * static import of them made the CommonJS entry throw ERR_REQUIRE_ASYNC_MODULE; the report now
 * imports them on its first render. dist is built by the global setup (build-once.ts).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CLI_PACKAGE } from './bin';
import { sampleComparison } from './report-data';

/** Runs `load` (an expression giving the module) in a child Node, then buildPlots on the sample. */
function loadAndPlot(load: string): { status: number | null; stdout: string; stderr: string } {
  const script = `
    const data = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    Promise.resolve(${load})
      .then(async (cli) => {
        const plots = await cli.buildPlots(data.summary, data.epochs);
        const svgs = plots.filter((p) => typeof p.svg === 'string' && p.svg.startsWith('<svg'));
        console.log(JSON.stringify({ runComparison: typeof cli.runComparison, plots: plots.length, svgs: svgs.length }));
      })
      .catch((error) => { console.error(error); process.exit(1); });`;
  const child = spawnSync(process.execPath, ['-e', script], {
    cwd: CLI_PACKAGE,
    input: JSON.stringify(sampleComparison()),
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

describe('published entries of @igm/cli', () => {
  it.each([
    [
      'require (dist/index.cjs)',
      `require(${JSON.stringify(join(CLI_PACKAGE, 'dist', 'index.cjs'))})`,
    ],
    [
      'import (dist/index.js)',
      `import(${JSON.stringify(pathToFileURL(join(CLI_PACKAGE, 'dist', 'index.js')).href)})`,
    ],
  ])(
    '%s loads and renders the report plots as SVG',
    (_, load) => {
      const result = loadAndPlot(load);
      expect(result.stderr).not.toMatch(/ERR_REQUIRE|Error/);
      expect(result.status).toBe(0);
      const out = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
      expect(out.runComparison).toBe('function');
      expect(out.plots).toBeGreaterThan(0);
      expect(out.svgs).toBeGreaterThan(0);
    },
    150_000,
  );
});
