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
export type {
  CosineOptions,
  MultiStepOptions,
  ScheduleUnit,
  StepLROptions,
  WarmupOptions,
} from './schedules';
export { constant, cosine, multiStep, stepLR, warmup } from './schedules';
export * from './transforms';
export * from './types';
