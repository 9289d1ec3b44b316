/**
 * Twitter-2015 (target-oriented multimodal sentiment, 3 classes; docs/datasets.md#twitter-2015)
 * from TomBERT's TSV files plus precomputed features (loaders/features.ts):
 *
 *   <root>/annotations/{train,dev,test}.tsv   (or the .tsv files directly in <root>)
 *       columns: index, label (0 negative, 1 neutral, 2 positive), image id, tweet with $T$, target
 *   <root>/features/                          manifest.json, {train,dev,test}_{text,image}.npy,
 *                                             {train,dev,test}_labels.npy
 *
 * Text features: BERT-base-uncased [CLS] (768); image: ResNet-50 ImageNet logits (1000), as IGM.
 * Encoders are therefore frozen (the references fine-tune them): numbers are not directly
 * comparable. Sample id = the TSV `index` column. Validation = dev.tsv
 * (docs/datasets.md#validation-splits). test.tsv's broken header (four names for five columns)
 * is tolerated.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkKnownKeys, type Split } from '@igm/core';
import { StreamingDataset } from '../dataset';
import { IgmDataError } from '../errors';
import { parseDelimited } from '../io/csv';
import { readTextOrThrow } from '../io/fs';
import { requireRoot } from './common';
import { type AnnotatedSplit, featureSource } from './features';

export const TWITTER_2015_CLASSES = ['negative', 'neutral', 'positive'] as const;

export interface Twitter2015Options {
  readonly root: string;
  /** Default <root>/annotations when it exists, else <root>. */
  readonly annotationsDir?: string;
  /** Default <root>/features. */
  readonly featuresDir?: string;
  /** Default 768 (BERT-base [CLS]). */
  readonly textDim?: number;
  /** Default 1000 (ResNet-50 logits). */
  readonly imageDim?: number;
}

export interface TweetRow {
  /** 1-based line in the TSV. */
  readonly line: number;
  readonly id: string;
  readonly label: number;
  readonly imageId: string;
  readonly text: string;
  readonly target: string;
}

export function readTwitterTsv(file: string): TweetRow[] {
  const text = readTextOrThrow(file, 'a Twitter-2015 TSV (index, label, image id, tweet, target)');
  const rows: TweetRow[] = [];
  const seen = new Set<string>();
  for (const row of parseDelimited(text, '\t')) {
    const f = row.fields;
    if (f[0]?.trim().toLowerCase() === 'index') continue; // header (possibly the broken one)
    if (f.length === 1 && f[0] === '') continue;
    if (f.length !== 5) {
      throw new IgmDataError(
        `line ${row.line} has ${f.length} tab-separated column(s); expected 5: index, label, image id, tweet, target.`,
        file,
      );
    }
    const label = Number(f[1]);
    if (!(label === 0 || label === 1 || label === 2)) {
      throw new IgmDataError(
        `line ${row.line}: unknown label ${JSON.stringify(f[1])}; expected 0 (negative), 1 (neutral) or 2 (positive).`,
        file,
      );
    }
    const id = f[0]!.trim();
    if (seen.has(id))
      throw new IgmDataError(
        `line ${row.line}: index ${JSON.stringify(id)} repeats; expected unique indices.`,
        file,
      );
    seen.add(id);
    rows.push({ line: row.line, id, label, imageId: f[2]!.trim(), text: f[3]!, target: f[4]! });
  }
  if (rows.length === 0) throw new IgmDataError('no rows; expected tab-separated samples.', file);
  return rows;
}

const FILE_SPLITS: Array<[Split, string]> = [
  ['train', 'train'],
  ['validation', 'dev'],
  ['test', 'test'],
];

export async function twitter2015(options: Twitter2015Options): Promise<StreamingDataset> {
  const where = 'twitter2015';
  checkKnownKeys(where, options, ['root', 'annotationsDir', 'featuresDir', 'textDim', 'imageDim']);
  const root = requireRoot(where, options?.root, 'annotations/{train,dev,test}.tsv and features/');
  const annotationsDir =
    options.annotationsDir ??
    (existsSync(join(root, 'annotations')) ? join(root, 'annotations') : root);
  const splits: Partial<Record<Split, AnnotatedSplit>> = {};
  for (const [split, fileSplit] of FILE_SPLITS) {
    const file = join(annotationsDir, `${fileSplit}.tsv`);
    const rows = readTwitterTsv(file);
    splits[split] = {
      fileSplit,
      ids: rows.map((r) => r.id),
      labels: Int32Array.from(rows, (r) => r.label),
      listedAt: rows.map((r) => ({ file, line: r.line })),
    };
  }
  const { source, manifest } = await featureSource({
    name: 'twitter-2015',
    dir: options.featuresDir ?? join(root, 'features'),
    modalities: [
      { name: 'text', kind: 'text', dim: options.textDim ?? 768 },
      { name: 'image', kind: 'image', dim: options.imageDim ?? 1000 },
    ],
    classNames: [...TWITTER_2015_CLASSES],
    splits,
  });
  return new StreamingDataset(source, {
    features: 'precomputed (frozen encoders; not directly comparable with fine-tuned references)',
    recipe: manifest['recipe'],
    validation: 'dev.tsv',
  });
}
