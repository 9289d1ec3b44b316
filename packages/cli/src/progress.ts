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
  /** Epochs the current run has trained, counted over the whole run (stages included). */
  readonly epoch: number;
  readonly epochsTotal: number;
  readonly detail?: string;
  /**
   * Planned epochs of the comparison's runs before the current one (finished or reused): with
   * {@link ProgressReporter.plan}, progress and ETA count epochs rather than runs.
   */
  readonly epochsBefore?: number;
  /** The epoch the current run was resumed at (epochs trained by an earlier process), or 0. */
  readonly resumedAt?: number;
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
  /** The comparison's planned epochs, when known (see plan). */
  private epochsPlanned: number | undefined;
  /** Runs whose resumed epochs were credited (done earlier, not toward the rate). */
  private readonly credited = new Set<string>();
  /** The rate's baseline is set after the first epoch this process trains (warm-up excluded). */
  private warm = false;

  constructor(
    stream: ProgressStream = defaultProgressStream(),
    tty = Boolean(stream.isTTY) && !process.env['CI'],
    now?: () => number,
  ) {
    this.tracker = new ProgressTracker({
      // Work in epochs once the plan is known (runs before), each run counted by its epochs.
      total: 0,
      mode: tty ? 'bar' : 'lines',
      stream,
      linesEverySeconds: 2,
      ...(now ? { now } : {}),
      format: (v, mode) => {
        const text = `${v.label}${v.detail ? ` · ${v.detail}` : ''} · elapsed ${formatDuration(v.elapsed)} · ETA ${formatDuration(v.eta)}`;
        if (mode === 'lines') return text;
        const percent = `${(100 * v.fraction).toFixed(0).padStart(3)}%`;
        return `[${progressBar(v.fraction)}] ${percent} ${text}`;
      },
    });
  }

  /**
   * The planned epochs of every run of the comparison (budget plans): progress then counts
   * epochs, so a 72-epoch IGM run weighs 3.6 times a 20-epoch joint run.
   */
  plan(epochs: number): void {
    this.epochsPlanned = epochs;
  }

  /** Work found done (a run reused from an earlier attempt): done, but not toward the ETA. */
  skip(epochs: number): void {
    if (epochs > 0) this.tracker.credit(epochs);
  }

  /**
   * Shows the state. The ETA comes from the smoothed rate of the work this process did, from
   * the end of its first epoch on: the first epoch (start-up, compilation of kernels) is left
   * out, and so are a resumed run's earlier epochs and reused runs.
   */
  update(s: ProgressState): void {
    const byEpochs = this.epochsPlanned !== undefined && s.epochsBefore !== undefined;
    const unitsPerEpoch = byEpochs ? 1 : s.epochsTotal > 0 ? 1 / s.epochsTotal : 0;
    if (s.resumedAt && !this.credited.has(s.current)) {
      this.credited.add(s.current);
      this.tracker.credit(s.resumedAt * unitsPerEpoch);
    }
    const total = byEpochs ? this.epochsPlanned! : s.runsTotal;
    const done = byEpochs
      ? s.epochsBefore! + s.epoch
      : s.runsDone + (s.epochsTotal > 0 ? s.epoch / s.epochsTotal : 0);
    if (!this.warm && s.epoch > (s.resumedAt ?? 0)) {
      this.warm = true;
      this.tracker.start(Math.min(total, done));
    }
    this.tracker.update(Math.min(total, done), {
      total,
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
