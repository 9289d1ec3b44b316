/**
 * Vitest global setup of @igm/cli: the tests that run the real `igm` binary need
 * packages/cli/dist, so the repository's `igm` script (scripts/igm.mjs) builds it first when a
 * source is newer than its build (a no-op otherwise). Once, before any test file starts.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export default function setup(): void {
  const built = spawnSync(process.execPath, [join(repo, 'scripts', 'igm.mjs'), '--version'], {
    cwd: repo,
    encoding: 'utf8',
  });
  if (built.status !== 0) {
    throw new Error(`building @igm/cli for the binary tests failed:\n${built.stderr}`);
  }
}
