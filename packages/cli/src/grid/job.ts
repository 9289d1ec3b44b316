/**
 * The job of a grid: one (method, seed) run as data, the same for a local parallel comparison
 * (`--jobs N`) and a queued one (`--queue URL`). A job carries the fully resolved `RunSpec` and
 * the comparison settings a process needs to run it with `runJob`; a process needs nothing else
 * from the machine that planned it.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CompareConfig } from '../config';
import type { RunSpec } from '../plan';
import type { EpochRecord, FailedRun, RunRecord } from '../report';
import { runDirOf } from '../run-job';

/** What every run of a grid shares. */
export interface GridSettings {
  readonly dataset: string;
  /** The config's dataset options; each process adds its own FSDD_DIR default. */
  readonly datasetOptions: Record<string, unknown>;
  readonly preset: CompareConfig['preset'];
  readonly selection: CompareConfig['selection'];
  /** The comparison folder (absolute): run folders are `<out>/<method>/seed-<s>/`. */
  readonly out: string;
  readonly backend: string;
  /** wasm threads per process; `auto` divides the host's cores among its job processes. */
  readonly threads: number | 'auto';
  /** Reuse finished runs (record.json) and continue interrupted ones from their checkpoints. */
  readonly resume: boolean;
  /** Linear probe of the encoders after training (the utilization measure). */
  readonly probe: boolean;
}

/** One job: a run of the grid with everything needed to run it anywhere. */
export interface GridJob {
  /** Payload format, bumped if it changes incompatibly. */
  readonly format: 1;
  /** The grid: a hash of the comparison folder (see `gridIdOf`). */
  readonly grid: string;
  /** Position in the plan and the plan's size, for progress lines. */
  readonly index: number;
  readonly total: number;
  readonly spec: RunSpec;
  readonly settings: GridSettings;
}

/** A run that did not finish, as the comparison reports it (and keeps in summary.json). */
export interface RunFailure extends FailedRun {
  /** How many times it was started. */
  readonly attempts: number;
}

/** How a grid execution ended. */
export interface GridOutcome {
  readonly status: 'completed' | 'aborted';
  /** Plan indices of the runs whose record.json is written. */
  readonly finished: ReadonlySet<number>;
  readonly failures: readonly RunFailure[];
  /** Backends the runs used, as the job processes described them. */
  readonly backends: readonly string[];
}

export function gridSettingsOf(config: CompareConfig, out: string): GridSettings {
  return {
    dataset: config.dataset,
    datasetOptions: config.datasetOptions,
    preset: config.preset,
    selection: config.selection,
    out,
    backend: config.backend,
    threads: config.threads,
    resume: config.resume,
    probe: config.probe,
  };
}

/** A grid's id: the same comparison folder is the same grid (so `--resume` finds its jobs). */
export function gridIdOf(out: string): string {
  return createHash('sha256').update(out).digest('hex').slice(0, 16);
}

export function runLabel(spec: Pick<RunSpec, 'method' | 'seed'>): string {
  return `${spec.method} seed ${spec.seed}`;
}

/** Reads a finished run's record.json (written last by `runJob`). */
export async function readRunRecord(
  out: string,
  spec: Pick<RunSpec, 'method' | 'seed'>,
): Promise<{ record: RunRecord; epochs: EpochRecord[] }> {
  const path = join(runDirOf(out, spec), 'record.json');
  const saved = JSON.parse(await readFile(path, 'utf8')) as {
    record: RunRecord;
    epochs: EpochRecord[];
  };
  return { record: saved.record, epochs: saved.epochs };
}

/**
 * Errors worth another attempt: the machine or its storage hiccupped (I/O errors, a full disk,
 * a stale network file handle, too many open files, memory) or the job process died without
 * an error (killed, e.g. by the out-of-memory killer). Everything else a run throws (bad options,
 * missing data, an unknown backend, NaN losses) comes back the same on every attempt: it is
 * reported once and not retried.
 */
const TRANSIENT_CODES = new Set([
  'EIO',
  'EAGAIN',
  'EBUSY',
  'ENOSPC',
  'ESTALE',
  'ETIMEDOUT',
  'ECONNRESET',
  'EPIPE',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'ERR_JOB_PROCESS_EXITED',
]);

export function isTransientFailure(error: { code?: string | undefined }): boolean {
  return error.code !== undefined && TRANSIENT_CODES.has(error.code);
}

/** How often a transient failure is retried, in total attempts. */
export const TRANSIENT_ATTEMPTS = 3;

/** Divides a host's cores among its job processes for `--threads auto`. */
export function threadsPerProcess(
  threads: number | 'auto',
  processes: number,
  cores: number,
): number {
  if (threads !== 'auto') return threads;
  return Math.max(1, Math.floor(cores / Math.max(1, processes)));
}

/** The BullMQ queue every igm compare and igm worker uses (keys `igm:igm-runs:*` in Redis). */
export const QUEUE_NAME = 'igm-runs';
export const QUEUE_PREFIX = 'igm';

/** A run's job id: the same run of the same grid is the same job (BullMQ ids cannot hold ":"). */
export function jobIdOf(grid: string, spec: Pick<RunSpec, 'method' | 'seed'>): string {
  return `${grid}.${spec.method}.seed-${spec.seed}`;
}

/** What a worker returns for a finished job (the run itself is in its record.json). */
export interface GridJobResult {
  readonly status: 'completed' | 'reused';
  readonly worker: string;
  readonly backend: string;
  readonly seconds: number;
}

/** What a worker publishes as a running job's progress. */
export interface GridJobProgress {
  /** True epochs of the run (a resumed run starts at the epoch it was resumed at). */
  readonly epoch: number;
  readonly epochsTotal: number;
  /** The epoch the run was resumed at (0: started from the beginning). */
  readonly resumedAt?: number;
  readonly worker: string;
  readonly detail?: string;
}
