/**
 * @igm/flat-projection: IGM's flat projection (T from the previous modality's head-layer input
 * moments, applied to the current head's kernel gradients) and MLA's OWM head projection, as
 * composable gradient transforms for TensorFlow.js.
 */
export type { MomentLayer } from './accumulator';
export { InputMomentAccumulator } from './accumulator';
export type { ExpmPlan } from './expm';
export { expmSymmetric, planExpm } from './expm';
export type {
  FlatProjectionOptions,
  FlatProjectionState,
  InstalledProjection,
} from './flat-projection';
export {
  activeProjections,
  clearProjection,
  flatProjection,
  installProjection,
  pairHeadLayers,
  previousModality,
  setProjection,
} from './flat-projection';
export type { LanczosOptions, LanczosResult } from './lanczos';
export { lanczosExtremes } from './lanczos';
export type {
  FlatProjectionMatrixOptions,
  FlatProjectionMethod,
  FlatProjectionResult,
} from './matrix';
export { autoMethod, buildFlatProjection, flatProjectionMatrix } from './matrix';
export type {
  OrthogonalProjectionOptions,
  OrthogonalProjectionState,
  OwmStepInfo,
} from './orthogonal-projection';
export { mlaAlpha, orthogonalProjection } from './orthogonal-projection';
