/**
 * Progress output on stderr: a redrawn bar with ETA on a TTY, one plain line per epoch
 * otherwise (logs and CI), or nothing.
 */

export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

export class Progress {
  private readonly mode: 'bar' | 'lines' | 'none';
  private startTime = 0;
  private doneAtStart = 0;
  private lastDraw = 0;

  constructor(
    mode: ProgressMode,
    private readonly totalSteps: number,
    private readonly stream: ProgressStream = process.stderr,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.mode = mode === 'auto' ? (stream.isTTY ? 'bar' : 'lines') : mode;
  }

  /** Called once, with the number of steps already done (resume). */
  start(done: number): void {
    this.startTime = this.now();
    this.doneAtStart = done;
  }

  /**
   * ETA in seconds from the steps done so far in this process (never negative: re-sampled epochs
   * can run more steps than the total estimated from the split size).
   */
  eta(done: number): number {
    const elapsed = (this.now() - this.startTime) / 1000;
    const ran = done - this.doneAtStart;
    if (ran <= 0) return Number.NaN;
    return (elapsed / ran) * Math.max(0, this.totalSteps - done);
  }

  step(done: number, label: string, loss: number): void {
    if (this.mode !== 'bar') return;
    const t = this.now();
    if (t - this.lastDraw < 100 && done < this.totalSteps) return;
    this.lastDraw = t;
    const width = 24;
    const frac = this.totalSteps > 0 ? Math.min(1, done / this.totalSteps) : 1;
    const filled = Math.round(frac * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const line = `[${bar}] ${done}/${this.totalSteps} ${label} loss ${loss.toFixed(4)} ETA ${formatDuration(this.eta(done))}`;
    const cols = this.stream.columns ?? 120;
    this.stream.write(`\r${line.slice(0, cols - 1).padEnd(Math.min(cols - 1, line.length + 2))}`);
  }

  epoch(done: number, line: string): void {
    if (this.mode === 'none') return;
    const eta = `ETA ${formatDuration(this.eta(done))}`;
    if (this.mode === 'bar') this.stream.write(`\r\x1b[K${line} ${eta}\n`);
    else this.stream.write(`${line} ${eta}\n`);
  }

  message(line: string): void {
    if (this.mode === 'none') return;
    this.stream.write(this.mode === 'bar' ? `\r\x1b[K${line}\n` : `${line}\n`);
  }
}
