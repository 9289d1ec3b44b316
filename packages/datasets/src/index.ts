export type {
  AvMnistAudioOptions,
  AvMnistImageOptions,
  AvMnistMeta,
  AvMnistOptions,
  AvMnistSample,
} from './avmnist';
export { AV_MNIST_DEFAULT_SNR_DB, AV_MNIST_VERSION, avMnist } from './avmnist';
export type { CacheEntry, CacheManifest } from './cache';
export { openCache, resolveCacheDir, verifyEntry } from './cache';
export type { DatasetInfo, SampleSource } from './dataset';
export { disposeBatch, SPLITS, StreamingDataset } from './dataset';
export { IgmDataError } from './errors';
export type { FsddDownloadOptions, FsddRecording } from './fsdd';
export {
  downloadFsdd,
  FSDD_BASE_URL,
  FSDD_COMMIT,
  FSDD_SET_SHA256,
  fileSetDigest,
  listFsdd,
} from './fsdd';
export type { CremaDOptions } from './loaders/crema-d';
export {
  CREMA_D_ALPHABETICAL_LABELS,
  CREMA_D_AUDIO,
  CREMA_D_OGM_LABELS,
  cremaD,
  cremaDSpectrogram,
} from './loaders/crema-d';
export type { ProgressOption } from './progress';
export type { SyntheticModalityOptions, SyntheticOptions } from './synthetic';
export { synthetic } from './synthetic';
