/**
 * The contracts between packages: what a multimodal model exposes to trainers and transforms,
 * and what a dataset yields. `@igm/models` and `@igm/datasets` implement them; trainers,
 * transforms and baselines consume them, so users can bring their own model or data.
 *
 * Output names used across the project (the keys of `ctx.outputs`):
 * - `features/<m>`      encoder output of modality m, [B, d]
 * - `logits/<m>`        per-modality logits, [B, C] (head output, weight slice, or shared head)
 * - `input/head/<m>/<i>` input of the i-th Dense layer of modality m's head, [B, d_i]
 * - `logits/fused`      fused logits where the model has a fusion head, [B, C]
 * - `probs/fused`       fused class scores used for prediction, [B, C]
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { Param } from './types';

export type ModalityKind = 'audio' | 'image' | 'video' | 'text' | 'vector';

export interface ForwardOptions {
  /** Training mode (dropout, BatchNorm batch statistics). */
  readonly training: boolean;
  /**
   * With `training: true`: `'update'` updates BatchNorm moving statistics, `'frozen'` normalises
   * with batch statistics but leaves the moving averages alone (SAM's second pass).
   */
  readonly batchStatistics?: 'update' | 'frozen';
  /** Run only these modalities' encoders and heads (default: all). */
  readonly modalities?: readonly string[];
  /** Replace these modalities' inputs by zeros in normalised input space (AGM, Shapley). */
  readonly zeroed?: readonly string[];
}

/** One Dense layer of a modality head, as the flat projection and OWM need it. */
export interface HeadLayerInfo {
  readonly modality: string;
  /** Position among the head's Dense layers, 0-based. */
  readonly index: number;
  /** Parameter key of the kernel, (in, out) layout. */
  readonly kernelKey: string;
  readonly biasKey?: string;
  /** Name of the output holding this layer's input: `input/head/<m>/<index>`. */
  readonly inputName: string;
  readonly inputDim: number;
  readonly outputDim: number;
}

export interface MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  /** Every trainable parameter, with groups `encoder/<m>`, `head/<m>`, `head/shared`, `fusion`. */
  params(): Param[];
  /** Non-trainable variables (BatchNorm moving statistics), keyed like params, for checkpoints. */
  nonTrainable(): Array<{ key: string; variable: tf.Variable }>;
  /** Named outputs of a forward pass (see the module doc for the names). Synchronous: call in tf.tidy. */
  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: ForwardOptions,
  ): Record<string, tf.Tensor>;
  /**
   * The Dense layers applied to modality m's features: its own head's layers in order, or, for a
   * shared head (MLA), the shared layer seen from m (same kernelKey for every modality); empty
   * for concat/sum fusion heads.
   */
  headLayers(modality: string): HeadLayerInfo[];
  dispose(): void;
}

export interface MultimodalBatch {
  readonly inputs: Record<string, tf.Tensor>;
  /** Integer class labels, int32, [B]. */
  readonly labels: tf.Tensor1D;
  /** Sample identifiers, for inspection and reproducibility. */
  readonly ids: readonly string[];
}

/**
 * Disposes every tensor of a batch. Whoever iterates `MultimodalDataset.batches` owns each
 * batch and disposes it (or uses it only inside `tf.tidy`).
 */
export function disposeBatch(batch: MultimodalBatch): void {
  for (const t of Object.values(batch.inputs)) t.dispose();
  batch.labels.dispose();
}

export type Split = 'train' | 'validation' | 'test';

export interface BatchOptions {
  readonly split: Split;
  readonly batchSize: number;
  readonly shuffle?: boolean;
  readonly seed?: number;
  readonly dropLast?: boolean;
  /** Apply training-time augmentation (default: split === 'train'). */
  readonly augment?: boolean;
  /**
   * Visit these positions of the split (0-based, in its canonical order) instead of every
   * sample once: repeats allowed, visited in the given order (`shuffle` permutes the list).
   * Methods that re-sample the training set use it (SMV). A dataset that cannot read samples by
   * position must throw rather than ignore it.
   */
  readonly indices?: readonly number[] | Int32Array;
}

export interface ModalitySpec {
  readonly name: string;
  readonly kind: ModalityKind;
  /** Shape of one sample (without the batch dimension). */
  readonly shape: readonly number[];
}

/**
 * A dataset of several modalities. `batches` streams: the caller disposes each batch's tensors
 * (or wraps its use in tf.tidy); a large dataset is never held whole in memory.
 */
export interface MultimodalDataset {
  readonly name: string;
  readonly modalities: readonly ModalitySpec[];
  readonly classNames: readonly string[];
  readonly splitSizes: Readonly<Partial<Record<Split, number>>>;
  batches(options: BatchOptions): AsyncIterable<MultimodalBatch>;
}
