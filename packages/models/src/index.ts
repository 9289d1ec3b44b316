export type { EncoderInit, MlpEncoderOptions, ResNet18Options, SmallCnnOptions } from './encoders';
export { initializeEncoder, mlpEncoder, resnet18, smallCnn } from './encoders';
export type {
  DenseLayerKeys,
  DenseSpec,
  FusionRule,
  HeadInit,
  HeadSpec,
  HeadType,
} from './heads';
export {
  entropyWeightedLogits,
  headLayerInfo,
  igmHiddenLayers,
  meanSoftmax,
  sumLogSoftmax,
  weightedLogits,
} from './heads';
export type {
  BatchNormArgs,
  DenseArgs,
  SymmetricConv2DArgs,
  SymmetricMaxPool2DArgs,
} from './layers';
export { BatchNorm, Dense, SymmetricConv2D, SymmetricMaxPool2D } from './layers';
export type { MultimodalModelConfig } from './model';
export { MultimodalModel } from './model';
export type { AudioVisualResNet18Options } from './presets';
export { audioVisualResNet18, MLA_FIXED_WEIGHTS } from './presets';
