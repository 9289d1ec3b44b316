/**
 * Renderers of a {@link ProgressView}: a status line redrawn in place on a terminal, plain lines
 * for logs and CI (printed when a policy says so), or nothing. Every renderer also prints
 * permanent lines (an epoch's result, a finished run, a warning) without garbling the status line.
 */
import type { ProgressView } from './model';

/** 'auto' is 'bar' on a terminal and 'lines' otherwise. */
export type ProgressMode = 'auto' | 'bar' | 'lines' | 'none';

/** Where progress goes: `process.stderr`, or anything with `write` (tests, a browser console). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Turns a view into one line of text; `mode` says whether it is a redrawn status or a log line. */
export type ProgressFormat = (view: ProgressView, mode: 'bar' | 'lines') => string;

export interface ProgressRenderer {
  readonly mode: 'bar' | 'lines' | 'none';
  /**
   * Shows the state. A terminal redraws its status line (at most every `redrawMs`, always when
   * the work is complete or `force` is set). Plain lines are printed when the policy says so, or
   * on `force` unless the last printed line showed the same done, label and detail.
   */
  status(view: ProgressView, force?: boolean): void;
  /** Prints a line that stays. */
  line(text: string): void;
  /** Removes the status line (the work is over or its lines follow). */
  done(): void;
}

export interface RendererOptions {
  /** Default 'auto'. */
  readonly mode?: ProgressMode;
  /** Default {@link defaultProgressStream}. */
  readonly stream?: ProgressStream;
  /** Default {@link defaultFormat}. */
  readonly format?: ProgressFormat;
  /** Least milliseconds between two redraws of a terminal status line. Default 100. */
  readonly redrawMs?: number;
  /** Plain lines: print a status line when this many seconds passed since the last one. */
  readonly linesEverySeconds?: number;
  /** Plain lines: print a status line when the fraction done reaches the next multiple of this. */
  readonly linesEveryFraction?: number;
  /** Clock in milliseconds (for throttling). Default `performance.now()`. */
  readonly now?: () => number;
}

/** `h:mm:ss` from one hour on, `mm:ss` below; `--:--` when unknown (NaN, infinite, negative). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/** The bar's cells: `width` characters, the done part in `fill`, the rest in `empty`. */
export function progressBar(fraction: number, width = 24, fill = '#', empty = '.'): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.round(f * width);
  return `${fill.repeat(filled)}${empty.repeat(width - filled)}`;
}

/** `[####....]  42% label · detail · elapsed 01:10 · ETA 01:36` (the bar on terminals only). */
export const defaultFormat: ProgressFormat = (v, mode) => {
  const parts = [v.label, v.detail].filter((s) => s !== '');
  const text = [
    ...parts,
    `elapsed ${formatDuration(v.elapsed)}`,
    `ETA ${formatDuration(v.eta)}`,
  ].join(' · ');
  const percent = `${(100 * v.fraction).toFixed(0).padStart(3)}%`;
  return mode === 'bar' ? `[${progressBar(v.fraction)}] ${percent} ${text}` : `${percent} ${text}`;
};

/**
 * `process.stderr` where there is one (Node); elsewhere (a browser) a stream that sends each
 * complete line to `console.info` and is not a terminal.
 */
export function defaultProgressStream(): ProgressStream {
  const stderr = (globalThis as { process?: { stderr?: ProgressStream } }).process?.stderr;
  if (stderr && typeof stderr.write === 'function') return stderr;
  let pending = '';
  return {
    isTTY: false,
    write(s: string) {
      pending += s;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) console.info(line);
    },
  };
}

/** The mode a renderer runs in: 'auto' becomes 'bar' on a terminal, else 'lines'. */
export function resolveProgressMode(
  mode: ProgressMode,
  stream: ProgressStream,
): 'bar' | 'lines' | 'none' {
  if (mode === 'bar' || mode === 'lines' || mode === 'none') return mode;
  if (mode === 'auto') return stream.isTTY ? 'bar' : 'lines';
  throw new RangeError(
    `progress: received mode=${JSON.stringify(mode)}. Expected one of "auto", "bar", "lines", "none".`,
  );
}

class TerminalRenderer implements ProgressRenderer {
  readonly mode = 'bar';
  private lastDraw = Number.NEGATIVE_INFINITY;
  private drawn = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly format: ProgressFormat,
    private readonly redrawMs: number,
    private readonly now: () => number,
  ) {}

  status(view: ProgressView, force = false): void {
    const t = this.now();
    if (!force && view.done < view.total && t - this.lastDraw < this.redrawMs) return;
    this.lastDraw = t;
    const columns = this.stream.columns ?? 120;
    this.stream.write(`\r${this.format(view, 'bar').slice(0, columns - 1)}\x1b[K`);
    this.drawn = true;
  }

  line(text: string): void {
    this.stream.write(`\r\x1b[K${text}\n`);
    this.drawn = false;
  }

  done(): void {
    if (this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }
}

class LinesRenderer implements ProgressRenderer {
  readonly mode = 'lines';
  private lastPrint = Number.NEGATIVE_INFINITY;
  private lastStep = Number.NaN;
  private lastShown = '';

  constructor(
    private readonly stream: ProgressStream,
    private readonly format: ProgressFormat,
    private readonly everySeconds: number | undefined,
    private readonly everyFraction: number | undefined,
    private readonly now: () => number,
  ) {}

  status(view: ProgressView, force = false): void {
    const t = this.now();
    const step =
      this.everyFraction !== undefined ? Math.floor(view.fraction / this.everyFraction + 1e-9) : 0;
    const shown = `${view.done}\u0000${view.label}\u0000${view.detail}`;
    const due =
      (force && shown !== this.lastShown) ||
      (this.everyFraction !== undefined && step !== this.lastStep) ||
      (this.everySeconds !== undefined && t - this.lastPrint >= this.everySeconds * 1000);
    if (!due) return;
    this.lastPrint = t;
    this.lastStep = step;
    this.lastShown = shown;
    this.stream.write(`${this.format(view, 'lines')}\n`);
  }

  line(text: string): void {
    this.stream.write(`${text}\n`);
  }

  done(): void {}
}

const SILENT: ProgressRenderer = {
  mode: 'none',
  status() {},
  line() {},
  done() {},
};

/** The renderer for `options.mode` (see {@link RendererOptions}). */
export function createRenderer(options: RendererOptions = {}): ProgressRenderer {
  const stream = options.stream ?? defaultProgressStream();
  const mode = resolveProgressMode(options.mode ?? 'auto', stream);
  const format = options.format ?? defaultFormat;
  const now = options.now ?? (() => performance.now());
  if (mode === 'bar') return new TerminalRenderer(stream, format, options.redrawMs ?? 100, now);
  if (mode === 'lines') {
    return new LinesRenderer(
      stream,
      format,
      options.linesEverySeconds,
      options.linesEveryFraction,
      now,
    );
  }
  return SILENT;
}
