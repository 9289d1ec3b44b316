/**
 * The Node entry of @igm/datasets (`@igm/datasets/node`, and `@igm/datasets` itself in Node
 * through the "node" export condition): everything of the main entry (index.ts, no file system)
 * plus what reads and writes files: `avMnist` from a recordings folder with its cache, the
 * loaders of the benchmark datasets, `loadDataset`, the cache, the FSDD download, NPY file
 * readers and JPEG encoding.
 */

export type { AvMnistImbalancedOptions, AvMnistMeta, AvMnistOptions } from './avmnist';
export { avMnist, avMnistImbalanced } from './avmnist';
export type { CacheEntry, CacheInputs, CacheManifest } from './cache';
export { openCache, resolveCacheDir, verifyEntry } from './cache';
export type { FsddDownloadOptions } from './fsdd';
export { downloadFsdd, listFsdd } from './fsdd';
export * from './index';
export { encodeJpeg } from './io/jpeg';
export { loadNpyArray, NpyRows } from './io/npy';
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
export { loadDataset } from './registry';
