/**
 * @igm/datasets without a file system: what a browser (any bundler's default condition) gets.
 * The streaming dataset machinery, the synthetic dataset, the AV-MNIST-style recipe built from
 * bytes the application supplies (`avMnistFromBytes`), audio and image preprocessing, WAV /
 * JPEG / NPY-header decoding and dataset descriptions. In Node, the "node" export condition (and
 * the `@igm/datasets/node` subpath) resolves to node.ts instead: all of this plus the folder
 * loaders, the cache and the FSDD download.
 */
// disposeBatch is defined with the batch contract in @igm/core; re-exported for existing imports.
export { disposeBatch } from '@igm/core';
export { addNoiseAtSnr, logSpectrogram, padOrTrim, signalPower, tileTo } from './audio/features';
export { melFilterbank } from './audio/mel';
export { resamplePoly } from './audio/resample';
export { scipySpectrogram } from './audio/scipy-spectrogram';
export { hannWindow, stft } from './audio/stft';
export type {
  AvMnistAudioOptions,
  AvMnistBytesOptions,
  AvMnistImageOptions,
  AvMnistRecipeOptions,
  AvMnistRecordingBytes,
  AvMnistSample,
} from './avmnist-build';
export {
  AV_MNIST_DEFAULT_SNR_DB,
  AV_MNIST_IMBALANCED,
  AV_MNIST_VERSION,
  avMnistFromBytes,
  MNIST_PIXELS,
  MNIST_SIDE,
} from './avmnist-build';
export type { DatasetInfo, InMemorySamples, SampleSource } from './dataset';
export { SPLITS, StreamingDataset } from './dataset';
export type { DatasetName, DatasetOptionsByName } from './describe';
export { DATASET_NAMES, datasetModalities, describeDataset } from './describe';
export { IgmDataError } from './errors';
export type { FsddRecording } from './fsdd-names';
export {
  FSDD_BASE_URL,
  FSDD_COMMIT,
  FSDD_SET_SHA256,
  FSDD_SPEAKERS,
  fileSetDigest,
  fsddFileNames,
  parseFsddName,
} from './fsdd-names';
export { sha256 } from './hash';
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
export { decodeJpeg } from './io/jpeg';
export type { NpyHeader } from './io/npy-header';
export { parseNpyHeader } from './io/npy-header';
export type { DecodedWav, WavExpectations } from './io/wav';
export { decodeWav, encodeWav } from './io/wav';
export type { ProgressOption } from './progress';
export { checkHoldout, stratifiedHoldout } from './split';
export type { SyntheticModalityOptions, SyntheticOptions } from './synthetic';
export { synthetic } from './synthetic';
