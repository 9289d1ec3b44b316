/**
 * Head strategies and fusion rules of {@link MultimodalModel} (docs/architecture.md#models; the
 * references' heads: docs/algorithms/igm.md#architecture, docs/algorithms/mla.md#alternating-loop,
 * docs/algorithms/mla.md#test-time-fusion, docs/algorithms/ogm-ge.md#model,
 * docs/algorithms/agm.md#forward-wrapper, docs/algorithms/joint-unimodal.md#baselines). Heads
 * are plain variables (kernel (in, out), bias (out)) so their initialisation follows PyTorch
 * exactly and their keys are stable.
 */

import type { HeadLayerInfo, Rng } from '@igm/core';
import {
  biasActivation,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  IgmArgumentError,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { pytorchDefaultBound, uniformValues, xavierNormal } from './init';

/** One Dense layer of a per-modality head: `y = act(x K + b)`. */
export interface DenseSpec {
  readonly units: number;
  /** Default `'linear'` (no activation). */
  readonly activation?: 'relu' | 'linear';
}

/**
 * Head initialisation: `'pytorch'` = `nn.Linear` default, kernel and bias U(-1/sqrt(in),
 * 1/sqrt(in)) (IGM, MMPareto, ReconBoost); `'xavier'` = Xavier-normal kernel, zero bias (OGM-GE,
 * PMR, MLA `weight_init`).
 */
export type HeadInit = 'pytorch' | 'xavier';

/**
 * How per-modality logits (and fused logits) are produced from the features.
 *
 * - `per-modality` (IGM): modality m has its own MLP `hidden_m` followed by Dense(-> C).
 *   Default hidden layers: {@link igmHiddenLayers}() = Dense(256) -> ReLU -> Dense(64), i.e. the
 *   head Dense(d->256) -> ReLU -> Dense(256->64) -> Dense(64->C). Default init `'pytorch'`.
 * - `shared` (MLA `fc_out`): one Dense(d->C) applied to every modality's features (all d equal).
 *   Default init `'xavier'`.
 * - `concat` (OGM-GE, PMR, AGM default): logits/fused = [f_1; ...; f_M] W + b. Per-modality logits
 *   are weight slices: logits/m = f_m W[rows of m] + b/M (the references' `b/2`).
 *   Default init `'xavier'`.
 * - `sum` (OGM-GE `SumFusion`, AGM "Normal"): Dense_m(d_m->C) per modality, logits/fused =
 *   sum_m (f_m W_m + b_m). Per-modality logits f_m W_m + b_m in training, f_m W_m + b_m/M in
 *   inference (the reference's `valid()` uses b/2 with two modalities). Default init `'xavier'`.
 */
export type HeadSpec =
  | {
      readonly type: 'per-modality';
      /** Hidden layers before the final Dense(-> C): one list for all modalities or one per modality. */
      readonly hidden?: readonly DenseSpec[] | Readonly<Record<string, readonly DenseSpec[]>>;
      readonly init?: HeadInit;
    }
  | { readonly type: 'shared'; readonly init?: HeadInit }
  | { readonly type: 'concat'; readonly init?: HeadInit }
  | { readonly type: 'sum'; readonly init?: HeadInit };

export type HeadType = HeadSpec['type'];
export const HEAD_TYPES: readonly HeadType[] = ['per-modality', 'shared', 'concat', 'sum'];

/**
 * IGM's hidden head layers (docs/algorithms/igm.md#architecture): Dense(256) -> ReLU ->
 * Dense(64), no activation after the 64-d layer. `inputProjection: 768` prepends the text-image
 * image head's Dense(1000->768) (no activation).
 */
export function igmHiddenLayers(options: { inputProjection?: number } = {}): DenseSpec[] {
  checkKnownKeys('igmHiddenLayers', options, ['inputProjection']);
  const layers: DenseSpec[] = [];
  if (options.inputProjection !== undefined) {
    layers.push({
      units: checkNumber('igmHiddenLayers', 'inputProjection', options.inputProjection, {
        min: 1,
        integer: true,
      }),
    });
  }
  layers.push({ units: 256, activation: 'relu' }, { units: 64 });
  return layers;
}

/**
 * How `probs/fused` (and `logits/fused`) are formed (docs/algorithms/igm.md#architecture,
 * docs/algorithms/mla.md#test-time-fusion):
 * - `mean-softmax` (IGM): probs/fused = (1/M) sum_m softmax(logits/m). No logits/fused.
 * - `sum-log-softmax` (product of experts): logits/fused = sum_m log softmax(logits/m),
 *   probs/fused = softmax(logits/fused) = prod_m p_m / sum_c prod_m p_m. Unlike the mean of
 *   softmaxes, a modality's say grows with its confidence: an under-confident (flat) modality
 *   does not dilute a confident one, and a confident one is not outvoted by a mean. Not used by
 *   any reference: an option for late-fusion methods.
 * - `fixed` (MLA): logits/fused = sum_m w_m logits/m (MLA: audio 0.55, visual 0.45; three
 *   modalities 0.35/0.25/0.4); probs/fused = softmax(logits/fused).
 * - `entropy` (MLA dynamic): w_m = softmax_m(-H_m), logits/fused = sum_m w_m logits/m.
 *   `axis: 'sample'` (paper, default): H_m(i) = -sum_c p log p with p = softmax over classes, one
 *   weight per sample. `axis: 'batch'` (released code): p = softmax over the *batch* axis and
 *   H_m summed over batch x classes, one weight per modality per batch (depends on batch size).
 *   The weights are not detached (as written in the reference).
 * - `head` (concat/sum fusion heads): logits/fused is the fusion head's output; probs/fused =
 *   softmax(logits/fused).
 */
export type FusionRule =
  | { readonly type: 'mean-softmax' }
  | { readonly type: 'sum-log-softmax' }
  | {
      readonly type: 'fixed';
      /** Per-modality weights: a record, or an array in modality order. */
      readonly weights: Readonly<Record<string, number>> | readonly number[];
    }
  | { readonly type: 'entropy'; readonly axis?: 'sample' | 'batch' }
  | { readonly type: 'head' };

export const FUSION_TYPES: readonly FusionRule['type'][] = [
  'mean-softmax',
  'sum-log-softmax',
  'fixed',
  'entropy',
  'head',
];

/** What {@link headLayerInfo} reads from a Dense layer: its parameter keys and sizes. */
export interface DenseLayerKeys {
  readonly kernelKey: string;
  readonly biasKey: string;
  readonly inputDim: number;
  readonly outputDim: number;
}

/**
 * The `HeadLayerInfo` of Dense layer `index` of `modality`'s head, whose input the model must
 * output as `input/head/<modality>/<index>` (what IGM's and MLA's projections read).
 */
export function headLayerInfo(
  modality: string,
  index: number,
  layer: DenseLayerKeys,
): HeadLayerInfo {
  return {
    modality,
    index,
    kernelKey: layer.kernelKey,
    biasKey: layer.biasKey,
    inputName: `input/head/${modality}/${index}`,
    inputDim: layer.inputDim,
    outputDim: layer.outputDim,
  };
}

/** A Dense layer held as two variables, kernel (in, out) and bias (out). */
export class DenseVariables {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly keyPrefix: string,
    readonly inputDim: number,
    readonly outputDim: number,
    readonly activation: 'relu' | 'linear',
    init: HeadInit,
    rng: Rng,
  ) {
    const shape = [inputDim, outputDim];
    const bound = pytorchDefaultBound(shape);
    const k = init === 'pytorch' ? uniformValues(rng, shape, bound) : xavierNormal(rng, shape);
    const b =
      init === 'pytorch' ? uniformValues(rng, [outputDim], bound) : new Float32Array(outputDim);
    // tf.variable shares the initial tensor's data and leaves the tensor itself alive: the tidy
    // disposes the two initial tensors (the variables, never tracked by a scope, survive it).
    this.kernel = tf.tidy(() => tf.variable(tf.tensor2d(k, [inputDim, outputDim]), true));
    this.bias = tf.tidy(() => tf.variable(tf.tensor1d(b), true));
  }

  get kernelKey(): string {
    return `${this.keyPrefix}/kernel`;
  }

  get biasKey(): string {
    return `${this.keyPrefix}/bias`;
  }

  /**
   * act(x K + b): the product by `tf.matMul`, the bias and activation by @igm/core's
   * `biasActivation` (fused kernels where the backend has them; bit for bit `tf.add` + `tf.relu`).
   */
  apply(x: tf.Tensor): tf.Tensor {
    const z = tf.matMul(x as tf.Tensor2D, this.kernel as tf.Tensor2D);
    return biasActivation(z, this.bias, this.activation);
  }

  dispose(): void {
    this.kernel.dispose();
    this.bias.dispose();
  }
}

export function checkDenseSpecs(where: string, specs: unknown): DenseSpec[] {
  if (!Array.isArray(specs)) {
    throw new IgmArgumentError(
      `${where}: received ${JSON.stringify(specs)}. Expected a list of { units, activation? }, e.g. igmHiddenLayers().`,
    );
  }
  return specs.map((s, i) => {
    checkKnownKeys(`${where}[${i}]`, s, ['units', 'activation']);
    return {
      units: checkNumber(where, `[${i}].units`, s?.units, { min: 1, integer: true }),
      activation: checkChoice<'relu' | 'linear'>(
        where,
        `[${i}].activation`,
        s?.activation ?? 'linear',
        ['relu', 'linear'],
      ),
    };
  });
}

/** sum_m log softmax(l_m): the log of the (unnormalised) product of experts. */
export function sumLogSoftmax(logits: readonly tf.Tensor[]): tf.Tensor {
  return tf.addN(logits.map((l) => tf.logSoftmax(l as tf.Tensor2D)));
}

/** (1/M) sum_m softmax(l_m). */
export function meanSoftmax(logits: readonly tf.Tensor[]): tf.Tensor {
  const probs = logits.map((l) => tf.softmax(l));
  return tf.div(tf.addN(probs), logits.length);
}

/** sum_m w_m l_m with scalar weights. */
export function weightedLogits(
  logits: readonly tf.Tensor[],
  weights: readonly number[],
): tf.Tensor {
  return tf.addN(logits.map((l, i) => tf.mul(l, weights[i]!)));
}

/** Entropy-weighted logits (MLA). `axis: 'sample'` gives [B, M] weights, `'batch'` gives [M]. */
export function entropyWeightedLogits(
  logits: readonly tf.Tensor[],
  axis: 'sample' | 'batch',
): { fused: tf.Tensor; weights: tf.Tensor } {
  if (axis === 'sample') {
    // H_m(i) = -sum_c p log p, p = softmax over classes; logSoftmax avoids log(0).
    const negH = logits.map((l) => tf.sum(tf.mul(tf.softmax(l), tf.logSoftmax(l)), 1)); // [B]
    const w = tf.softmax(tf.stack(negH, 1)); // [B, M]: exp(Hmax - H_m) / sum_k exp(Hmax - H_k)
    const parts = logits.map((l, m) =>
      tf.mul(l, tf.reshape(tf.slice(w, [0, m], [-1, 1]), [-1, 1])),
    );
    return { fused: tf.addN(parts), weights: w };
  }
  // Released code: softmax over dim 0 (the batch), entropy summed over batch x classes.
  const negH = logits.map((l) => {
    const t = tf.transpose(l); // softmax over the batch = softmax of the transposed rows
    return tf.sum(tf.mul(tf.softmax(t), tf.logSoftmax(t)));
  });
  const w = tf.softmax(tf.stack(negH)); // [M]
  const parts = logits.map((l, m) => tf.mul(l, tf.reshape(tf.slice(w, [m], [1]), [])));
  return { fused: tf.addN(parts), weights: w };
}
