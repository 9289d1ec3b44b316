/**
 * Sarcasm (Cai et al., ACL 2019; 2 classes; docs/datasets.md#sarcasm) from the authors' text
 * files plus precomputed features (loaders/features.ts):
 *
 *   <root>/text/train.txt, valid2.txt, test2.txt   one Python-literal list per line:
 *       train ['<id>', '<text>', label], valid/test ['<id>', '<text>', hashtag_label, label]
 *   <root>/features/   manifest.json, {train,valid2,test2}_{text,image}.npy, *_labels.npy
 *
 * The label is the last element (as the authors' loader). The standard keyword filter drops train
 * posts whose whitespace tokens include exgag, sarcasm, sarcastic, reposting, <url>, joke, humour,
 * humor, jokes, irony or ironic (29,040 -> 19,816); `filter: false` keeps them. Labels: 0 not
 * sarcastic, 1 sarcastic. Validation = valid2.txt.
 */
import { join } from 'node:path';
import { checkKnownKeys, type Split } from '@igm/core';
import { StreamingDataset } from '../dataset';
import { IgmDataError } from '../errors';
import { readTextOrThrow } from '../io/fs';
import { requireRoot } from './common';
import { type AnnotatedSplit, featureSource } from './features';

export const SARCASM_CLASSES = ['not sarcastic', 'sarcastic'] as const;
export const SARCASM_FILTER_WORDS = [
  'exgag',
  'sarcasm',
  'sarcastic',
  'reposting',
  '<url>',
  'joke',
  'humour',
  'humor',
  'jokes',
  'irony',
  'ironic',
] as const;

export interface SarcasmOptions {
  readonly root: string;
  /** Default <root>/text. */
  readonly textDir?: string;
  /** Default <root>/features. */
  readonly featuresDir?: string;
  /** Apply the standard keyword filter to train. Default true. */
  readonly filter?: boolean;
  readonly textDim?: number;
  readonly imageDim?: number;
}

/** Parses one Python-literal list of strings and integers: ['id', "it's", 1]. */
export function parsePythonList(line: string): Array<string | number> {
  const s = line.trim();
  if (!s.startsWith('[') || !s.endsWith(']')) throw new Error('expected a list in [ ]');
  const out: Array<string | number> = [];
  let i = 1;
  const end = s.length - 1;
  const skipSpace = () => {
    while (i < end && /\s/.test(s[i]!)) i++;
  };
  while (true) {
    skipSpace();
    if (i >= end) break;
    const c = s[i]!;
    if (c === "'" || c === '"') {
      i++;
      let value = '';
      while (i < end && s[i] !== c) {
        if (s[i] === '\\' && i + 1 < end) {
          const n = s[i + 1]!;
          value += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          i += 2;
        } else value += s[i++];
      }
      if (s[i] !== c) throw new Error('unterminated string');
      i++;
      out.push(value);
    } else {
      const m = /^-?\d+/.exec(s.slice(i, end));
      if (!m) throw new Error(`unexpected ${JSON.stringify(s.slice(i, i + 10))}`);
      out.push(Number(m[0]));
      i += m[0].length;
    }
    skipSpace();
    if (i < end) {
      if (s[i] !== ',') throw new Error(`expected "," at ${JSON.stringify(s.slice(i, i + 10))}`);
      i++;
    }
  }
  return out;
}

export interface SarcasmRow {
  /** 1-based line in the text file. */
  readonly line: number;
  readonly id: string;
  readonly text: string;
  readonly label: number;
}

export function readSarcasmFile(file: string, isTrain: boolean, filter: boolean): SarcasmRow[] {
  const text = readTextOrThrow(file, 'a Sarcasm text file (one Python list per line)');
  const rows: SarcasmRow[] = [];
  const lines = text.split(/\r?\n/);
  const expectLen = isTrain ? 3 : 4;
  const seen = new Set<string>();
  lines.forEach((line, k) => {
    if (line.trim() === '') return;
    let parts: Array<string | number>;
    try {
      parts = parsePythonList(line);
    } catch (error) {
      throw new IgmDataError(
        `line ${k + 1}: ${(error as Error).message}; expected ['<id>', '<text>', label${isTrain ? '' : ', label'}].`,
        file,
      );
    }
    if (
      parts.length !== expectLen ||
      typeof parts[0] !== 'string' ||
      typeof parts[1] !== 'string'
    ) {
      throw new IgmDataError(
        `line ${k + 1} has ${parts.length} element(s); expected ${expectLen}: ['<id>', '<text>'${isTrain ? ', label' : ', hashtag_label, label'}].`,
        file,
      );
    }
    const label = parts[parts.length - 1];
    if (label !== 0 && label !== 1) {
      throw new IgmDataError(
        `line ${k + 1}: unknown label ${JSON.stringify(label)}; expected 0 or 1.`,
        file,
      );
    }
    const id = parts[0];
    const words = parts[1].split(/\s+/);
    if (
      isTrain &&
      filter &&
      words.some((w) => (SARCASM_FILTER_WORDS as readonly string[]).includes(w))
    )
      return;
    if (seen.has(id))
      throw new IgmDataError(`line ${k + 1}: id ${id} repeats; expected unique ids.`, file);
    seen.add(id);
    rows.push({ line: k + 1, id, text: parts[1], label });
  });
  if (rows.length === 0)
    throw new IgmDataError('no rows; expected one Python list per line.', file);
  return rows;
}

const FILE_SPLITS: Array<[Split, string]> = [
  ['train', 'train'],
  ['validation', 'valid2'],
  ['test', 'test2'],
];

export async function sarcasm(options: SarcasmOptions): Promise<StreamingDataset> {
  const where = 'sarcasm';
  checkKnownKeys(where, options, [
    'root',
    'textDir',
    'featuresDir',
    'filter',
    'textDim',
    'imageDim',
  ]);
  const root = requireRoot(where, options?.root, 'text/{train,valid2,test2}.txt and features/');
  const textDir = options.textDir ?? join(root, 'text');
  const filter = options.filter ?? true;
  const splits: Partial<Record<Split, AnnotatedSplit>> = {};
  for (const [split, fileSplit] of FILE_SPLITS) {
    const file = join(textDir, `${fileSplit}.txt`);
    const rows = readSarcasmFile(file, split === 'train', filter);
    splits[split] = {
      fileSplit,
      ids: rows.map((r) => r.id),
      labels: Int32Array.from(rows, (r) => r.label),
      listedAt: rows.map((r) => ({ file, line: r.line })),
    };
  }
  const { source, manifest } = await featureSource({
    name: 'sarcasm',
    dir: options.featuresDir ?? join(root, 'features'),
    modalities: [
      { name: 'text', kind: 'text', dim: options.textDim ?? 768 },
      { name: 'image', kind: 'image', dim: options.imageDim ?? 1000 },
    ],
    classNames: [...SARCASM_CLASSES],
    splits,
  });
  return new StreamingDataset(source, {
    features: 'precomputed (frozen encoders; not directly comparable with fine-tuned references)',
    recipe: manifest['recipe'],
    filter,
    validation: 'valid2.txt',
  });
}
