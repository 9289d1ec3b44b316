/**
 * @igm/core: the optimizer interface every @igm method is written against. Read it in this
 * order (the README's "How to read this package" says what each file holds).
 */
// biome-ignore-all assist/source/organizeImports: the exports are in reading order, not sorted.

// 1. The interface: parameters, gradients, transforms, the step context, loss terms, callbacks.
export * from './types';
// 2. What models and datasets expose to trainers and transforms.
export * from './contracts';

// 3. Composition: chain, routing by parameter (partition, masked) or by time (when), and
//    reaching one member's state.
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
export { masked, partition, when } from './combinators';
export { findState } from './find-state';

// 4. The base transforms and the optimizers built from them (sgd, adam, adamw).
export * from './transforms';
// 4b. Training-mode BatchNorm as two fused kernels (bit for bit tf.moments + tf.batchNorm).
export type {
  BatchNormActivation,
  BatchNormGradSums,
  BatchNormTrainingAttrs,
  BatchNormTrainingGradInputs,
  BatchNormTrainingInputs,
  BatchNormTrainingOptions,
} from './kernels/batch-norm';
export {
  addInPlace,
  batchMomentsInto,
  batchNormGeometry,
  batchNormGradInto,
  batchNormGradSumsInto,
  batchNormInputGradInto,
  batchNormTraining,
  centeredGradSumInto,
  checkBatchNormTrainingCall,
  checkBatchNormTrainingGradCall,
  cpuBatchNormOutputInto,
  cpuRsqrt,
  fusedBatchNormAvailable,
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  meanGradShare,
  minusHalfCube,
  registerCpuBatchNormKernels,
  reluGradInto,
  residualGradWanted,
  reluInPlace,
  squareGradFactor,
  unregisterCpuBatchNormKernels,
  variancePlusEpsilon,
} from './kernels/batch-norm';
// 4c. Mean softmax cross-entropy with integer labels as two fused kernels (bit for bit the
// composition -mean(sum(oneHot(y) * logSoftmax(z), -1)) and its autodiff).
export {
  fusedSoftmaxCrossEntropyAvailable,
  IgmSoftmaxCrossEntropy,
  IgmSoftmaxCrossEntropyGrad,
  registerCpuSoftmaxCrossEntropyKernels,
  registerSoftmaxCrossEntropyKernels,
  softmaxCrossEntropy,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
  unregisterSoftmaxCrossEntropyKernels,
} from './kernels/softmax-cross-entropy';
// 4d. A Dense layer's bias and activation act(z + b) as two fused kernels (bit for bit tf.add +
// tf.relu and their autodiff).
export type { DenseActivation } from './kernels/bias-activation';
export {
  biasActivation,
  biasActivationGradInputs,
  biasActivationInputs,
  biasActivationKernels,
  fusedBiasActivationAvailable,
  IgmBiasActivation,
  IgmBiasActivationGrad,
  registerBiasActivationKernels,
  registerCpuBiasActivationKernels,
  unregisterBiasActivationKernels,
} from './kernels/bias-activation';
// All of the above on cpu in one call.
export { registerCpuTrainingKernels } from './kernels/cpu-training-kernels';
// The argument check and direct kernel call the JavaScript kernels share (also
// @igm/wasm-training's).
export { callBackendKernel, kernelInput } from './kernels/kernel-support';
// 5. Learning-rate schedules.
export type {
  CosineOptions,
  MultiStepOptions,
  ScheduleUnit,
  StepLROptions,
  WarmupOptions,
} from './schedules';
export { constant, cosine, multiStep, stepLR, warmup } from './schedules';

// 6. Driving a transform: parameters from a model, a loss closure or given gradients, model.fit.
export type { GroupSpec, LayersModelLike, LayerVariableLike, ParamSource } from './params';
export { collectParams, emptySelectionError } from './params';
export type { GradientOptimizerOptions, LossFn, LossPass, StepInfo } from './optimizer';
export { GradientOptimizer, lossGradients, toParamMap } from './optimizer';
export type { AdapterModelLike, TfjsOptimizerOptions } from './tfjs-adapter';
export { IgmTfjsOptimizer, toTfjsOptimizer } from './tfjs-adapter';

// 7. Utilities every package shares: the seeded RNG, seed mixing, errors, argument checks and
//    option schemas.
export { createRng, mixSeed } from './rng';
export * from './errors';
export * from './options';
