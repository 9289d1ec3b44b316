/**
 * Kinetics-Sounds, the 31-class OGM-GE setup (docs/datasets.md#kinetics-sounds).
 *
 * Split lists, either
 *   - 'igm' (default): <root>/annotations/{train,test}.csv with header youtube_id,label (class
 *     names; label index = order of first appearance in train.csv), or
 *   - 'ogm': <root>/my_train.txt, my_test.txt, lines "<clip_id>,10,<label 0-30>" (no header).
 * Media (paths configurable): <root>/{train,test}_wav/<id>.wav, frames
 * <root>/{train,test}_img/Image-01-FPS/<id>/*.jpg, fbank features <root>/fbank/<id>.npy.
 *
 * Audio variants (`audio`):
 *   - 'stft' (IGM, default): resample to 35,400 Hz, tile to >= 10 s, first 354,000 samples, clip,
 *     STFT n_fft 512 hop 353 periodic Hann centred, log(|X| + 1e-7) -> [257, 1003, 1].
 *   - 'fbank': the OGM-GE recipe's saved Kaldi fbank .npy, (1024, 128) -> [1024, 128, 1]
 *     (produce it with OGM-GE's process_audio.py; torchaudio's Kaldi fbank is not reimplemented).
 *   - 'spectrogram': the older pickle format, scipy spectrogram of 10 s at 16 kHz (nperseg 512,
 *     noverlap 353), log(S + 1e-7), per-clip z-score -> [257, 1004, 1].
 * Audio is computed per batch (deterministic); caching every clip would take about 17 GB.
 * Visual: 3 frames, 'first' (IGM: the first 3 in directory order) or 'spread' (OGM-GE:
 * indices floor(n/3) * i of the sorted list); train RandomResizedCrop(224) + flip, test Resize;
 * ImageNet mean/std -> [3, 224, 224, 3]. Clips with fewer frames than needed are dropped (IGM
 * keeps clips with more than 3 frames) and counted in `info.dropped`.
 * Validation: class-stratified seeded hold-out of train (docs/datasets.md#validation-splits); a
 * fraction too small to hold out any clip is an error at load time, with the per-class counts.
 * Every listed clip's frames folder and audio file (WAV, or .npy for 'fbank') are checked when
 * the dataset opens; a missing one is an error naming the list file, its line and the clip.
 */
import { join } from 'node:path';
import { checkChoice, checkKnownKeys, checkNumber, type Split } from '@igm/core';
import { logSpectrogram, tileTo } from '../audio/features';
import { resamplePoly } from '../audio/resample';
import { scipySpectrogram } from '../audio/scipy-spectrogram';
import { type SampleSource, StreamingDataset } from '../dataset';
import { IgmDataError } from '../errors';
import { transformFrame } from '../image/transforms';
import { parseDelimited } from '../io/csv';
import { readFileOrThrow, readTextOrThrow } from '../io/fs';
import { NpyRows } from '../io/npy';
import { decodeWav } from '../io/wav';
import { checkHoldout, stratifiedHoldout } from '../split';
import {
  exists,
  type ListedSample,
  listFrames,
  missingFilesError,
  readJpeg,
  requireRoot,
} from './common';

export type KineticsAudio = 'stft' | 'fbank' | 'spectrogram';

export interface KineticsSoundsOptions {
  readonly root: string;
  /** 'igm' (annotations/*.csv with class names) or 'ogm' (my_*.txt with integer labels). */
  readonly lists?: 'igm' | 'ogm';
  readonly audio?: KineticsAudio;
  /** Default 'first' with lists 'igm', 'spread' with 'ogm'. */
  readonly frameSelection?: 'first' | 'spread';
  /** Per split: WAV folder. Default <root>/{train,test}_wav. */
  readonly wavDir?: Partial<Record<'train' | 'test', string>>;
  /** Per split: frames folder. Default <root>/{train,test}_img/Image-01-FPS. */
  readonly framesDir?: Partial<Record<'train' | 'test', string>>;
  /** Folder of <id>.npy fbank features. Default <root>/fbank. */
  readonly fbankDir?: string;
  /** Default 31. */
  readonly numClasses?: number;
  readonly validationFraction?: number;
  readonly seed?: number;
  readonly imageSize?: number;
}

const KNOWN = [
  'root',
  'lists',
  'audio',
  'frameSelection',
  'wavDir',
  'framesDir',
  'fbankDir',
  'numClasses',
  'validationFraction',
  'seed',
  'imageSize',
];

/** IGM's KS audio: 35.4 kHz, 10 s, log |STFT 512/353| -> [257, 1003]. */
export function kineticsStft(samples: Float32Array, sampleRate: number): Float32Array {
  const x = tileTo(resamplePoly(samples, sampleRate, 35400), 354000);
  for (let i = 0; i < x.length; i++) x[i] = Math.max(-1, Math.min(1, x[i]!));
  return logSpectrogram(x, {
    representation: 'log-magnitude',
    sampleRate: 35400,
    nFft: 512,
    hop: 353,
  }).data;
}

/** The pickle variant: scipy spectrogram of `seconds` at 16 kHz, log(S + 1e-7), z-scored per clip. */
export function kineticsPickleSpectrogram(
  samples: Float32Array,
  sampleRate: number,
  seconds = 10,
): Float32Array {
  const x = tileTo(resamplePoly(samples, sampleRate, 16000), 16000 * seconds);
  const s = scipySpectrogram(x, 16000, 512, 353);
  let mean = 0;
  for (let i = 0; i < s.data.length; i++) {
    s.data[i] = Math.log(s.data[i]! + 1e-7);
    mean += s.data[i]!;
  }
  mean /= s.data.length;
  let v = 0;
  for (let i = 0; i < s.data.length; i++) v += (s.data[i]! - mean) ** 2;
  const std = Math.sqrt(v / s.data.length) || 1;
  for (let i = 0; i < s.data.length; i++) s.data[i] = (s.data[i]! - mean) / std;
  return s.data;
}

interface KsClip {
  readonly id: string;
  readonly label: number;
  readonly part: 'train' | 'test';
}

interface ListedClip extends ListedSample {
  readonly label: number;
}

function readIgmCsv(file: string, classes: string[], grow: boolean): ListedClip[] {
  const rows = parseDelimited(
    readTextOrThrow(file, 'a Kinetics-Sounds CSV with header youtube_id,label'),
    ',',
  );
  const header = rows[0]?.fields.map((f) => f.trim());
  const idCol = header?.indexOf('youtube_id') ?? -1;
  const labelCol = header?.indexOf('label') ?? -1;
  if (idCol < 0 || labelCol < 0) {
    throw new IgmDataError(
      `header is ${JSON.stringify(rows[0]?.fields.join(','))}; expected columns youtube_id,label.`,
      file,
    );
  }
  return rows.slice(1).flatMap((row) => {
    if (row.fields.length === 1 && row.fields[0] === '') return [];
    if (row.fields.length !== header!.length) {
      throw new IgmDataError(
        `line ${row.line} has ${row.fields.length} column(s); expected ${header!.length} (${header!.join(',')}).`,
        file,
      );
    }
    const name = row.fields[labelCol]!.trim();
    let label = classes.indexOf(name);
    if (label < 0) {
      if (!grow) {
        throw new IgmDataError(
          `line ${row.line}: unknown label ${JSON.stringify(name)}; expected a class of train.csv (${classes.length} classes).`,
          file,
        );
      }
      classes.push(name);
      label = classes.length - 1;
    }
    return [{ id: row.fields[idCol]!.trim(), label, file, line: row.line }];
  });
}

function readOgmList(file: string, numClasses: number): ListedClip[] {
  const rows = parseDelimited(
    readTextOrThrow(file, 'an OGM-GE Kinetics-Sounds list with lines "<clip_id>,10,<label>"'),
    ',',
  );
  return rows.flatMap((row) => {
    if (row.fields.length === 1 && row.fields[0] === '') return [];
    if (row.fields.length !== 3) {
      throw new IgmDataError(
        `line ${row.line} has ${row.fields.length} column(s); expected 3: <clip_id>,10,<label 0-${numClasses - 1}>.`,
        file,
      );
    }
    const label = Number(row.fields[2]);
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new IgmDataError(
        `line ${row.line}: unknown label ${JSON.stringify(row.fields[2])}; expected an integer in 0..${numClasses - 1}.`,
        file,
      );
    }
    return [{ id: row.fields[0]!.trim(), label, file, line: row.line }];
  });
}

export async function kineticsSounds(options: KineticsSoundsOptions): Promise<StreamingDataset> {
  const where = 'kineticsSounds';
  checkKnownKeys(where, options, KNOWN);
  const root = requireRoot(
    where,
    options?.root,
    'annotations/{train,test}.csv or my_{train,test}.txt, {train,test}_wav/, {train,test}_img/',
  );
  const lists = checkChoice(where, 'lists', options.lists ?? 'igm', ['igm', 'ogm']);
  const audio = checkChoice(where, 'audio', options.audio ?? 'stft', [
    'stft',
    'fbank',
    'spectrogram',
  ]);
  const selection = checkChoice(
    where,
    'frameSelection',
    options.frameSelection ?? (lists === 'igm' ? 'first' : 'spread'),
    ['first', 'spread'],
  );
  const numClasses = checkNumber(where, 'numClasses', options.numClasses ?? 31, {
    min: 2,
    integer: true,
  });
  const fraction = checkNumber(where, 'validationFraction', options.validationFraction ?? 0.1, {
    min: 0,
    max: 0.9,
  });
  const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
  const imageSize = checkNumber(where, 'imageSize', options.imageSize ?? 224, {
    min: 8,
    integer: true,
  });
  const wavDir = {
    train: options.wavDir?.train ?? join(root, 'train_wav'),
    test: options.wavDir?.test ?? join(root, 'test_wav'),
  };
  const framesDir = {
    train: options.framesDir?.train ?? join(root, 'train_img', 'Image-01-FPS'),
    test: options.framesDir?.test ?? join(root, 'test_img', 'Image-01-FPS'),
  };
  const fbankDir = options.fbankDir ?? join(root, 'fbank');

  let classNames: string[];
  let train: ListedClip[];
  let test: ListedClip[];
  if (lists === 'igm') {
    classNames = [];
    train = readIgmCsv(join(root, 'annotations', 'train.csv'), classNames, true);
    test = readIgmCsv(join(root, 'annotations', 'test.csv'), classNames, false);
    if (classNames.length > numClasses) {
      throw new IgmDataError(
        `train.csv has ${classNames.length} classes; expected ${numClasses} (the 31-class setup; set numClasses otherwise).`,
        join(root, 'annotations'),
      );
    }
  } else {
    train = readOgmList(join(root, 'my_train.txt'), numClasses);
    test = readOgmList(join(root, 'my_test.txt'), numClasses);
    classNames = Array.from({ length: numClasses }, (_, k) => `class-${k}`);
  }
  // Every clip's media, checked now (audio is read per batch): a missing frames folder or
  // audio file names the list file, the line and the clip. Clips with too few frames are
  // dropped (IGM keeps clips with more than 3).
  const frameOrder = selection === 'first' ? 'directory' : 'sorted';
  const audioFile = (part: 'train' | 'test', id: string) =>
    audio === 'fbank' ? join(fbankDir, `${id}.npy`) : join(wavDir[part], `${id}.wav`);
  const problems: Array<{ sample: ListedSample; missing: string }> = [];
  let dropped = 0;
  const withFrames = (part: 'train' | 'test', list: ListedClip[]) =>
    list.flatMap((c) => {
      const dir = join(framesDir[part], c.id);
      const sound = audioFile(part, c.id);
      const missing: string[] = [];
      if (!exists(dir, 'dir')) missing.push(`its frames folder ${dir}`);
      if (!exists(sound, 'file')) {
        missing.push(`its ${audio === 'fbank' ? 'fbank features' : 'WAV'} ${sound}`);
      }
      if (missing.length > 0) {
        problems.push({ sample: { ...c, id: `clip ${c.id}` }, missing: missing.join(' and ') });
        return [];
      }
      const frames = listFrames(dir, frameOrder);
      const need = selection === 'first' ? 4 : 3;
      if (frames.length < need) {
        dropped++;
        return [];
      }
      const n = frames.length;
      const chosen =
        selection === 'first'
          ? frames.slice(0, 3)
          : [0, 1, 2].map((i) => frames[Math.floor(n / 3) * i]!);
      return [{ id: c.id, label: c.label, part, frames: chosen }];
    });
  const trainClips = withFrames('train', train);
  const testClips = withFrames('test', test);
  if (problems.length > 0) {
    throw missingFilesError(
      problems,
      `Expected the frames folder and the ${audio === 'fbank' ? 'fbank .npy' : 'WAV'} of every listed clip (set framesDir/${audio === 'fbank' ? 'fbankDir' : 'wavDir'} if they live elsewhere).`,
    );
  }
  const holdout =
    fraction > 0
      ? stratifiedHoldout(
          trainClips.map((c) => c.label),
          fraction,
          seed,
        )
      : [];
  checkHoldout(
    where,
    lists === 'igm' ? join(root, 'annotations', 'train.csv') : join(root, 'my_train.txt'),
    trainClips.map((c) => c.label),
    holdout,
    fraction,
    classNames,
  );
  const bySplit: Record<Split, Array<KsClip & { frames: string[] }>> = {
    train: trainClips.filter((_, i) => !holdout[i]),
    validation: trainClips.filter((_, i) => Boolean(holdout[i])),
    test: testClips,
  };
  const audioShape =
    audio === 'stft' ? [257, 1003, 1] : audio === 'fbank' ? [1024, 128, 1] : [257, 1004, 1];
  const readAudio = async (clip: KsClip): Promise<Float32Array> => {
    if (audio === 'fbank') {
      const npy = new NpyRows(audioFile(clip.part, clip.id));
      if (npy.header.shape.join(',') !== '1024,128') {
        throw new IgmDataError(
          `fbank has shape (${npy.header.shape.join(', ')}); expected (1024, 128) from the OGM-GE recipe.`,
          npy.path,
        );
      }
      return npy.read(Array.from({ length: 1024 }, (_, i) => i));
    }
    const file = audioFile(clip.part, clip.id);
    const wav = decodeWav(await readFileOrThrow(file, 'a Kinetics-Sounds clip (PCM16 WAV)'), file);
    if (wav.samples.length === 0)
      throw new IgmDataError('WAV has no samples; expected audio.', file);
    return audio === 'stft'
      ? kineticsStft(wav.samples, wav.sampleRate)
      : kineticsPickleSpectrogram(wav.samples, wav.sampleRate);
  };
  const audioSize = audioShape.reduce((a, b) => a * b, 1);
  const frameSize = imageSize * imageSize * 3;
  const source: SampleSource = {
    name: 'kinetics-sounds',
    modalities: [
      { name: 'audio', kind: 'audio', shape: audioShape },
      { name: 'visual', kind: 'video', shape: [3, imageSize, imageSize, 3] },
    ],
    classNames,
    ids: (split) => (bySplit[split].length > 0 ? bySplit[split].map((c) => c.id) : undefined),
    labels: (split) => Int32Array.from(bySplit[split], (c) => c.label),
    async readBatch(split, indices, { augment, rng }) {
      const a = new Float32Array(indices.length * audioSize);
      const v = new Float32Array(indices.length * 3 * frameSize);
      for (let k = 0; k < indices.length; k++) {
        const clip = bySplit[split][indices[k]!]!;
        a.set(await readAudio(clip), k * audioSize);
        for (let f = 0; f < 3; f++) {
          const image = await readJpeg(clip.frames[f]!);
          v.set(
            transformFrame(image, { size: imageSize, train: augment, rng }),
            (k * 3 + f) * frameSize,
          );
        }
      }
      return { audio: a, visual: v };
    },
  };
  return new StreamingDataset(source, {
    lists,
    audio,
    frameSelection: selection,
    dropped,
    classOrder: lists === 'igm' ? 'first appearance in train.csv' : 'OGM-GE integer labels',
  });
}
