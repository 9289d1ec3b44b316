/**
 * A Gaussian class-mean dataset whose per-modality evidence strength is a signal-to-noise
 * ratio (not a label-flip rate): x_m = snr_m * mu_m[y] + N(0, I), mu_m[c] ~ N(0, I/d) * sqrt(d).
 * A weak modality is then uncertain rather than confidently wrong, the regime in which
 * joint training under-trains it (the modality-imbalance setting of OGM-GE / IGM).
 */
import {
  type BatchOptions,
  createRng,
  type MultimodalBatch,
  type MultimodalDataset,
  type Split,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';

export function gaussianDataset(options: {
  snr: Record<string, number>;
  dim: number;
  classes: number;
  samples: Record<Split, number>;
  seed: number;
}): MultimodalDataset {
  const { snr, dim, classes, samples, seed } = options;
  const names = Object.keys(snr);
  const rng = createRng(seed);
  const means: Record<string, Float32Array[]> = {};
  for (const m of names) {
    means[m] = Array.from({ length: classes }, () =>
      Float32Array.from({ length: dim }, () => rng.normal()),
    );
  }
  const data: Record<Split, { x: Record<string, Float32Array>; y: Int32Array }> = {} as never;
  for (const split of ['train', 'validation', 'test'] as const) {
    const n = samples[split];
    const y = Int32Array.from({ length: n }, (_, i) => i % classes);
    const x: Record<string, Float32Array> = {};
    for (const m of names) {
      const arr = new Float32Array(n * dim);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < dim; j++)
          arr[i * dim + j] = snr[m]! * means[m]![y[i]!]![j]! + rng.normal();
      }
      x[m] = arr;
    }
    data[split] = { x, y };
  }
  return {
    name: 'gaussian-snr',
    modalities: names.map((name) => ({ name, kind: 'vector' as const, shape: [dim] })),
    classNames: Array.from({ length: classes }, (_, c) => `class-${c}`),
    splitSizes: samples,
    async *batches(o: BatchOptions): AsyncIterable<MultimodalBatch> {
      const { x, y } = data[o.split];
      const n = y.length;
      const order = o.shuffle
        ? Array.from(createRng(o.seed ?? 0).permutation(n))
        : Array.from({ length: n }, (_, i) => i);
      for (let s = 0; s < n; s += o.batchSize) {
        const rows = order.slice(s, s + o.batchSize);
        if (rows.length < o.batchSize && o.dropLast) break;
        const inputs: Record<string, tf.Tensor> = {};
        for (const m of names) {
          const buf = new Float32Array(rows.length * dim);
          rows.forEach((r, i) => {
            buf.set(x[m]!.subarray(r * dim, (r + 1) * dim), i * dim);
          });
          inputs[m] = tf.tensor2d(buf, [rows.length, dim]);
        }
        yield {
          inputs,
          labels: tf.tensor1d(
            Int32Array.from(rows, (r) => y[r]!),
            'int32',
          ),
          ids: rows.map(String),
        };
      }
    },
  };
}
