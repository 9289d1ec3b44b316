/**
 * A job process: runs the grid jobs its parent sends over IPC, one at a time, with `runJob` (the
 * code a local comparison runs), on its own tfjs backend. Started by `igm compare --jobs N` and
 * by `igm worker` (pool.ts), never by hand.
 *
 * It selects its backend once (the pool starts a fresh process for another backend or thread
 * count) and keeps the last dataset loaded. Ctrl-C or SIGTERM stop the current run after its
 * current step, with a checkpoint. If the parent dies (even by SIGKILL) the IPC channel closes
 * and this process exits at once, so a killed worker leaves no run behind that keeps writing.
 */
import type { MultimodalDataset } from '@igm/core';
import {
  type BackendChoice,
  type BackendRequest,
  describeBackendChoice,
  placeDatasetSamples,
  selectBackend,
} from '../backend';
import { datasetOptions, openDataset } from '../compare';
import { ProgressReporter, type ProgressState } from '../progress';
import { runJob } from '../run-job';
import type { ChildMessage, ChildTask, ParentMessage } from './protocol';

if (!process.send) {
  process.stderr.write(
    'This is the job process of igm compare --jobs and igm worker; they start it themselves.\n',
  );
  process.exit(2);
}

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected) resolve();
    else process.send!(message, undefined, {}, () => resolve());
  });
}

/** runJob's progress and log lines, forwarded to the parent. */
class ParentReporter extends ProgressReporter {
  override update(state: ProgressState): void {
    void send({ type: 'progress', state });
  }
  override log(line: string): void {
    void send({ type: 'log', line });
  }
  override done(): void {}
}

let current: AbortController | undefined;
let backend: { key: string; choice: BackendChoice } | undefined;
let loaded: { key: string; dataset: MultimodalDataset } | undefined;
let exitWhenIdle = false;

const abort = () => current?.abort();
process.on('SIGINT', abort);
process.on('SIGTERM', abort);
process.on('disconnect', () => process.exit(1));

async function run(task: ChildTask): Promise<void> {
  const { spec, settings } = task.job;
  current = new AbortController();
  try {
    const key = `${settings.backend}/${task.threads}`;
    if (!backend) {
      const choice = await selectBackend(settings.backend as BackendRequest, undefined, {
        threads: task.threads,
      });
      backend = { key, choice };
      void send({ type: 'log', line: describeBackendChoice(choice) });
    } else if (backend.key !== key) {
      throw new Error(
        `this job process runs ${backend.key} (backend/threads); the job asked for ${key}`,
      );
    }
    const options = datasetOptions(settings);
    const dataKey = JSON.stringify([settings.dataset, options]);
    if (loaded?.key !== dataKey) {
      loaded = undefined;
      loaded = { key: dataKey, dataset: await openDataset(settings.dataset, options) };
      placeDatasetSamples(loaded.dataset, backend.choice);
    }
    const result = await runJob(spec, {
      dataset: loaded.dataset,
      config: {
        dataset: settings.dataset,
        preset: settings.preset,
        resume: task.resume,
        selection: settings.selection,
        probe: settings.probe,
      },
      dir: settings.out,
      signal: current.signal,
      reporter: new ParentReporter(),
      runsDone: task.runsDone,
      runsTotal: task.job.total,
    });
    await send({ type: 'done', status: result.status, backend: backend.choice.label });
  } catch (e) {
    const err = e as Error & { code?: unknown };
    await send({
      type: 'failed',
      error: {
        name: err?.name ?? 'Error',
        message: err?.message ?? String(e),
        ...(typeof err?.code === 'string' ? { code: err.code } : {}),
        ...(err?.stack ? { stack: err.stack } : {}),
      },
    });
  } finally {
    current = undefined;
    if (exitWhenIdle) process.exit(0);
  }
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'run') void run(message.task);
  else if (message.type === 'abort') abort();
  else if (message.type === 'exit') {
    if (current) exitWhenIdle = true;
    else process.exit(0);
  }
});
void send({ type: 'ready', pid: process.pid });
