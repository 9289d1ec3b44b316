/**
 * A {@link ProgressModel} drawn by a {@link ProgressRenderer}: what every @igm progress display
 * uses (the trainer's step bar, dataset preprocessing, the CLI's comparison line).
 */
import { ProgressModel, type ProgressUpdate, type ProgressView } from './model';
import { createRenderer, type ProgressRenderer, type RendererOptions } from './render';

export interface ProgressTrackerOptions extends RendererOptions {
  /** The amount of work (steps, files, runs). */
  readonly total: number;
  /** Half-life of the rate smoothing in seconds (see {@link ProgressModel}). Default 60. */
  readonly halfLife?: number;
}

export class ProgressTracker {
  readonly model: ProgressModel;
  readonly renderer: ProgressRenderer;

  constructor(options: ProgressTrackerOptions) {
    const now = options.now ?? (() => performance.now());
    this.model = new ProgressModel({
      total: options.total,
      now,
      ...(options.halfLife !== undefined ? { halfLife: options.halfLife } : {}),
    });
    this.renderer = createRenderer({ ...options, now });
  }

  get mode(): 'bar' | 'lines' | 'none' {
    return this.renderer.mode;
  }

  /** The rate's baseline (see {@link ProgressModel.start}). */
  start(done = 0): this {
    this.model.start(done);
    return this;
  }

  /** Work done before, not toward the rate (see {@link ProgressModel.credit}). */
  credit(units: number): this {
    this.model.credit(units);
    return this;
  }

  /** Records progress and shows it (`force`: see {@link ProgressRenderer.status}). */
  update(done: number, change: ProgressUpdate & { readonly force?: boolean } = {}): ProgressView {
    const { force, ...rest } = change;
    const view = this.model.update(done, rest);
    this.renderer.status(view, force ?? false);
    return view;
  }

  view(): ProgressView {
    return this.model.view();
  }

  /** A line that stays. */
  line(text: string): void {
    this.renderer.line(text);
  }

  done(): void {
    this.renderer.done();
  }
}
