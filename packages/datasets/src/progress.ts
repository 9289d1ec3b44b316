/**
 * Progress of long preprocessing runs, on stderr: on a terminal a redrawn bar with the count,
 * elapsed time and ETA; otherwise (CI logs) a line at every 10 %. `IGM_PROGRESS=0` or
 * `progress: false` silences it; a callback can receive the counts instead (the only way in a
 * browser, which has no stderr). The model and the renderers come from @igm/progress.
 */
import { formatDuration, type ProgressFormat, ProgressTracker, progressBar } from '@igm/progress';

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
  const enabled = option && typeof process !== 'undefined' && process.env?.['IGM_PROGRESS'] !== '0';
  if (!enabled || total <= 0) return { tick() {}, done() {} };
  const format: ProgressFormat = (v, mode) => {
    const percent = `${(v.fraction * 100).toFixed(0)}%`;
    const times = `${formatDuration(v.elapsed)} ETA ${formatDuration(v.eta)}`;
    return mode === 'bar'
      ? `${label} [${progressBar(v.fraction, 30, '#', '-')}] ${v.done}/${v.total} ${percent} ${times}`
      : `${label}: ${v.done}/${v.total} (${percent}) ${times}`;
  };
  const tracker = new ProgressTracker({ total, linesEveryFraction: 0.1, format }).start(0);
  let count = 0;
  return {
    tick(n = 1) {
      count += n;
      tracker.update(count);
    },
    done() {
      // The final state stays: on a terminal as a line, in logs as a last line (unless shown).
      if (tracker.mode === 'bar') tracker.line(format(tracker.view(), 'bar'));
      else tracker.update(count, { force: true });
    },
  };
}
