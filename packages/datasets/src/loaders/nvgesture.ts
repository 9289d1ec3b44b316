/**
 * NVGesture (Molchanov et al., CVPR 2016; 25 classes; DATASETS.md section 6) from the split lists
 * plus precomputed I3D clip features (loaders/features.ts):
 *
 *   <root>/nvgesture_{train,test}_correct_cvpr2016_v2.lst   (or IGM's nvgesture_*_correct_v2.lst)
 *       "path:./Video_data/class_01/subject13_r0 depth:sk_depth:138:218 color:... label:1"
 *   <root>/features/   manifest.json, {train,test}_{rgb,depth,flow}.npy (N, 1024), *_labels.npy
 *
 * Sample id = the `path` field; labels 1-25 become 0-24. Validation: a class-stratified, seeded
 * hold-out of the train list (DATASETS.md section 9), read from the train feature files.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkKnownKeys, checkNumber, type Split } from '@igm/core';
import { StreamingDataset } from '../dataset';
import { IgmDataError } from '../errors';
import { readTextOrThrow } from '../io/fs';
import { stratifiedHoldout } from '../split';
import { requireRoot } from './common';
import { type AnnotatedSplit, featureSource } from './features';

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
}

export interface NvGestureEntry {
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
    out.push({ path: fields['path'], label: label - 1, sensors });
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
  const train = readNvGestureList(listFile(root, 'train'));
  const test = readNvGestureList(listFile(root, 'test'));
  const holdout =
    fraction > 0
      ? stratifiedHoldout(
          train.map((e) => e.label),
          fraction,
          seed,
        )
      : [];
  const pick = (keep: (i: number) => boolean): AnnotatedSplit => {
    const rows = train.filter((_, i) => keep(i));
    return {
      fileSplit: 'train',
      ids: rows.map((e) => e.path),
      labels: Int32Array.from(rows, (e) => e.label),
    };
  };
  const splits: Partial<Record<Split, AnnotatedSplit>> = {
    train: pick((i) => !holdout[i]),
    test: {
      fileSplit: 'test',
      ids: test.map((e) => e.path),
      labels: Int32Array.from(test, (e) => e.label),
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
