/**
 * `--jobs` (default auto): the decision of how many runs go at once (jobs.ts), the backend
 * `--backend auto` would take for it, and the built binary deciding it for a tiny grid, with the
 * same results as one run after another, also when a comparison is resumed with another --jobs.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { computeBackendOf } from '../src/backend';
import { decideJobs, describeJobs, type JobsFacts, MEMORY_MARGIN, resolveJobs } from '../src/jobs';
import type { ComparisonSummary, RunRecord } from '../src/report';
import { igm, startIgmBin, stopBins } from './bin';
import { withoutNode } from './importers';
import { lastCheckpointEpoch } from './run-folder';

const wasm2: JobsFacts = { runs: 7, backend: 'wasm', threads: 1, cores: 2 };

describe('resolveJobs', () => {
  it('wasm and cpu: one run per core, at most the runs to go', () => {
    expect(resolveJobs('auto', wasm2)).toEqual({ jobs: 2, reason: '--jobs auto: 2 cores, wasm' });
    expect(resolveJobs('auto', { ...wasm2, backend: 'cpu', cores: 8 })).toEqual({
      jobs: 7,
      reason: '--jobs auto: 8 cores, 7 runs to go, cpu',
    });
    expect(resolveJobs('auto', { ...wasm2, cores: 1 })).toEqual({
      jobs: 1,
      reason: '--jobs auto: 1 core, wasm',
    });
  });

  it('wasm threads per run divide the cores; --threads auto counts as one', () => {
    const threads = (t: number | 'auto', cores: number) =>
      resolveJobs('auto', { ...wasm2, threads: t, cores }).jobs;
    expect(threads(2, 2)).toBe(1);
    expect(threads(2, 8)).toBe(4);
    expect(threads(3, 8)).toBe(2);
    expect(threads(4, 2)).toBe(1); // more threads than cores: still one run
    expect(threads('auto', 2)).toBe(2);
    expect(resolveJobs('auto', { ...wasm2, threads: 2, cores: 8 }).reason).toBe(
      '--jobs auto: 8 cores / 2 wasm threads per run, wasm',
    );
  });

  it('one run to go: 1, whatever the backend', () => {
    for (const backend of ['wasm', 'cpu', 'tensorflow', 'cuda', 'webgl'] as const) {
      expect(resolveJobs('auto', { ...wasm2, backend, runs: 1, cores: 16 })).toEqual({
        jobs: 1,
        reason: '--jobs auto: 1 run to go',
      });
    }
    expect(resolveJobs('auto', { ...wasm2, runs: 0 }).jobs).toBe(1);
  });

  it('tfjs-node uses every core itself, tfjs-node-gpu and webgl one GPU: 1', () => {
    const on = (backend: JobsFacts['backend']) =>
      resolveJobs('auto', { ...wasm2, backend, cores: 16 });
    expect(on('tensorflow')).toEqual({
      jobs: 1,
      reason: '--jobs auto: tfjs-node runs each run on every core itself',
    });
    expect(on('cuda')).toEqual({
      jobs: 1,
      reason: '--jobs auto: tfjs-node-gpu, one GPU for every run',
    });
    expect(on('webgl')).toEqual({ jobs: 1, reason: '--jobs auto: webgl, one GPU for every run' });
  });

  it('a measured peak memory caps the runs at once to what the available memory holds', () => {
    const big = { ...wasm2, runs: 30, cores: 16 };
    // 8000 MB / (2000 MB x 1.25) = 3.2: three runs.
    const capped = resolveJobs('auto', { ...big, memory: { availableMB: 8000, perRunMB: 2000 } });
    expect(MEMORY_MARGIN).toBe(1.25);
    expect(capped).toEqual({
      jobs: 3,
      reason:
        '--jobs auto: 16 cores, memory for 3 (8000 MB available, a run peaked at 2000 MB), wasm',
    });
    // Not the binding limit: not mentioned.
    expect(resolveJobs('auto', { ...big, memory: { availableMB: 64_000, perRunMB: 400 } })).toEqual(
      { jobs: 16, reason: '--jobs auto: 16 cores, wasm' },
    );
    // Less than one run's worth: still one (one after another, as --jobs 1).
    expect(resolveJobs('auto', { ...big, memory: { availableMB: 100, perRunMB: 400 } }).jobs).toBe(
      1,
    );
  });

  it('--jobs N is taken as given, on any backend; a bad N is an error naming it', () => {
    expect(resolveJobs(3, { ...wasm2, backend: 'tensorflow' })).toEqual({
      jobs: 3,
      reason: '--jobs 3',
    });
    expect(resolveJobs(1, wasm2)).toEqual({ jobs: 1, reason: '--jobs 1' });
    expect(resolveJobs(5, { ...wasm2, runs: 1 }).jobs).toBe(5);
    expect(() => resolveJobs(0, wasm2)).toThrow('--jobs is 0; expected an integer >= 1 or "auto".');
  });

  it('describeJobs: the line a comparison starts with', () => {
    expect(describeJobs({ jobs: 2, reason: '--jobs auto: 2 cores, wasm' })).toBe(
      '2 runs at once (--jobs auto: 2 cores, wasm)',
    );
    expect(describeJobs({ jobs: 1, reason: '--jobs 1' })).toBe('1 run at a time (--jobs 1)');
  });
});

/** An importer where only the packages named load (others: not installed). */
function only(...installed: string[]) {
  return async (specifier: string): Promise<unknown> => {
    if (installed.includes(specifier)) return {};
    throw Object.assign(new Error(`Cannot find package '${specifier}'`), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
  };
}

describe('computeBackendOf and decideJobs: --backend auto resolves first', () => {
  it('auto takes the first of tfjs-node-gpu, tfjs-node, wasm that loads, else cpu', async () => {
    const wasm = '@tensorflow/tfjs-backend-wasm';
    const gpu = '@tensorflow/tfjs-node-gpu';
    const node = '@tensorflow/tfjs-node';
    expect(await computeBackendOf('auto', only(gpu, node, wasm))).toBe('cuda');
    expect(await computeBackendOf('auto', only(node, wasm))).toBe('tensorflow');
    expect(await computeBackendOf('auto', only(wasm))).toBe('wasm');
    expect(await computeBackendOf('auto', only())).toBe('cpu');
    expect(await computeBackendOf('auto', withoutNode)).toBe('wasm'); // this machine
    for (const request of ['wasm', 'cpu', 'tensorflow', 'cuda'] as const) {
      expect(await computeBackendOf(request, only())).toBe(request);
    }
    await expect(computeBackendOf('gpu' as never)).rejects.toThrow(/Unknown backend "gpu"/);
  });

  it('decides from the resolved backend; probes nothing for --jobs N or a single run', async () => {
    const config = { jobs: 'auto', backend: 'auto', threads: 1 } as const;
    const node = only('@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm');
    expect(await decideJobs(config, 5, { importer: node, cores: 4 })).toEqual({
      jobs: 1,
      reason: '--jobs auto: tfjs-node runs each run on every core itself',
    });
    expect(await decideJobs(config, 5, { importer: withoutNode, cores: 4 })).toEqual({
      jobs: 4,
      reason: '--jobs auto: 4 cores, wasm',
    });
    const never = async (specifier: string): Promise<unknown> => {
      throw new Error(`${specifier} should not be imported`);
    };
    expect(await decideJobs({ ...config, jobs: 2 }, 5, { importer: never })).toEqual({
      jobs: 2,
      reason: '--jobs 2',
    });
    expect((await decideJobs(config, 1, { importer: never })).jobs).toBe(1);
    // The memory cap needs a measured run; with one of an absurd size it binds.
    const capped = await decideJobs({ ...config, backend: 'cpu' }, 5, {
      cores: 4,
      perRunMB: 1e9,
    });
    expect(capped.jobs).toBe(1);
    expect(capped.reason).toMatch(/^--jobs auto: 4 cores, memory for 1 \(\d+ MB available/);
  });
});

/** The tiny grid of the binary tests: 2 runs (IGM: stages), cpu (bit-for-bit repeatable). */
const GRID = [
  ...['compare', '--dataset', 'synthetic', '--methods', 'joint,igm', '--epochs', '3'],
  ...['--backend', 'cpu', '--no-probe'],
];
/** What --jobs auto decides for it here. */
const AUTO = Math.min(2, availableParallelism());
const AUTO_LINE =
  AUTO === 1
    ? '1 run at a time (--jobs auto: 1 core, cpu)'
    : `2 runs at once (--jobs auto: ${availableParallelism()} cores${availableParallelism() > 2 ? ', 2 runs to go' : ''}, cpu)`;

const base = mkdtempSync(join(tmpdir(), 'igm-jobs-'));
afterAll(stopBins);

/** A run record without what depends on the machine's load (time, memory). */
function comparable({ secondsPerEpoch: _s, peakMemoryMB: _m, ...rest }: RunRecord) {
  return rest;
}

function runsOf(dir: string) {
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as ComparisonSummary;
  return summary.runs.map(comparable);
}

/** Starts `args`, stops it with Ctrl-C once a run of `out` has a checkpoint but no record. */
async function interrupted(args: readonly string[], out: string) {
  const run = startIgmBin([...args, '--out', out]);
  const deadline = Date.now() + 120_000;
  const midRun = () =>
    ['joint', 'igm'].some((m) => {
      const dir = join(out, m, 'seed-0');
      return lastCheckpointEpoch(dir) >= 1 && !existsSync(join(dir, 'record.json'));
    });
  while (!midRun()) {
    if (Date.now() > deadline || run.child.exitCode !== null) {
      throw new Error(`no run of ${out} was checkpointed mid-way:\n${run.err()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  run.child.kill('SIGINT');
  const stopped = await run.exited;
  expect(stopped.code, stopped.err).toBe(130);
  return stopped;
}

describe('igm compare --jobs auto (the built binary)', () => {
  const reference = join(base, 'sequential');

  it('is the default: says what it decided first, and ends with the results of --jobs 1', async () => {
    const sequential = await igm([...GRID, '--jobs', '1', '--out', reference]);
    expect(sequential.code, sequential.err).toBe(0);
    expect(sequential.err.split('\n')[0]).toBe('1 run at a time (--jobs 1)');

    const out = join(base, 'auto');
    const auto = await igm([...GRID, '--out', out]);
    expect(auto.code, auto.err).toBe(0);
    expect(auto.err.split('\n')[0]).toBe(AUTO_LINE);
    if (AUTO > 1) expect(auto.err).toMatch(/\n2 job processes \(1 thread each\), 2 runs to go\n/);
    expect(runsOf(out)).toEqual(runsOf(reference));
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).jobs).toBe('auto');

    // --dry-run --json says it too, as a top-level "jobs" (the runs keep their shape).
    const dry = await igm([...GRID, '--dry-run', '--json']);
    expect(dry.code, dry.err).toBe(0);
    const plan = JSON.parse(dry.out) as { jobs?: number; runs: { method: string }[] };
    expect(plan.jobs).toBe(AUTO);
    expect(plan.runs.map((r) => r.method)).toEqual(['joint', 'igm']);
    const explicit = JSON.parse((await igm([...GRID, '--dry-run', '--json', '--jobs', '3'])).out);
    expect(explicit.jobs).toBe(3);
    const text = await igm([...GRID, '--dry-run']);
    expect(text.out.split('\n')[0]).toContain(`. 2 runs, ${AUTO_LINE}.`);
  }, 300_000);

  it('a comparison started with one --jobs continues with another, to the same results', async () => {
    // Started in job processes, continued one after another in the igm process...
    const fromAuto = join(base, 'auto-then-1');
    const stopped = await interrupted(GRID, fromAuto);
    expect(stopped.err.split('\n')[0]).toBe(AUTO_LINE);
    const resumed = await igm([...GRID, '--jobs', '1', '--out', fromAuto, '--resume']);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).not.toMatch(/started with other options/);
    expect(runsOf(fromAuto)).toEqual(runsOf(reference));

    // ... and the other way round.
    const fromOne = join(base, '1-then-auto');
    await interrupted([...GRID, '--jobs', '1'], fromOne);
    const continued = await igm([...GRID, '--out', fromOne, '--resume']);
    expect(continued.code, continued.err).toBe(0);
    // joint (first in plan order) was stopped mid-way: both runs are to go.
    expect(continued.err.split('\n')[0]).toBe(AUTO_LINE);
    expect(continued.err).toMatch(/resumed from epoch [1-9]/);
    expect(runsOf(fromOne)).toEqual(runsOf(reference));
  }, 300_000);
});
