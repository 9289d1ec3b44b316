/**
 * Progress for long work: a redrawn status line with ETA on a TTY, plain log lines otherwise
 * (CI logs, pipes). Writes to stderr so stdout stays clean for the results table.
 */
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

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m
      ? `${m}m${String(r).padStart(2, '0')}s`
      : `${r}s`;
}

export class ProgressReporter {
  private readonly started = Date.now();
  private lastPlain = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly tty = Boolean(stream.isTTY) && !process.env['CI'],
  ) {}

  /** Fraction of all work done, counting the current run's epochs. */
  private fraction(s: ProgressState): number {
    const inRun = s.epochsTotal > 0 ? s.epoch / s.epochsTotal : 0;
    return s.runsTotal > 0 ? (s.runsDone + inRun) / s.runsTotal : 0;
  }

  update(s: ProgressState): void {
    const f = this.fraction(s);
    const elapsed = (Date.now() - this.started) / 1000;
    const eta = f > 0 ? (elapsed * (1 - f)) / f : Number.NaN;
    const text = `runs ${s.runsDone}/${s.runsTotal} · ${s.current} · epoch ${s.epoch}/${s.epochsTotal}${s.detail ? ` · ${s.detail}` : ''} · elapsed ${formatDuration(elapsed)} · ETA ${formatDuration(eta)}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(f * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(100 * f).toFixed(0).padStart(3)}%`;
      const columns = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[2K${`${bar} ${text}`.slice(0, columns - 1)}`);
    } else if (Date.now() - this.lastPlain > 2000 || s.epoch === s.epochsTotal) {
      this.lastPlain = Date.now();
      this.stream.write(`${text}\n`);
    }
  }

  private gridStart: { fraction: number; at: number } | undefined;
  private lastGridCounts = '';

  /**
   * The progress line of a grid: runs queued / running / done / failed and the ETA, estimated
   * from the work done since the first call (runs reused from an earlier attempt do not count).
   */
  updateGrid(s: GridProgressState): void {
    const now = Date.now();
    this.gridStart ??= { fraction: s.fraction, at: now };
    const elapsed = (now - this.started) / 1000;
    const gained = s.fraction - this.gridStart.fraction;
    const eta =
      gained > 0 ? (((now - this.gridStart.at) / 1000) * (1 - s.fraction)) / gained : Number.NaN;
    const counts = `runs ${s.done} done, ${s.running} running, ${s.queued} queued, ${s.failed} failed of ${s.total}`;
    const text = `${counts}${s.current ? ` · ${s.current}` : ''}${s.detail ? ` · ${s.detail}` : ''} · elapsed ${formatDuration(elapsed)} · ETA ${s.done + s.failed === s.total ? '0s' : formatDuration(eta)}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(s.fraction * width);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(100 * s.fraction).toFixed(0).padStart(3)}%`;
      const columns = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[2K${`${bar} ${text}`.slice(0, columns - 1)}`);
    } else if (counts !== this.lastGridCounts || now - this.lastPlain > 10_000) {
      // Plain lines (CI logs, pipes): when a run starts or ends, else every 10 s.
      this.lastPlain = now;
      this.lastGridCounts = counts;
      this.stream.write(`${text}\n`);
    }
  }

  /** A line that stays (run finished, warnings). */
  log(line: string): void {
    if (this.tty) this.stream.write('\r\x1b[2K');
    this.stream.write(`${line}\n`);
  }

  done(): void {
    if (this.tty) this.stream.write('\r\x1b[2K');
  }
}

export { formatDuration };
