/**
 * The state of each run of a grid (queued, running with its epoch, done, failed), shown through
 * `ProgressReporter.updateGrid`. Local parallel and queued comparisons both feed it.
 */
import type { RunSpec } from '../plan';
import type { ProgressReporter } from '../progress';
import { runLabel } from './job';

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
  detail: string | undefined;

  constructor(
    private readonly plan: readonly RunSpec[],
    private readonly reporter: ProgressReporter,
  ) {
    this.states = plan.map(() => ({ kind: 'queued' }));
  }

  queued(i: number): void {
    this.states[i] = { kind: 'queued' };
  }

  running(i: number, epoch = 0, epochsTotal = 0, where?: string): void {
    this.states[i] = { kind: 'running', epoch, epochsTotal, ...(where ? { where } : {}) };
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

  /** Done and failed runs count whole, running ones by their epochs. */
  fraction(): number {
    if (!this.plan.length) return 1;
    let work = 0;
    for (const s of this.states) {
      if (s.kind === 'done' || s.kind === 'failed') work += 1;
      else if (s.kind === 'running' && s.epochsTotal > 0) work += s.epoch / s.epochsTotal;
    }
    return work / this.plan.length;
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
