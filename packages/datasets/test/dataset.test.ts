/**
 * StreamingDataset's samples kept on the backend (keepSamplesOnBackend): the batches of a source
 * with in-memory samples are the ones its readBatch gives, sources without them stay on the
 * host path, malformed in-memory samples are refused with a message, and a backend change
 * uploads the samples again.
 */
import type { BatchOptions, Split } from '@igm/core';
import { describeEachBackend, testBackends, tf, useBackend } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import { type InMemorySamples, type SampleSource, StreamingDataset, synthetic } from '../src';
import { collectBatches as collect, expectSameBatches } from './helpers/batches';

/** Rows of a [rows, 2, 3] "a" and a [rows, 4] "b" modality; row r holds r * 1000 + k (+ 0.5). */
const ROWS = 23;
const blocks = {
  a: Float32Array.from({ length: ROWS * 6 }, (_, i) => Math.floor(i / 6) * 1000 + (i % 6) + 0.5),
  b: Float32Array.from({ length: ROWS * 4 }, (_, i) => -Math.floor(i / 4) * 1000 - (i % 4)),
};
/** Each split's rows in the blocks, interleaved as AV-MNIST-style splits are. */
const splitRows: Record<Split, number[]> = { train: [], validation: [], test: [] };
for (let r = 0; r < ROWS; r++)
  splitRows[r % 3 === 0 ? 'test' : r % 5 === 0 ? 'validation' : 'train'].push(r);

function source(inMemory?: () => InMemorySamples | undefined): SampleSource {
  return {
    name: 'blocks',
    modalities: [
      { name: 'a', kind: 'audio', shape: [2, 3] },
      { name: 'b', kind: 'vector', shape: [4] },
    ],
    classNames: ['x', 'y', 'z'],
    ids: (split) => splitRows[split].map((r) => `row-${r}`),
    labels: (split) => Int32Array.from(splitRows[split], (r) => r % 3),
    async readBatch(split, indices) {
      const rows = indices.map((i) => splitRows[split][i]!);
      const take = (values: Float32Array, size: number) => {
        const out = new Float32Array(rows.length * size);
        rows.forEach((r, k) => {
          out.set(values.subarray(r * size, (r + 1) * size), k * size);
        });
        return out;
      };
      return { a: take(blocks.a, 6), b: take(blocks.b, 4) };
    },
    ...(inMemory ? { inMemorySamples: inMemory } : {}),
  };
}

const inMemory = (): InMemorySamples => ({
  rows: ROWS,
  values: blocks,
  rowsOf: (split) => Int32Array.from(splitRows[split]),
});

const CASES: BatchOptions[] = [
  { split: 'train', batchSize: 4, shuffle: true, seed: 2 },
  { split: 'train', batchSize: 4, shuffle: true, seed: 2, dropLast: true },
  { split: 'train', batchSize: 3, indices: [5, 0, 0, 11, 2] },
  { split: 'validation', batchSize: 50 },
  { split: 'test', batchSize: 2, shuffle: true, seed: 9 },
];

describeEachBackend('StreamingDataset samples on the backend', () => {
  it('gives the batches readBatch gives, in every order', async () => {
    const onHost = new StreamingDataset(source(inMemory));
    const gathered = new StreamingDataset(source(inMemory));
    expect(gathered.keepSamplesOnBackend()).toBe(true);
    try {
      for (const options of CASES) {
        expectSameBatches(await collect(gathered, options), await collect(onHost, options));
      }
    } finally {
      gathered.dispose();
    }
  });

  it('stays on the host path for sources without in-memory samples', async () => {
    for (const ds of [
      new StreamingDataset(source()),
      new StreamingDataset(source(() => undefined)),
      synthetic({ samples: { train: 12, validation: 0, test: 4 } }),
    ]) {
      const expected = await collect(ds, { split: 'train', batchSize: 5, shuffle: true });
      const before = tf.memory().numTensors;
      expect(ds.keepSamplesOnBackend()).toBe(false);
      expectSameBatches(
        await collect(ds, { split: 'train', batchSize: 5, shuffle: true }),
        expected,
      );
      expect(tf.memory().numTensors).toBe(before);
    }
  });

  it('refuses in-memory samples that do not match the modalities or the splits', () => {
    const withValues = (values: Record<string, Float32Array>) =>
      new StreamingDataset(source(() => ({ ...inMemory(), values })));
    expect(() =>
      withValues({ a: blocks.a, b: blocks.b.subarray(4) }).keepSamplesOnBackend(),
    ).toThrow(
      'blocks: the in-memory samples of modality "b" have 88 values; expected 23 rows x [4] = 92.',
    );
    expect(() => withValues({ a: blocks.a }).keepSamplesOnBackend()).toThrow(
      /modality "b" have no values/,
    );
    const withRows = (rowsOf: (split: Split) => Int32Array) =>
      new StreamingDataset(source(() => ({ ...inMemory(), rowsOf })));
    expect(() =>
      withRows((s) => Int32Array.from(splitRows[s].slice(1))).keepSamplesOnBackend(),
    ).toThrow(/rows of split "train" number 11; expected one per sample \(12\)/);
    expect(() =>
      withRows((s) =>
        Int32Array.from(splitRows[s], (r) => (r === 22 ? 23 : r)),
      ).keepSamplesOnBackend(),
    ).toThrow(/rows of split "train" include row 23 at position 11; expected rows in \[0, 23\)/);
  });
});

const both = testBackends().includes('cpu') && testBackends().includes('wasm');
describe.skipIf(!both)('StreamingDataset samples across a backend change', () => {
  it('uploads them again to the new backend and releases the old copy', async () => {
    const ds = new StreamingDataset(source(inMemory));
    const options = CASES[0]!;
    try {
      await useBackend('cpu');
      const expected = await collect(new StreamingDataset(source()), options);
      const before = tf.memory().numTensors;
      ds.keepSamplesOnBackend();
      expectSameBatches(await collect(ds, options), expected);
      expect(tf.memory().numTensors).toBe(before + 2);
      await useBackend('wasm');
      expectSameBatches(await collect(ds, options), expected);
      expect(tf.memory().numTensors).toBe(before + 2);
      ds.dispose();
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      ds.dispose();
      await useBackend('cpu');
    }
  });
});
