#!/usr/bin/env node
// `pnpm pack:local [folder]`: the @igm packages as tarballs, to install them in another project
// until they are published. Builds every package, packs each publishable one with `pnpm pack`
// (workspace and catalog versions replaced by real ones, as published) into `folder` (default
// ./igm-packages), and writes there `overrides.json`: the "pnpm.overrides" that make a project's
// @igm dependencies, direct or not, resolve to these tarballs instead of the npm registry.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
// pnpm runs scripts in the package's folder; INIT_CWD is where the user typed the command.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: set by pnpm when it runs a script.
const cwd = process.env.INIT_CWD ?? process.cwd();
const dest = resolve(cwd, process.argv[2] ?? 'igm-packages');
mkdirSync(dest, { recursive: true });

function run(cmd, args, where) {
  const r = spawnSync(cmd, args, { cwd: where, stdio: ['ignore', 2, 2] });
  if (r.status !== 0) {
    process.stderr.write(`pack:local: ${cmd} ${args.join(' ')} failed in ${where}\n`);
    process.exit(r.status ?? 1);
  }
}

run(
  join(root, 'node_modules', '.bin', 'turbo'),
  ['run', 'build', '--output-logs=errors-only'],
  root,
);

const overrides = {};
for (const dir of readdirSync(join(root, 'packages')).sort()) {
  const manifestPath = join(root, 'packages', dir, 'package.json');
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  if (manifest.private) continue;
  const before = new Set(readdirSync(dest));
  run('pnpm', ['pack', '--pack-destination', dest], join(root, 'packages', dir));
  const made = readdirSync(dest).find((f) => f.endsWith('.tgz') && !before.has(f));
  // A tarball of the same name and version is replaced in place.
  const tarball =
    made ?? `${manifest.name.replace('@', '').replace('/', '-')}-${manifest.version}.tgz`;
  overrides[manifest.name] = `file:${join(dest, tarball)}`;
}
writeFileSync(join(dest, 'overrides.json'), `${JSON.stringify(overrides, null, 2)}\n`);
process.stdout.write(
  `${Object.keys(overrides).length} packages packed into ${dest}.\n` +
    `In your project's package.json, set "pnpm": { "overrides": <the contents of ${join(dest, 'overrides.json')}> },\n` +
    'then e.g. pnpm add @igm/sam @tensorflow/tfjs  (or @igm/cli for the igm command).\n',
);
