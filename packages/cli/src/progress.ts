/**
 * Progress for long work: a redrawn status line with ETA on a TTY, plain log lines otherwise
 * (CI logs, pipes). Writes to stderr so stdout stays clean for the results table. The model
 * (smoothed rate, ETA) and the renderers come from @igm/progress.
 */
import {
  defaultProgressStream,
  formatDuration,
  type ProgressStream,
  ProgressTracker,
  progressBar,
} from '@igm/progress';

export interface ProgressState {
  /** Runs finished / total (method x seed). */
  readonly runsDone: number;
  readonly runsTotal: number;
  /** What is running now, e.g. "igm seed 1". */
  readonly current: string;
  readonly epoch: number;
  readonly epochsTotal: number;
  readonly detail?: string;
}

export class ProgressReporter {
  private readonly tracker: ProgressTracker;

  constructor(
    stream: ProgressStream = defaultProgressStream(),
    tty = Boolean(stream.isTTY) && !process.env['CI'],
  ) {
    this.tracker = new ProgressTracker({
      // Work in runs: a run counts as done in proportion to its epochs.
      total: 0,
      mode: tty ? 'bar' : 'lines',
      stream,
      linesEverySeconds: 2,
      format: (v, mode) => {
        const text = `${v.label}${v.detail ? ` · ${v.detail}` : ''} · elapsed ${formatDuration(v.elapsed)} · ETA ${formatDuration(v.eta)}`;
        if (mode === 'lines') return text;
        const percent = `${(100 * v.fraction).toFixed(0).padStart(3)}%`;
        return `[${progressBar(v.fraction)}] ${percent} ${text}`;
      },
    });
  }

  /**
   * Shows the state. The ETA comes from the smoothed rate of work since the first update (runs
   * reused from an earlier attempt do not count).
   */
  update(s: ProgressState): void {
    const inRun = s.epochsTotal > 0 ? s.epoch / s.epochsTotal : 0;
    this.tracker.update(Math.min(s.runsTotal, s.runsDone + inRun), {
      total: s.runsTotal,
      label: `runs ${s.runsDone}/${s.runsTotal} · ${s.current} · epoch ${s.epoch}/${s.epochsTotal}`,
      detail: s.detail ?? '',
      force: s.epoch === s.epochsTotal,
    });
  }

  /** A line that stays (run finished, warnings). */
  log(line: string): void {
    this.tracker.line(line);
  }

  done(): void {
    this.tracker.done();
  }
}
