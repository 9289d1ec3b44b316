export type { DatasetInfo, SampleSource } from './dataset';
export { disposeBatch, SPLITS, StreamingDataset } from './dataset';
export { IgmDataError } from './errors';
export type { ProgressOption } from './progress';
export type { SyntheticModalityOptions, SyntheticOptions } from './synthetic';
export { synthetic } from './synthetic';
