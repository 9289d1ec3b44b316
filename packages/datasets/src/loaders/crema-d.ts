/**
 * CREMA-D (6 emotions; 7,442 clips; docs/datasets.md#crema-d), in the prepared layout of OGM-GE
 * and IGM:
 *
 *   <root>/annotations/train.csv, test.csv   lines "<clip>,<EMO>", no header (OGM-GE split)
 *   <root>/AudioWAV/<clip>.wav              PCM16 (16 kHz mono in the release)
 *   <root>/Image-01-FPS/<clip>/*.jpg         frames extracted at 1 fps
 *
 * Audio, exactly as the references: resample to 22,050 Hz (band-limited, resample_poly-equivalent
 * Kaiser sinc; librosa uses soxr HQ, so values differ slightly), tile to 66,150 samples (3 s),
 * clip to [-1, 1], STFT n_fft 512, hop 353, periodic Hann, centred with zeros,
 * log(|X| + 1e-7) -> [257, 188, 1]. Computed once into the cache.
 * Visual: the first `frames` JPEGs of the clip folder in directory order (the references' fixed
 * frame); train RandomResizedCrop(224, scale (0.08, 1)) + horizontal flip, test Resize((224, 224));
 * /255 and ImageNet mean/std. Shape [224, 224, 3] (one frame) or [T, 224, 224, 3].
 * Labels: OGM order NEU 0, HAP 1, SAD 2, FEA 3, DIS 4, ANG 5 by default.
 * Validation: a class-stratified, seeded hold-out of `validationFraction` of train.csv
 * (docs/datasets.md#validation-splits); test.csv unchanged. A fraction too small to hold out any
 * clip (e.g. 2 clips per class at 0.1) is an error at load time, with the per-class counts.
 * Every listed clip's WAV and frames folder are checked when the dataset opens; a missing one is
 * an error naming the CSV file, its line, the clip and the missing file. The cache holds the
 * audio only and is keyed on the WAVs' content (rebuilt when one changes); frame lists are read
 * at every open.
 */
import { join } from 'node:path';
import { checkChoice, checkKnownKeys, checkNumber, IgmArgumentError, type Split } from '@igm/core';
import { logSpectrogram, tileTo } from '../audio/features';
import { resamplePoly } from '../audio/resample';
import { openCache } from '../cache';
import { type SampleSource, StreamingDataset } from '../dataset';
import { IgmDataError } from '../errors';
import { transformFrame } from '../image/transforms';
import { parseDelimited } from '../io/csv';
import { readFileOrThrow, readTextOrThrow, requireDir } from '../io/fs';
import { Float32Records, float32Bytes } from '../io/records';
import { decodeWav } from '../io/wav';
import { sha256 } from '../node-hash';
import { createProgress, type ProgressOption } from '../progress';
import { checkHoldout, stratifiedHoldout } from '../split';
import {
  exists,
  type ListedSample,
  listFrames,
  missingFilesError,
  readJpeg,
  requireRoot,
} from './common';

export const CREMA_D_OGM_LABELS = ['NEU', 'HAP', 'SAD', 'FEA', 'DIS', 'ANG'] as const;
export const CREMA_D_ALPHABETICAL_LABELS = ['ANG', 'DIS', 'FEA', 'HAP', 'NEU', 'SAD'] as const;
export const CREMA_D_VERSION = 'crema-d/1';

export interface CremaDOptions {
  /** Dataset folder (layout in the module comment). */
  readonly root: string;
  /** Folder of train.csv / test.csv. Default <root>/annotations. */
  readonly splitDir?: string;
  /** Default <root>/AudioWAV. */
  readonly audioDir?: string;
  /** Default <root>/Image-01-FPS. */
  readonly framesDir?: string;
  /** 'ogm' (default; NEU 0 ... ANG 5), 'alphabetical' (MMPareto: ANG 0 ... SAD 5) or the 6 codes in order. */
  readonly labelOrder?: 'ogm' | 'alphabetical' | readonly string[];
  /** Fraction of train.csv held out for validation, class-stratified. Default 0.1; 0 for none. */
  readonly validationFraction?: number;
  /** Seed of the hold-out. Default 0. */
  readonly seed?: number;
  /** Frames per clip. Default 1 (OGM-GE, IGM). */
  readonly frames?: number;
  /** 'directory' (default; as the references) or 'sorted' (portable across filesystems). */
  readonly frameOrder?: 'directory' | 'sorted';
  /** Default 224. */
  readonly imageSize?: number;
  readonly cacheDir?: string;
  readonly progress?: ProgressOption;
}

const KNOWN = [
  'root',
  'splitDir',
  'audioDir',
  'framesDir',
  'labelOrder',
  'validationFraction',
  'seed',
  'frames',
  'frameOrder',
  'imageSize',
  'cacheDir',
  'progress',
];

export const CREMA_D_AUDIO = {
  sampleRate: 22050,
  length: 66150,
  nFft: 512,
  hop: 353,
} as const;

/** The references' CREMA-D audio: resample to 22.05 kHz, tile to 3 s, clip, log |STFT| -> [257, 188]. */
export function cremaDSpectrogram(samples: Float32Array, sampleRate: number): Float32Array {
  const resampled = resamplePoly(samples, sampleRate, CREMA_D_AUDIO.sampleRate);
  const x = tileTo(resampled, CREMA_D_AUDIO.length);
  for (let i = 0; i < x.length; i++) x[i] = Math.max(-1, Math.min(1, x[i]!));
  return logSpectrogram(x, {
    representation: 'log-magnitude',
    sampleRate: CREMA_D_AUDIO.sampleRate,
    nFft: CREMA_D_AUDIO.nFft,
    hop: CREMA_D_AUDIO.hop,
  }).data;
}

function resolveLabels(option: CremaDOptions['labelOrder']): string[] {
  if (option === undefined || option === 'ogm') return [...CREMA_D_OGM_LABELS];
  if (option === 'alphabetical') return [...CREMA_D_ALPHABETICAL_LABELS];
  const sorted = Array.isArray(option) ? [...option].sort().join(',') : '';
  if (sorted !== [...CREMA_D_ALPHABETICAL_LABELS].join(',')) {
    throw new IgmArgumentError(
      `cremaD: received labelOrder=${JSON.stringify(option)}. Expected 'ogm', 'alphabetical' or a permutation of ${CREMA_D_OGM_LABELS.join(', ')}.`,
    );
  }
  return [...(option as readonly string[])];
}

interface Clip {
  readonly id: string;
  readonly label: number;
  /** The split CSV and the 1-based line that lists the clip. */
  readonly file: string;
  readonly line: number;
}

function readSplit(file: string, labels: readonly string[]): Clip[] {
  const text = readTextOrThrow(file, 'a CREMA-D split CSV with lines "<clip>,<EMOTION>"');
  const clips: Clip[] = [];
  for (const row of parseDelimited(text, ',')) {
    const fields = row.fields.map((f) => f.trim());
    if (fields.length === 1 && fields[0] === '') continue;
    if (fields.length !== 2 || fields[0] === '') {
      throw new IgmDataError(
        `line ${row.line} has ${fields.length} column(s) (${JSON.stringify(row.fields.join(','))}); expected 2: <clip>,<EMOTION> (no header), e.g. 1001_DFA_ANG_XX,ANG.`,
        file,
      );
    }
    const label = labels.indexOf(fields[1]!);
    if (label < 0) {
      throw new IgmDataError(
        `line ${row.line}: unknown label ${JSON.stringify(fields[1])}; expected one of ${labels.join(', ')}.`,
        file,
      );
    }
    clips.push({ id: fields[0]!, label, file, line: row.line });
  }
  if (clips.length === 0)
    throw new IgmDataError('no rows; expected lines "<clip>,<EMOTION>".', file);
  return clips;
}

interface CremaMeta {
  /** Clip ids in the row order of audio.f32. */
  readonly clips: readonly string[];
}

/**
 * The frames of every clip, checked with its WAV: a clip whose WAV or frames are missing is an
 * error naming the split CSV, its line, the clip and what is missing.
 */
function checkClipFiles(
  clips: readonly Clip[],
  wavOf: (c: Clip) => string,
  framesDir: string,
  numFrames: number,
  frameOrder: 'directory' | 'sorted',
): string[][] {
  const problems: Array<{ sample: ListedSample; missing: string }> = [];
  const frames = clips.map((c) => {
    const missing: string[] = [];
    const wav = wavOf(c);
    if (!exists(wav, 'file')) missing.push(`its WAV ${wav}`);
    const dir = join(framesDir, c.id);
    let list: string[] = [];
    if (!exists(dir, 'dir')) missing.push(`its frames folder ${dir}`);
    else {
      list = listFrames(dir, frameOrder);
      if (list.length < numFrames) {
        missing.push(
          `frames: ${dir} has ${list.length} JPEG frame(s), expected at least ${numFrames} (extracted at 1 fps, e.g. 00000.jpg)`,
        );
      }
    }
    if (missing.length > 0) {
      problems.push({ sample: { ...c, id: `clip ${c.id}` }, missing: missing.join(' and ') });
    }
    return list.slice(0, numFrames);
  });
  if (problems.length > 0) {
    throw missingFilesError(
      problems,
      'Expected AudioWAV/<clip>.wav and Image-01-FPS/<clip>/*.jpg for every clip of the split CSVs.',
    );
  }
  return frames;
}

/** The CREMA-D dataset (module comment). Audio is preprocessed into the cache on first use. */
export async function cremaD(options: CremaDOptions): Promise<StreamingDataset> {
  const where = 'cremaD';
  checkKnownKeys(where, options, KNOWN);
  const root = requireRoot(
    where,
    options?.root,
    'annotations/{train,test}.csv, AudioWAV/, Image-01-FPS/',
  );
  const splitDir = options.splitDir ?? join(root, 'annotations');
  const audioDir = options.audioDir ?? join(root, 'AudioWAV');
  const framesDir = options.framesDir ?? join(root, 'Image-01-FPS');
  requireDir(audioDir, 'the CREMA-D audio folder (AudioWAV/<clip>.wav)');
  requireDir(framesDir, 'the CREMA-D frames folder (Image-01-FPS/<clip>/*.jpg)');
  const labels = resolveLabels(options.labelOrder);
  const validationFraction = checkNumber(
    where,
    'validationFraction',
    options.validationFraction ?? 0.1,
    {
      min: 0,
      max: 0.9,
    },
  );
  const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
  const numFrames = checkNumber(where, 'frames', options.frames ?? 1, { min: 1, integer: true });
  const frameOrder = checkChoice(where, 'frameOrder', options.frameOrder ?? 'directory', [
    'directory',
    'sorted',
  ]);
  const imageSize = checkNumber(where, 'imageSize', options.imageSize ?? 224, {
    min: 8,
    integer: true,
  });

  const trainFile = join(splitDir, 'train.csv');
  const testFile = join(splitDir, 'test.csv');
  const train = readSplit(trainFile, labels);
  const test = readSplit(testFile, labels);
  const holdout =
    validationFraction > 0
      ? stratifiedHoldout(
          train.map((c) => c.label),
          validationFraction,
          seed,
        )
      : [];
  checkHoldout(
    where,
    trainFile,
    train.map((c) => c.label),
    holdout,
    validationFraction,
    labels,
  );
  const all: Array<Clip & { split: Split }> = [
    ...train.map((c, i) => ({ ...c, split: (holdout[i] ? 'validation' : 'train') as Split })),
    ...test.map((c) => ({ ...c, split: 'test' as Split })),
  ];
  const seen = new Map<string, Clip>();
  for (const c of all) {
    const first = seen.get(c.id);
    if (first) {
      throw new IgmDataError(
        `clip ${c.id} is listed twice (${first.file} line ${first.line} and ${c.file} line ${c.line}); expected unique clips.`,
        c.file,
      );
    }
    seen.set(c.id, c);
  }
  const wavOf = (c: Clip) => join(audioDir, `${c.id}.wav`);
  const wavs = all.map(wavOf);
  // Every clip's files, before any audio work (and on every open: frames are not cached).
  const frames = checkClipFiles(all, wavOf, framesDir, numFrames, frameOrder);
  // The key: the recipe and the clip lists. Validity: the WAVs' content (see openCache inputs).
  const params = {
    audio: CREMA_D_AUDIO,
    splits: sha256(`${readTextOrThrow(trainFile, '')}\n--\n${readTextOrThrow(testFile, '')}`),
  };
  const entry = await openCache<CremaMeta>({
    cacheDir: options.cacheDir,
    dataset: 'crema-d',
    version: CREMA_D_VERSION,
    params,
    inputs: wavs,
    inputsDescription: 'a CREMA-D clip (PCM16 WAV)',
    async build(writer) {
      const progress = createProgress('CREMA-D audio', all.length, options.progress ?? true);
      const out = writer.stream('audio.f32');
      try {
        for (let i = 0; i < all.length; i++) {
          const bytes = await readFileOrThrow(wavs[i]!, 'a CREMA-D clip (PCM16 WAV)');
          const wav = decodeWav(bytes, wavs[i]!);
          if (wav.samples.length === 0)
            throw new IgmDataError('WAV has no samples; expected speech audio.', wavs[i]!);
          out.append(float32Bytes(cremaDSpectrogram(wav.samples, wav.sampleRate)));
          progress.tick();
        }
      } finally {
        out.close();
      }
      progress.done();
      return { clips: all.map((c) => c.id) };
    },
  });
  const cachedOrder = entry.manifest.meta.clips;
  if (cachedOrder.length !== all.length || cachedOrder.some((id, i) => id !== all[i]!.id)) {
    throw new IgmDataError(
      'the cache entry lists other clips than the split CSVs (it was built from another version of them); delete the folder to rebuild it.',
      entry.dir,
    );
  }
  const audioShape = [257, 188, 1];
  const audio = new Float32Records(entry.path('audio.f32'), 257 * 188);
  const rowsBySplit: Record<Split, number[]> = { train: [], validation: [], test: [] };
  all.forEach((c, i) => {
    rowsBySplit[c.split].push(i);
  });
  const frameShape =
    numFrames === 1 ? [imageSize, imageSize, 3] : [numFrames, imageSize, imageSize, 3];
  const frameSize = imageSize * imageSize * 3;
  const source: SampleSource = {
    name: 'crema-d',
    modalities: [
      { name: 'audio', kind: 'audio', shape: audioShape },
      { name: 'visual', kind: numFrames === 1 ? 'image' : 'video', shape: frameShape },
    ],
    classNames: labels,
    ids: (split) =>
      rowsBySplit[split].length > 0 ? rowsBySplit[split].map((r) => all[r]!.id) : undefined,
    labels: (split) => Int32Array.from(rowsBySplit[split], (r) => all[r]!.label),
    async readBatch(split, indices, { augment, rng }) {
      const rows = indices.map((i) => rowsBySplit[split][i]!);
      const visual = new Float32Array(rows.length * numFrames * frameSize);
      let off = 0;
      for (const r of rows) {
        for (const frame of frames[r]!) {
          const image = await readJpeg(frame);
          visual.set(transformFrame(image, { size: imageSize, train: augment, rng }), off);
          off += frameSize;
        }
      }
      return { audio: audio.read(rows), visual };
    },
  };
  return new StreamingDataset(source, {
    cache: entry.dir,
    builtNow: entry.built,
    rebuiltBecause: entry.rebuiltBecause,
    labelOrder: labels,
    audio:
      'resample 22,050 Hz (Kaiser sinc), tile to 3 s, clip, STFT 512/353 periodic Hann centred, log(|X| + 1e-7)',
    visual: `${numFrames} frame(s), ${frameOrder} order; train RandomResizedCrop(${imageSize}) + flip, test Resize; ImageNet mean/std`,
  });
}
