export type { ChainState } from './chain';
export {
  applyUpdates,
  chain,
  disposeState,
  identity,
  requireEvaluate,
  requireOutput,
} from './chain';
export * from './contracts';
export * from './errors';
export type { GradientOptimizerOptions, LossFn, LossPass, StepInfo } from './optimizer';
export { GradientOptimizer, toParamMap } from './optimizer';
export { createRng } from './rng';
export * from './types';
