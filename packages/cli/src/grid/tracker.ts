/**
 * The state of each run of a grid (queued, running with its epoch, done, failed), shown through
 * `ProgressReporter.updateGrid`, and what the grid's execution learned (`GridBook`). Local
 * parallel and queued comparisons both keep one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { RunSpec } from '../plan';
import type { ProgressReporter } from '../progress';
import { runDirOf } from '../run-job';
import { type GridOutcome, type GridSettings, type RunFailure, runLabel } from './job';

type RunState =
  | { readonly kind: 'queued' }
  | {
      readonly kind: 'running';
      readonly epoch: number;
      readonly epochsTotal: number;
      readonly where?: string;
    }
  | { readonly kind: 'done' }
  | { readonly kind: 'failed' };

export class GridTracker {
  private readonly states: RunState[];
  /** Each run's weight in the progress: its planned epochs (1 each when unknown). */
  private readonly weights: readonly number[];
  private readonly credited = new Set<number>();
  detail: string | undefined;

  constructor(
    private readonly plan: readonly RunSpec[],
    private readonly reporter: ProgressReporter,
    epochsOfRun?: readonly number[],
  ) {
    this.states = plan.map(() => ({ kind: 'queued' }));
    this.weights = plan.map((_, i) => Math.max(1, epochsOfRun?.[i] ?? 1));
  }

  queued(i: number): void {
    this.states[i] = { kind: 'queued' };
  }

  /**
   * Run i is running at `epoch` of `epochsTotal` (true epochs). `resumedAt`: the epoch it was
   * resumed at; those epochs count as done but not toward the ETA (credited once).
   */
  running(i: number, epoch = 0, epochsTotal = 0, where?: string, resumedAt = 0): void {
    this.states[i] = { kind: 'running', epoch, epochsTotal, ...(where ? { where } : {}) };
    if (resumedAt > 0 && epochsTotal > 0 && !this.credited.has(i)) {
      this.credited.add(i);
      const weightSum = this.weights.reduce((a, b) => a + b, 0);
      // In the reporter's units: runs, each weighted by its share of the grid's epochs.
      this.reporter.skip(
        ((resumedAt / epochsTotal) * this.weights[i]! * this.plan.length) / weightSum,
      );
    }
  }

  done(i: number): void {
    this.states[i] = { kind: 'done' };
  }

  failed(i: number): void {
    this.states[i] = { kind: 'failed' };
  }

  count(kind: RunState['kind']): number {
    return this.states.filter((s) => s.kind === kind).length;
  }

  /**
   * Done and failed runs count whole, running ones by their epochs; each run weighs its planned
   * epochs (an IGM run of 72 epochs 3.6 times a joint run of 20).
   */
  fraction(): number {
    if (!this.plan.length) return 1;
    let work = 0;
    let all = 0;
    this.states.forEach((s, i) => {
      const w = this.weights[i]!;
      all += w;
      if (s.kind === 'done' || s.kind === 'failed') work += w;
      else if (s.kind === 'running' && s.epochsTotal > 0) work += (w * s.epoch) / s.epochsTotal;
    });
    return work / all;
  }

  show(): void {
    const current = this.states
      .flatMap((s, i) =>
        s.kind === 'running'
          ? [
              `${runLabel(this.plan[i]!)} ${s.epoch}/${s.epochsTotal || '?'}${s.where ? ` on ${s.where}` : ''}`,
            ]
          : [],
      )
      .join(', ');
    this.reporter.updateGrid({
      total: this.plan.length,
      queued: this.count('queued'),
      running: this.count('running'),
      done: this.count('done'),
      failed: this.count('failed'),
      fraction: this.fraction(),
      current,
      ...(this.detail ? { detail: this.detail } : {}),
    });
  }
}

/**
 * What a grid execution learns, run by run: the progress (a GridTracker), the finished runs,
 * the failures and the backends used; `outcome` sums it up in plan order.
 */
export class GridBook extends GridTracker {
  private readonly finished = new Set<number>();
  private readonly failures: (RunFailure & { index: number })[] = [];
  private readonly backends = new Set<string>();

  constructor(
    private readonly runs: readonly RunSpec[],
    private readonly log: ProgressReporter,
    epochsOfRun?: readonly number[],
  ) {
    super(runs, log, epochsOfRun);
  }

  /** With `resume`, marks the runs whose record.json exists as done; returns the others. */
  reuseFinished(settings: GridSettings): number[] {
    const pending: number[] = [];
    for (let i = 0; i < this.runs.length; i++) {
      const spec = this.runs[i]!;
      if (settings.resume && existsSync(join(runDirOf(settings.out, spec), 'record.json'))) {
        this.log.log(`${runLabel(spec)}: already finished, reusing its record.json`);
        this.finish(i);
      } else {
        pending.push(i);
      }
    }
    return pending;
  }

  get finishedCount(): number {
    return this.finished.size;
  }

  finish(i: number, backend?: string): void {
    this.finished.add(i);
    if (backend) this.backends.add(backend);
    this.done(i);
  }

  fail(i: number, error: string, attempts: number): void {
    const spec = this.runs[i]!;
    this.failures.push({ index: i, method: spec.method, seed: spec.seed, error, attempts });
    this.failed(i);
  }

  outcome(status: GridOutcome['status']): GridOutcome {
    return {
      status,
      finished: new Set(this.finished),
      // Plan order, whatever order they failed in.
      failures: [...this.failures]
        .sort((x, y) => x.index - y.index)
        .map(({ index: _i, ...f }) => f),
      backends: [...this.backends],
    };
  }
}
