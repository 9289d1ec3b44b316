#!/usr/bin/env node
// `pnpm igm <command> ...` from a checkout: builds @igm/cli and the workspace packages it uses
// when a source is newer than its build (or there is none), then runs the built igm command in
// this process, so its exit code and Ctrl-C handling are igm's own. Build output goes to stderr:
// stdout stays igm's (e.g. `pnpm -s igm compare ... --json > results.json`).
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const packagesDir = join(root, 'packages');

/** Workspace package folders by package name. */
function workspacePackages() {
  const byName = new Map();
  for (const dir of readdirSync(packagesDir)) {
    const manifest = join(packagesDir, dir, 'package.json');
    if (!existsSync(manifest)) continue;
    const json = JSON.parse(readFileSync(manifest, 'utf8'));
    byName.set(json.name, { dir: join(packagesDir, dir), json });
  }
  return byName;
}

/** @igm/cli and the workspace packages it depends on, directly or not. */
function closure(byName, name, seen = new Map()) {
  const pkg = byName.get(name);
  if (!pkg || seen.has(name)) return seen;
  seen.set(name, pkg);
  for (const [dep, range] of Object.entries(pkg.json.dependencies ?? {})) {
    if (String(range).startsWith('workspace:')) closure(byName, dep, seen);
  }
  return seen;
}

const SKIP = new Set(['dist', 'node_modules', 'test', 'bench', '.turbo']);

/** Newest modification time of a package's build inputs (its files but tests, docs, builds). */
function newestInput(dir) {
  let newest = 0;
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (SKIP.has(entry.name) || entry.name.endsWith('.md')) continue;
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(dir);
  return newest;
}

/** Oldest modification time of a package's build (0 when there is none). */
function oldestOutput(dir) {
  const dist = join(dir, 'dist');
  if (!existsSync(dist)) return 0;
  let oldest = Number.POSITIVE_INFINITY;
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else oldest = Math.min(oldest, statSync(path).mtimeMs);
    }
  };
  walk(dist);
  return Number.isFinite(oldest) ? oldest : 0;
}

// When this script last built successfully: turbo replays a cached build without touching
// files that did not change, so their times alone can look older than an edit undone since.
const stamp = join(root, 'node_modules', '.cache', 'igm', 'cli-build-stamp');
const stampTime = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const shared = statSync(join(root, 'tsup.shared.ts')).mtimeMs;
const stale = [...closure(workspacePackages(), '@igm/cli').values()].filter(({ dir }) => {
  const built = oldestOutput(dir);
  return built === 0 || Math.max(built, stampTime) < Math.max(shared, newestInput(dir));
});
if (stale.length) {
  const started = new Date();
  const turbo = join(root, 'node_modules', '.bin', 'turbo');
  if (!existsSync(turbo)) {
    process.stderr.write('igm: the workspace is not installed; run "pnpm install" first.\n');
    process.exit(1);
  }
  process.stderr.write(
    `igm: building ${stale.map(({ json }) => json.name).join(', ')} (sources changed since the last build)...\n`,
  );
  const build = spawnSync(
    turbo,
    ['run', 'build', '--filter=@igm/cli...', '--output-logs=errors-only'],
    {
      cwd: root,
      stdio: ['ignore', 2, 2],
      env: { TURBO_TELEMETRY_DISABLED: '1', ...process.env },
    },
  );
  if (build.status !== 0) {
    process.stderr.write('igm: the build failed (see above).\n');
    process.exit(build.status ?? 1);
  }
  mkdirSync(dirname(stamp), { recursive: true });
  writeFileSync(stamp, `${started.toISOString()}\n`);
  utimesSync(stamp, started, started);
}

// Commands igm prints (the one that continues a stopped comparison) start as the user typed.
// biome-ignore lint/suspicious/noUndeclaredEnvVars: pnpm sets it when running the igm script.
const viaPnpm = process.env.npm_lifecycle_event === 'igm';
process.env.IGM_COMMAND ??= viaPnpm ? 'pnpm igm' : 'node scripts/igm.mjs';
// pnpm runs the script in the repository root; relative paths the user typed (--out, --config,
// igm report runs/NAME) are meant from the folder where the command was typed (INIT_CWD).
// biome-ignore lint/suspicious/noUndeclaredEnvVars: pnpm sets it when running a script.
if (viaPnpm && process.env.INIT_CWD) process.chdir(process.env.INIT_CWD);
await import(pathToFileURL(join(root, 'packages', 'cli', 'dist', 'bin.js')).href);
