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

/** A grid's runs by state (parallel or queued comparisons). */
export interface GridProgressState {
  readonly total: number;
  readonly queued: number;
  readonly running: number;
  readonly done: number;
  readonly failed: number;
  /** Fraction of the grid's work done, counting the epochs of running runs. */
  readonly fraction: number;
  /** What runs now, e.g. "joint seed 1 3/10, igm seed 0 1/10". */
  readonly current: string;
  /** Extra, e.g. "2 workers". */
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

  private lastGridCounts = '';

  /**
   * The progress line of a grid: runs queued / running / done / failed and the ETA (from the
   * smoothed rate since the first update, so runs reused from an earlier attempt do not count).
   * Plain lines also appear whenever a run starts or ends.
   */
  updateGrid(s: GridProgressState): void {
    const counts = `runs ${s.done} done, ${s.running} running, ${s.queued} queued, ${s.failed} failed of ${s.total}`;
    const changed = counts !== this.lastGridCounts;
    this.lastGridCounts = counts;
    this.tracker.update(s.fraction * s.total, {
      total: s.total,
      label: `${counts}${s.current ? ` · ${s.current}` : ''}`,
      detail: s.detail ?? '',
      force: changed,
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
