/**
 * The AV-MNIST-style recipe without a file system (part of the browser build): options, the
 * split and pairing rules, the audio and image preprocessing, and `avMnistFromBytes`, which
 * builds the dataset in memory from WAV bytes and MNIST images the application supplies (a web
 * app fetches them). `avMnist` (avmnist.ts, Node) runs the same steps on a recordings folder and
 * the `mnist` package, caches the result and streams it from disk; given the same recordings and
 * images, both produce the same values.
 *
 * Samples: one per FSDD recording, id = recording stem, label = digit.
 * Splits: FSDD's official rule (index 0-4 test, 5-49 train); `validationFraction` of each digit's
 * train recordings is moved to validation by a seeded draw.
 * Pairing: for digit d, the supplied images of d are permuted with a seeded RNG; the test
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
 */
import {
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  mixSeed,
  type Split,
} from '@igm/core';
import { addNoiseAtSnr, logSpectrogram, padOrTrim, signalPower } from './audio/features';
import { type SampleSource, SPLITS, StreamingDataset } from './dataset';
import { IgmDataError } from './errors';
import { parseFsddName } from './fsdd-names';
import { stableStringify } from './hash';
import { addClippedPixelNoise, type CanvasPlacement, placeOnCanvas } from './image/canvas';
import { applyPcaEnergy, fitPcaEnergy } from './image/pca';
import { decodeWav } from './io/wav';
import { createProgress, type ProgressOption } from './progress';
import { checkHoldout } from './split';

export const AV_MNIST_VERSION = 'av-mnist-style/1';

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;

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

/** The recipe's parameters, shared by `avMnist` (Node) and `avMnistFromBytes`. */
export interface AvMnistRecipeOptions {
  /** Seed of the pairing, validation split and noise. Default 0. */
  readonly seed?: number;
  /** Fraction of each digit's train recordings moved to validation. Default 0.1. */
  readonly validationFraction?: number;
  readonly audio?: AvMnistAudioOptions;
  readonly image?: AvMnistImageOptions;
}

/** Default SNR in dB (chosen with bench/avmnist.ts so that audio is the weaker modality). */
export const AV_MNIST_DEFAULT_SNR_DB = -8;

/**
 * The preprocessing that defines `av-mnist-imbalanced`: audio with white noise at 10 dB SNR (a
 * modality a dense encoder learns in a few epochs, about 93 % alone), the full digit image placed
 * at a random position in a 40x40 canvas (learned several times more slowly, about 65 % alone).
 * Chosen from joint and unimodal runs only, against criteria fixed beforehand; see the package
 * README ("AV-MNIST-style, imbalanced") and bench/imbalanced-avmnist/. In Node,
 * `avMnistImbalanced` loads it; in a browser, spread it into `avMnistFromBytes`' options.
 */
export const AV_MNIST_IMBALANCED = {
  audio: { snrDb: 10 },
  image: { pcaEnergyRemoved: 0, canvas: 40 },
} as const satisfies Pick<AvMnistRecipeOptions, 'audio' | 'image'>;

export interface AvMnistSample {
  readonly id: string;
  readonly split: Split;
  readonly digit: number;
  readonly speaker: string;
  readonly recording: string;
  /** Index of the paired image among the supplied images of this digit. */
  readonly mnistIndex: number;
  /** Where the digit sits in the canvas (only when `image.canvas` > 28). */
  readonly placement?: CanvasPlacement;
}

/** The recipe's options with every default filled in (they key the cache). */
export interface AvMnistParams {
  seed: number;
  validationFraction: number;
  audio: Required<Omit<AvMnistAudioOptions, 'snrDb'>> & { snrDb: number | null };
  image: Required<AvMnistImageOptions>;
}

/** Checks the recipe options (and that `options` has no key outside `known`) and fills defaults. */
export function resolveAvMnistParams(
  where: string,
  options: AvMnistRecipeOptions,
  known: readonly string[],
): AvMnistParams {
  checkKnownKeys(where, options, known);
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
    throw new IgmDataError(`${where}: received audio.nFft=${nFft}. Expected a power of two.`);
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

/** What the recipe needs to know of a recording. */
export interface RecordingRef {
  readonly id: string;
  readonly digit: number;
  readonly speaker: string;
  readonly index: number;
}

/** FSDD split rule plus the seeded, per-digit validation carve-out. */
export function assignSplits(
  recordings: readonly RecordingRef[],
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
  recordings: readonly RecordingRef[],
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

/** Checks that the split rule leaves every digit in training and a non-empty validation split. */
export function checkAvMnistHoldout(
  where: string,
  source: string,
  recordings: readonly RecordingRef[],
  splits: readonly Split[],
  validationFraction: number,
): void {
  checkHoldout(
    where,
    source,
    recordings.filter((_, i) => splits[i] !== 'test').map((r) => r.digit),
    splits.filter((s) => s !== 'test').map((s) => s === 'validation'),
    validationFraction,
    Array.from({ length: 10 }, (_, d) => `digit ${d}`),
  );
}

/** The preprocessed arrays of the recipe, in recording order. */
export interface AvMnistArrays {
  /** [recordings, bands * frames] row-major. */
  readonly audio: Float32Array;
  /** [recordings, canvas * canvas] row-major. */
  readonly images: Float32Array;
  readonly samples: AvMnistSample[];
  readonly audioShape: [number, number, 1];
  /** [canvas, canvas, 1]. */
  readonly imageShape: [number, number, 1];
  readonly audioStats: { readonly mean: number; readonly std: number };
  readonly pca: { readonly kept: number; readonly retainedEnergy: number };
}

/** What `buildAvMnistArrays` reads: the recordings (bytes on demand) and the MNIST images. */
export interface AvMnistInputs {
  readonly recordings: readonly RecordingRef[];
  /** Split of each recording (assignSplits). */
  readonly splits: readonly Split[];
  /** The WAV bytes of recording i, and the name errors give it (a path or a file name). */
  read(i: number): Promise<{ bytes: Uint8Array; file: string }>;
  /** The images of digit d, [n_d, 784] row-major in [0, 1]. */
  readonly mnistDigit: (digit: number) => Float32Array;
  readonly params: AvMnistParams;
  readonly progress?: ProgressOption;
}

/** Runs the recipe (module comment) over the inputs: audio features, pairing, PCA, canvas, noise. */
export async function buildAvMnistArrays(inputs: AvMnistInputs): Promise<AvMnistArrays> {
  const { recordings, splits, params } = inputs;
  const { audio, image, seed } = params;
  const progress = createProgress(
    'AV-MNIST preprocessing',
    recordings.length + 1,
    inputs.progress ?? true,
  );
  // Audio.
  let audioData: Float32Array | undefined;
  let rows = 0;
  let frames = 0;
  const files: string[] = [];
  for (let i = 0; i < recordings.length; i++) {
    const r = recordings[i]!;
    const { bytes, file } = await inputs.read(i);
    files.push(file);
    const wav = decodeWav(bytes, file, { sampleRate: 8000, channels: 1 });
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

  // Images.
  const digits = Array.from({ length: 10 }, (_, d) => inputs.mnistDigit(d));
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
  progress.tick();
  progress.done();
  const samples: AvMnistSample[] = recordings.map((r, i) => ({
    id: r.id,
    split: splits[i]!,
    digit: r.digit,
    speaker: r.speaker,
    recording: files[i]!.slice(files[i]!.lastIndexOf('/') + 1),
    mnistIndex: pairing[i]!,
    ...(placements && canvas > MNIST_SIDE ? { placement: placements[i]! } : {}),
  }));
  return {
    audio: audioData ?? new Float32Array(0),
    images: imageData,
    samples,
    audioShape: [rows, frames, 1],
    imageShape: [canvas, canvas, 1],
    audioStats: { mean, std },
    pca,
  };
}

/** What a dataset built by the recipe is: its name and the shapes of its preprocessed samples. */
export interface AvMnistLayout {
  /** The dataset's name ('av-mnist', 'av-mnist-imbalanced'). */
  readonly name: string;
  readonly samples: readonly AvMnistSample[];
  readonly audioShape: readonly number[];
  readonly imageShape: readonly number[];
}

/**
 * The sample source over preprocessed samples: `read` returns the audio and image rows of
 * samples `rows` (positions in `layout.samples`), in that order; `whole`, when given, returns
 * every sample's rows (row i = `layout.samples[i]`) if they are in memory, else undefined. The
 * recipe has no augmentation, so batches can be gathered from those rows on the backend
 * (`StreamingDataset.keepSamplesOnBackend`).
 */
export function avMnistSource(
  layout: AvMnistLayout,
  read: (rows: readonly number[]) => { audio: Float32Array; visual: Float32Array },
  whole?: () => { audio: Float32Array; visual: Float32Array } | undefined,
): SampleSource {
  const { samples } = layout;
  const bySplit: Record<Split, number[]> = { train: [], validation: [], test: [] };
  samples.forEach((s, i) => {
    bySplit[s.split].push(i);
  });
  const ids: Partial<Record<Split, string[]>> = {};
  const labels: Partial<Record<Split, Int32Array>> = {};
  for (const split of SPLITS) {
    if (bySplit[split].length === 0) continue;
    ids[split] = bySplit[split].map((i) => samples[i]!.id);
    labels[split] = Int32Array.from(bySplit[split], (i) => samples[i]!.digit);
  }
  return {
    name: layout.name,
    modalities: [
      { name: 'audio', kind: 'audio', shape: layout.audioShape },
      { name: 'visual', kind: 'image', shape: layout.imageShape },
    ],
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    ids: (split) => ids[split],
    labels: (split) => labels[split]!,
    async readBatch(split, indices) {
      return read(indices.map((i) => bySplit[split][i]!));
    },
    inMemorySamples() {
      const values = whole?.();
      if (!values) return undefined;
      return {
        rows: samples.length,
        values,
        rowsOf: (split) => Int32Array.from(bySplit[split]),
      };
    },
  };
}

/** One recording supplied as bytes. */
export interface AvMnistRecordingBytes {
  /** FSDD file name `{digit}_{speaker}_{index}.wav` (the digit is the label, index 0-4 is test). */
  readonly name: string;
  /** The WAV file: PCM16 mono 8 kHz. */
  readonly bytes: Uint8Array;
}

export interface AvMnistBytesOptions extends AvMnistRecipeOptions {
  /** The recordings (any subset of FSDD, or recordings named the same way); order does not matter. */
  readonly recordings: readonly AvMnistRecordingBytes[];
  /**
   * MNIST images per digit: `mnist[d]` holds digit d's images, [n_d, 784] row-major in [0, 1];
   * each digit needs at least as many images as it has recordings.
   */
  readonly mnist: readonly Float32Array[];
  /** A callback receiving (done, total, label) while preprocessing; default none. */
  readonly progress?: ProgressOption;
}

/**
 * The AV-MNIST-style dataset built in memory from WAV bytes and MNIST images (module comment for
 * the recipe): no file system, no cache, so it runs in a browser or a worker. Recordings are
 * sorted by name first, as `avMnist` lists a folder, so the same recordings and images give the
 * same dataset as `avMnist` does in Node.
 *
 * ```ts
 * const ds = await avMnistFromBytes({ recordings: [{ name: '3_theo_12.wav', bytes }, ...], mnist });
 * ```
 */
export async function avMnistFromBytes(options: AvMnistBytesOptions): Promise<StreamingDataset> {
  const where = 'avMnistFromBytes';
  const params = resolveAvMnistParams(where, options, [
    'recordings',
    'mnist',
    'seed',
    'validationFraction',
    'audio',
    'image',
    'progress',
  ]);
  if (!Array.isArray(options.recordings) || options.recordings.length === 0) {
    throw new IgmDataError(
      `${where}: received recordings=${Array.isArray(options.recordings) ? '[]' : String(options.recordings)}. Expected a non-empty array of { name: '{digit}_{speaker}_{index}.wav', bytes: Uint8Array }.`,
    );
  }
  const seen = new Set<string>();
  const list = options.recordings.map((r, i) => {
    const parsed = typeof r?.name === 'string' ? parseFsddName(r.name) : undefined;
    if (!parsed) {
      throw new IgmDataError(
        `${where}: recordings[${i}].name=${JSON.stringify(r?.name)} does not follow the FSDD pattern {digit}_{speaker}_{index}.wav.`,
      );
    }
    if (!(r.bytes instanceof Uint8Array)) {
      throw new IgmDataError(
        `${where}: recordings[${i}].bytes (${r.name}) is ${r.bytes === undefined ? 'missing' : typeof r.bytes}; expected the WAV file as a Uint8Array.`,
      );
    }
    if (seen.has(r.name)) {
      throw new IgmDataError(`${where}: recording ${r.name} appears twice in recordings.`);
    }
    seen.add(r.name);
    return { ...parsed, name: r.name, bytes: r.bytes };
  });
  list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (!Array.isArray(options.mnist) || options.mnist.length !== 10) {
    throw new IgmDataError(
      `${where}: received mnist with ${Array.isArray(options.mnist) ? options.mnist.length : 'no'} entries. Expected 10 Float32Arrays, mnist[d] = digit d's images ([n_d, 784] row-major, values in [0, 1]).`,
    );
  }
  options.mnist.forEach((images, d) => {
    if (!(images instanceof Float32Array) || images.length % MNIST_PIXELS !== 0) {
      throw new IgmDataError(
        `${where}: mnist[${d}] ${images instanceof Float32Array ? `has ${images.length} values` : 'is not a Float32Array'}; expected a Float32Array of n x 784 values (28 x 28 images of digit ${d}).`,
      );
    }
  });
  const splits = assignSplits(list, params.seed, params.validationFraction);
  checkAvMnistHoldout(where, 'recordings', list, splits, params.validationFraction);
  const arrays = await buildAvMnistArrays({
    recordings: list,
    splits,
    read: async (i) => ({ bytes: list[i]!.bytes, file: list[i]!.name }),
    mnistDigit: (d) => options.mnist[d]!,
    params,
    progress: options.progress ?? false,
  });
  const audioSize = arrays.audioShape[0] * arrays.audioShape[1];
  const imageSize = arrays.imageShape[0] * arrays.imageShape[1];
  const layout = { name: 'av-mnist', ...arrays };
  const source = avMnistSource(
    layout,
    (rows) => {
      const audio = new Float32Array(rows.length * audioSize);
      const visual = new Float32Array(rows.length * imageSize);
      rows.forEach((row, k) => {
        audio.set(arrays.audio.subarray(row * audioSize, (row + 1) * audioSize), k * audioSize);
        visual.set(arrays.images.subarray(row * imageSize, (row + 1) * imageSize), k * imageSize);
      });
      return { audio, visual };
    },
    () => ({ audio: arrays.audio, visual: arrays.images }),
  );
  return new StreamingDataset(source, {
    label:
      'AV-MNIST-style (MNIST digits + FSDD recordings supplied as bytes; not the published AV-MNIST)',
    source: `${list.length} recordings supplied as bytes`,
    params: JSON.parse(stableStringify(params)),
    audioStats: arrays.audioStats,
    pca: arrays.pca,
  });
}
