/**
 * `igm compare --jobs N`: the grid's runs on N job processes of this machine at once (each with
 * its own tfjs backend and `--threads` threads), through the same job code as `igm worker`.
 * A run that fails deterministically is reported once; one whose process died or hit an I/O
 * error is retried (at most TRANSIENT_ATTEMPTS starts), continuing from its last checkpoint.
 * With `epochsOfRun`, the runs start longest first (see {@link longestFirst}), so that a long run (IGM's
 * stages) does not start last and leave the other processes idle at the end; the results and the
 * report keep the plan's order whatever order the runs ran in.
 */
import { availableParallelism } from 'node:os';
import type { RunSpec } from '../plan';
import type { ProgressReporter } from '../progress';
import {
  type GridOutcome,
  type GridSettings,
  isTransientFailure,
  runLabel,
  TRANSIENT_ATTEMPTS,
  threadsPerProcess,
} from './job';
import { JobProcessPool } from './pool';
import { GridBook } from './tracker';

export interface LocalGridOptions {
  /** Runs at once (job processes). */
  readonly jobs: number;
  readonly reporter: ProgressReporter;
  /** Stops the grid: running runs stop after their current step, with a checkpoint. */
  readonly signal?: AbortSignal;
  /** The grid's id, for job payloads (see gridIdOf). */
  readonly grid: string;
  /**
   * Planned epochs of each run: the progress weights (1 each when absent) and the cost the runs
   * start in decreasing order of (plan order when absent).
   */
  readonly epochsOfRun?: readonly number[];
}

/**
 * The runs `pending` (plan indices) in the order to start them: by decreasing `costs`, plan order
 * among equal costs (the longest-processing-time rule, whose finish on N processes is within 4/3
 * of the best order's). Without costs, or with a cost that is not a finite number, plan order.
 */
export function longestFirst(pending: readonly number[], costs?: readonly number[]): number[] {
  if (!costs || pending.some((i) => !Number.isFinite(costs[i]))) return [...pending];
  return [...pending].sort((a, b) => costs[b]! - costs[a]! || a - b);
}

export async function runLocalGrid(
  plan: readonly RunSpec[],
  settings: GridSettings,
  options: LocalGridOptions,
): Promise<GridOutcome> {
  const { reporter, signal } = options;
  const size = Math.max(1, Math.min(options.jobs, plan.length));
  const threads = threadsPerProcess(settings.threads, size, availableParallelism());
  const book = new GridBook(plan, reporter, options.epochsOfRun);
  const pending = longestFirst(book.reuseFinished(settings), options.epochsOfRun);
  reporter.log(
    `${size} job process${size > 1 ? 'es' : ''} (${threads} thread${threads > 1 ? 's' : ''} each), ${pending.length} run${pending.length === 1 ? '' : 's'} to go`,
  );
  book.show();

  const lanes = Math.min(size, pending.length);
  const pool = lanes ? new JobProcessPool({ size: lanes }) : undefined;
  pool?.warm();
  const lane = async () => {
    for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
      if (signal?.aborted) return;
      const spec = plan[i]!;
      for (let attempt = 1; ; attempt++) {
        book.running(i);
        book.show();
        try {
          const outcome = await pool!.run(
            {
              job: {
                format: 1,
                grid: options.grid,
                index: i,
                total: plan.length,
                spec,
                settings,
              },
              resume: settings.resume || attempt > 1,
              threads,
              runsDone: book.finishedCount,
            },
            {
              onProgress: (s) => {
                book.running(i, s.epoch, s.epochsTotal, undefined, s.resumedAt ?? 0);
                book.show();
              },
              onLog: (line) => reporter.log(line),
            },
            signal,
          );
          if (outcome.status === 'aborted') {
            book.queued(i);
            return;
          }
          book.finish(i, outcome.backend);
          break;
        } catch (e) {
          const err = e as Error & { code?: string };
          if (isTransientFailure(err) && attempt < TRANSIENT_ATTEMPTS && !signal?.aborted) {
            reporter.log(
              `${runLabel(spec)}: ${err.message}; retrying from its last checkpoint (attempt ${attempt + 1} of ${TRANSIENT_ATTEMPTS})`,
            );
            continue;
          }
          reporter.log(`${runLabel(spec)} failed: ${err.message}`);
          book.fail(i, err.message, attempt);
          break;
        }
      }
      book.show();
    }
  };
  try {
    await Promise.all(Array.from({ length: lanes }, lane));
  } finally {
    await pool?.close();
    reporter.done();
  }
  return book.outcome(signal?.aborted ? 'aborted' : 'completed');
}
