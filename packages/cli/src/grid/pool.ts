/**
 * A pool of job processes (job-child.ts), each with its own tfjs backend: `igm compare --jobs N`
 * runs N of them, `igm worker --concurrency N` too. Processes are reused from one run to the
 * next; a process that dies is replaced for the next run, and the run it had fails with a
 * transient error (code ERR_JOB_PROCESS_EXITED) that the caller may retry.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProgressState } from '../progress';
import type { ChildError, ChildMessage, ChildTask, ParentMessage } from './protocol';

/** A run that failed in its job process, with the error's name, message and code. */
export class JobProcessError extends Error {
  readonly code: string | undefined;
  readonly remoteStack: string | undefined;
  constructor(error: ChildError) {
    super(error.message);
    this.name = error.name;
    this.code = error.code;
    this.remoteStack = error.stack;
  }
}

export interface RunEvents {
  onProgress?(state: ProgressState): void;
  onLog?(line: string): void;
}

export interface RunOutcome {
  readonly status: 'completed' | 'reused' | 'aborted';
  readonly backend: string;
  readonly pid: number;
}

export interface JobProcessPoolOptions {
  readonly size: number;
  /** Called with each new job process's pid. */
  readonly onSpawn?: (pid: number) => void;
}

interface Entry {
  readonly file: string;
  readonly execArgv: string[];
  readonly env: Record<string, string>;
}

/** The job process's script: dist/job-child.js when built, src/grid/job-child.ts under tsx. */
function childEntry(): Entry {
  const here = dirname(fileURLToPath(import.meta.url));
  const built = join(here, 'job-child.js');
  if (existsSync(built)) return { file: built, execArgv: [], env: {} };
  const source = join(here, 'job-child.ts');
  if (existsSync(source)) {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return {
      file: source,
      execArgv: ['--import', pathToFileURL(tsx).href],
      // The package's tsconfig maps @igm/* to the workspace sources.
      env: { TSX_TSCONFIG_PATH: join(here, '..', '..', 'tsconfig.json') },
    };
  }
  throw new Error(`igm's job process script is missing (looked for ${built} and ${source}).`);
}

interface Slot {
  child: ChildProcess;
  pid: number;
  ready: Promise<void>;
  /** backend/threads of the process, once it ran a job. */
  key?: string;
  busy: boolean;
  exited: boolean;
  /** Settles the run in progress. */
  settle?: (result: { outcome?: RunOutcome; error?: Error }) => void;
  events?: RunEvents;
}

export class JobProcessPool {
  private readonly slots: Slot[] = [];
  private readonly entry = childEntry();
  private closed = false;

  constructor(private readonly options: JobProcessPoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) {
      throw new Error(`job process pool size is ${options.size}; expected a positive integer.`);
    }
  }

  private spawn(): Slot {
    const child = fork(this.entry.file, [], {
      execArgv: this.entry.execArgv,
      env: { ...process.env, ...this.entry.env },
      // stdout goes to our stderr: stdout carries only the results table.
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    child.stdout?.pipe(process.stderr, { end: false });
    let markReady!: () => void;
    let failReady!: (e: Error) => void;
    const slot: Slot = {
      child,
      pid: child.pid ?? -1,
      busy: false,
      exited: false,
      ready: new Promise<void>((resolve, reject) => {
        markReady = resolve;
        failReady = reject;
      }),
    };
    slot.ready.catch(() => undefined);
    child.on('message', (message: ChildMessage) => {
      switch (message.type) {
        case 'ready':
          markReady();
          break;
        case 'progress':
          slot.events?.onProgress?.(message.state);
          break;
        case 'log':
          slot.events?.onLog?.(message.line);
          break;
        case 'done':
          slot.settle?.({
            outcome: { status: message.status, backend: message.backend, pid: slot.pid },
          });
          break;
        case 'failed':
          slot.settle?.({ error: new JobProcessError(message.error) });
          break;
      }
    });
    child.on('exit', (code, signal) => {
      slot.exited = true;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const error = new JobProcessError({
        name: 'JobProcessExited',
        message: `the job process (pid ${slot.pid}) ${how} before the run finished`,
        code: 'ERR_JOB_PROCESS_EXITED',
      });
      failReady(error);
      slot.settle?.({ error });
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
    });
    child.on('error', () => undefined); // 'exit' follows and reports
    this.slots.push(slot);
    this.options.onSpawn?.(slot.pid);
    return slot;
  }

  private post(slot: Slot, message: ParentMessage): void {
    if (!slot.exited && slot.child.connected) slot.child.send(message);
  }

  /** An idle process for `key`: one that ran `key` before, a fresh one, or a replaced one. */
  private take(key: string): Slot {
    const idle = this.slots.filter((s) => !s.busy && !s.exited);
    const same = idle.find((s) => s.key === key) ?? idle.find((s) => s.key === undefined);
    if (same) return same;
    if (this.slots.filter((s) => !s.exited).length < this.options.size) return this.spawn();
    const other = idle[0];
    if (!other) throw new Error('job process pool: more runs at once than processes');
    // Another backend or thread count: the tfjs backend is per process, so start a new one.
    this.post(other, { type: 'exit' });
    other.busy = true; // never handed out again
    return this.spawn();
  }

  /** Runs one task in a job process; `signal` stops it after its current step. */
  async run(task: ChildTask, events: RunEvents = {}, signal?: AbortSignal): Promise<RunOutcome> {
    if (this.closed) throw new Error('job process pool is closed');
    const key = `${task.job.settings.backend}/${task.threads}`;
    const slot = this.take(key);
    slot.busy = true;
    try {
      await slot.ready;
      slot.key = key;
      slot.events = events;
      const result = await new Promise<{ outcome?: RunOutcome; error?: Error }>((resolve) => {
        slot.settle = resolve;
        const onAbort = () => this.post(slot, { type: 'abort' });
        if (signal?.aborted) onAbort();
        signal?.addEventListener('abort', onAbort, { once: true });
        this.post(slot, { type: 'run', task });
      });
      if (result.error) throw result.error;
      return result.outcome!;
    } finally {
      slot.settle = undefined;
      slot.events = undefined;
      slot.busy = false;
    }
  }

  /** Starts the processes now (they load tfjs and the job code while nothing waits for them). */
  warm(): void {
    while (!this.closed && this.slots.filter((s) => !s.exited).length < this.options.size) {
      this.spawn();
    }
  }

  /** Pids of the live job processes. */
  pids(): number[] {
    return this.slots.filter((s) => !s.exited).map((s) => s.pid);
  }

  /** Stops every process: asks politely, then kills what is left after `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    this.closed = true;
    const live = this.slots.filter((s) => !s.exited);
    await Promise.all(
      live.map(
        (slot) =>
          new Promise<void>((resolve) => {
            if (slot.exited) return resolve();
            slot.child.once('exit', () => resolve());
            this.post(slot, { type: 'exit' });
            setTimeout(() => {
              if (!slot.exited) slot.child.kill('SIGKILL');
            }, graceMs).unref();
          }),
      ),
    );
  }
}
