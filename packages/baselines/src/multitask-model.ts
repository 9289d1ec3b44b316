/**
 * The multitask model of OGR-GB (paper form) and MSES: one encoder phi_m and one unimodal head
 * h_m = Dense(d_m -> C) per modality, plus a multimodal head h_mm = Dense(sum_m d_m -> C) on the
 * concatenation of the features:
 *
 *   logits/<m>    = h_m(phi_m(x_m))                     (group head/<m>)
 *   logits/fused  = h_mm([phi_1(x_1); ...; phi_M(x_M)])  (group fusion, key fusion/dense_0/*)
 *
 * The encoders and the unimodal heads are those of an inner `MultimodalModel` with per-modality
 * heads and no hidden layers; h_mm is added here with PyTorch's default Linear initialisation.
 *
 * {@link MultitaskModel.setInferenceModalities} makes chosen encoders run in inference mode even
 * in training passes (BatchNorm with its moving statistics, which stay unchanged): MSES uses it for
 * the encoders of stopped modalities.
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
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { TorchDense } from './model-wrappers';

export interface MultitaskModelOptions {
  /** Seed of h_mm's initialisation. Default 0. */
  readonly seed?: number;
}

export class MultitaskModel implements MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  private readonly fusion: TorchDense;
  private inference = new Set<string>();

  constructor(
    readonly inner: MultimodalModelLike,
    options: MultitaskModelOptions = {},
  ) {
    const where = 'MultitaskModel';
    checkKnownKeys(where, options, ['seed']);
    const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
    this.modalities = inner.modalities;
    this.numClasses = inner.numClasses;
    const withDim = inner as MultimodalModelLike & { featureDim?: (m: string) => number };
    let total = 0;
    for (const m of this.modalities) {
      const d = withDim.featureDim?.(m);
      if (d === undefined) {
        throw new IgmArgumentError(
          `${where}: the inner model does not report feature sizes (featureDim(m)). Use a MultimodalModel from @igm/models.`,
        );
      }
      if (inner.headLayers(m).length !== 1) {
        throw new IgmArgumentError(
          `${where}: modality "${m}" needs one Dense head (per-modality head without hidden layers); it has ${inner.headLayers(m).length} layers.`,
        );
      }
      total += d;
    }
    this.fusion = new TorchDense(
      'fusion/dense_0',
      total,
      this.numClasses,
      createRng(seed).fork('multitask-fusion'),
    );
  }

  /** Feature size d_m of modality m. */
  featureDim(modality: string): number {
    return (this.inner as MultimodalModelLike & { featureDim(m: string): number }).featureDim(
      modality,
    );
  }

  /** Encoders of these modalities run in inference mode in every pass (empty: none). */
  setInferenceModalities(modalities: Iterable<string>): void {
    const list = [...modalities];
    for (const m of list) {
      if (!this.modalities.includes(m)) {
        throw new IgmArgumentError(
          `MultitaskModel.setInferenceModalities: unknown modality "${m}". Known: ${this.modalities.join(', ')}.`,
        );
      }
    }
    this.inference = new Set(list);
  }

  get inferenceModalities(): readonly string[] {
    return [...this.inference];
  }

  params(): Param[] {
    return [...this.inner.params(), ...this.fusion.params('fusion')];
  }

  nonTrainable() {
    return this.inner.nonTrainable();
  }

  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: ForwardOptions,
  ): Record<string, tf.Tensor> {
    const run = options.modalities ?? this.modalities;
    const zeroed = options.zeroed ?? [];
    const fixed = options.training ? run.filter((m) => this.inference.has(m)) : [];
    const trained = run.filter((m) => !fixed.includes(m));
    const part = (mods: readonly string[], training: boolean) =>
      mods.length === 0
        ? {}
        : this.inner.forward(inputs, {
            ...options,
            training,
            modalities: mods,
            zeroed: zeroed.filter((m) => mods.includes(m)),
          });
    const out: Record<string, tf.Tensor> = {
      ...part(trained, options.training),
      ...part(fixed, false),
    };
    delete out['logits/fused'];
    delete out['probs/fused'];
    if (this.modalities.every((m) => run.includes(m))) {
      const features = this.modalities.map((m) => out[`features/${m}`]!);
      const fused = this.fusion.apply(tf.concat(features, 1));
      out['logits/fused'] = fused;
      out['probs/fused'] = tf.softmax(fused);
    }
    return out;
  }

  headLayers(modality: string): HeadLayerInfo[] {
    return this.inner.headLayers(modality);
  }

  dispose(): void {
    this.inner.dispose();
    this.fusion.dispose();
  }
}
