/**
 * OGR-GB: online Gradient-Blending (Wang, Tran & Feiszli, "What Makes Training Multi-modal
 * Classification Networks Hard?", CVPR 2020). One cross-entropy per branch k in {1..M, fused},
 * blended with weights estimated from each branch's overfitting-to-generalisation behaviour on
 * held-out data, re-estimated every super-epoch of n epochs:
 *
 *   loss = sum_k w_k CE(z_k, y)                   (z_m: unimodal branch, z_fused: fused output)
 *
 * Estimation at every epoch e with e mod n == 0, before that epoch's training
 * ({@link OgrGbController}, a Callback):
 *
 *   for each branch k: theta' <- copy of theta (weights and BatchNorm statistics);
 *                      a fresh optimizer (same hyper-parameters, zero state, the initial lr)
 *     'paper' (default):
 *       T0, V0 = mean CE of z_k on TRAIN and VALIDATION at theta (inference mode)
 *       train theta' n epochs minimising CE(z_k) (only the parameters z_k depends on)
 *       T1, V1 = mean CE of z_k on TRAIN and VALIDATION after those n epochs
 *     'balance-benchmark' (parity with BalanceBenchmark's GBlending_trainer.py):
 *       z_m is the fused output with the other modalities' inputs zeroed; every parameter trains;
 *       T0 / T1 = SUM of the running (train-mode) batch losses of scratch epoch 0 / n-1,
 *       V0 / V1 = SUM of the validation batch-mean losses after scratch epoch 0 / n-1 (n >= 2)
 *     gain  dG_k = V0 - V1                           (> 0: the held-out loss fell)
 *     overfit dO_k = (V1 - T1) - (V0 - T0)
 *     raw   w~_k = min(|dG_k| / (dO_k^2 + epsilon), maxWeight)
 *   w = w~ / sum_j w~_j
 *   'paper' only [project]: when no branch generalised (every dG_k <= 0), or the sum is not a
 *   positive finite number, the previous weights are kept (uniform 1/(M+1) before the first).
 *   theta, its optimizer state and its BatchNorm statistics are restored before training goes on.
 *
 * The paper writes w~_k = dG_k / dO_k^2 (normalised by a constant Z); taking |dG_k| follows
 * BalanceBenchmark and is logged with the sign (`ogr-gb/sign/<k>`). Logs per epoch:
 * `ogr-gb/weight/<k>` (k = modality or `fused`); in estimation epochs also `ogr-gb/gain/<k>`,
 * `ogr-gb/overfit/<k>`, `ogr-gb/ogr/<k>` = |dO_k / dG_k|, `ogr-gb/sign/<k>`, `ogr-gb/kept`
 * (1 when the previous weights were kept) and `ogr-gb/estimate-seconds` (the M + 1 scratch
 * trainings' wall time).
 */
import {
  type AnyTransform,
  type Callback,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  IgmArgumentError,
  type LossFn,
  type MultimodalDataset,
  type MultimodalModelLike,
  toParamMap,
} from '@igm/core';
import { epochSeed, lossOnOutput, type TrainerStep, TransformDriver } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import type { MethodBudget, OptionsReader } from './budget';
import { singleRunBudgetWith } from './scaled-budget';
import {
  groupParamKeys,
  ModelSnapshot,
  meanCe,
  measureOutputs,
  modalityParamKeys,
  outputStep,
  requireValidationSplit,
  trainEpoch,
} from './scratch';

export type OgrGbVariant = 'paper' | 'balance-benchmark';
export const OGR_GB_VARIANTS: readonly OgrGbVariant[] = ['paper', 'balance-benchmark'];

/** The name of the fused branch in weights and logs. */
export const FUSED_BRANCH = 'fused';

/** Losses measured around one branch's scratch training. */
export interface OgrGbBranchStats {
  readonly trainBefore: number;
  readonly valBefore: number;
  readonly trainAfter: number;
  readonly valAfter: number;
}

export interface OgrGbWeightOptions {
  readonly variant: OgrGbVariant;
  /** Added to dO^2. Default 1e-8. */
  readonly epsilon?: number;
  /** Upper bound of each raw weight. Default 1e6. */
  readonly maxWeight?: number;
}

/** The blend weights from branch statistics (module doc); `previous` is kept when told so. */
export function ogrGbBlendWeights(
  stats: Readonly<Record<string, OgrGbBranchStats>>,
  previous: Readonly<Record<string, number>>,
  options: OgrGbWeightOptions,
): {
  weights: Record<string, number>;
  raw: Record<string, number>;
  gain: Record<string, number>;
  overfit: Record<string, number>;
  kept: boolean;
} {
  const epsilon = options.epsilon ?? 1e-8;
  const maxWeight = options.maxWeight ?? 1e6;
  const gain: Record<string, number> = {};
  const overfit: Record<string, number> = {};
  const raw: Record<string, number> = {};
  for (const [k, s] of Object.entries(stats)) {
    gain[k] = s.valBefore - s.valAfter;
    overfit[k] = s.valAfter - s.trainAfter - (s.valBefore - s.trainBefore);
    raw[k] = Math.min(Math.abs(gain[k]!) / (overfit[k]! ** 2 + epsilon), maxWeight);
  }
  const branches = Object.keys(stats);
  const sum = branches.reduce((s, k) => s + raw[k]!, 0);
  const noGain = options.variant === 'paper' && branches.every((k) => !(gain[k]! > 0));
  const kept = noGain || !(Number.isFinite(sum) && sum > 0);
  const weights: Record<string, number> = {};
  for (const k of branches) weights[k] = kept ? previous[k]! : raw[k]! / sum;
  return { weights, raw, gain, overfit, kept };
}

/** What one estimation decided, kept for the logs and the checkpoint. */
export interface OgrGbEstimate {
  readonly epoch: number;
  readonly seconds: number;
  readonly kept: boolean;
  readonly weights: Record<string, number>;
  readonly raw: Record<string, number>;
  readonly gain: Record<string, number>;
  readonly overfit: Record<string, number>;
  readonly stats: Record<string, OgrGbBranchStats>;
}

export interface OgrGbControllerOptions {
  readonly model: MultimodalModelLike;
  readonly dataset: MultimodalDataset;
  readonly batchSize: number;
  /** Super-epoch n (estimation every n epochs, scratch trainings of n epochs). Default 10. */
  readonly superEpoch?: number;
  readonly variant?: OgrGbVariant;
  /** A fresh optimizer for each scratch training (the run's hyper-parameters, initial lr). */
  readonly scratchOptimizer: () => AnyTransform;
  readonly epsilon?: number;
  readonly maxWeight?: number;
  /** Seed of the scratch passes' shuffles. Default 0. */
  readonly seed?: number;
}

interface ControllerState {
  weights: Record<string, number>;
  last: OgrGbEstimate | null;
  estimates: number;
}

/** Estimates the blend weights every super-epoch (module doc). */
export class OgrGbController implements Callback {
  readonly name = 'ogr-gb';
  readonly branches: readonly string[];
  readonly superEpoch: number;
  readonly variant: OgrGbVariant;
  private readonly epsilon: number;
  private readonly maxWeight: number;
  private readonly seed: number;
  weights: Record<string, number>;
  /** The latest estimation (null before the first). */
  last: OgrGbEstimate | null = null;
  /** Number of estimations done. */
  estimates = 0;

  constructor(private readonly options: OgrGbControllerOptions) {
    const where = 'OgrGbController';
    checkKnownKeys(where, options, [
      'model',
      'dataset',
      'batchSize',
      'superEpoch',
      'variant',
      'scratchOptimizer',
      'epsilon',
      'maxWeight',
      'seed',
    ]);
    checkNumber(where, 'batchSize', options.batchSize, { min: 1, integer: true });
    requireValidationSplit(
      where,
      options.dataset,
      'the blend weights are estimated on held-out data',
    );
    this.variant = checkChoice(where, 'variant', options.variant ?? 'paper', OGR_GB_VARIANTS);
    this.superEpoch = checkNumber(where, 'superEpoch', options.superEpoch ?? 10, {
      min: this.variant === 'balance-benchmark' ? 2 : 1,
      integer: true,
    });
    this.epsilon = checkNumber(where, 'epsilon', options.epsilon ?? 1e-8, { min: 0 });
    this.maxWeight = checkNumber(where, 'maxWeight', options.maxWeight ?? 1e6, {
      min: 0,
      minExclusive: true,
    });
    this.seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
    if (typeof options.scratchOptimizer !== 'function') {
      throw new IgmArgumentError(
        `${where}: received scratchOptimizer=${String(options.scratchOptimizer)}. Pass a function returning a fresh GradientTransform.`,
      );
    }
    const mods = options.model.modalities;
    if (mods.includes(FUSED_BRANCH)) {
      throw new IgmArgumentError(
        `${where}: a modality is named "${FUSED_BRANCH}", the name of the fused branch. Rename it.`,
      );
    }
    this.branches = [...mods, FUSED_BRANCH];
    this.weights = Object.fromEntries(this.branches.map((k) => [k, 1 / this.branches.length]));
    // Fail now, not at the first estimation, when the model lacks what a branch needs.
    if (this.variant === 'paper') {
      for (const m of mods) modalityParamKeys(where, options.model, m);
      groupParamKeys(where, options.model, 'fusion');
    }
  }

  /** The output a branch is read from. */
  static output(branch: string): string {
    return branch === FUSED_BRANCH ? 'logits/fused' : `logits/${branch}`;
  }

  async onEpochBegin(epoch: number): Promise<void> {
    if (epoch % this.superEpoch === 0) await this.estimate(epoch);
  }

  /** Runs the M + 1 scratch trainings from the current weights and updates `weights`. */
  async estimate(epoch: number): Promise<OgrGbEstimate> {
    const started = performance.now();
    const { model, dataset, batchSize } = this.options;
    const mods = model.modalities;
    const n = this.superEpoch;
    const snapshot = ModelSnapshot.of(model);
    const params = toParamMap(model.params());
    const stats: Record<string, OgrGbBranchStats> = {};
    const zeroedFor = (k: string) => (k === FUSED_BRANCH ? [] : mods.filter((m) => m !== k));
    try {
      let before: Record<string, { train: number; val: number }> | null = null;
      if (this.variant === 'paper') {
        const outs = this.branches.map(OgrGbController.output);
        const tr = await measureOutputs(model, dataset, 'train', batchSize, outs);
        const va = await measureOutputs(model, dataset, 'validation', batchSize, outs);
        before = Object.fromEntries(
          this.branches.map((k) => {
            const o = OgrGbController.output(k);
            return [k, { train: meanCe(tr[o]!), val: meanCe(va[o]!) }];
          }),
        );
      }
      for (const [i, k] of this.branches.entries()) {
        snapshot.restore();
        const step = this.branchStep(k);
        const driver = new TransformDriver(
          this.options.scratchOptimizer(),
          params,
          createRng(this.seed).fork(`ogr-gb/${epoch}/${k}`),
          () => {},
        );
        try {
          let trainFirst = 0;
          let trainLast = 0;
          let valFirst = 0;
          let valLast = 0;
          for (let j = 0; j < n; j++) {
            const { lossSum } = await trainEpoch({
              model,
              dataset,
              driver,
              step,
              batchSize,
              seed: epochSeed(this.seed, epoch * 1009 + j, 101 + i),
              epoch: 0,
            });
            if (this.variant === 'balance-benchmark' && (j === 0 || j === n - 1)) {
              const o = OgrGbController.output(FUSED_BRANCH);
              const va = await measureOutputs(model, dataset, 'validation', batchSize, [o], {
                zeroedFor: { [o]: zeroedFor(k) },
              });
              if (j === 0) {
                trainFirst = lossSum;
                valFirst = va[o]!.batchMeanSum;
              } else {
                trainLast = lossSum;
                valLast = va[o]!.batchMeanSum;
              }
            }
          }
          if (this.variant === 'paper') {
            const o = OgrGbController.output(k);
            const only = k === FUSED_BRANCH ? {} : { modalities: [k] };
            const tr = await measureOutputs(model, dataset, 'train', batchSize, [o], only);
            const va = await measureOutputs(model, dataset, 'validation', batchSize, [o], only);
            stats[k] = {
              trainBefore: before![k]!.train,
              valBefore: before![k]!.val,
              trainAfter: meanCe(tr[o]!),
              valAfter: meanCe(va[o]!),
            };
          } else {
            stats[k] = {
              trainBefore: trainFirst,
              valBefore: valFirst,
              trainAfter: trainLast,
              valAfter: valLast,
            };
          }
        } finally {
          driver.dispose();
        }
      }
    } finally {
      snapshot.restore();
      snapshot.dispose();
    }
    const r = ogrGbBlendWeights(stats, this.weights, {
      variant: this.variant,
      epsilon: this.epsilon,
      maxWeight: this.maxWeight,
    });
    this.weights = r.weights;
    this.estimates++;
    this.last = {
      epoch,
      seconds: (performance.now() - started) / 1000,
      kept: r.kept,
      weights: r.weights,
      raw: r.raw,
      gain: r.gain,
      overfit: r.overfit,
      stats,
    };
    return this.last;
  }

  /** The scratch training step of branch k. */
  private branchStep(k: string): TrainerStep {
    const { model } = this.options;
    const output = OgrGbController.output(k);
    if (this.variant === 'balance-benchmark') {
      const zeroed = k === FUSED_BRANCH ? [] : model.modalities.filter((m) => m !== k);
      return outputStep(`ogr-gb scratch (${k})`, ['logits/fused'], allParamKeys(model), {
        zeroed,
      });
    }
    if (k === FUSED_BRANCH) {
      const keys = [
        ...model.modalities.flatMap((m) =>
          model
            .params()
            .filter((p) => p.group === `encoder/${m}`)
            .map((p) => p.key),
        ),
        ...groupParamKeys('ogr-gb', model, 'fusion'),
      ];
      return outputStep(`ogr-gb scratch (${k})`, [output], keys);
    }
    return outputStep(`ogr-gb scratch (${k})`, [output], modalityParamKeys('ogr-gb', model, k), {
      modalities: [k],
    });
  }

  /** Values to log in every step of `epoch`. */
  logs(epoch: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of this.branches) out[`ogr-gb/weight/${k}`] = this.weights[k]!;
    const last = this.last;
    if (last && last.epoch === epoch) {
      for (const k of this.branches) {
        const g = last.gain[k]!;
        out[`ogr-gb/gain/${k}`] = g;
        out[`ogr-gb/overfit/${k}`] = last.overfit[k]!;
        if (g !== 0) out[`ogr-gb/ogr/${k}`] = Math.abs(last.overfit[k]! / g);
        out[`ogr-gb/sign/${k}`] = Math.sign(g);
      }
      out['ogr-gb/kept'] = last.kept ? 1 : 0;
      out['ogr-gb/estimate-seconds'] = last.seconds;
    }
    return out;
  }

  getState(): ControllerState {
    return { weights: { ...this.weights }, last: this.last, estimates: this.estimates };
  }

  setState(state: unknown): void {
    const s = state as ControllerState;
    this.weights = { ...s.weights };
    this.last = s.last;
    this.estimates = s.estimates;
  }
}

function allParamKeys(model: MultimodalModelLike): string[] {
  return model.params().map((p) => p.key);
}

/** The blended step: loss = sum_k w_k CE(z_k, y), weights from the controller; logs them. */
export function ogrGbStep(controller: OgrGbController): TrainerStep {
  return {
    name: 'ogr-gb',
    describe: () => ({
      step: 'ogr-gb (blended per-branch CE)',
      variant: controller.variant,
      superEpoch: controller.superEpoch,
    }),
    validate(model) {
      if (model.modalities.join('\u0000') !== controller.branches.slice(0, -1).join('\u0000')) {
        throw new IgmArgumentError(
          `ogrGbStep: the model's modalities (${model.modalities.join(', ')}) differ from the controller's (${controller.branches.slice(0, -1).join(', ')}).`,
        );
      }
    },
    run(tools) {
      const { inputs, labels } = tools.batch;
      const weights = controller.weights;
      const lossFn: LossFn = (pass) => {
        const outputs = tools.model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
        });
        const parts = controller.branches.map((k) =>
          tf.mul(
            lossOnOutput(outputs, OgrGbController.output(k), labels, 'ogrGbStep'),
            weights[k]!,
          ),
        );
        return { loss: tf.addN(parts) as tf.Scalar, outputs };
      };
      for (const [name, v] of Object.entries(controller.logs(tools.globalEpoch)))
        tools.log(name, v);
      return tools.minimize(lossFn);
    },
  };
}

/**
 * OGR-GB's epoch budget: a single run of `epochs` epochs (the scratch copies are extra compute,
 * discarded, not training of the run's encoders). Scaling to N epochs scales the super-epoch with
 * the run, so a run keeps its number of estimations: n' = max(n_min, round(n * N / epochs)),
 * n_min = 2 for the BalanceBenchmark variant, else 1.
 */
export function ogrGbBudget(
  where: string,
  read: OptionsReader<{
    readonly epochs: number;
    readonly superEpoch: number;
    readonly variant: OgrGbVariant;
  }>,
): MethodBudget {
  return singleRunBudgetWith(where, read, (o, out) => {
    const min = o.variant === 'balance-benchmark' ? 2 : 1;
    out['superEpoch'] = Math.max(
      min,
      Math.round((o.superEpoch * (out['epochs'] as number)) / o.epochs),
    );
  });
}
