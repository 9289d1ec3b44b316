/**
 * A minimal progress bar for long preprocessing runs, written to stderr. On a terminal it redraws
 * one line; otherwise (CI logs) it prints at most every 10 %. `IGM_PROGRESS=0` or
 * `progress: false` silences it; a callback can receive the counts instead (the only way in a
 * browser, which has no stderr).
 */
export type ProgressOption = boolean | ((done: number, total: number, label: string) => void);

export interface Progress {
  tick(n?: number): void;
  done(): void;
}

export function createProgress(
  label: string,
  total: number,
  option: ProgressOption = true,
): Progress {
  if (typeof option === 'function') {
    let done = 0;
    return {
      tick(n = 1) {
        done += n;
        option(done, total, label);
      },
      done() {},
    };
  }
  // Without a process (a browser), there is no stderr: only a callback reports progress.
  const stderr = typeof process === 'undefined' ? undefined : process.stderr;
  const enabled = option && stderr !== undefined && process.env['IGM_PROGRESS'] !== '0';
  if (!enabled || total <= 0) return { tick() {}, done() {} };
  const tty = Boolean(stderr.isTTY);
  const start = Date.now();
  let count = 0;
  let lastDecile = -1;
  let lastPrinted = -1;
  const render = (final: boolean): void => {
    const frac = Math.min(1, count / total);
    const secs = ((Date.now() - start) / 1000).toFixed(1);
    if (tty) {
      const width = 30;
      const filled = Math.round(frac * width);
      const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
      stderr.write(
        `\r${label} [${bar}] ${count}/${total} ${(frac * 100).toFixed(0)}% ${secs}s${final ? '\n' : ''}`,
      );
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile || (final && lastPrinted !== count)) {
        lastPrinted = count;
        lastDecile = decile;
        stderr.write(`${label}: ${count}/${total} (${(frac * 100).toFixed(0)}%) ${secs}s\n`);
      }
    }
  };
  let lastDraw = 0;
  return {
    tick(n = 1) {
      count += n;
      const now = Date.now();
      if (!tty || now - lastDraw > 100) {
        lastDraw = now;
        render(false);
      }
    },
    done() {
      render(true);
    },
  };
}
