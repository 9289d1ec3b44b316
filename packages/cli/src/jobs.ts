/**
 * How many runs of a comparison go at once on this machine (`--jobs`, default `auto`).
 *
 * `--jobs N` is taken as given (`--jobs 1`: one run after another in the igm process). `--jobs
 * auto` decides from the backend the runs compute on (`--backend auto` is resolved first):
 *
 *   wasm, cpu          min(runs to go, cores / wasm threads per run, memory cap), at least 1.
 *                      These backends compute on this process's CPU, one core per thread: runs
 *                      in separate processes keep every core busy (on 2 cores, 2 runs at once
 *                      finish a grid 1.7x sooner than one after another, while 2 wasm threads in
 *                      one process were slower than one: see packages/cli/README.md, "Grids").
 *                      `--threads auto` counts as 1 here: the processes come first, the threads
 *                      share the cores left over. The memory cap applies only when it can be
 *                      estimated from a measurement: the largest peak resident memory of the
 *                      comparison's finished runs (when resuming), 25% added, against the memory
 *                      available now; without finished runs there is no cap.
 *   tensorflow         1: TensorFlow's own thread pool already uses every core for one run.
 *   cuda, webgl        1: one GPU, for which several processes would only contend.
 *
 * A grid with one run to go runs it in the igm process (1).
 */
import { availableParallelism, freemem, totalmem } from 'node:os';
import { type BackendRequest, computeBackendOf, type Importer } from './backend';
import type { CompareConfig } from './config';

/** What a backend computes on, as far as running several runs at once is concerned. */
export type ComputeBackend = 'wasm' | 'cpu' | 'tensorflow' | 'cuda' | 'webgl';

/** Memory figures for the cap of `--jobs auto`, in MiB. */
export interface JobsMemory {
  /** Memory available to new processes now (free memory, within a container's limit). */
  readonly availableMB: number;
  /** The largest peak resident memory measured for one run of this comparison. */
  readonly perRunMB: number;
}

/** What `--jobs auto` decides from. */
export interface JobsFacts {
  /** Runs still to train (a resumed comparison's finished runs are not counted). */
  readonly runs: number;
  /** The backend the runs compute on (`--backend auto` already resolved). */
  readonly backend: ComputeBackend;
  /** `--threads`: wasm threads per run. */
  readonly threads: number | 'auto';
  /** CPU cores of this machine (os.availableParallelism()). */
  readonly cores: number;
  /** For the memory cap; absent: no cap. */
  readonly memory?: JobsMemory;
}

/** How many runs go at once, and why (for the comparison's first line). */
export interface JobsDecision {
  readonly jobs: number;
  /** e.g. "--jobs auto: 2 cores, wasm" or "--jobs 3". */
  readonly reason: string;
}

/** Headroom over a run's measured peak memory (it is sampled at batch ends, so it can miss a spike). */
export const MEMORY_MARGIN = 1.25;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Resolves `--jobs` (see the module doc). */
export function resolveJobs(requested: number | 'auto', facts: JobsFacts): JobsDecision {
  if (requested !== 'auto') {
    if (!Number.isInteger(requested) || requested < 1) {
      throw new Error(`--jobs is ${String(requested)}; expected an integer >= 1 or "auto".`);
    }
    return { jobs: requested, reason: `--jobs ${requested}` };
  }
  const { runs, backend, cores } = facts;
  if (runs <= 1) return { jobs: 1, reason: `--jobs auto: ${plural(runs, 'run')} to go` };
  if (backend === 'tensorflow') {
    return { jobs: 1, reason: '--jobs auto: tfjs-node runs each run on every core itself' };
  }
  if (backend === 'cuda' || backend === 'webgl') {
    return {
      jobs: 1,
      reason: `--jobs auto: ${backend === 'cuda' ? 'tfjs-node-gpu' : 'webgl'}, one GPU for every run`,
    };
  }
  const threads = facts.threads === 'auto' ? 1 : facts.threads;
  const byCores = Math.max(1, Math.floor(cores / threads));
  const parts = [
    threads > 1
      ? `${plural(cores, 'core')} / ${threads} wasm threads per run`
      : plural(cores, 'core'),
  ];
  let jobs = byCores;
  if (runs < jobs) {
    jobs = runs;
    parts.push(`${runs} runs to go`);
  }
  const { memory } = facts;
  if (memory && memory.perRunMB > 0) {
    const byMemory = Math.max(
      1,
      Math.floor(memory.availableMB / (memory.perRunMB * MEMORY_MARGIN)),
    );
    if (byMemory < jobs) {
      jobs = byMemory;
      parts.push(
        `memory for ${byMemory} (${Math.round(memory.availableMB)} MB available, a run peaked at ${Math.round(memory.perRunMB)} MB)`,
      );
    }
  }
  parts.push(backend);
  return { jobs, reason: `--jobs auto: ${parts.join(', ')}` };
}

/** "2 runs at once (--jobs auto: 2 cores, wasm)", "1 run at a time (--jobs 1)". */
export function describeJobs(decision: JobsDecision): string {
  return `${decision.jobs === 1 ? '1 run at a time' : `${decision.jobs} runs at once`} (${decision.reason})`;
}

/** Memory available to new processes, in MiB: free memory, within a container's limit if any. */
export function availableMemoryMB(): number {
  const free = freemem();
  const limit = process.constrainedMemory?.();
  const bytes = limit && limit > 0 && limit < totalmem() ? Math.min(free, limit) : free;
  return bytes / 2 ** 20;
}

export interface DecideJobsOptions {
  /** The largest peak memory (MiB) of the comparison's finished runs: the memory cap's estimate. */
  readonly perRunMB?: number;
  /** For tests: imports the backend packages (see computeBackendOf). */
  readonly importer?: Importer;
  /** For tests: this machine's cores (default os.availableParallelism()). */
  readonly cores?: number;
}

/**
 * `--jobs` of a comparison with `runs` runs to go, on this machine: resolveJobs with the facts
 * gathered here (the backend `--backend auto` takes, the cores, the memory available).
 */
export async function decideJobs(
  config: Pick<CompareConfig, 'jobs' | 'backend' | 'threads'>,
  runs: number,
  options: DecideJobsOptions = {},
): Promise<JobsDecision> {
  if (config.jobs !== 'auto' || runs <= 1) {
    return resolveJobs(config.jobs, { runs, backend: 'cpu', threads: 1, cores: 1 });
  }
  const backend = await computeBackendOf(config.backend as BackendRequest, options.importer);
  return resolveJobs('auto', {
    runs,
    backend,
    threads: config.threads,
    cores: options.cores ?? availableParallelism(),
    ...(options.perRunMB
      ? { memory: { availableMB: availableMemoryMB(), perRunMB: options.perRunMB } }
      : {}),
  });
}
