/**
 * Messages between a job process (job-child.ts) and the process that started it (pool.ts), over
 * Node's IPC channel.
 */
import type { ProgressState } from '../progress';
import type { GridJob } from './job';

/** What a job process is asked to run. */
export interface ChildTask {
  readonly job: GridJob;
  /** Continue from the run's checkpoints / reuse its record.json (runJob's `resume`). */
  readonly resume: boolean;
  /** wasm threads of this process (resolved: never `auto`). */
  readonly threads: number;
  /** Runs of the grid finished so far, for the progress line. */
  readonly runsDone: number;
}

export type ParentMessage =
  | { readonly type: 'run'; readonly task: ChildTask }
  /** Stop the current run after its current step (it writes a checkpoint). */
  | { readonly type: 'abort' }
  /** Exit once idle. */
  | { readonly type: 'exit' };

export interface ChildError {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly stack?: string;
}

export type ChildMessage =
  | { readonly type: 'ready'; readonly pid: number }
  | { readonly type: 'progress'; readonly state: ProgressState }
  | { readonly type: 'log'; readonly line: string }
  | {
      readonly type: 'done';
      readonly status: 'completed' | 'reused' | 'aborted';
      /** The backend this process runs on, e.g. "cpu (pure JavaScript)". */
      readonly backend: string;
    }
  | { readonly type: 'failed'; readonly error: ChildError };
