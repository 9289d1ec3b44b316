export { addNoiseAtSnr, logSpectrogram, padOrTrim, signalPower, tileTo } from './audio/features';
export { melFilterbank } from './audio/mel';
export { resamplePoly } from './audio/resample';
export { scipySpectrogram } from './audio/scipy-spectrogram';
export { hannWindow, stft } from './audio/stft';
export type {
  AvMnistAudioOptions,
  AvMnistImageOptions,
  AvMnistMeta,
  AvMnistOptions,
  AvMnistSample,
} from './avmnist';
export {
  AV_MNIST_DEFAULT_SNR_DB,
  AV_MNIST_IMBALANCED,
  AV_MNIST_VERSION,
  type AvMnistImbalancedOptions,
  avMnist,
  avMnistImbalanced,
} from './avmnist';
export type { CacheEntry, CacheInputs, CacheManifest } from './cache';
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
export { applyPcaEnergy, fitPcaEnergy } from './image/pca';
export type { Box, FrameTransformOptions } from './image/transforms';
export {
  IMAGENET_MEAN,
  IMAGENET_STD,
  randomResizedCropBox,
  resizeBilinear,
  transformFrame,
} from './image/transforms';
export type { RgbImage } from './io/jpeg';
export { decodeJpeg, encodeJpeg } from './io/jpeg';
export { loadNpyArray, NpyRows, parseNpyHeader } from './io/npy';
export type { DecodedWav, WavExpectations } from './io/wav';
export { decodeWav, encodeWav } from './io/wav';
export type { CremaDOptions } from './loaders/crema-d';
export {
  CREMA_D_ALPHABETICAL_LABELS,
  CREMA_D_AUDIO,
  CREMA_D_OGM_LABELS,
  cremaD,
  cremaDSpectrogram,
} from './loaders/crema-d';
export type { FeatureModality } from './loaders/features';
export type { KineticsAudio, KineticsSoundsOptions } from './loaders/kinetics-sounds';
export { kineticsPickleSpectrogram, kineticsSounds, kineticsStft } from './loaders/kinetics-sounds';
export type { NvGestureEntry, NvGestureOptions } from './loaders/nvgesture';
export { NVGESTURE_CLASSES, nvGesture, readNvGestureList } from './loaders/nvgesture';
export type { SarcasmOptions, SarcasmRow } from './loaders/sarcasm';
export { SARCASM_CLASSES, SARCASM_FILTER_WORDS, sarcasm } from './loaders/sarcasm';
export type { TweetRow, Twitter2015Options } from './loaders/twitter';
export { TWITTER_2015_CLASSES, twitter2015 } from './loaders/twitter';
export type { ProgressOption } from './progress';
export type { DatasetName, DatasetOptionsByName } from './registry';
export { DATASET_NAMES, datasetModalities, describeDataset, loadDataset } from './registry';
export { checkHoldout, stratifiedHoldout } from './split';
export type { SyntheticModalityOptions, SyntheticOptions } from './synthetic';
export { synthetic } from './synthetic';
