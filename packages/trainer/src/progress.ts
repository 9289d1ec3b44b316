/**
 * The run loop's progress: a redrawn bar with the step count, loss and ETA on a TTY, one plain
 * line per epoch otherwise (logs and CI), or nothing. Built on @igm/progress (the model with a
 * smoothed rate and its renderers), which the dataset loaders and the CLI use as well.
 */
import {
  defaultProgressStream,
  formatDuration,
  type ProgressMode,
  type ProgressStream,
  ProgressTracker,
  progressBar,
} from '@igm/progress';

export { formatDuration, type ProgressMode, type ProgressStream };

export class Progress {
  private readonly tracker: ProgressTracker;

  constructor(
    mode: ProgressMode,
    totalSteps: number,
    stream: ProgressStream = defaultProgressStream(),
    now: () => number = () => performance.now(),
  ) {
    this.tracker = new ProgressTracker({
      total: totalSteps,
      mode,
      stream,
      now,
      format: (v) =>
        `[${progressBar(v.fraction)}] ${v.done}/${v.total} ${v.label} ${v.detail} ETA ${formatDuration(v.eta)}`,
    });
  }

  /** Called once, with the number of steps already done (resume): they do not count for the ETA. */
  start(done: number): void {
    this.tracker.start(done);
  }

  /**
   * ETA in seconds with `done` steps done now, from the smoothed step rate of this process
   * (never negative: re-sampled epochs can run more steps than the total estimated from the
   * split size).
   */
  eta(done: number): number {
    return this.tracker.model.update(done).eta;
  }

  step(done: number, label: string, loss: number): void {
    this.tracker.update(done, { label, detail: `loss ${loss.toFixed(4)}` });
  }

  epoch(done: number, line: string): void {
    if (this.tracker.mode === 'none') return;
    this.tracker.line(`${line} ETA ${formatDuration(this.eta(done))}`);
  }

  message(line: string): void {
    this.tracker.line(line);
  }
}
