/**
 * Writes the arrays the TS loader produces for a dataset (default `av-mnist-imbalanced`), so the
 * PyTorch script of the demo grid (tools/reference/demo/torch_demo_grid.py) trains on exactly the
 * same samples in the same canonical order:
 *
 *   <out>/meta.json                   { dataset, classNames, modalities: [{ name, shape }],
 *                                       splits: { train: n, validation: n, test: n } }
 *   <out>/<split>.<modality>.f32      float32, little-endian, [n, ...shape] row-major (NHWC)
 *   <out>/<split>.labels.i32          int32, little-endian, [n]
 *
 * Bench tooling only (not part of `pnpm test`). Needs the FSDD recordings for the AV-MNIST-style
 * datasets ($FSDD_DIR, or --fsdd-dir).
 *
 *   npx tsx bench/demo-grid/export-data.ts --out /tmp/demo-data [--dataset av-mnist-imbalanced]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { MultimodalDataset, Split } from '@igm/core';
import { disposeBatch, loadDataset } from '@igm/datasets';
import * as tf from '@tensorflow/tfjs';

const SPLITS: readonly Split[] = ['train', 'validation', 'test'];

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Every sample of `split` in canonical order (no shuffle, no augmentation, last batch kept). */
async function splitArrays(
  dataset: MultimodalDataset,
  split: Split,
): Promise<{ inputs: Record<string, Float32Array>; labels: Int32Array }> {
  const n = dataset.splitSizes[split] ?? 0;
  const inputs = Object.fromEntries(
    dataset.modalities.map((m) => [
      m.name,
      new Float32Array(n * m.shape.reduce((a, b) => a * b, 1)),
    ]),
  );
  const labels = new Int32Array(n);
  let row = 0;
  for await (const batch of dataset.batches({
    split,
    batchSize: 256,
    shuffle: false,
    dropLast: false,
    augment: false,
  })) {
    const b = batch.labels.shape[0]!;
    for (const m of dataset.modalities) {
      const values = (await batch.inputs[m.name]!.data()) as Float32Array;
      inputs[m.name]!.set(values, row * (values.length / b));
    }
    labels.set(Int32Array.from(await batch.labels.data()), row);
    row += b;
    disposeBatch(batch);
  }
  if (row !== n) throw new Error(`${split}: read ${row} samples, the dataset says ${n}.`);
  return { inputs, labels };
}

export async function exportDataset(
  name: string,
  out: string,
  options: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  await tf.setBackend('cpu');
  const dataset = await loadDataset(name as never, options as never);
  mkdirSync(out, { recursive: true });
  const meta = {
    dataset: name,
    classNames: dataset.classNames,
    modalities: dataset.modalities.map((m) => ({ name: m.name, shape: [...m.shape] })),
    splits: Object.fromEntries(SPLITS.map((s) => [s, dataset.splitSizes[s] ?? 0])),
    layout: 'float32/int32 little-endian, [n, ...shape] row-major, canonical split order',
  };
  for (const split of SPLITS) {
    const { inputs, labels } = await splitArrays(dataset, split);
    for (const [m, values] of Object.entries(inputs)) {
      writeFileSync(join(out, `${split}.${m}.f32`), Buffer.from(values.buffer));
    }
    writeFileSync(join(out, `${split}.labels.i32`), Buffer.from(labels.buffer));
  }
  writeFileSync(join(out, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return meta;
}

if (import.meta.url === `file://${process.argv[1] ? resolve(process.argv[1]) : ''}`) {
  const out = flag('out');
  if (!out) {
    console.error(
      'usage: npx tsx bench/demo-grid/export-data.ts --out <dir> [--dataset <name>] [--fsdd-dir <dir>]',
    );
    process.exit(2);
  }
  const name = flag('dataset') ?? 'av-mnist-imbalanced';
  const fsddDir = flag('fsdd-dir') ?? process.env['FSDD_DIR'];
  const meta = await exportDataset(name, resolve(out), fsddDir ? { fsddDir } : {});
  console.log(JSON.stringify(meta));
}
