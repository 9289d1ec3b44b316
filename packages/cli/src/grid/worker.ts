/**
 * `igm worker --queue URL`: takes grid jobs from the BullMQ queue and runs them with `runJob`
 * in job processes of this machine (`--concurrency` of them, each with `--threads` threads),
 * writing each run under the comparison's folder, which must be storage that every worker and
 * the machine running `igm compare` see at the same path (a shared volume).
 *
 * Faults:
 *   - This worker dies (even by SIGKILL): it stops renewing its jobs' locks; after the lock
 *     expires (`--stall-timeout`), BullMQ's stalled check of any live worker puts the job back,
 *     and the worker that takes it continues the run from its last checkpoint. The job
 *     processes of a dead worker exit when their IPC channel closes.
 *   - A run fails deterministically (bad options, missing data, unknown backend): the job fails
 *     once with the error (UnrecoverableError), not retried.
 *   - A transient failure (job process killed, I/O error): retried with back-off, at most
 *     TRANSIENT_ATTEMPTS starts, each continuing from the last checkpoint.
 *   - Ctrl-C or SIGTERM: the running runs stop after their current step with a checkpoint and
 *     their jobs go back to the queue for another worker; a second Ctrl-C exits at once.
 */
import { existsSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { type Job, UnrecoverableError, WaitingError, Worker } from 'bullmq';
import { closeRedis, openRedis } from './connection';
import {
  type GridJob,
  type GridJobProgress,
  type GridJobResult,
  isTransientFailure,
  QUEUE_NAME,
  QUEUE_PREFIX,
  runLabel,
  threadsPerProcess,
} from './job';
import { JobProcessPool } from './pool';
import { maskSecrets, parseRedisUrl } from './redis-url';

export interface RunWorkerOptions {
  readonly url: string;
  /** Job processes, i.e. runs at once (default 1). */
  readonly concurrency?: number;
  /** wasm threads per job process (default: the comparison's --threads). */
  readonly threads?: number | 'auto';
  /**
   * Seconds after which a job whose worker stopped answering is given to another worker
   * (BullMQ's lock duration; the stalled check runs every half of it). Default 30.
   */
  readonly stallTimeout?: number;
  /** Stops the worker like Ctrl-C. */
  readonly signal?: AbortSignal;
  /** Where lines go (default stderr). */
  readonly log?: (line: string) => void;
  /** Handle SIGINT / SIGTERM (default true). */
  readonly handleSignals?: boolean;
}

/** A job whose processes could not run it here; the message says why. */
function failure(message: string, transient: boolean): Error {
  return transient ? new Error(message) : new UnrecoverableError(message);
}

export async function runWorker(options: RunWorkerOptions): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const concurrency = options.concurrency ?? 1;
  const stallMs = Math.round((options.stallTimeout ?? 30) * 1000);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error(`--concurrency is ${concurrency}; expected a positive integer.`);
  }
  if (!(stallMs >= 1000)) {
    throw new Error(`--stall-timeout is ${options.stallTimeout}; expected at least 1 second.`);
  }
  const target = parseRedisUrl(options.url);
  const client = await openRedis(target, { role: 'igm worker' });
  const name = `${hostname()}/${process.pid}`;
  const pool = new JobProcessPool({
    size: concurrency,
    onSpawn: (pid) => log(`job process ${pid} started`),
  });
  const running = new Map<string, AbortController>();
  let stopping = false;

  const processor = async (job: Job<GridJob, GridJobResult>, token?: string) => {
    const data = job.data;
    if (data?.format !== 1 || !data.spec || !data.settings) {
      throw failure(
        `job ${job.id} is not an igm grid job of format 1 (made by another igm version?)`,
        false,
      );
    }
    const label = runLabel(data.spec);
    const out = data.settings.out;
    if (!existsSync(join(out, 'config.json'))) {
      throw failure(
        `the comparison folder ${out} is not visible on ${hostname()}: --out must be storage every worker mounts at the same path (a shared volume)`,
        false,
      );
    }
    const resume = data.settings.resume || job.attemptsStarted > 1;
    const threads = threadsPerProcess(
      options.threads ?? data.settings.threads,
      concurrency,
      availableParallelism(),
    );
    log(
      `${label}: started (attempt ${job.attemptsStarted}${resume ? ', continuing from its last checkpoint' : ''}) in ${out}`,
    );
    const started = Date.now();
    const controller = new AbortController();
    running.set(job.id!, controller);
    let lastProgress = 0;
    try {
      const outcome = await pool.run(
        { job: data, resume, threads, runsDone: 0 },
        {
          onProgress: (s) => {
            if (Date.now() - lastProgress < 500 && s.epoch !== s.epochsTotal) return;
            lastProgress = Date.now();
            const progress: GridJobProgress = {
              epoch: s.epoch,
              epochsTotal: s.epochsTotal,
              ...(s.resumedAt ? { resumedAt: s.resumedAt } : {}),
              worker: name,
              ...(s.detail ? { detail: s.detail } : {}),
            };
            job.updateProgress(progress as never).catch(() => undefined);
          },
          onLog: (line) => log(`${label}: ${line.replace(`${label}: `, '')}`),
        },
        controller.signal,
      );
      if (outcome.status === 'aborted') {
        if (stopping && token) {
          // Back to the queue: another worker continues from the checkpoint just written.
          await job.moveToWait(token);
          log(`${label}: stopped with a checkpoint; back in the queue`);
          throw new WaitingError();
        }
        throw failure(`${label}: stopped on ${name} (its lock was lost)`, true);
      }
      const seconds = (Date.now() - started) / 1000;
      log(`${label}: ${outcome.status} in ${seconds.toFixed(1)} s`);
      return { status: outcome.status, worker: name, backend: outcome.backend, seconds };
    } catch (e) {
      if (e instanceof WaitingError || e instanceof UnrecoverableError) throw e;
      const err = e as Error & { code?: string };
      const message = maskSecrets(err.message);
      const transient = isTransientFailure(err);
      log(
        `${label}: failed (${transient ? 'transient, may be retried' : 'not retried'}): ${message}`,
      );
      throw failure(message, transient);
    } finally {
      running.delete(job.id!);
    }
  };

  const worker = new Worker<GridJob, GridJobResult>(QUEUE_NAME, processor, {
    connection: client,
    prefix: QUEUE_PREFIX,
    concurrency,
    name,
    lockDuration: stallMs,
    stalledInterval: Math.max(500, Math.round(stallMs / 2)),
    // A run survives a few dead workers; a job that keeps killing its workers fails.
    maxStalledCount: 3,
    autorun: false,
  });
  let lastError = '';
  worker.on('error', (e) => {
    const line = maskSecrets(e.message);
    if (line !== lastError) log(`queue error: ${line}`);
    lastError = line;
  });
  worker.on('lockRenewalFailed', (jobIds) => {
    for (const id of jobIds) running.get(id)?.abort();
  });

  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log('stopping: running runs stop after their current step and go back to the queue');
    for (const c of running.values()) c.abort();
    await worker.close();
    await pool.close();
    resolveStopped();
  };
  const onSignal = () => {
    if (stopping) {
      log('stopped at once');
      process.exit(130);
    }
    void stop();
  };
  const handleSignals = options.handleSignals ?? true;
  if (handleSignals) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  options.signal?.addEventListener('abort', () => void stop(), { once: true });

  try {
    log(
      `igm worker ${name}: queue "${QUEUE_NAME}" on ${target.display}, ${concurrency} job process${concurrency > 1 ? 'es' : ''}, stall timeout ${stallMs / 1000} s`,
    );
    pool.warm();
    void worker.run().catch((e) => {
      log(`queue error: ${maskSecrets((e as Error).message)}`);
      void stop();
    });
    await worker.waitUntilReady();
    if (options.signal?.aborted) void stop();
    await stopped;
  } finally {
    if (handleSignals) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    await closeRedis(client);
  }
}
