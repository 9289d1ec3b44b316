/**
 * The progress model: how much of a known amount of work is done, since when, and how fast it
 * goes now. One model serves every progress display of @igm (training steps, preprocessed
 * files, the runs of a comparison); renderers (render.ts) only draw its {@link ProgressView}.
 *
 * The rate is smoothed exponentially in time. Each update adds the interval since the previous
 * one, `dt` seconds in which `dd` units were done, to two decayed sums
 *
 *   D <- D * 2^(-dt / halfLife) + dd        S <- S * 2^(-dt / halfLife) + dt        rate = D / S
 *
 * so an interval that ended `halfLife` seconds ago weighs half as much as the latest one. Over
 * a stretch much shorter than `halfLife` the rate is the plain average, work since the baseline
 * divided by the time since it; over a long run it follows the recent speed (a method that slows
 * down in its second stage, a faster grid phase). The ETA is `(total - done) / rate`.
 */

/** What a renderer draws: the state of the work at the last update. */
export interface ProgressView {
  /** Units done so far (steps, files, runs; fractions allowed). */
  readonly done: number;
  readonly total: number;
  /** `done / total` clamped to [0, 1]; 1 when `total` is 0. */
  readonly fraction: number;
  /** Seconds since the model was created. */
  readonly elapsed: number;
  /** Smoothed units per second since the baseline; NaN until some work was done after it. */
  readonly rate: number;
  /** Seconds left at `rate`: 0 when done, NaN while the rate is unknown. */
  readonly eta: number;
  /** What is being counted or what runs now ('epoch 3/10', 'CREMA-D audio'). */
  readonly label: string;
  /** Extra text of the moment ('loss 0.4312', 'test acc 81.2%'). */
  readonly detail: string;
}

export interface ProgressModelOptions {
  /** The amount of work (steps, files, runs). */
  readonly total: number;
  /**
   * Half-life of the rate smoothing, in seconds: an interval this old counts half as much as the
   * latest one. Default 60.
   */
  readonly halfLife?: number;
  /** Clock in milliseconds. Default `performance.now()`. */
  readonly now?: () => number;
}

/** Fields {@link ProgressModel.update} may change besides `done`. */
export interface ProgressUpdate {
  readonly total?: number;
  readonly label?: string;
  readonly detail?: string;
}

const DEFAULT_HALF_LIFE = 60;

function checkNonNegative(what: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`progress: ${what} must be a finite number >= 0 (received ${value}).`);
  }
}

/** Done/total, elapsed time and an ETA from a smoothed rate; see the module doc. */
export class ProgressModel {
  private total: number;
  private readonly halfLife: number;
  private readonly now: () => number;
  private readonly origin: number;
  private done = 0;
  private label = '';
  private detail = '';
  /** The baseline: set by start(), or by the first update when start() was not called. */
  private last: { time: number; done: number } | undefined;
  private decayedDone = 0;
  private decayedSeconds = 0;

  constructor(options: ProgressModelOptions) {
    checkNonNegative('total', options.total);
    const halfLife = options.halfLife ?? DEFAULT_HALF_LIFE;
    if (!(halfLife > 0) || !Number.isFinite(halfLife)) {
      throw new RangeError(
        `progress: halfLife must be a positive number of seconds (received ${halfLife}).`,
      );
    }
    this.total = options.total;
    this.halfLife = halfLife;
    this.now = options.now ?? (() => performance.now());
    this.origin = this.now();
  }

  /**
   * Sets the baseline of the rate: work counted from `done` on, from now on. Work finished
   * before (a resumed run's steps, runs reused from an earlier attempt) does not make the ETA
   * optimistic. Without a call, the first {@link update} is the baseline.
   */
  start(done = 0): this {
    checkNonNegative('done', done);
    this.done = done;
    this.last = { time: this.now(), done };
    this.decayedDone = 0;
    this.decayedSeconds = 0;
    return this;
  }

  /**
   * Counts `units` as done without counting them toward the rate: work finished before, found
   * in the middle of the work (a resumed run's epochs, a run reused from an earlier attempt).
   * The next {@link update} includes them in `done`; the rate sees only what was done since.
   */
  credit(units: number): this {
    checkNonNegative('units', units);
    this.done += units;
    if (this.last) this.last = { time: this.last.time, done: this.last.done + units };
    return this;
  }

  /** Records that `done` units are done now (and optionally a new total, label or detail). */
  update(done: number, change: ProgressUpdate = {}): ProgressView {
    checkNonNegative('done', done);
    if (change.total !== undefined) {
      checkNonNegative('total', change.total);
      this.total = change.total;
    }
    if (change.label !== undefined) this.label = change.label;
    if (change.detail !== undefined) this.detail = change.detail;
    const time = this.now();
    if (this.last === undefined) {
      this.last = { time, done };
    } else {
      const seconds = Math.max(0, (time - this.last.time) / 1000);
      const decay = 2 ** (-seconds / this.halfLife);
      this.decayedDone = this.decayedDone * decay + (done - this.last.done);
      this.decayedSeconds = this.decayedSeconds * decay + seconds;
      this.last = { time, done };
    }
    this.done = done;
    return this.view();
  }

  /** The state at the last update (elapsed time as of now). */
  view(): ProgressView {
    const rate =
      this.decayedSeconds > 0 && this.decayedDone > 0
        ? this.decayedDone / this.decayedSeconds
        : Number.NaN;
    const left = Math.max(0, this.total - this.done);
    return {
      done: this.done,
      total: this.total,
      fraction: this.total > 0 ? Math.min(1, this.done / this.total) : 1,
      elapsed: (this.now() - this.origin) / 1000,
      rate,
      eta: left === 0 ? 0 : left / rate,
      label: this.label,
      detail: this.detail,
    };
  }
}
