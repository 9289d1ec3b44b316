/**
 * PMR: Prototypical Modal Rebalance (Fan et al., CVPR 2023; docs/algorithms/pmr.md), as the
 * released `main_Prototype_grad.py` does it: a {@link PmrPrototypes} callback that keeps per-class
 * prototypes of each modality's features, and a {@link pmrLoss} term that adds a prototype
 * cross-entropy for the weaker modality.
 *
 * Prototypes (before epoch 0 and after every epoch; inference mode, no gradient):
 *   first floor(n_B / 10) batches of the shuffled, augmented TRAIN loader (at least 1 [project])
 *   P_new[m][c] = mean of features/<m> of class c        (an empty class keeps P_old[c] [project])
 *   after epoch e >= 1:  P = (1 - mu) P_new + mu P_old  (before epoch 0 and after epoch 0: P = P_new)
 *
 * Step (prototypes constant):
 *   d_m[i, c] = ||f_m,i - P_m[c]||_2          computed as sqrt(max(|f|^2 + |P|^2 - 2 f.P, 0) + eps_d)
 *   PCE_m = CE(-d_m, y);  s_m = sum_i softmax(-d_m)_i[y_i]     (no temperature)
 *   two modalities (a, v):  rho = s_a / s_v;  rho > 1: + alpha PCE_v;  rho < 1: + alpha PCE_a;  tie: nothing
 *   M >= 3 [project]: + alpha PCE_m for every m with s_m < mean_{k != m} s_k (the 2-modality rule
 *   restated; the paper's entropy regulariser for the dominant modality is absent from the code)
 *   outside the epoch window: no prototype term
 *
 * The prototype loss reaches only the weaker encoder; the main CE (the joint step's) reaches
 * everything. Logs `pmr/ratio` (s_first / s_second; M = 2), `pmr/score/<m>`, `pmr/weak/<m>`
 * (1 when m gets the term) and `pmr/pce/<m>`.
 */
import {
  type Callback,
  checkKnownKeys,
  checkNumber,
  IgmArgumentError,
  type LossTerm,
  type MultimodalDataset,
  type MultimodalModelLike,
  type NamedVariable,
  requireOutput,
} from '@igm/core';
import { crossEntropy, oneHotTargets } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { checkWindow, type EpochWindow, inWindow, trueClassProbs } from './common';

/** Euclidean distances [B, C] between rows of `features` [B, d] and `prototypes` [C, d]. */
export function prototypeDistances(
  features: tf.Tensor,
  prototypes: tf.Tensor,
  eps = 1e-8,
): tf.Tensor2D {
  return tf.tidy(() => {
    const f2 = tf.sum(tf.square(features), 1, true); // [B, 1]
    const p2 = tf.reshape(tf.sum(tf.square(prototypes), 1), [1, -1]); // [1, C]
    const cross = tf.matMul(features as tf.Tensor2D, prototypes as tf.Tensor2D, false, true);
    const sq = tf.relu(tf.sub(tf.add(f2, p2), tf.mul(cross, 2)));
    return tf.sqrt(tf.add(sq, eps)) as tf.Tensor2D;
  });
}

/** Prototype-classifier logits -d (PMR's evaluation reports argmax softmax(-d) as well). */
export function prototypeLogits(features: tf.Tensor, prototypes: tf.Tensor): tf.Tensor2D {
  return tf.neg(prototypeDistances(features, prototypes)) as tf.Tensor2D;
}

/**
 * Per-class means of `features` [N, d] with integer `labels` [N]; a class without samples keeps
 * its row of `previous` [C, d]. Returns [C, d].
 */
export function classMeans(
  features: tf.Tensor,
  labels: tf.Tensor,
  previous: tf.Tensor,
): tf.Tensor2D {
  return tf.tidy(() => {
    const C = previous.shape[0]!;
    const y = oneHotTargets(labels, C); // [N, C]
    const sums = tf.matMul(y, features as tf.Tensor2D, true, false); // [C, d]
    const counts = tf.reshape(tf.sum(y, 0), [C, 1]);
    const means = tf.div(sums, tf.maximum(counts, 1));
    return tf.where(tf.greater(counts, 0), means, previous) as tf.Tensor2D;
  });
}

export interface PmrPrototypesOptions {
  readonly model: MultimodalModelLike;
  readonly dataset: MultimodalDataset;
  /** Training batch size (the prototype pass uses the training loader). */
  readonly batchSize: number;
  /** Momentum mu (argparse default 0.2; CREMA-D bash.sh 0.0). */
  readonly momentum?: number;
  /** Fraction of the training batches used (reference: floor(n_B / 10)). Default 0.1. */
  readonly fraction?: number;
  /** Seed of the prototype passes' shuffles. Default 0. */
  readonly seed?: number;
  /** Modalities (default: the model's). */
  readonly modalities?: readonly string[];
}

/** Per-class prototypes of each modality, recomputed as the module doc says (a Callback). */
export class PmrPrototypes implements Callback {
  readonly name = 'pmr-prototypes';
  readonly modalities: readonly string[];
  private readonly vars = new Map<string, tf.Variable>();
  private readonly momentum: number;
  private readonly fraction: number;
  private readonly seed: number;
  /** Number of prototype passes done (0 = never). */
  passes = 0;
  constructor(private readonly options: PmrPrototypesOptions) {
    const where = 'PmrPrototypes';
    checkKnownKeys(where, options, [
      'model',
      'dataset',
      'batchSize',
      'momentum',
      'fraction',
      'seed',
      'modalities',
    ]);
    checkNumber(where, 'batchSize', options.batchSize, { min: 1, integer: true });
    this.momentum = checkNumber(where, 'momentum', options.momentum ?? 0.2, { min: 0, max: 1 });
    this.fraction = checkNumber(where, 'fraction', options.fraction ?? 0.1, {
      min: 0,
      max: 1,
      minExclusive: true,
    });
    this.seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
    this.modalities = options.modalities ?? options.model.modalities;
    const C = options.model.numClasses;
    const withDim = options.model as MultimodalModelLike & { featureDim?: (m: string) => number };
    for (const m of this.modalities) {
      const d = withDim.featureDim?.(m);
      if (d === undefined) {
        throw new IgmArgumentError(
          `${where}: cannot read the feature size of modality "${m}" (the model needs featureDim(m)).`,
        );
      }
      this.vars.set(
        m,
        tf.tidy(() =>
          tf.variable(
            tf.zeros([C, d]),
            false,
            `pmr/prototypes/${m}#${Math.random().toString(36).slice(2)}`,
          ),
        ),
      );
    }
  }

  /** The current prototypes [C, d] of modality m. */
  prototypes(m: string): tf.Variable {
    const v = this.vars.get(m);
    if (!v) {
      throw new IgmArgumentError(
        `PmrPrototypes: no prototypes for modality "${m}". Known: ${this.modalities.join(', ')}.`,
      );
    }
    return v;
  }

  /**
   * One prototype pass. `epoch` is the epoch just finished (-1 before training): momentum
   * applies when epoch >= 1.
   */
  async recompute(epoch: number): Promise<void> {
    const { model, dataset, batchSize } = this.options;
    const nB = Math.floor((dataset.splitSizes.train ?? 0) / batchSize);
    const take = Math.max(1, Math.floor(nB * this.fraction));
    const feats = new Map<string, tf.Tensor[]>(this.modalities.map((m) => [m, []]));
    const labels: tf.Tensor[] = [];
    let i = 0;
    // Only the first `take` batches of the pass are used: stop reading there (the batches after
    // them would be read and thrown away).
    for await (const batch of dataset.batches({
      split: 'train',
      batchSize,
      shuffle: true,
      seed: (this.seed * 7919 + epoch + 1) >>> 0,
      dropLast: true,
      augment: true,
    })) {
      try {
        const out = tf.tidy(() => {
          const o = model.forward(batch.inputs, { training: false, modalities: this.modalities });
          return this.modalities.map((m) => tf.keep(o[`features/${m}`]!));
        });
        this.modalities.forEach((m, k) => {
          feats.get(m)!.push(out[k]!);
        });
        labels.push(tf.clone(batch.labels));
      } finally {
        tf.dispose([...Object.values(batch.inputs), batch.labels]);
      }
      if (++i >= take) break;
    }
    tf.tidy(() => {
      const y = tf.concat(labels);
      for (const m of this.modalities) {
        const v = this.vars.get(m)!;
        const fresh = classMeans(tf.concat(feats.get(m)!), y, v);
        v.assign(
          epoch >= 1 ? tf.add(tf.mul(fresh, 1 - this.momentum), tf.mul(v, this.momentum)) : fresh,
        );
      }
    });
    tf.dispose([...labels, ...[...feats.values()].flat()]);
    this.passes++;
  }

  async onTrainBegin(logs?: Record<string, number>): Promise<void> {
    if (logs?.['resumed']) return; // restored from the checkpoint with the other state
    await this.recompute(-1);
  }

  async onEpochEnd(epoch: number): Promise<void> {
    await this.recompute(epoch);
  }

  getState(): unknown {
    return { passes: this.passes };
  }

  setState(state: unknown): void {
    this.passes = (state as { passes: number }).passes;
  }

  stateVariables(): NamedVariable[] {
    return [...this.vars].map(([m, variable]) => ({ name: m, variable }));
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
  }
}

export interface PmrLossOptions {
  /** Prototypes per modality: a {@link PmrPrototypes} or a function m -> [C, d] tensor. */
  readonly prototypes: PmrPrototypes | ((m: string) => tf.Tensor);
  /** Weight of the prototype CE (argparse 1.0; CREMA-D bash.sh 2.0). */
  readonly alpha: number;
  /** Epoch window, 0-based inclusive (CREMA-D bash.sh 0-70). Default: whole run. */
  readonly window?: EpochWindow;
  /** Modalities in order (default: the prototypes' or the step's `features/*` outputs). */
  readonly modalities?: readonly string[];
}

/** The decision of one PMR step from the prototype scores. */
export function pmrWeakModalities(
  modalities: readonly string[],
  scores: Readonly<Record<string, number>>,
): string[] {
  if (modalities.length === 2) {
    const [a, v] = modalities as [string, string];
    const rho = scores[a]! / scores[v]!;
    return rho > 1 ? [v] : rho < 1 ? [a] : [];
  }
  const total = modalities.reduce((s, m) => s + scores[m]!, 0);
  return modalities.filter((m) => scores[m]! < (total - scores[m]!) / (modalities.length - 1));
}

/** PMR's prototype cross-entropy for the weaker modality (module doc), as a LossTerm. */
export function pmrLoss(options: PmrLossOptions): LossTerm {
  const where = 'pmrLoss';
  checkKnownKeys(where, options, ['prototypes', 'alpha', 'window', 'modalities']);
  const alpha = checkNumber(where, 'alpha', options.alpha, { min: 0 });
  const window = checkWindow(where, options.window);
  const source = options.prototypes;
  const protoOf = source instanceof PmrPrototypes ? (m: string) => source.prototypes(m) : source;
  if (typeof protoOf !== 'function') {
    throw new IgmArgumentError(
      `${where}: received prototypes=${String(source)}. Pass a PmrPrototypes callback or a function m -> [C, d] tensor.`,
    );
  }
  const fixed =
    options.modalities ?? (source instanceof PmrPrototypes ? source.modalities : undefined);
  return {
    name: 'pmr',
    compute(outputs, labels, ctx) {
      const mods =
        fixed ??
        Object.keys(outputs)
          .filter((k) => k.startsWith('features/'))
          .map((k) => k.slice(9));
      if (mods.length < 2) {
        throw new IgmArgumentError(
          `${where}: found ${mods.length} modality feature output(s); PMR compares at least 2.`,
        );
      }
      const pce: Record<string, tf.Scalar> = {};
      const scores: Record<string, number> = {};
      for (const m of mods) {
        const logits = tf.neg(
          prototypeDistances(requireOutput(ctx, `features/${m}`, where), protoOf(m)),
        );
        pce[m] = crossEntropy(logits, labels);
        scores[m] = tf.tidy(() => tf.sum(trueClassProbs(logits, labels)).dataSync()[0]!);
      }
      const active = inWindow(window, ctx.epoch);
      const weak = active ? pmrWeakModalities(mods, scores) : [];
      if (mods.length === 2) ctx.log('pmr/ratio', scores[mods[0]!]! / scores[mods[1]!]!);
      for (const m of mods) {
        ctx.log(`pmr/score/${m}`, scores[m]!);
        ctx.log(`pmr/weak/${m}`, weak.includes(m) ? 1 : 0);
        ctx.log(`pmr/pce/${m}`, pce[m]!);
      }
      if (weak.length === 0) return tf.scalar(0);
      return tf.mul(tf.addN(weak.map((m) => pce[m]!)), alpha) as tf.Scalar;
    },
  };
}
