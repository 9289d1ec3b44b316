/**
 * SMV: Sample-level Modality Valuation (Wei, Feng, Wang, Hu, CVPR 2024), as the authors'
 * `sample_level.py` and `modality_level.py` do it: a per-sample Shapley valuation of each
 * modality, then re-sampling that adds copies of the samples in which only a low-contributing
 * modality is kept. Training itself is joint cross-entropy on a concat fusion head.
 *
 * Model ({@link SmvModel}, around a concat-fusion model): logits(x, S) = sum_{m in S} f_m W_m + b,
 * i.e. the features of absent modalities are zeroed before the fusion layer (full bias kept).
 * `logits/<m>` = f_m W_m + b. In training a copy keeping modality k zeroes the other modalities'
 * features of that sample (their encoders get no gradient from it; BatchNorm still sees them).
 *
 * Valuation ({@link SmvResampler}, at the start of every epoch e >= 1, i.e. after epoch e - 1):
 *   the whole training split in its canonical order, inference mode, training augmentation
 *   (valuationView 'train', as the reference) or none ('deterministic')
 *   v_i(S) = |S| * 1[argmax logits(x_i, S) = y_i],  v_i(empty) = 0
 *   phi_m,i = sum_{S without m} |S|! (M - |S| - 1)! / M! (v_i(S + m) - v_i(S))     Shapley value
 *   (two modalities: phi_a = (v(a) + v(av) - v(v)) / 2, in {-0.5, 0, 0.5, 1, 1.5})
 *
 * Sample level (variant 'sample'), epochs e >= warmup: the epoch visits the N originals plus, for
 * every sample i and modality m, c(phi_m,i) copies of i keeping only m:
 *   c(phi) = 1 if 0.4 < phi < 1;  2 if -0.1 < phi < 0.4;  3 if phi < -0.1;  0 otherwise
 * Modality level (variant 'modality'): Z = floor(N * partRatio) positions drawn with replacement,
 *   phibar_m = mean of phi_m over Z, gap_m = 1 - phibar_m, r = (max_m gap_m - min_m gap_m) 2/3 alpha,
 *   K = floor(r N) positions drawn with replacement, each a copy keeping only the modality with the
 *   largest gap (ties: the later modality, as the two-modality reference). Two modalities: the
 *   reference's |gap_a - gap_v| 2/3 alpha.
 * The list is shuffled with a seed derived from the run seed and the epoch; epochs before
 * `warmup` visit the usual shuffled split. The run's `dropLast` applies to the list too (the
 * reference keeps a last partial batch). The epoch's copy counts are the resampler's state
 * (saved in checkpoints), so a run resumed mid-epoch visits the same list.
 *
 * Logs per epoch: `smv/value/<m>` (mean phi_m over the training split, from the valuation that
 * built the epoch), `smv/copies/<m>` (copies keeping m in the epoch) and, modality level,
 * `smv/ratio` (r).
 */
import {
  type Callback,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  disposeBatch,
  type ForwardOptions,
  type HeadLayerInfo,
  IgmArgumentError,
  type LossFn,
  type MultimodalDataset,
  type MultimodalModelLike,
  type Param,
} from '@igm/core';
import { crossEntropy, type EpochSamplesContext, epochSeed, type TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import type { MethodBudget, OptionsReader } from './budget';
import { checkModalityCount } from './common';
import { featureDims } from './model-wrappers';
import { singleRunBudgetWith } from './scaled-budget';

/** Forward options of {@link SmvModel}: per-sample 0/1 masks of the modality features. */
export interface SmvForwardOptions extends ForwardOptions {
  /** [B, M] in modality order: 1 keeps the sample's features of that modality, 0 zeroes them. */
  readonly featureMask?: tf.Tensor;
}

/** SMV's model: a concat fusion head that can zero features per sample (module doc). */
export class SmvModel implements MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  private readonly kernel: tf.Variable;
  private readonly bias: tf.Variable;
  private readonly rows: Array<[number, number]>;
  constructor(readonly inner: MultimodalModelLike) {
    const where = 'SmvModel';
    checkModalityCount(where, inner.modalities, { min: 2 });
    this.modalities = inner.modalities;
    this.numClasses = inner.numClasses;
    const fusion = inner.params().filter((p) => p.group === 'fusion');
    const kernels = fusion.filter((p) => p.variable.rank === 2);
    const biases = fusion.filter((p) => p.variable.rank === 1);
    if (kernels.length !== 1 || biases.length !== 1) {
      const groups = [...new Set(inner.params().map((p) => p.group))];
      throw new IgmArgumentError(
        `${where}: expected one concat fusion layer (group "fusion": one kernel and one bias); found ${kernels.length} kernel(s) and ${biases.length} bias(es). The model's parameter groups: ${groups.join(', ')}. Build it with head: { type: 'concat' }.`,
      );
    }
    this.kernel = kernels[0]!.variable;
    this.bias = biases[0]!.variable;
    const dims = featureDims(inner, where);
    let row = 0;
    this.rows = this.modalities.map((m) => {
      const r: [number, number] = [row, dims[m]!];
      row += dims[m]!;
      return r;
    });
    if (row !== this.kernel.shape[0]) {
      throw new IgmArgumentError(
        `${where}: the fusion kernel has ${this.kernel.shape[0]} input rows but the features add up to ${row}.`,
      );
    }
  }
  params(): Param[] {
    return this.inner.params();
  }
  nonTrainable() {
    return this.inner.nonTrainable();
  }
  featureDim(m: string): number | undefined {
    return (this.inner as { featureDim?: (m: string) => number }).featureDim?.(m);
  }
  /** f_m W_m (no bias) for modality index k. */
  private part(features: tf.Tensor, k: number): tf.Tensor {
    const [row, d] = this.rows[k]!;
    return tf.matMul(
      features as tf.Tensor2D,
      tf.slice(this.kernel, [row, 0], [d, -1]) as tf.Tensor2D,
    );
  }
  /**
   * logits(x, S) for every non-empty subset S (bit k = modality k), from the features of one
   * forward pass: [B, 2^M - 1] x C as a list indexed by S - 1.
   */
  subsetLogits(outputs: Readonly<Record<string, tf.Tensor>>): tf.Tensor[] {
    const parts = this.modalities.map((m, k) => this.part(outputs[`features/${m}`]!, k));
    const out: tf.Tensor[] = [];
    for (let S = 1; S < 1 << parts.length; S++) {
      const members = parts.filter((_, k) => (S >> k) & 1);
      out.push(tf.add(members.length === 1 ? members[0]! : tf.addN(members), this.bias));
    }
    return out;
  }
  /**
   * Outputs: the inner model's features, `logits/<m>` = f_m W_m + b, and when every modality
   * runs `logits/fused` = sum_m mask_m f_m W_m + b and `probs/fused`.
   */
  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: SmvForwardOptions,
  ): Record<string, tf.Tensor> {
    const { featureMask, ...rest } = options;
    const inner = this.inner.forward(inputs, rest);
    const out: Record<string, tf.Tensor> = {};
    for (const [k, t] of Object.entries(inner)) if (!k.startsWith('logits/')) out[k] = t;
    delete out['probs/fused'];
    const parts: tf.Tensor[] = [];
    this.modalities.forEach((m, k) => {
      const f = inner[`features/${m}`];
      if (!f) return;
      const p = this.part(f, k);
      out[`logits/${m}`] = tf.add(p, this.bias);
      parts.push(featureMask ? tf.mul(p, tf.slice(featureMask, [0, k], [-1, 1])) : p);
    });
    if (parts.length === this.modalities.length) {
      const fused = tf.add(tf.addN(parts), this.bias);
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
  }
}

/** The reference's number of extra copies for a valuation phi (module doc). */
export function smvCopies(phi: number): number {
  if (phi > 0.4 && phi < 1) return 1;
  if (phi > -0.1 && phi < 0.4) return 2;
  if (phi < -0.1) return 3;
  return 0;
}

function popcount(x: number): number {
  let c = 0;
  for (let y = x; y; y &= y - 1) c++;
  return c;
}

/**
 * Shapley values phi_m of one sample from its subset correctness `correct[S - 1]` (S a bit mask
 * over M modalities, 1 = the prediction from S alone is right), with v(S) = |S| * correct(S).
 */
export function smvShapley(correct: ArrayLike<number>, M: number): number[] {
  const fact = [1];
  for (let i = 1; i <= M; i++) fact.push(fact[i - 1]! * i);
  const value = (S: number) => (S === 0 ? 0 : popcount(S) * correct[S - 1]!);
  return Array.from({ length: M }, (_, m) => {
    let phi = 0;
    for (let S = 0; S < 1 << M; S++) {
      if ((S >> m) & 1) continue;
      const s = popcount(S);
      phi += ((fact[s]! * fact[M - s - 1]!) / fact[M]!) * (value(S | (1 << m)) - value(S));
    }
    return phi;
  });
}

/**
 * The modality-level decision from valuations phi[m][i] and the sampled positions Z (module
 * doc): gap_m = 1 - mean_{i in Z} phi_m,i, r = (max gap - min gap) 2/3 alpha, and the modality
 * whose copies are added (largest gap; ties: the later modality).
 */
export function smvModalityLevel(
  phi: readonly (readonly number[])[],
  sampled: readonly number[],
  alpha: number,
): { gaps: number[]; ratio: number; weak: number } {
  const gaps = phi.map((p) => 1 - sampled.reduce((s, i) => s + p[i]!, 0) / sampled.length);
  const ratio = ((Math.max(...gaps) - Math.min(...gaps)) * 2 * alpha) / 3;
  let weak = 0;
  gaps.forEach((g, k) => {
    if (g >= gaps[weak]!) weak = k;
  });
  return { gaps, ratio, weak };
}

export type SmvVariant = 'sample' | 'modality';

export interface SmvResamplerOptions {
  readonly model: SmvModel;
  /** The training data (the valuation pass reads its training split in canonical order). */
  readonly dataset: MultimodalDataset;
  /** 'sample' (sample_level.py) or 'modality' (modality_level.py). Default 'sample'. */
  readonly variant?: SmvVariant;
  /** Epochs of plain training before re-sampling starts (reference 5); at least 1. */
  readonly warmup?: number;
  /** Modality level: alpha (reference 1.0). */
  readonly alpha?: number;
  /** Modality level: fraction of N drawn to estimate the gaps (reference 0.2). */
  readonly partRatio?: number;
  /** 'train': valuation with training augmentation (the reference); 'deterministic': none. */
  readonly valuationView?: 'train' | 'deterministic';
  /** Seed of the shuffles, draws and valuation augmentation (the run seed). Default 0. */
  readonly seed?: number;
}

/** What the resampler decided for one epoch (its checkpointed state). */
export interface SmvEpochPlan {
  readonly epoch: number;
  readonly batchSize: number;
  /** Copies per training position, per modality (only modalities with copies). */
  readonly copies: Readonly<Record<string, readonly number[]>>;
}

/**
 * SMV's valuation and re-sampling (module doc): a Callback (its plan is checkpointed) whose
 * {@link epochSamples} is the trainer's `epochSamples` hook.
 */
export class SmvResampler implements Callback, SmvMaskSource {
  readonly name = 'smv';
  readonly variant: SmvVariant;
  readonly warmup: number;
  readonly alpha: number;
  readonly partRatio: number;
  readonly valuationView: 'train' | 'deterministic';
  readonly modalities: readonly string[];
  private readonly seed: number;
  private plan: SmvEpochPlan | null = null;
  /** Per position of the current epoch's list: -1 = original, else the kept modality's index. */
  private keep: Int8Array | null = null;
  constructor(private readonly options: SmvResamplerOptions) {
    const where = 'SmvResampler';
    checkKnownKeys(where, options, [
      'model',
      'dataset',
      'variant',
      'warmup',
      'alpha',
      'partRatio',
      'valuationView',
      'seed',
    ]);
    if (!(options.model instanceof SmvModel)) {
      throw new IgmArgumentError(`${where}: model must be an SmvModel.`);
    }
    this.variant = checkChoice(where, 'variant', options.variant ?? 'sample', [
      'sample',
      'modality',
    ]);
    this.warmup = checkNumber(where, 'warmup', options.warmup ?? 5, { min: 1, integer: true });
    this.alpha = checkNumber(where, 'alpha', options.alpha ?? 1, { min: 0 });
    this.partRatio = checkNumber(where, 'partRatio', options.partRatio ?? 0.2, {
      min: 0,
      max: 1,
      minExclusive: true,
    });
    this.valuationView = checkChoice(where, 'valuationView', options.valuationView ?? 'train', [
      'train',
      'deterministic',
    ]);
    this.seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
    this.modalities = options.model.modalities;
  }

  /**
   * Valuation pass: phi[m][i] for every training position i (module doc), with the current
   * weights, in inference mode.
   */
  async valuate(epoch: number, batchSize: number): Promise<number[][]> {
    const { model, dataset } = this.options;
    const M = this.modalities.length;
    const phi: number[][] = this.modalities.map(() => []);
    for await (const batch of dataset.batches({
      split: 'train',
      batchSize,
      shuffle: false,
      dropLast: false,
      augment: this.valuationView === 'train',
      seed: epochSeed(this.seed, epoch, 137),
    })) {
      try {
        const correct = tf.tidy(() => {
          const out = model.forward(batch.inputs, { training: false });
          const y = tf.cast(batch.labels, 'int32');
          return tf.stack(
            model.subsetLogits(out).map((z) => tf.cast(tf.equal(tf.argMax(z, 1), y), 'float32')),
            1,
          );
        });
        const values = await correct.data();
        correct.dispose();
        const S = (1 << M) - 1;
        for (let i = 0; i < batch.labels.shape[0]; i++) {
          const p = smvShapley(values.subarray(i * S, (i + 1) * S), M);
          p.forEach((v, m) => {
            phi[m]!.push(v);
          });
        }
      } finally {
        disposeBatch(batch);
      }
    }
    const N = dataset.splitSizes.train ?? 0;
    if (phi[0]!.length !== N) {
      throw new IgmArgumentError(
        `SmvResampler: the valuation pass read ${phi[0]!.length} training samples but dataset "${dataset.name}" declares ${N}.`,
      );
    }
    return phi;
  }

  /** The copies of epoch `epoch` from the valuation `phi` (module doc); logs the decision. */
  private decide(
    epoch: number,
    phi: number[][],
    log: (name: string, value: number) => void,
  ): Record<string, number[]> {
    const N = phi[0]!.length;
    const copies: Record<string, number[]> = {};
    if (this.variant === 'sample') {
      this.modalities.forEach((m, k) => {
        copies[m] = phi[k]!.map(smvCopies);
      });
      return copies;
    }
    const rng = createRng(epochSeed(this.seed, epoch, 139));
    const Z = Math.floor(N * this.partRatio);
    if (Z === 0) {
      throw new IgmArgumentError(
        `SmvResampler: partRatio=${this.partRatio} of ${N} training samples draws none. Raise partRatio.`,
      );
    }
    const sampled = Array.from({ length: Z }, () => rng.int(N));
    const { ratio, weak } = smvModalityLevel(phi, sampled, this.alpha);
    log('smv/ratio', ratio);
    const counts = new Array<number>(N).fill(0);
    const K = Math.floor(ratio * N);
    for (let j = 0; j < K; j++) counts[rng.int(N)]! += 1;
    copies[this.modalities[weak]!] = counts;
    return copies;
  }

  /** Expands a plan into the epoch's visiting list (shuffled) and the per-position kept modality. */
  private expand(plan: SmvEpochPlan, N: number): Int32Array {
    const positions: number[] = Array.from({ length: N }, (_, i) => i);
    const keep: number[] = new Array<number>(N).fill(-1);
    this.modalities.forEach((m, k) => {
      const counts = plan.copies[m];
      if (!counts) return;
      counts.forEach((c, i) => {
        for (let j = 0; j < c; j++) {
          positions.push(i);
          keep.push(k);
        }
      });
    });
    const order = createRng(epochSeed(this.seed, plan.epoch, 131)).permutation(positions.length);
    this.keep = Int8Array.from(order, (o) => keep[o]!);
    return Int32Array.from(order, (o) => positions[o]!);
  }

  /** The trainer's `epochSamples` hook (module doc). */
  epochSamples = async (ctx: EpochSamplesContext): Promise<Int32Array | undefined> => {
    const N = this.options.dataset.splitSizes.train ?? 0;
    const logCopies = (copies: Readonly<Record<string, readonly number[]>>) => {
      for (const m of this.modalities)
        ctx.log(
          `smv/copies/${m}`,
          (copies[m] ?? []).reduce((a, b) => a + b, 0),
        );
    };
    if (ctx.resumedMidEpoch) {
      if (ctx.globalEpoch < this.warmup) {
        this.plan = null;
        this.keep = null;
        return undefined;
      }
      if (!this.plan || this.plan.epoch !== ctx.globalEpoch) {
        throw new IgmArgumentError(
          `SmvResampler: resuming inside epoch ${ctx.globalEpoch}, but the checkpoint holds the plan of epoch ${this.plan?.epoch ?? 'none'}. The checkpoint does not belong to this run.`,
        );
      }
      return this.expand(this.plan, N);
    }
    this.plan = null;
    this.keep = null;
    if (ctx.globalEpoch === 0) {
      logCopies({});
      return undefined;
    }
    const phi = await this.valuate(ctx.globalEpoch, ctx.batchSize);
    this.modalities.forEach((m, k) => {
      ctx.log(`smv/value/${m}`, phi[k]!.reduce((a, b) => a + b, 0) / Math.max(1, phi[k]!.length));
    });
    if (ctx.globalEpoch < this.warmup) {
      logCopies({});
      return undefined;
    }
    const copies = this.decide(ctx.globalEpoch, phi, ctx.log);
    logCopies(copies);
    this.plan = { epoch: ctx.globalEpoch, batchSize: ctx.batchSize, copies };
    return this.expand(this.plan, N);
  };

  /**
   * The [rows, M] feature mask of batch `batchIndex` of epoch `epoch` (1 = kept), or undefined
   * when the epoch is not re-sampled or the batch holds originals only.
   */
  featureMask(epoch: number, batchIndex: number, rows: number): Float32Array | undefined {
    if (!this.plan || !this.keep || this.plan.epoch !== epoch) return undefined;
    const start = batchIndex * this.plan.batchSize;
    if (start + rows > this.keep.length) {
      throw new IgmArgumentError(
        `SmvResampler: batch ${batchIndex} of ${rows} samples runs past the epoch's list of ${this.keep.length} entries (batch size ${this.plan.batchSize}). Train with the batch size the resampler was given.`,
      );
    }
    const M = this.modalities.length;
    let any = false;
    const mask = new Float32Array(rows * M).fill(1);
    for (let r = 0; r < rows; r++) {
      const k = this.keep[start + r]!;
      if (k < 0) continue;
      any = true;
      for (let m = 0; m < M; m++) if (m !== k) mask[r * M + m] = 0;
    }
    return any ? mask : undefined;
  }

  getState(): SmvEpochPlan | null {
    return this.plan;
  }

  setState(state: unknown): void {
    if (state === null) {
      this.plan = null;
      return;
    }
    const s = state as SmvEpochPlan;
    if (
      !s ||
      typeof s !== 'object' ||
      !Number.isInteger(s.epoch) ||
      !Number.isInteger(s.batchSize) ||
      typeof s.copies !== 'object'
    ) {
      throw new IgmArgumentError(
        `SmvResampler.setState: received ${JSON.stringify(state)?.slice(0, 200)}; expected null or { epoch, batchSize, copies }.`,
      );
    }
    this.plan = { epoch: s.epoch, batchSize: s.batchSize, copies: s.copies };
  }
}

/** Where {@link smvStep} gets each batch's feature mask ({@link SmvResampler}). */
export interface SmvMaskSource {
  /** [rows, M] row-major 0/1 mask of batch `batchIndex` of run epoch `epoch`, or undefined (all kept). */
  featureMask(epoch: number, batchIndex: number, rows: number): Float32Array | undefined;
}

/**
 * The SMV trainer step: CE on `logits/fused` with the epoch's per-sample feature mask (copies
 * keep one modality). The model must be an {@link SmvModel}.
 */
export function smvStep(masks: SmvMaskSource): TrainerStep {
  if (!masks || typeof masks.featureMask !== 'function') {
    throw new IgmArgumentError(
      'smvStep: pass an SmvResampler (or another source of featureMask(epoch, batchIndex, rows)).',
    );
  }
  return {
    name: 'smv',
    describe: () =>
      masks instanceof SmvResampler
        ? {
            step: 'smv',
            variant: masks.variant,
            warmup: masks.warmup,
            valuationView: masks.valuationView,
          }
        : { step: 'smv' },
    validate(model: MultimodalModelLike) {
      if (!(model instanceof SmvModel)) {
        throw new IgmArgumentError(
          'smvStep: the model must be an SmvModel (concat fusion with per-sample feature zeroing).',
        );
      }
    },
    run(tools) {
      const { inputs, labels } = tools.batch;
      const model = tools.model as SmvModel;
      const values = masks.featureMask(tools.globalEpoch, tools.batchIndex, labels.shape[0]);
      const mask = values
        ? tf.tensor2d(values, [labels.shape[0], model.modalities.length])
        : undefined;
      const lossFn: LossFn = (pass) => {
        const outputs = model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
          ...(mask ? { featureMask: mask } : {}),
        });
        return { loss: crossEntropy(outputs['logits/fused']!, labels), outputs };
      };
      return tools.minimize(lossFn);
    },
  };
}

/**
 * SMV's epoch budget: `epochs` epochs on every modality (default 60, the reference's); the
 * warm-up keeps its share of the run (at least 1, so a scaled run still re-samples).
 */
export function smvBudget(
  where: string,
  read: OptionsReader<{ readonly epochs: number; readonly warmup: number }>,
): MethodBudget {
  return singleRunBudgetWith(where, read, (o, out, f) => {
    out['warmup'] = Math.max(1, Math.round(o.warmup * f));
  });
}
