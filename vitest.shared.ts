import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = dirname(fileURLToPath(import.meta.url));

/**
 * Workspace packages resolve to their sources, so `pnpm test` needs no prior build. A package with
 * a Node entry (src/node.ts, exported as `<name>/node` and by the `node` condition of `<name>`)
 * resolves to it, as it does in Node.
 */
function workspaceAliases(): Array<{ find: RegExp; replacement: string }> {
  const aliases: Array<{ find: RegExp; replacement: string }> = [];
  for (const dir of readdirSync(join(root, 'packages'))) {
    const name = dir === 'igm' ? '@igm/igm' : `@igm/${dir}`;
    const src = join(root, 'packages', dir, 'src');
    const nodeEntry = join(src, 'node.ts');
    const entry = existsSync(nodeEntry) ? nodeEntry : join(src, 'index.ts');
    if (existsSync(nodeEntry))
      aliases.push({ find: new RegExp(`^${name}/node$`), replacement: nodeEntry });
    aliases.push({ find: new RegExp(`^${name}$`), replacement: entry });
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
