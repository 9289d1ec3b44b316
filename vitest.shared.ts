import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

/** Workspace packages resolve to their sources, so `pnpm test` needs no prior build. */
function workspaceAliases(): Record<string, string> {
  const aliases: Record<string, string> = {};
  for (const dir of readdirSync(join(root, 'packages'))) {
    const name = dir === 'igm' ? '@igm/igm' : `@igm/${dir}`;
    aliases[name] = join(root, 'packages', dir, 'src', 'index.ts');
  }
  return aliases;
}

/** On CI each package also writes a JSON report, summed by `.ci/run` into one closing line. */
const ciReporters = process.env['CI']
  ? {
      reporters: ['default', 'json'],
      outputFile: {
        json: join(root, '.test-results', `${process.cwd().split(/[\\/]/).pop()}.json`),
      },
    }
  : {};

export const sharedConfig = defineConfig({
  resolve: { alias: workspaceAliases() },
  test: {
    ...ciReporters,
    environment: 'node',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
