/** Batches as plain data, and an exact comparison that names the first difference. */
import type { BatchOptions, MultimodalDataset } from '@igm/core';
import { expect } from 'vitest';
import { disposeBatch } from '../../src';

export interface CollectedBatch {
  readonly ids: readonly string[];
  /** Per input (modalities, then 'labels'): shape, dtype and values. */
  readonly tensors: Record<string, { shape: number[]; dtype: string; values: ArrayLike<number> }>;
}

/** Every batch of one `batches` call, each tensor read back and disposed. */
export async function collectBatches(
  ds: MultimodalDataset,
  options: BatchOptions,
): Promise<CollectedBatch[]> {
  const out: CollectedBatch[] = [];
  for await (const batch of ds.batches(options)) {
    const tensors: CollectedBatch['tensors'] = {};
    for (const [name, t] of [...Object.entries(batch.inputs), ['labels', batch.labels] as const]) {
      tensors[name] = { shape: t.shape, dtype: t.dtype, values: t.dataSync() as ArrayLike<number> };
    }
    out.push({ ids: batch.ids, tensors });
    disposeBatch(batch);
  }
  return out;
}

/**
 * Asserts the same batches: ids, tensor names, shapes, dtypes and every value bit for bit
 * (Object.is: -0 and NaN count), reporting the first differing value rather than a diff of
 * whole arrays.
 */
export function expectSameBatches(actual: CollectedBatch[], expected: CollectedBatch[]): void {
  expect(actual.length, 'number of batches').toBe(expected.length);
  expected.forEach((want, b) => {
    const got = actual[b]!;
    expect(got.ids, `batch ${b} ids`).toEqual(want.ids);
    expect(Object.keys(got.tensors), `batch ${b} tensors`).toEqual(Object.keys(want.tensors));
    for (const [name, w] of Object.entries(want.tensors)) {
      const g = got.tensors[name]!;
      expect(g.shape, `batch ${b} ${name} shape`).toEqual(w.shape);
      expect(g.dtype, `batch ${b} ${name} dtype`).toBe(w.dtype);
      let first = -1;
      for (let i = 0; i < w.values.length && first < 0; i++) {
        if (!Object.is(g.values[i], w.values[i])) first = i;
      }
      const at = first < 0 ? '' : `: ${g.values[first]} instead of ${w.values[first]}`;
      expect(first, `batch ${b} ${name}: first differing value${at}`).toBe(-1);
    }
  });
}
