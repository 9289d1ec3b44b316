/**
 * `InputMomentAccumulator`: the second moment of batch-mean inputs of Dense layers, the Y of
 * IGM's flat projection (docs/algorithms/igm.md#flat-projection-matrix):
 *
 *   per layer l, per batch b:  xbar_b = mean over the batch of the layer input  ([1, d_l])
 *                              Y_l    += xbar_b^T xbar_b                        ([d_l, d_l])
 *
 * No 1/n_B factor, no centring, no regulariser (T is scale-invariant). Y is rebuilt from scratch
 * each stage: call `reset()` at a stage boundary, before the pass.
 *
 * State lives in float32 Variables (`Y/<layerKey>` and the batch count `count/<layerKey>`), so a
 * checkpoint taken mid-pass can be restored with `stateVariables()`.
 */
import { checkNumber, type HeadLayerInfo, IgmArgumentError, type NamedVariable } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { stateVariable } from './state';

/** A layer to accumulate for: its key (IGM uses the kernel key) and input dimension. */
export interface MomentLayer {
  readonly key: string;
  readonly dim: number;
}

interface Slot {
  readonly y: tf.Variable<tf.Rank.R2>;
  readonly count: tf.Variable<tf.Rank.R0>;
  readonly dim: number;
}

let instances = 0;

export class InputMomentAccumulator {
  private readonly slots = new Map<string, Slot>();
  private readonly id = instances++;
  private disposed = false;

  /**
   * @param layers layers to allocate now (needed before restoring a checkpoint); others are
   *   allocated on their first `add`. `HeadLayerInfo`s are keyed by their kernel key.
   */
  constructor(layers: readonly (MomentLayer | HeadLayerInfo)[] = []) {
    for (const l of layers) {
      if ('kernelKey' in l) this.slot(l.kernelKey, l.inputDim);
      else this.slot(l.key, l.dim);
    }
  }

  /** Keys of the layers accumulated so far (or allocated). */
  keys(): string[] {
    return [...this.slots.keys()];
  }

  /** Y_l += mean(input, 0)^T mean(input, 0) for `input` [B, d] (one row per batch). */
  add(layerKey: string, input: tf.Tensor): void {
    this.assertAlive();
    if (input.rank !== 2 || input.shape[0] === 0) {
      throw new IgmArgumentError(
        `InputMomentAccumulator.add("${layerKey}"): received an input of shape [${input.shape}]. Expected [B, d] with B >= 1 (the batch of the Dense layer's inputs).`,
      );
    }
    const d = input.shape[1]!;
    const s = this.slot(layerKey, d);
    tf.tidy(() => {
      const mean = tf.mean(tf.cast(input, 'float32'), 0); // [d]
      // Outer product by broadcasting: every entry is the single product x_i x_j (symmetric).
      const outer = tf.mul(tf.reshape(mean, [d, 1]), tf.reshape(mean, [1, d]));
      s.y.assign(tf.add(s.y, outer) as tf.Tensor2D);
      s.count.assign(tf.add(s.count, 1) as tf.Scalar);
    });
  }

  /**
   * Adds every layer's input from a forward pass's named outputs (`layer.inputName`, e.g.
   * `input/head/audio/0`), keyed by `layer.kernelKey`.
   */
  addOutputs(
    layers: readonly HeadLayerInfo[],
    outputs: Readonly<Record<string, tf.Tensor | undefined>>,
  ): void {
    for (const layer of layers) {
      const x = outputs[layer.inputName];
      if (!x) {
        throw new IgmArgumentError(
          `InputMomentAccumulator.addOutputs: the forward outputs have no "${layer.inputName}" (input of ${layer.kernelKey}). Available: ${Object.keys(outputs).join(', ') || '(none)'}. Run the model with training: false over the previous modality's head.`,
        );
      }
      this.add(layer.kernelKey, x);
    }
  }

  /**
   * The live Y of a layer ([d, d], float32). It is the state Variable itself: read it, do not
   * dispose it; clone it to keep a copy past `reset()`.
   */
  get(layerKey: string): tf.Tensor2D {
    return this.require(layerKey).y;
  }

  /** Number of batches accumulated for a layer (reads one scalar back). */
  count(layerKey: string): number {
    return this.require(layerKey).count.dataSync()[0]!;
  }

  /** Input dimension of a layer. */
  dim(layerKey: string): number {
    return this.require(layerKey).dim;
  }

  /** Zeroes every Y and count (the Variables stay, so checkpoints keep their names). */
  reset(): void {
    this.assertAlive();
    tf.tidy(() => {
      for (const s of this.slots.values()) {
        s.y.assign(tf.zeros([s.dim, s.dim]));
        s.count.assign(tf.scalar(0));
      }
    });
  }

  /** Named Variables for checkpoints: `Y/<key>` and `count/<key>`. */
  stateVariables(): NamedVariable[] {
    return [...this.slots].flatMap(([key, s]) => [
      { name: `Y/${key}`, variable: s.y },
      { name: `count/${key}`, variable: s.count },
    ]);
  }

  dispose(): void {
    for (const s of this.slots.values()) {
      s.y.dispose();
      s.count.dispose();
    }
    this.slots.clear();
    this.disposed = true;
  }

  private slot(key: string, dim: number): Slot {
    this.assertAlive();
    checkNumber('InputMomentAccumulator', `dim of "${key}"`, dim, { min: 1, integer: true });
    const existing = this.slots.get(key);
    if (existing) {
      if (existing.dim !== dim) {
        throw new IgmArgumentError(
          `InputMomentAccumulator: layer "${key}" has inputs of dimension ${existing.dim}, but received dimension ${dim}. Use one key per layer.`,
        );
      }
      return existing;
    }
    const owner = `inputMoments${this.id}`;
    const s: Slot = {
      y: stateVariable(owner, `${key}/Y`, tf.zeros([dim, dim]) as tf.Tensor2D),
      count: stateVariable(owner, `${key}/count`, tf.scalar(0)),
      dim,
    };
    this.slots.set(key, s);
    return s;
  }

  private require(key: string): Slot {
    this.assertAlive();
    const s = this.slots.get(key);
    if (!s) {
      throw new IgmArgumentError(
        `InputMomentAccumulator: no layer "${key}". Known layers: ${this.keys().join(', ') || '(none yet; call add first)'}.`,
      );
    }
    return s;
  }

  private assertAlive(): void {
    if (this.disposed) {
      throw new IgmArgumentError('InputMomentAccumulator: used after dispose().');
    }
  }
}
