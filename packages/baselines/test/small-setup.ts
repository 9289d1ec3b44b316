/**
 * The TF.js side of tools/reference/baselines/small_setup.py: the fixture's arrays served as a
 * dataset in a fixed order (shuffle seeds are ignored, so the run loop and the side trainings see
 * the batches the reference saw), the Linear -> BatchNorm -> ReLU encoders, and loading of the
 * reference weights by key.
 */
import type {
  BatchOptions,
  MultimodalBatch,
  MultimodalDataset,
  MultimodalModelLike,
  Split,
} from '@igm/core';
import { synthetic } from '@igm/datasets';
import { BatchNorm, mlpEncoder } from '@igm/models';
import { tf } from '@igm/test-utils';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { MethodEnvironment } from '../src';

export interface SplitData {
  inputs: Record<string, number[][]>;
  labels: number[];
}

/** A dataset over fixed arrays, served in order whatever the shuffle seed. */
export function fixedDataset(
  data: Record<string, SplitData>,
  numClasses: number,
  name = 'fixture',
): MultimodalDataset {
  const modalities = Object.keys(data['train']!.inputs).map((m) => ({
    name: m,
    kind: 'vector' as const,
    shape: [data['train']!.inputs[m]![0]!.length],
  }));
  const splitSizes = Object.fromEntries(
    Object.entries(data).map(([s, d]) => [s, d.labels.length]),
  ) as Partial<Record<Split, number>>;
  return {
    name,
    modalities,
    classNames: Array.from({ length: numClasses }, (_, i) => String(i)),
    splitSizes,
    async *batches(o: BatchOptions): AsyncIterable<MultimodalBatch> {
      const d = data[o.split]!;
      const n = d.labels.length;
      for (let s = 0; s < n; s += o.batchSize) {
        const e = Math.min(n, s + o.batchSize);
        if (e - s < o.batchSize && (o.dropLast ?? false)) break;
        yield {
          inputs: Object.fromEntries(
            Object.entries(d.inputs).map(([m, x]) => [m, tf.tensor2d(x.slice(s, e))]),
          ),
          labels: tf.tensor1d(d.labels.slice(s, e), 'int32'),
          ids: [],
        };
      }
    },
  };
}

/** Linear(d -> units) -> BatchNorm (PyTorch numerics) -> ReLU, layers fc0 and bn0. */
export function bnEncoder(inputDim: number, units: number, name: string): tfl.LayersModel {
  const input = tf.input({ shape: [inputDim] });
  const fc = tf.layers.dense({ units, name: 'fc0' }).apply(input) as tf.SymbolicTensor;
  const bn = new BatchNorm({ name: 'bn0' }).apply(fc) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'relu' }).apply(bn) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name }) as unknown as tfl.LayersModel;
}

/** The method environment of the small setup (BN encoders of width 3). */
export function smallEnvironment(
  dataset: MultimodalDataset,
  numClasses: number,
  batchSize: number,
): MethodEnvironment {
  return {
    dataset,
    numClasses,
    batchSize,
    seed: 0,
    encoders: () =>
      Object.fromEntries(
        dataset.modalities.map((m) => [m.name, bnEncoder(m.shape[0]!, 3, `enc_${m.name}`)]),
      ),
  };
}

/** Every model variable (trainable and not) by key. */
export function variablesByKey(model: MultimodalModelLike): Map<string, tf.Variable> {
  return new Map([
    ...model.params().map((p) => [p.key, p.variable] as const),
    ...model.nonTrainable().map((v) => [v.key, v.variable] as const),
  ]);
}

/** Assigns the reference values to the model's variables; every key must exist on both sides. */
export function loadWeights(model: MultimodalModelLike, values: Record<string, unknown>): void {
  const vars = variablesByKey(model);
  const missing = [...vars.keys()].filter((k) => !(k in values));
  const extra = Object.keys(values).filter((k) => !vars.has(k));
  if (missing.length > 0 || extra.length > 0) {
    throw new Error(
      `loadWeights: model keys without values: ${missing.join(', ') || '-'}; values without a key: ${extra.join(', ') || '-'}`,
    );
  }
  tf.tidy(() => {
    for (const [k, v] of vars) v.assign(tf.tensor(values[k] as number[], v.shape, 'float32'));
  });
}

/** Reads every model variable to plain arrays (for exact before/after comparisons). */
export function readWeights(model: MultimodalModelLike): Record<string, number[]> {
  return Object.fromEntries(
    [...variablesByKey(model)].map(([k, v]) => [k, Array.from(v.dataSync())]),
  );
}

/**
 * A synthetic 3-class environment with MLP encoders (16 -> `width`, ReLU) for the toy problems
 * and the three-modality runs: the modalities are the keys of `signal` (2 or 3, audio first).
 */
export function syntheticEnvironment(o: {
  signal: Record<string, number>;
  samples: { train: number; validation: number; test: number };
  dataSeed?: number;
  seed?: number;
  width?: number;
}): MethodEnvironment {
  const names = Object.keys(o.signal);
  const dataset = synthetic({
    modalities: names.length,
    classes: 3,
    samples: o.samples,
    signal: o.signal,
    seed: o.dataSeed ?? 0,
  });
  return {
    dataset,
    numClasses: 3,
    batchSize: 16,
    seed: o.seed ?? 0,
    encoders: () =>
      Object.fromEntries(
        names.map((m, i) => [
          m,
          mlpEncoder({ inputDim: 16, units: [o.width ?? 16], seed: i + 1, name: `enc_${m}` }),
        ]),
      ),
  };
}
