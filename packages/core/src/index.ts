export type { ChainState } from './chain';
export {
  applyUpdates,
  chain,
  disposeState,
  identity,
  requireEvaluate,
  requireOutput,
} from './chain';
export type { AnyTransform, MaskedState, PartitionState, WhenOptions } from './combinators';
export { masked, matchesPattern, partition, when } from './combinators';
export * from './contracts';
export {
  allCoalitions,
  coalitionKey,
  imbalanceDegree,
  sampleShapleyContributions,
  shapleyContributions,
  unimodalAccuracyGap,
} from './contribution';
export * from './errors';
export type { SymmetricEigen } from './linalg';
export { matmulF64, symmetricEigen, symmetricMatrixFunction } from './linalg';
export type {
  ConfusionMatrixOptions,
  LabelsInput,
  MacroF1Options,
  MeanAveragePrecision,
  ScoresInput,
} from './metrics';
export { accuracy, confusionMatrix, macroF1, meanAveragePrecision } from './metrics';
export type { GradientOptimizerOptions, LossFn, LossPass, StepInfo } from './optimizer';
export { GradientOptimizer, lossGradients, toParamMap } from './optimizer';
export * from './options';
export type { GroupSpec, LayersModelLike, LayerVariableLike, ParamSource } from './params';
export { collectParams, describeParamGroups, emptySelectionError } from './params';
export { createRng } from './rng';
export type {
  CosineOptions,
  MultiStepOptions,
  ScheduleUnit,
  StepLROptions,
  WarmupOptions,
} from './schedules';
export { constant, cosine, multiStep, stepLR, warmup } from './schedules';
export type { AdapterModelLike, TfjsOptimizerOptions } from './tfjs-adapter';
export { IgmTfjsOptimizer, toTfjsOptimizer } from './tfjs-adapter';
export * from './transforms';
export * from './types';
