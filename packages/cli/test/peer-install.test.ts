/**
 * @igm/cli reaches @tensorflow/tfjs-node(-gpu) only through a dynamic import, so under pnpm's
 * strict layout the CLI can load a copy the user installed only because it declares them as
 * optional peer dependencies. This test installs the packed packages the way a user would:
 *
 *   - every @igm package @igm/cli needs is built and packed with `pnpm pack` (workspace and
 *     catalog versions replaced, as published);
 *   - tfjs-node cannot be installed here (its install script downloads libtensorflow), so a
 *     stand-in package of that name and version is packed: like the real one it depends on
 *     @tensorflow/tfjs 4.22.0 and registers a "tensorflow" backend (the CPU kernels under that
 *     name);
 *   - a fresh pnpm workspace (hoist=false: nothing resolves except through declared
 *     dependencies and peers) has an app that depends on @igm/cli and the stand-in, and a
 *     control app whose @igm/cli tarball lacks the peer declarations.
 *
 * It then checks, in a separate Node process per app, that the CLI's `selectBackend` finds the
 * user's tfjs-node (and the control's does not: the original fault), that exactly one copy of
 * @tensorflow/tfjs-core is installed and loaded, and that tensors computed through the user's
 * package run on the backend the CLI selected.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The tfjs release of the workspace catalog, which the CLI runs on. */
const TFJS = /"@tensorflow\/tfjs": ([\d.]+)/.exec(
  readFileSync(join(repo, 'pnpm-workspace.yaml'), 'utf8'),
)![1]!;

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, unknown>;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', npm_config_yes: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
}

/** Workspace folders of @igm/cli and every @igm package it depends on, transitively. */
function workspaceClosure(): Map<string, string> {
  const dirs = new Map<string, string>();
  for (const d of readdirSync(join(repo, 'packages'))) {
    const m = readJson<Manifest>(join(repo, 'packages', d, 'package.json'));
    dirs.set(m.name, join(repo, 'packages', d));
  }
  const out = new Map<string, string>();
  const visit = (name: string) => {
    if (out.has(name)) return;
    const dir = dirs.get(name)!;
    out.set(name, dir);
    const m = readJson<Manifest>(join(dir, 'package.json'));
    for (const dep of Object.keys(m.dependencies ?? {})) if (dep.startsWith('@igm/')) visit(dep);
  };
  visit('@igm/cli');
  return out;
}

/** `pnpm pack` of `dir` into `dest`; returns the tarball path. */
function pack(dir: string, dest: string): string {
  const before = new Set(readdirSync(dest));
  run('pnpm', ['pack', '--pack-destination', dest], dir);
  const made = readdirSync(dest).filter((f) => !before.has(f) && f.endsWith('.tgz'));
  expect(made).toHaveLength(1);
  return join(dest, made[0]!);
}

const STAND_IN = `'use strict';
// Stand-in for @tensorflow/tfjs-node in @igm/cli's packaging test. Like the real package it
// requires @tensorflow/tfjs (its own dependency) and registers a "tensorflow" backend; here that
// backend is the CPU implementation under the name (the real one binds libtensorflow).
const tf = require('@tensorflow/tfjs');
tf.registerBackend('tensorflow', tf.findBackendFactory('cpu'), 3);
for (const kernel of tf.getKernelsForBackend('cpu')) {
  tf.registerKernel({ ...kernel, backendName: 'tensorflow' });
}
module.exports = Object.assign({}, tf, { standIn: true });
`;

/** Runs in each app: which backend the CLI selects, what tfjs-core files are loaded. */
const CHECK = `import { createRequire } from 'node:module';
import { realpathSync } from 'node:fs';
const require = createRequire(import.meta.url);
const request = process.argv[2];
const out = { request };
const { selectBackend } = await import('@igm/cli');
try {
  const choice = await selectBackend(request);
  out.backend = choice.backend;
  out.label = choice.label;
  out.reasons = choice.reasons;
} catch (error) {
  out.error = error.message;
}
// Tensors made through the user's package run in the engine the CLI configured.
const user = require('@tensorflow/tfjs-node');
out.userBackend = user.getBackend();
out.sum = Array.from(user.add(user.tensor([1, 2]), user.tensor([3, 4])).dataSync());
out.cores = [
  ...new Set(
    Object.keys(require.cache)
      .filter((f) => /[\\\\/]@tensorflow[\\\\/]tfjs-core[\\\\/]/.test(f))
      .map((f) => realpathSync(f).replace(/[\\\\/]@tensorflow[\\\\/]tfjs-core[\\\\/].*$/, '')),
  ),
];
process.stdout.write(JSON.stringify(out));
`;

describe('tfjs-node installed by the user resolves from @igm/cli (packed, pnpm strict layout)', () => {
  const work = mkdtempSync(join(tmpdir(), 'igm-peer-install-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('finds the user copy through the optional peer, with one tfjs-core engine', () => {
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    // Build what the CLI needs (cached by turbo when sources did not change), then pack it.
    run(
      'pnpm',
      ['exec', 'turbo', 'run', 'build', '--filter=@igm/cli...', '--output-logs=errors-only'],
      repo,
    );
    const packed = new Map<string, string>();
    for (const [name, dir] of workspaceClosure()) packed.set(name, pack(dir, tarballs));

    // The published manifest declares both node backends as optional peers of the same tfjs
    // release the CLI runs on, and pins tfjs-core to it.
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    run('tar', ['-xzf', packed.get('@igm/cli')!, '-C', unpacked], work);
    const manifest = readJson<Manifest>(join(unpacked, 'package', 'package.json'));
    expect(manifest.peerDependencies).toEqual({
      '@tensorflow/tfjs-node': TFJS,
      '@tensorflow/tfjs-node-gpu': TFJS,
    });
    expect(manifest.peerDependenciesMeta).toEqual({
      '@tensorflow/tfjs-node': { optional: true },
      '@tensorflow/tfjs-node-gpu': { optional: true },
    });
    expect(manifest.dependencies?.['@tensorflow/tfjs']).toBe(TFJS);
    expect(manifest.dependencies?.['@tensorflow/tfjs-core']).toBe(TFJS);
    // The control: the same tarball without the peer declarations (the state before the fix).
    const { peerDependencies: _p, peerDependenciesMeta: _m, ...withoutPeers } = manifest;
    writeFileSync(
      join(unpacked, 'package', 'package.json'),
      `${JSON.stringify(withoutPeers, null, 2)}\n`,
    );
    const control = join(tarballs, 'igm-cli-without-peers.tgz');
    run('tar', ['-czf', control, '-C', unpacked, 'package'], work);

    const standIn = join(work, 'stand-in');
    mkdirSync(join(standIn, 'dist'), { recursive: true });
    writeFileSync(
      join(standIn, 'package.json'),
      JSON.stringify({
        name: '@tensorflow/tfjs-node',
        version: TFJS,
        description: 'Stand-in for the packaging test of @igm/cli',
        main: 'dist/index.js',
        dependencies: { '@tensorflow/tfjs': TFJS },
      }),
    );
    writeFileSync(join(standIn, 'dist', 'index.js'), STAND_IN);
    const standInTgz = pack(standIn, tarballs);

    // The user's project: a pnpm workspace with the app and the control.
    const project = join(work, 'project');
    const overrides = Object.fromEntries(
      [...packed].filter(([name]) => name !== '@igm/cli').map(([name, t]) => [name, `file:${t}`]),
    );
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'user-root', private: true, pnpm: { overrides } }),
    );
    writeFileSync(join(project, 'pnpm-workspace.yaml'), 'packages:\n  - app\n  - control\n');
    writeFileSync(join(project, '.npmrc'), 'hoist=false\npublic-hoist-pattern=\n');
    for (const [app, cli] of [
      ['app', packed.get('@igm/cli')!],
      ['control', control],
    ] as const) {
      mkdirSync(join(project, app));
      writeFileSync(
        join(project, app, 'package.json'),
        JSON.stringify({
          name: app,
          private: true,
          type: 'module',
          dependencies: {
            '@igm/cli': `file:${cli}`,
            '@tensorflow/tfjs-node': `file:${standInTgz}`,
          },
        }),
      );
      writeFileSync(join(project, app, 'check.mjs'), CHECK);
    }
    run(
      'pnpm',
      ['install', '--prefer-offline', '--no-frozen-lockfile', '--reporter=silent'],
      project,
    );

    // One tfjs-core in the whole install: the user's tfjs-node, the CLI and every @igm library
    // share it.
    const store = readdirSync(join(project, 'node_modules', '.pnpm'));
    expect(store.filter((n) => n.startsWith('@tensorflow+tfjs-core@'))).toEqual([
      `@tensorflow+tfjs-core@${TFJS}`,
    ]);

    const check = (app: string, request: string) =>
      JSON.parse(run(process.execPath, ['check.mjs', request], join(project, app))) as {
        backend?: string;
        label?: string;
        reasons?: string[];
        error?: string;
        userBackend: string;
        sum: number[];
        cores: string[];
      };

    const tensorflow = check('app', 'tensorflow');
    expect(tensorflow.error).toBeUndefined();
    expect(tensorflow.backend).toBe('tensorflow');
    expect(tensorflow.label).toBe('@tensorflow/tfjs-node');
    expect(tensorflow.userBackend).toBe('tensorflow');
    expect(tensorflow.sum).toEqual([4, 6]);
    expect(tensorflow.cores).toHaveLength(1);
    expect(tensorflow.cores[0]).toContain(`@tensorflow+tfjs-core@${TFJS}`);

    // auto: tfjs-node-gpu is absent, tfjs-node is taken.
    const auto = check('app', 'auto');
    expect(auto.backend).toBe('tensorflow');
    expect(auto.reasons).toEqual(['@tensorflow/tfjs-node-gpu: not installed']);
    expect(auto.cores).toHaveLength(1);

    // Without the peer declarations the installed package is invisible to the CLI.
    const before = check('control', 'tensorflow');
    expect(before.error).toMatch(/needs @tensorflow\/tfjs-node, which is not installed/);
  }, 900_000);
});
