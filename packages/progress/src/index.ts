export {
  ProgressModel,
  type ProgressModelOptions,
  type ProgressUpdate,
  type ProgressView,
} from './model';
export {
  createRenderer,
  defaultFormat,
  defaultProgressStream,
  formatDuration,
  type ProgressFormat,
  type ProgressMode,
  type ProgressRenderer,
  type ProgressStream,
  progressBar,
  type RendererOptions,
  resolveProgressMode,
} from './render';
export { ProgressTracker, type ProgressTrackerOptions } from './tracker';
