/**
 * Test doubles: a tiny MultimodalModelLike (one Dense+ReLU encoder and a Dense head per
 * modality, fused by the mean of softmaxes, plus a running feature mean as non-trainable
 * state) and an in-memory MultimodalDataset. They keep the trainer's tests independent of
 * @igm/models and @igm/datasets.
 */
import {
  type BatchOptions,
  createRng,
  type ForwardOptions,
  type HeadLayerInfo,
  type MultimodalBatch,
  type MultimodalDataset,
  type MultimodalModelLike,
  type Param,
  type Split,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';

let modelCounter = 0;

export interface TinyModelOptions {
  modalities: Record<string, number>;
  hidden?: number;
  numClasses: number;
  seed?: number;
  /** One head shared by all modalities (MLA). */
  sharedHead?: boolean;
}

export class TinyModel implements MultimodalModelLike {
  readonly modalities: string[];
  readonly numClasses: number;
  private readonly ps: Param[] = [];
  private readonly running: Array<{ key: string; variable: tf.Variable }> = [];
  private readonly v = new Map<string, tf.Variable>();
  readonly sharedHead: boolean;

  constructor(readonly options: TinyModelOptions) {
    const id = modelCounter++;
    this.modalities = Object.keys(options.modalities);
    this.numClasses = options.numClasses;
    this.sharedHead = options.sharedHead ?? false;
    const h = options.hidden ?? 8;
    const rng = createRng(options.seed ?? 0);
    const uniform = (shape: number[], bound: number): tf.Tensor => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = (2 * rng.uniform() - 1) * bound;
      return tf.tensor(data, shape);
    };
    const add = (key: string, group: string, value: tf.Tensor): void => {
      const variable = tf.variable(value, true, `tiny${id}/${key}`);
      value.dispose();
      this.v.set(key, variable);
      this.ps.push({ key, variable, group });
    };
    for (const m of this.modalities) {
      const d = options.modalities[m]!;
      add(`${m}/enc/kernel`, `encoder/${m}`, uniform([d, h], 1 / Math.sqrt(d)));
      add(`${m}/enc/bias`, `encoder/${m}`, uniform([h], 1 / Math.sqrt(d)));
      if (!this.sharedHead) {
        add(`${m}/head/kernel`, `head/${m}`, uniform([h, options.numClasses], 1 / Math.sqrt(h)));
        add(`${m}/head/bias`, `head/${m}`, uniform([options.numClasses], 1 / Math.sqrt(h)));
      }
      const rv = tf.variable(tf.zeros([h]), false, `tiny${id}/${m}/running_mean`);
      this.running.push({ key: `${m}/running_mean`, variable: rv });
    }
    if (this.sharedHead) {
      add('shared/head/kernel', 'head/shared', uniform([h, options.numClasses], 1 / Math.sqrt(h)));
      add('shared/head/bias', 'head/shared', uniform([options.numClasses], 1 / Math.sqrt(h)));
    }
  }

  params(): Param[] {
    return [...this.ps];
  }

  nonTrainable(): Array<{ key: string; variable: tf.Variable }> {
    return [...this.running];
  }

  variable(key: string): tf.Variable {
    return this.v.get(key)!;
  }

  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: ForwardOptions,
  ): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    const mods = options.modalities ?? this.modalities;
    const probs: tf.Tensor[] = [];
    for (const m of mods) {
      const x = inputs[m]!;
      const f = tf.relu(
        tf.add(
          tf.matMul(x as tf.Tensor2D, this.v.get(`${m}/enc/kernel`)!),
          this.v.get(`${m}/enc/bias`)!,
        ),
      );
      if (options.training && (options.batchStatistics ?? 'update') === 'update') {
        const rv = this.running.find((r) => r.key === `${m}/running_mean`)!.variable;
        rv.assign(tf.add(tf.mul(rv, 0.9), tf.mul(tf.mean(f, 0), 0.1)));
      }
      const head = this.sharedHead ? 'shared' : m;
      const logits = tf.add(
        tf.matMul(f, this.v.get(`${head}/head/kernel`)!),
        this.v.get(`${head}/head/bias`)!,
      );
      out[`features/${m}`] = f;
      out[`input/head/${m}/0`] = f;
      out[`logits/${m}`] = logits;
      probs.push(tf.softmax(logits));
    }
    out['probs/fused'] = probs.length === 1 ? probs[0]! : tf.div(tf.addN(probs), probs.length);
    return out;
  }

  headLayers(modality: string): HeadLayerInfo[] {
    const head = this.sharedHead ? 'shared' : modality;
    return [
      {
        modality,
        index: 0,
        kernelKey: `${head}/head/kernel`,
        biasKey: `${head}/head/bias`,
        inputName: `input/head/${modality}/0`,
        inputDim: this.options.hidden ?? 8,
        outputDim: this.numClasses,
      },
    ];
  }

  dispose(): void {
    for (const p of this.ps) p.variable.dispose();
    for (const r of this.running) r.variable.dispose();
  }
}

export interface MemoryData {
  name?: string;
  inputs: Record<string, Float32Array>;
  dims: Record<string, number>;
  labels: Int32Array;
  numClasses: number;
  splits: Partial<Record<Split, number[]>>;
}

export class MemoryDataset implements MultimodalDataset {
  readonly name: string;
  readonly modalities;
  readonly classNames: string[];
  readonly splitSizes: Partial<Record<Split, number>>;
  constructor(readonly data: MemoryData) {
    this.name = data.name ?? 'memory';
    this.modalities = Object.keys(data.inputs).map((m) => ({
      name: m,
      kind: 'vector' as const,
      shape: [data.dims[m]!],
    }));
    this.classNames = Array.from({ length: data.numClasses }, (_, i) => `c${i}`);
    this.splitSizes = Object.fromEntries(
      Object.entries(data.splits).map(([k, v]) => [k, v!.length]),
    );
  }

  async *batches(o: BatchOptions): AsyncIterable<MultimodalBatch> {
    const idx = this.data.splits[o.split] ?? [];
    let order = o.indices ? Array.from(o.indices, (k) => idx[k]!) : [...idx];
    if (o.shuffle && o.indices) {
      const p = createRng(o.seed ?? 0).permutation(order.length);
      order = Array.from(p, (i) => order[i]!);
    } else if (o.shuffle) {
      const p = createRng(o.seed ?? 0).permutation(idx.length);
      order = Array.from(p, (i) => idx[i]!);
    }
    for (let s = 0; s < order.length; s += o.batchSize) {
      const rows = order.slice(s, s + o.batchSize);
      if (rows.length < o.batchSize && o.dropLast) break;
      const inputs: Record<string, tf.Tensor> = {};
      for (const [m, arr] of Object.entries(this.data.inputs)) {
        const d = this.data.dims[m]!;
        const buf = new Float32Array(rows.length * d);
        rows.forEach((r, i) => {
          buf.set(arr.subarray(r * d, (r + 1) * d), i * d);
        });
        inputs[m] = tf.tensor2d(buf, [rows.length, d]);
      }
      yield {
        inputs,
        labels: tf.tensor1d(
          Int32Array.from(rows, (r) => this.data.labels[r]!),
          'int32',
        ),
        ids: rows.map(String),
      };
    }
  }
}

/**
 * Two-modality Gaussian classes: modality `strong` separates the classes with margin
 * `strongSignal`, `weak` with `weakSignal` (noise 1).
 */
export function gaussianData({
  n = 120,
  numClasses = 3,
  dims = { strong: 6, weak: 6 },
  signal = { strong: 2.5, weak: 0.8 },
  seed = 1,
}: {
  n?: number;
  numClasses?: number;
  dims?: Record<string, number>;
  signal?: Record<string, number>;
  seed?: number;
} = {}): MemoryData {
  const rng = createRng(seed);
  const labels = Int32Array.from({ length: n }, () => rng.int(numClasses));
  const inputs: Record<string, Float32Array> = {};
  for (const [m, d] of Object.entries(dims)) {
    const means = Array.from({ length: numClasses }, () =>
      Array.from({ length: d }, () => rng.normal()),
    );
    const arr = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++)
        arr[i * d + j] = signal[m]! * means[labels[i]!]![j]! + rng.normal();
    }
    inputs[m] = arr;
  }
  const all = Array.from({ length: n }, (_, i) => i);
  const nTrain = Math.floor(n * 0.6);
  const nVal = Math.floor(n * 0.2);
  return {
    inputs,
    dims,
    labels,
    numClasses,
    splits: {
      train: all.slice(0, nTrain),
      validation: all.slice(nTrain, nTrain + nVal),
      test: all.slice(nTrain + nVal),
    },
  };
}

/** Plain gradient descent, u = -lr * g, logging 'lr'. */
export function descend(lr: number) {
  return {
    name: 'descend',
    init: () => null,
    update: (
      grads: Map<string, tf.Tensor>,
      _s: unknown,
      ctx: { log(n: string, v: number): void },
    ) => {
      ctx.log('lr', lr);
      return new Map([...grads].map(([k, g]) => [k, tf.mul(g, -lr)] as [string, tf.Tensor]));
    },
    state: () => [],
  };
}

/**
 * Heavy-ball momentum with state in Variables (PyTorch SGD semantics without decay):
 * buf = mu * buf + g;  u = -lr * buf.
 */
export function momentumDescend(lr: number, mu: number) {
  type S = Map<string, tf.Variable>;
  let id = 0;
  return {
    name: 'momentumDescend',
    init(params: ReadonlyMap<string, Param>): S {
      const s: S = new Map();
      const n = id++;
      for (const [k, p] of params) {
        s.set(
          k,
          tf.tidy(() => tf.variable(tf.zerosLike(p.variable), false, `mom${n}/${k}`)),
        );
      }
      return s;
    },
    update(grads: Map<string, tf.Tensor>, s: S, ctx: { log(n: string, v: number): void }) {
      ctx.log('lr', lr);
      const out = new Map<string, tf.Tensor>();
      for (const [k, g] of grads) {
        const buf = s.get(k)!;
        buf.assign(tf.add(tf.mul(buf, mu), g));
        out.set(k, tf.mul(buf, -lr));
      }
      return out;
    },
    state: (s: S) => [...s].map(([k, v]) => ({ name: `buf/${k}`, variable: v })),
  };
}
