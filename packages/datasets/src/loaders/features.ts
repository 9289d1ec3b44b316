/**
 * Precomputed feature sets (docs/datasets.md#precomputed-features) for the datasets whose
 * references use pretrained encoders (Twitter-2015 and Sarcasm: BERT-base [CLS] 768 + ResNet-50
 * logits 1000; NVGesture: I3D 1024 per stream). One folder:
 *
 *   manifest.json            { "splits": { "<split>": { "ids": [...] } }, "recipe": ..., ... }
 *   <split>_<modality>.npy   float32 (N, d), row i = manifest ids[i]
 *   <split>_labels.npy       integer (N,), in the loader's label order
 *
 * with <split> the dataset's own split names (e.g. train/dev/test). The loader checks every file
 * against the annotations: same ids, same labels, shape (N, d). Rows are read on demand.
 */
import { join } from 'node:path';
import type { ModalityKind, Split } from '@igm/core';
import type { SampleSource } from '../dataset';
import { IgmDataError } from '../errors';
import { readTextOrThrow } from '../io/fs';
import { loadNpyArray, NpyRows } from '../io/npy';

export interface FeatureModality {
  readonly name: string;
  readonly kind: ModalityKind;
  readonly dim: number;
}

export interface AnnotatedSplit {
  /** The split's name in the feature files (e.g. "dev"). */
  readonly fileSplit: string;
  readonly ids: readonly string[];
  readonly labels: Int32Array;
  /** Where each sample is listed (annotation file and 1-based line), for error messages. */
  readonly listedAt?: ReadonlyArray<{ readonly file: string; readonly line: number }>;
}

interface Manifest {
  splits?: Record<string, { ids?: unknown }>;
  [key: string]: unknown;
}

/** Opens and checks a feature folder; returns a SampleSource over the annotated splits. */
export async function featureSource(options: {
  readonly name: string;
  readonly dir: string;
  readonly modalities: readonly FeatureModality[];
  readonly classNames: readonly string[];
  readonly splits: Partial<Record<Split, AnnotatedSplit>>;
}): Promise<{ source: SampleSource; manifest: Manifest }> {
  const { dir } = options;
  const manifestPath = join(dir, 'manifest.json');
  let manifest: Manifest;
  try {
    manifest = JSON.parse(
      readTextOrThrow(manifestPath, 'the feature manifest (split ids in row order)'),
    ) as Manifest;
  } catch (error) {
    if (error instanceof IgmDataError) throw error;
    throw new IgmDataError(
      `invalid JSON (${(error as Error).message}); expected { "splits": { "<split>": { "ids": [...] } } }.`,
      manifestPath,
    );
  }
  const readers: Partial<Record<Split, { rows: Int32Array; files: Record<string, NpyRows> }>> = {};
  for (const [split, ann] of Object.entries(options.splits) as Array<[Split, AnnotatedSplit]>) {
    const ids = manifest.splits?.[ann.fileSplit]?.ids;
    if (!Array.isArray(ids)) {
      throw new IgmDataError(
        `no splits.${ann.fileSplit}.ids; expected the ${ann.fileSplit} sample ids in row order.`,
        manifestPath,
      );
    }
    const rowOf = new Map<string, number>();
    ids.forEach((id, r) => {
      rowOf.set(String(id), r);
    });
    const rows = new Int32Array(ann.ids.length);
    ann.ids.forEach((id, i) => {
      const r = rowOf.get(id);
      if (r === undefined) {
        const at = ann.listedAt?.[i];
        throw new IgmDataError(
          `splits.${ann.fileSplit}.ids lacks sample ${JSON.stringify(id)} of the annotations${at ? ` (${at.file} line ${at.line})` : ''}; expected features for every annotated sample (${ann.ids.length}).`,
          manifestPath,
        );
      }
      rows[i] = r;
    });
    const labelsPath = join(dir, `${ann.fileSplit}_labels.npy`);
    const labels = await loadNpyArray(labelsPath, `integer labels (N,) with N = ${ids.length}`);
    if (labels.shape.length !== 1 || labels.shape[0] !== ids.length) {
      throw new IgmDataError(
        `labels have shape (${labels.shape.join(', ')}); expected (${ids.length},) to match the manifest.`,
        labelsPath,
      );
    }
    ann.ids.forEach((id, i) => {
      const got = labels.data[rows[i]!]!;
      if (got !== ann.labels[i]) {
        const at = ann.listedAt?.[i];
        throw new IgmDataError(
          `row ${rows[i]} (sample ${JSON.stringify(id)}) has label ${got}; the annotations${at ? ` (${at.file} line ${at.line})` : ''} say ${ann.labels[i]} (${options.classNames[ann.labels[i]!]}). Expected labels in the loader's order: ${options.classNames.map((c, k) => `${k} ${c}`).join(', ')}.`,
          labelsPath,
        );
      }
    });
    const files: Record<string, NpyRows> = {};
    for (const m of options.modalities) {
      const path = join(dir, `${ann.fileSplit}_${m.name}.npy`);
      const npy = new NpyRows(path);
      if (npy.header.shape.length !== 2 || npy.rows !== ids.length || npy.rowSize !== m.dim) {
        throw new IgmDataError(
          `feature file has shape (${npy.header.shape.join(', ')}); expected (${ids.length}, ${m.dim}) = (samples in manifest, ${m.name} feature size).`,
          path,
        );
      }
      files[m.name] = npy;
    }
    readers[split] = { rows, files };
  }
  const source: SampleSource = {
    name: options.name,
    modalities: options.modalities.map((m) => ({ name: m.name, kind: m.kind, shape: [m.dim] })),
    classNames: options.classNames,
    ids: (split) => options.splits[split]?.ids,
    labels: (split) => options.splits[split]!.labels,
    async readBatch(split, indices) {
      const r = readers[split]!;
      const rows = indices.map((i) => r.rows[i]!);
      const out: Record<string, Float32Array> = {};
      for (const m of options.modalities) out[m.name] = r.files[m.name]!.read(rows);
      return out;
    },
  };
  return { source, manifest };
}
