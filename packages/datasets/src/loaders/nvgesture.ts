/**
 * NVGesture (Molchanov et al., CVPR 2016; 25 classes; docs/datasets.md#nvgesture) from the split
 * lists plus precomputed I3D clip features (loaders/features.ts):
 *
 *   <root>/nvgesture_{train,test}_correct_cvpr2016_v2.lst   (or IGM's nvgesture_*_correct_v2.lst)
 *       "path:./Video_data/class_01/subject13_r0 depth:sk_depth:138:218 color:... label:1"
 *   <root>/features/   manifest.json, {train,test}_{rgb,depth,flow}.npy (N, 1024), *_labels.npy
 *
 * Sample id = the `path` field; labels 1-25 become 0-24. Validation: a class-stratified, seeded
 * hold-out of the train list (docs/datasets.md#validation-splits), read from the train feature
 * files; a fraction too small to hold out any sample is an error at load time, with the
 * per-class counts.
 * With `source: 'frames'`, every listed sample's frame folders and flow file are checked when the
 * dataset opens; a missing one is an error naming the list file, its line and the sample.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkChoice, checkKnownKeys, checkNumber, type Split } from '@igm/core';
import type { SampleSource } from '../dataset';
import { StreamingDataset } from '../dataset';
import { IgmDataError } from '../errors';
import { readTextOrThrow } from '../io/fs';
import { checkHoldout, stratifiedHoldout } from '../split';
import { type ListedSample, missingFilesError, requireRoot } from './common';
import { type AnnotatedSplit, featureSource } from './features';
import {
  flowLength,
  missingNvMedia,
  type NvFrameSample,
  type NvFramesOptions,
  readNvFrameSample,
} from './nvgesture-frames';

export const NVGESTURE_CLASSES = Array.from(
  { length: 25 },
  (_, i) => `class_${String(i + 1).padStart(2, '0')}`,
);

export interface NvGestureOptions {
  readonly root: string;
  /** Default <root>/features. */
  readonly featuresDir?: string;
  /** Default 0.1 of train, class-stratified; 0 for none. */
  readonly validationFraction?: number;
  readonly seed?: number;
  /** Feature size per stream. Default 1024 (I3D after AvgPool3d). */
  readonly dim?: number;
  /** Streams to load. Default ['rgb', 'depth', 'flow']. */
  readonly modalities?: readonly ('rgb' | 'depth' | 'flow')[];
  /** 'features' (default; precomputed I3D features) or 'frames' (loaders/nvgesture-frames.ts). */
  readonly source?: 'features' | 'frames';
  /** frames: default <root>/frames. */
  readonly framesDir?: string;
  /** frames: default <root>/Video_data/flow_data. */
  readonly flowDir?: string;
  /** frames: frames per clip on disk (used from the first). Default 80. */
  readonly clipLength?: number;
  /** frames: temporal window per sample. Default 64. */
  readonly frames?: number;
  /** frames: resize side. Default 256. */
  readonly resize?: number;
  /** frames: crop side. Default 224. */
  readonly crop?: number;
  /** frames: 'bgr' (IGM, default) or 'rgb'. */
  readonly channelOrder?: 'bgr' | 'rgb';
}

export interface NvGestureEntry {
  /** The list file and the 1-based line of this sample. */
  readonly file: string;
  readonly line: number;
  readonly path: string;
  readonly label: number;
  readonly sensors: Record<string, { name: string; start: number; end: number }>;
}

export function readNvGestureList(file: string): NvGestureEntry[] {
  const text = readTextOrThrow(
    file,
    'an NVGesture split list (.lst) with "path:... label:N" lines',
  );
  const out: NvGestureEntry[] = [];
  text.split(/\r?\n/).forEach((line, k) => {
    if (line.trim() === '') return;
    const fields: Record<string, string> = {};
    for (const part of line.trim().split(/\s+/)) {
      const c = part.indexOf(':');
      if (c <= 0)
        throw new IgmDataError(
          `line ${k + 1}: field ${JSON.stringify(part)} is not key:value; expected "path:... label:N".`,
          file,
        );
      fields[part.slice(0, c)] = part.slice(c + 1);
    }
    const label = Number(fields['label']);
    if (!fields['path'] || !Number.isInteger(label) || label < 1 || label > 25) {
      throw new IgmDataError(
        `line ${k + 1}: ${fields['path'] ? `label ${JSON.stringify(fields['label'])}` : 'no path field'}; expected path:<folder> and label:1..25.`,
        file,
      );
    }
    const sensors: NvGestureEntry['sensors'] = {};
    for (const [key, value] of Object.entries(fields)) {
      if (key === 'path' || key === 'label') continue;
      const [name, start, end] = value.split(':');
      if (name && start !== undefined && end !== undefined)
        sensors[key] = { name, start: Number(start), end: Number(end) };
    }
    out.push({ file, line: k + 1, path: fields['path'], label: label - 1, sensors });
  });
  if (out.length === 0)
    throw new IgmDataError('no samples; expected "path:... label:N" lines.', file);
  return out;
}

function listFile(root: string, split: 'train' | 'test'): string {
  const official = join(root, `nvgesture_${split}_correct_cvpr2016_v2.lst`);
  const igm = join(root, `nvgesture_${split}_correct_v2.lst`);
  return existsSync(official) || !existsSync(igm) ? official : igm;
}

export async function nvGesture(options: NvGestureOptions): Promise<StreamingDataset> {
  const where = 'nvGesture';
  checkKnownKeys(where, options, [
    'root',
    'featuresDir',
    'validationFraction',
    'seed',
    'dim',
    'modalities',
    'source',
    'framesDir',
    'flowDir',
    'clipLength',
    'frames',
    'resize',
    'crop',
    'channelOrder',
  ]);
  const root = requireRoot(
    where,
    options?.root,
    'nvgesture_{train,test}_correct_cvpr2016_v2.lst and features/',
  );
  const fraction = checkNumber(where, 'validationFraction', options.validationFraction ?? 0.1, {
    min: 0,
    max: 0.9,
  });
  const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
  const dim = checkNumber(where, 'dim', options.dim ?? 1024, { min: 1, integer: true });
  const streams = options.modalities ?? ['rgb', 'depth', 'flow'];
  const trainList = listFile(root, 'train');
  const train = readNvGestureList(trainList);
  const test = readNvGestureList(listFile(root, 'test'));
  const holdout =
    fraction > 0
      ? stratifiedHoldout(
          train.map((e) => e.label),
          fraction,
          seed,
        )
      : [];
  checkHoldout(
    where,
    trainList,
    train.map((e) => e.label),
    holdout,
    fraction,
    NVGESTURE_CLASSES,
  );
  if ((options.source ?? 'features') === 'frames') {
    return nvGestureFrames(root, options, train, test, holdout, streams);
  }
  checkChoice(where, 'source', options.source ?? 'features', ['features', 'frames']);
  const pick = (keep: (i: number) => boolean): AnnotatedSplit => {
    const rows = train.filter((_, i) => keep(i));
    return {
      fileSplit: 'train',
      ids: rows.map((e) => e.path),
      labels: Int32Array.from(rows, (e) => e.label),
      listedAt: rows,
    };
  };
  const splits: Partial<Record<Split, AnnotatedSplit>> = {
    train: pick((i) => !holdout[i]),
    test: {
      fileSplit: 'test',
      ids: test.map((e) => e.path),
      labels: Int32Array.from(test, (e) => e.label),
      listedAt: test,
    },
  };
  if (fraction > 0) splits.validation = pick((i) => Boolean(holdout[i]));
  const { source, manifest } = await featureSource({
    name: 'nvgesture',
    dir: options.featuresDir ?? join(root, 'features'),
    modalities: streams.map((name) => ({ name, kind: 'video' as const, dim })),
    classNames: NVGESTURE_CLASSES,
    splits,
  });
  return new StreamingDataset(source, {
    features: 'precomputed I3D clip features (frozen encoders)',
    recipe: manifest['recipe'],
    validation: `stratified hold-out ${fraction} of train, seed ${seed}`,
  });
}

function nvGestureFrames(
  root: string,
  options: NvGestureOptions,
  train: NvGestureEntry[],
  test: NvGestureEntry[],
  holdout: boolean[],
  streams: readonly ('rgb' | 'depth' | 'flow')[],
): StreamingDataset {
  const where = 'nvGesture';
  const clipLength = checkNumber(where, 'clipLength', options.clipLength ?? 80, {
    min: 1,
    integer: true,
  });
  const resize = checkNumber(where, 'resize', options.resize ?? 256, { min: 1, integer: true });
  const o: NvFramesOptions = {
    framesDir: options.framesDir ?? join(root, 'frames'),
    flowDir: options.flowDir ?? join(root, 'Video_data', 'flow_data'),
    clipLength,
    frames: checkNumber(where, 'frames', options.frames ?? 64, {
      min: 1,
      max: clipLength,
      integer: true,
    }),
    resize,
    crop: checkNumber(where, 'crop', options.crop ?? 224, { min: 1, max: resize, integer: true }),
    channelOrder: checkChoice(where, 'channelOrder', options.channelOrder ?? 'bgr', ['bgr', 'rgb']),
    streams,
  };
  type Item = NvFrameSample & { label: number };
  const trainItems: Item[] = train.map((e, line) => ({
    path: e.path,
    part: 'train',
    line,
    label: e.label,
  }));
  const testItems: Item[] = test.map((e, line) => ({
    path: e.path,
    part: 'test',
    line,
    label: e.label,
  }));
  const problems: Array<{ sample: ListedSample; missing: string }> = [];
  [...train, ...test].forEach((e, i) => {
    const missing = missingNvMedia(
      o,
      i < train.length ? trainItems[i]! : testItems[i - train.length]!,
    );
    if (missing)
      problems.push({ sample: { file: e.file, line: e.line, id: `sample ${e.path}` }, missing });
  });
  if (problems.length > 0) {
    throw missingFilesError(
      problems,
      'Expected the frames of every listed sample under framesDir (<path>/sk_color, sk_depth) and its flow file under flowDir/<train|test>/<index>.npy.',
    );
  }
  const bySplit: Record<Split, Item[]> = {
    train: trainItems.filter((_, i) => !holdout[i]),
    validation: trainItems.filter((_, i) => Boolean(holdout[i])),
    test: testItems,
  };
  const flowT = streams.includes('flow') ? flowLength(o, trainItems[0]!) : 0;
  const shapes: Record<string, number[]> = {
    rgb: [o.frames, o.crop, o.crop, 3],
    depth: [o.frames, o.crop, o.crop, 1],
    flow: [flowT, o.crop, o.crop, 2],
  };
  const source: SampleSource = {
    name: 'nvgesture',
    modalities: streams.map((name) => ({ name, kind: 'video' as const, shape: shapes[name]! })),
    classNames: NVGESTURE_CLASSES,
    ids: (split) => (bySplit[split].length > 0 ? bySplit[split].map((e) => e.path) : undefined),
    labels: (split) => Int32Array.from(bySplit[split], (e) => e.label),
    async readBatch(split, indices, { augment, rng }) {
      const out: Record<string, Float32Array> = {};
      for (const m of streams)
        out[m] = new Float32Array(indices.length * shapes[m]!.reduce((a, b) => a * b, 1));
      for (let k = 0; k < indices.length; k++) {
        const sample = await readNvFrameSample(
          o,
          bySplit[split][indices[k]!]!,
          augment,
          rng,
          flowT,
        );
        for (const m of streams) out[m]!.set(sample[m]!, k * sample[m]!.length);
      }
      return out;
    },
  };
  return new StreamingDataset(source, {
    source: 'frames',
    window: `${o.frames} of ${o.clipLength} frames (random in training, centred otherwise)`,
    crop: `${o.resize} -> ${o.crop}`,
    channelOrder: o.channelOrder,
  });
}
