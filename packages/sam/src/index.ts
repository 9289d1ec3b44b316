export type { FitWithSamOptions, LossOrMetric, SamFitCallbacks, SamHistory } from './fit';
export { fitWithSam, layerGroupOf, layersModelParams, withFrozenStatistics } from './fit';
export type { AsamOptions, SamNormalize, SamOptions } from './sam';
export { asam, isBiasParam, sam } from './sam';
