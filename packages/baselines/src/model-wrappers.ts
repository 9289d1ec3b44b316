/**
 * Model shapes the baselines need beyond `MultimodalModel`'s head strategies, as thin
 * `MultimodalModelLike` wrappers around an inner model (whose encoders and fusion they reuse):
 *
 * - {@link withAuxiliaryHeads} (MMPareto, the uniform multitask baseline): the inner fusion head
 *   gives `logits/fused`; each modality gets its own Dense(d_m -> C) head for `logits/<m>`
 *   (group `head/<m>`, PyTorch default init), replacing the inner weight slices.
 * - {@link ReconBoostModel} (ReconBoost): encoders + ONE shared head Dense(d -> hidden) -> ReLU ->
 *   Dense(hidden -> C) applied to every modality, and a learnable scalar beta:
 *   logits/fused = beta * sum_m head(f_m). The inner model's own head is not used or trained.
 */
import {
  checkKnownKeys,
  checkNumber,
  createRng,
  type ForwardOptions,
  type HeadLayerInfo,
  IgmArgumentError,
  type MultimodalModelLike,
  type Param,
  type Rng,
} from '@igm/core';
import { headLayerInfo } from '@igm/models';
import * as tf from '@tensorflow/tfjs-core';

let nextId = 0;

/** A Dense layer with PyTorch's default init: kernel (in, out) and bias ~ U(-1/sqrt(in), 1/sqrt(in)). */
export class TorchDense {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    readonly prefix: string,
    readonly inputDim: number,
    readonly outputDim: number,
    rng: Rng,
  ) {
    const bound = 1 / Math.sqrt(inputDim);
    const draw = (n: number) =>
      Float32Array.from({ length: n }, () => (2 * rng.uniform() - 1) * bound);
    // tf.variable shares its initial tensor's data but leaves that tensor alive: each tidy
    // disposes the initial tensor (a variable is never tracked by a scope, so it survives).
    const kernel = draw(inputDim * outputDim);
    this.kernel = tf.tidy(() =>
      tf.variable(tf.tensor2d(kernel, [inputDim, outputDim]), true, `${prefix}/kernel#${nextId++}`),
    );
    const bias = draw(outputDim);
    this.bias = tf.tidy(() => tf.variable(tf.tensor1d(bias), true, `${prefix}/bias#${nextId++}`));
  }
  get kernelKey(): string {
    return `${this.prefix}/kernel`;
  }
  get biasKey(): string {
    return `${this.prefix}/bias`;
  }
  apply(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.matMul(x as tf.Tensor2D, this.kernel as tf.Tensor2D), this.bias);
  }
  params(group: string): Param[] {
    return [
      { key: this.kernelKey, variable: this.kernel, group },
      { key: this.biasKey, variable: this.bias, group },
    ];
  }
  dispose(): void {
    this.kernel.dispose();
    this.bias.dispose();
  }
}

/** Feature size d_m of every modality of `inner` (it must report featureDim(m)). */
export function featureDims(inner: MultimodalModelLike, who: string): Record<string, number> {
  const dims: Record<string, number> = {};
  const withDim = inner as MultimodalModelLike & { featureDim?: (m: string) => number };
  for (const m of inner.modalities) {
    const d = withDim.featureDim?.(m);
    if (d === undefined) {
      throw new IgmArgumentError(
        `${who}: the inner model does not report feature sizes (featureDim(m)). Use a MultimodalModel from @igm/models.`,
      );
    }
    dims[m] = d;
  }
  return dims;
}

/** The inner model plus one Dense(d_m -> C) head per modality (MMPareto). */
export class AuxiliaryHeadsModel implements MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  private readonly heads = new Map<string, TorchDense>();
  constructor(
    readonly inner: MultimodalModelLike,
    options: { seed?: number } = {},
  ) {
    checkKnownKeys('withAuxiliaryHeads', options, ['seed']);
    const seed = checkNumber('withAuxiliaryHeads', 'seed', options.seed ?? 0, { integer: true });
    this.modalities = inner.modalities;
    this.numClasses = inner.numClasses;
    const dims = featureDims(inner, 'withAuxiliaryHeads');
    const rng = createRng(seed).fork('auxiliary-heads');
    for (const m of this.modalities) {
      this.heads.set(m, new TorchDense(`head/${m}/aux`, dims[m]!, this.numClasses, rng));
    }
  }
  params(): Param[] {
    return [...this.inner.params(), ...[...this.heads].flatMap(([m, d]) => d.params(`head/${m}`))];
  }
  nonTrainable() {
    return this.inner.nonTrainable();
  }
  forward(inputs: Readonly<Record<string, tf.Tensor>>, options: ForwardOptions) {
    const out = this.inner.forward(inputs, options);
    for (const m of options.modalities ?? this.modalities) {
      const f = out[`features/${m}`];
      if (!f) continue;
      out[`input/head/${m}/0`] = f;
      out[`logits/${m}`] = this.heads.get(m)!.apply(f);
    }
    return out;
  }
  headLayers(modality: string): HeadLayerInfo[] {
    const d = this.heads.get(modality);
    if (!d) {
      throw new IgmArgumentError(
        `withAuxiliaryHeads: unknown modality ${JSON.stringify(modality)}. Known: ${this.modalities.join(', ')}.`,
      );
    }
    return [headLayerInfo(modality, 0, d)];
  }
  dispose(): void {
    this.inner.dispose();
    for (const d of this.heads.values()) d.dispose();
  }
}

/** MMPareto's model: the inner (concat) fusion head and one auxiliary head per modality. */
export function withAuxiliaryHeads(
  inner: MultimodalModelLike,
  options: { seed?: number } = {},
): AuxiliaryHeadsModel {
  return new AuxiliaryHeadsModel(inner, options);
}

export interface ReconBoostModelOptions {
  /** Hidden width of the shared head (reference 256). */
  readonly hidden?: number;
  /** Initial beta (reference 1.0). */
  readonly beta?: number;
  readonly seed?: number;
}

/**
 * ReconBoost's ensemble: encoders of `inner`, one shared head Dense(d -> hidden) -> ReLU ->
 * Dense(hidden -> C), and F = beta * sum_m head(enc_m(x_m)) with a learnable beta.
 */
export class ReconBoostModel implements MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  readonly beta: tf.Variable;
  private readonly l1: TorchDense;
  private readonly l2: TorchDense;
  constructor(
    readonly inner: MultimodalModelLike,
    options: ReconBoostModelOptions = {},
  ) {
    const where = 'ReconBoostModel';
    checkKnownKeys(where, options, ['hidden', 'beta', 'seed']);
    const hidden = checkNumber(where, 'hidden', options.hidden ?? 256, { min: 1, integer: true });
    const beta = checkNumber(where, 'beta', options.beta ?? 1);
    const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
    this.modalities = inner.modalities;
    this.numClasses = inner.numClasses;
    const dims = featureDims(inner, where);
    const d = dims[this.modalities[0]!]!;
    if (this.modalities.some((m) => dims[m] !== d)) {
      throw new IgmArgumentError(
        `${where}: a shared head needs equal feature sizes; received ${JSON.stringify(dims)}.`,
      );
    }
    const rng = createRng(seed).fork('reconboost-head');
    this.l1 = new TorchDense('head/shared/dense_0', d, hidden, rng);
    this.l2 = new TorchDense('head/shared/dense_1', hidden, this.numClasses, rng);
    this.beta = tf.tidy(() => tf.variable(tf.scalar(beta), true, `ensemble/beta#${nextId++}`));
  }
  params(): Param[] {
    return [
      ...this.inner.params().filter((p) => p.group.startsWith('encoder/')),
      ...this.l1.params('head/shared'),
      ...this.l2.params('head/shared'),
      { key: 'ensemble/beta', variable: this.beta, group: 'ensemble' },
    ];
  }
  nonTrainable() {
    return this.inner.nonTrainable();
  }
  /** The shared head applied to features [B, d]. */
  head(f: tf.Tensor): tf.Tensor {
    return this.l2.apply(tf.relu(this.l1.apply(f)));
  }
  forward(inputs: Readonly<Record<string, tf.Tensor>>, options: ForwardOptions) {
    const inner = this.inner.forward(inputs, options);
    const out: Record<string, tf.Tensor> = {};
    const run = this.modalities.filter((m) => inner[`features/${m}`]);
    for (const m of run) {
      const f = inner[`features/${m}`]!;
      out[`features/${m}`] = f;
      out[`input/head/${m}/0`] = f;
      const h = tf.relu(this.l1.apply(f));
      out[`input/head/${m}/1`] = h;
      out[`logits/${m}`] = this.l2.apply(h);
    }
    if (run.length === this.modalities.length) {
      const fused = tf.mul(this.beta, tf.addN(run.map((m) => out[`logits/${m}`]!)));
      out['logits/fused'] = fused;
      out['probs/fused'] = tf.softmax(fused);
    }
    return out;
  }
  headLayers(modality: string): HeadLayerInfo[] {
    return [this.l1, this.l2].map((d, index) => headLayerInfo(modality, index, d));
  }
  dispose(): void {
    this.inner.dispose();
    this.l1.dispose();
    this.l2.dispose();
    this.beta.dispose();
  }
}
