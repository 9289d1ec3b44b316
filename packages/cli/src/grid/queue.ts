/**
 * `igm compare --queue URL`: the grid's runs as BullMQ jobs on Redis, run by `igm worker`s on
 * any machine that sees the comparison folder. compare enqueues one job per (method, seed),
 * shows the grid's progress, waits, and leaves the report to compare.ts, which reads every
 * run's record.json from the shared folder.
 *
 * Job ids are `<grid>.<method>.seed-<s>`, the grid being a hash of the comparison folder, so a
 * rerun with `--resume` finds the jobs of the same comparison:
 *   - a run whose record.json exists is reused, not enqueued;
 *   - a job still waiting or running (e.g. after Ctrl-C) is attached to;
 *   - a failed or missing job is enqueued again, continuing from the run's checkpoints.
 * Without `--resume`, a job of the same comparison still waiting or running is an error.
 *
 * Ctrl-C: compare stops waiting and withdraws the grid's jobs that no worker has started; the
 * running ones finish on their workers (their results land in the folder and `--resume` reuses
 * them), and finished jobs are removed from Redis. When the grid ends, its jobs are removed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Job, Queue } from 'bullmq';
import type { RunSpec } from '../plan';
import type { ProgressReporter } from '../progress';
import { runDirOf } from '../run-job';
import { closeRedis, openRedis, QueueConnectionError } from './connection';
import {
  type GridJob,
  type GridJobProgress,
  type GridJobResult,
  type GridOutcome,
  type GridSettings,
  jobIdOf,
  QUEUE_NAME,
  QUEUE_PREFIX,
  runLabel,
  TRANSIENT_ATTEMPTS,
} from './job';
import { maskSecrets, parseRedisUrl } from './redis-url';
import { GridBook } from './tracker';

export class QueueStateError extends Error {
  override name = 'QueueStateError';
}

export interface QueuedGridOptions {
  readonly url: string;
  readonly reporter: ProgressReporter;
  /** Stops waiting (Ctrl-C); see the module doc for what happens to the jobs. */
  readonly signal?: AbortSignal;
  /** The grid's id (see gridIdOf). */
  readonly grid: string;
  /** Planned epochs of each run (progress weights); 1 each when absent. */
  readonly epochsOfRun?: readonly number[];
  /** How often the jobs' states are read (default 1000 ms). */
  readonly pollMs?: number;
  /** How long Redis may stay unreachable mid-grid before compare gives up (default 120 s). */
  readonly reconnectMs?: number;
}

/** Job options: a transient failure is retried with back-off; results kept a week at most. */
const JOB_OPTIONS = {
  attempts: TRANSIENT_ATTEMPTS,
  backoff: { type: 'exponential' as const, delay: 2000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

const UNSTARTED = new Set(['waiting', 'delayed', 'prioritized', 'paused', 'waiting-children']);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function removeJob(job: Job | undefined): Promise<boolean> {
  if (!job) return false;
  try {
    await job.remove();
    return true;
  } catch {
    return false; // a worker holds it (it just started): it stays
  }
}

/**
 * Checks that the queue's Redis answers (with the password), so that a comparison fails before
 * it writes anything; the error names the host, never the password.
 */
export async function probeQueue(url: string): Promise<void> {
  await closeRedis(await openRedis(parseRedisUrl(url), { role: 'igm compare' }));
}

/**
 * The jobs of grid `grid` still waiting or running in the queue (their names): `--overwrite`
 * must not delete a folder that workers are writing into.
 */
export async function liveGridJobs(url: string, grid: string): Promise<string[]> {
  const client = await openRedis(parseRedisUrl(url), { role: 'igm compare' });
  const queue = new Queue<GridJob, GridJobResult>(QUEUE_NAME, {
    connection: client,
    prefix: QUEUE_PREFIX,
  });
  queue.on('error', () => undefined);
  try {
    const jobs = await queue.getJobs(['active', ...UNSTARTED] as never);
    return jobs.filter((j) => j?.id?.startsWith(`${grid}.`)).map((j) => j.name);
  } finally {
    await queue.close().catch(() => undefined);
    await closeRedis(client);
  }
}

export async function runQueuedGrid(
  plan: readonly RunSpec[],
  settings: GridSettings,
  options: QueuedGridOptions,
): Promise<GridOutcome> {
  const { reporter, signal, grid } = options;
  const pollMs = options.pollMs ?? 1000;
  const reconnectMs = options.reconnectMs ?? 120_000;
  const target = parseRedisUrl(options.url);
  const client = await openRedis(target, { role: 'igm compare', maxRetriesPerRequest: 2 });
  const queue = new Queue<GridJob, GridJobResult>(QUEUE_NAME, {
    connection: client,
    prefix: QUEUE_PREFIX,
  });
  queue.on('error', () => undefined); // the poll loop reports connection trouble
  const ids = plan.map((spec) => jobIdOf(grid, spec));
  const book = new GridBook(plan, reporter, options.epochsOfRun);
  const open = new Set<number>();
  try {
    reporter.log(`queue: ${target.display} (BullMQ queue "${QUEUE_NAME}"), grid ${grid}`);

    // 1. What the queue already holds for this comparison; nothing is added before all is known.
    const toAdd: number[] = [];
    const toReplace: Job[] = [];
    for (const i of book.reuseFinished(settings)) {
      const spec = plan[i]!;
      const job = await queue.getJob(ids[i]!);
      const state = job ? await job.getState() : 'unknown';
      if (job && (state === 'active' || UNSTARTED.has(state))) {
        if (!settings.resume) {
          throw new QueueStateError(
            `${runLabel(spec)} of this comparison (${settings.out}) is already ${state} in the queue, from an earlier igm compare. ` +
              'Attach to it with --resume, or wait until it ends.',
          );
        }
        const sameRun = JSON.stringify(job.data.spec) === JSON.stringify(spec);
        if (sameRun) {
          reporter.log(`${runLabel(spec)}: attached to its ${state} job`);
          open.add(i);
          continue;
        }
        if (state === 'active') {
          throw new QueueStateError(
            `${runLabel(spec)} of this comparison is running on a worker with other options (an earlier igm compare). ` +
              'Wait until it ends, or use another --out.',
          );
        }
      }
      if (job) toReplace.push(job);
      toAdd.push(i);
    }

    // 2. Enqueue.
    for (const job of toReplace) await removeJob(job);
    await queue.addBulk(
      toAdd.map((i) => ({
        name: runLabel(plan[i]!),
        data: {
          format: 1 as const,
          grid,
          index: i,
          total: plan.length,
          spec: plan[i]!,
          settings,
        },
        opts: { ...JOB_OPTIONS, jobId: ids[i]! },
      })),
    );
    for (const i of toAdd) open.add(i);
    reporter.log(
      `${toAdd.length} run${toAdd.length === 1 ? '' : 's'} enqueued${open.size > toAdd.length ? `, ${open.size - toAdd.length} attached` : ''}; waiting for igm worker --queue ${target.display}`,
    );

    // 3. Wait, showing the grid's progress.
    let lostSince: number | undefined;
    let lastPoll = 0;
    let workers: number | undefined = 0;
    const startedAt = Date.now();
    let hinted = false;
    while (open.size && !signal?.aborted) {
      try {
        if (Date.now() - lastPoll > 5000) {
          lastPoll = Date.now();
          // CLIENT LIST may be disabled (some hosted Redis): then the count is unknown.
          workers = await queue.getWorkersCount().catch(() => undefined);
        }
        const states = await Promise.all(
          [...open].map(async (i) => {
            const job = await queue.getJob(ids[i]!);
            return { i, job, state: job ? await job.getState() : 'unknown' };
          }),
        );
        for (const { i, job, state } of states) {
          const spec = plan[i]!;
          if (!job || state === 'unknown') {
            book.fail(
              i,
              'its job disappeared from the queue (removed by hand, or evicted: BullMQ needs Redis with maxmemory-policy noeviction)',
              0,
            );
            open.delete(i);
          } else if (state === 'completed') {
            const result = job.returnvalue;
            const record = join(runDirOf(settings.out, spec), 'record.json');
            // A shared folder may show another machine's file a little later.
            for (let t = 0; t < 20 && !existsSync(record); t++) await sleep(500);
            if (existsSync(record)) {
              reporter.log(
                `${runLabel(spec)}: ${result?.status === 'reused' ? 'reused' : 'done'} on ${result?.worker ?? 'a worker'}${result?.backend ? ` (${result.backend})` : ''}`,
              );
              book.finish(i, result?.backend);
            } else {
              book.fail(
                i,
                `it finished on ${result?.worker ?? 'a worker'}, but ${record} is not there: --out must be a folder every worker and this machine see at the same path (a shared volume)`,
                job.attemptsStarted,
              );
            }
            open.delete(i);
          } else if (state === 'failed') {
            const error = maskSecrets(job.failedReason || 'failed without a message');
            reporter.log(
              `${runLabel(spec)} failed after ${job.attemptsStarted} attempt${job.attemptsStarted === 1 ? '' : 's'}: ${error}`,
            );
            book.fail(i, error, job.attemptsStarted);
            open.delete(i);
          } else if (state === 'active') {
            const p = job.progress as Partial<GridJobProgress> | number | undefined;
            const progress = typeof p === 'object' && p ? p : {};
            book.running(
              i,
              progress.epoch ?? 0,
              progress.epochsTotal ?? 0,
              progress.worker,
              progress.resumedAt ?? 0,
            );
          } else {
            book.queued(i);
          }
        }
        if (lostSince !== undefined) reporter.log(`reconnected to Redis at ${target.address}`);
        lostSince = undefined;
      } catch (e) {
        if (lostSince === undefined) {
          lostSince = Date.now();
          reporter.log(
            `lost Redis at ${target.address} (${maskSecrets((e as Error).message)}); retrying for ${Math.round(reconnectMs / 1000)} s`,
          );
        } else if (Date.now() - lostSince > reconnectMs) {
          throw new QueueConnectionError(
            `igm compare: Redis at ${target.address} unreachable for ${Math.round(reconnectMs / 1000)} s. ` +
              'The jobs stay in the queue: rerun with --resume once Redis is back.',
          );
        }
      }
      if (!hinted && workers === 0 && Date.now() - startedAt > 15_000 && open.size) {
        hinted = true;
        reporter.log(
          `no igm worker is connected to ${target.display} yet: start one with igm worker --queue <url> (see igm worker --help)`,
        );
      }
      book.detail =
        workers === undefined ? undefined : `${workers} worker${workers === 1 ? '' : 's'}`;
      book.show();
      if (open.size) await sleep(pollMs, signal);
    }
    reporter.done();

    // 4. Leave the queue tidy: finished jobs go; on Ctrl-C, so do the unstarted ones.
    let withdrawn = 0;
    const stillRunning: string[] = [];
    for (let i = 0; i < plan.length; i++) {
      const job = await queue.getJob(ids[i]!);
      if (!job) continue;
      const state = await job.getState();
      if (state === 'active') stillRunning.push(runLabel(plan[i]!));
      else if (state === 'completed' || state === 'failed') await removeJob(job);
      else if (UNSTARTED.has(state) && (await removeJob(job))) withdrawn++;
    }
    if (signal?.aborted) {
      reporter.log(
        `Withdrew ${withdrawn} queued run${withdrawn === 1 ? '' : 's'}` +
          (stillRunning.length
            ? `; still running on workers (they finish and --resume reuses them): ${stillRunning.join(', ')}`
            : ''),
      );
    }
    return book.outcome(signal?.aborted ? 'aborted' : 'completed');
  } finally {
    reporter.done();
    await queue.close().catch(() => undefined);
    await closeRedis(client);
  }
}
