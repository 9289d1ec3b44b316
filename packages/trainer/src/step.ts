/**
 * What a trainer supplies to the run loop: one {@link TrainerStep}. The loop owns epochs,
 * batches, evaluation, callbacks, checkpoints and the NaN guard; the step decides what one
 * optimisation step on a batch is.
 *
 * A step gets {@link StepTools}: the model, the batch, the RNG, and the operations of the
 * loop's gradient-transform driver:
 *
 *   tools.minimize(lossFn, { keys })   grads = d lossFn / d theta_keys; u = transform(grads, ctx);
 *                                      theta <- theta + u   (ctx.evaluate re-runs lossFn: SAM)
 *   tools.gradients(lossFn, keys)      grads only (official IGM step, MMPareto)
 *   tools.apply(grads, { outputs })    u = transform(grads, ctx); theta <- theta + u
 *
 * Baselines fit this shape: OGM-GE reads `ctx.outputs` inside its transform, PMR adds a
 * {@link LossTerm} to the joint loss, AGM wraps the model's forward, MMPareto asks
 * `ctx.evaluate(keys, { loss: 'logits/audio' })` for per-loss gradients.
 */

import {
  checkKnownKeys,
  type Evaluation,
  type Grads,
  IgmArgumentError,
  type LossFn,
  type LossPass,
  type LossTerm,
  type MultimodalBatch,
  type MultimodalModelLike,
  type Param,
  type Rng,
  type StepContext,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import type { TransformDriver } from './driver';
import { crossEntropy, crossEntropyFromProbs } from './losses';

export interface MinimizeOptions {
  /** Parameter keys to differentiate and update (default: every parameter). */
  readonly keys?: readonly string[];
  /** The stage seen by transforms (`ctx.stage`); default: the loop's current stage. */
  readonly stage?: string;
}

export interface ApplyOptions extends MinimizeOptions {
  /** Named tensors the transforms may read (`ctx.outputs`). */
  readonly outputs?: Readonly<Record<string, tf.Tensor>>;
  /** Re-evaluation closure handed to transforms as `ctx.evaluate` (omit: none). */
  readonly evaluate?: StepContext['evaluate'];
}

/** The loop's services for one step. Valid only during `TrainerStep.run`. */
export interface StepTools {
  readonly model: MultimodalModelLike;
  readonly params: ReadonlyMap<string, Param>;
  readonly batch: MultimodalBatch;
  /** Epoch within the current stage (the whole run when there are no stages), 0-based. */
  readonly epoch: number;
  /** Epoch counted over the whole run, 0-based. */
  readonly globalEpoch: number;
  readonly batchIndex: number;
  readonly batchesPerEpoch: number;
  /** Current stage name (IGM: the modality being trained), if the run has stages. */
  readonly stage?: string;
  /** Optimizer steps since the transform state was (re)initialised. */
  readonly optimizerStep: number;
  readonly rng: Rng;
  log(name: string, value: number | tf.Scalar): void;
  /** Parameter keys of one modality: groups `encoder/<m>` and `head/<m>`. */
  modalityKeys(modality: string): string[];
  /** Differentiate, transform and apply; returns the first pass's loss. */
  minimize(lossFn: LossFn, options?: MinimizeOptions): tf.Scalar;
  /** Gradients of `lossFn` only (nothing is applied). Outputs stay valid until the step ends. */
  gradients(lossFn: LossFn, keys?: readonly string[], pass?: Partial<LossPass>): Evaluation;
  /** Transform and apply precomputed gradients. */
  apply(grads: Grads, options?: ApplyOptions): void;
}

/**
 * One optimisation step on a batch. `run` is called inside the loop's `tf.tidy` and must be
 * synchronous; it returns the loss to report (a scalar).
 */
export interface TrainerStep {
  readonly name: string;
  run(tools: StepTools): tf.Scalar;
  /** Checks the model/dataset fit the step before training starts (throw a clear error). */
  validate?(model: MultimodalModelLike): void;
  /** Description recorded in the run config. */
  describe?(): Record<string, unknown>;
}

export interface JointStepOptions {
  /**
   * Output the loss is computed on. Default: `'logits/fused'` when the model produces it,
   * else the negative log of `'probs/fused'` (models that fuse by averaging softmaxes).
   */
  readonly output?: string;
  /** Extra loss terms added to the main loss (PMR's prototype loss...). */
  readonly lossTerms?: readonly LossTerm[];
}

/** The loss on a named output: softmax CE on `logits/*`, NLL on `probs/*`. */
export function lossOnOutput(
  outputs: Readonly<Record<string, tf.Tensor>>,
  name: string,
  labels: tf.Tensor,
  who: string,
): tf.Scalar {
  const t = outputs[name];
  if (!t) {
    throw new IgmArgumentError(
      `${who}: the model produced no output "${name}". It produced: ${Object.keys(outputs).join(', ') || '(none)'}.`,
    );
  }
  return name.startsWith('probs/') ? crossEntropyFromProbs(t, labels) : crossEntropy(t, labels);
}

/**
 * Joint training (docs/algorithms/joint-unimodal.md#baselines): one loss on the fused output,
 * every parameter updated each step.
 *
 *   L = CE(fused(x), y) + sum_t term_t(outputs, y);  theta <- theta + transform(dL/dtheta)
 *
 * A re-evaluation that names a loss (`ctx.evaluate(keys, { loss: 'logits/audio' })`) returns
 * the loss on that output instead (MMPareto's per-modality gradients).
 */
export function jointStep(options: JointStepOptions = {}): TrainerStep {
  checkKnownKeys('jointStep', options, ['output', 'lossTerms']);
  const terms = options.lossTerms ?? [];
  return {
    name: 'joint',
    describe: () => ({
      step: 'joint',
      output: options.output ?? 'auto',
      lossTerms: terms.map((t) => t.name),
    }),
    run(tools) {
      const labels = tools.batch.labels;
      const lossFn: LossFn = (pass) => {
        const outputs = tools.model.forward(tools.batch.inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
        });
        if (pass.loss !== undefined) {
          return { loss: lossOnOutput(outputs, pass.loss, labels, 'jointStep'), outputs };
        }
        const name = options.output ?? (outputs['logits/fused'] ? 'logits/fused' : 'probs/fused');
        let loss = lossOnOutput(outputs, name, labels, 'jointStep');
        if (terms.length > 0) {
          const ctx = lightContext(tools, outputs);
          for (const term of terms) loss = tf.add(loss, term.compute(outputs, labels, ctx));
        }
        return { loss, outputs };
      };
      return tools.minimize(lossFn);
    },
  };
}

/** A step context without `evaluate`, for loss terms computed inside a loss closure. */
export function lightContext(
  tools: StepTools,
  outputs: Readonly<Record<string, tf.Tensor>>,
): StepContext {
  return {
    step: tools.optimizerStep,
    epoch: tools.epoch,
    batchIndex: tools.batchIndex,
    batchesPerEpoch: tools.batchesPerEpoch,
    ...(tools.stage !== undefined ? { stage: tools.stage } : {}),
    params: tools.params,
    outputs,
    labels: tools.batch.labels,
    rng: tools.rng,
    log: (name, value) => tools.log(name, value),
  };
}

/** Where a step runs: what {@link createStepTools} needs besides the step itself. */
export interface StepSite {
  readonly model: MultimodalModelLike;
  readonly driver: TransformDriver<any>;
  readonly batch: MultimodalBatch;
  readonly epoch: number;
  readonly globalEpoch?: number;
  readonly batchIndex: number;
  readonly batchesPerEpoch: number;
  readonly stage?: string;
  /** Default: the driver's RNG. */
  readonly rng?: Rng;
  readonly log: (name: string, value: number) => void;
}

/** The {@link StepTools} of one step (used by the run loop; tests and custom loops too). */
export function createStepTools(site: StepSite): StepTools {
  const { model, driver, batch } = site;
  const params = driver.params;
  const position = {
    epoch: site.epoch,
    batchIndex: site.batchIndex,
    batchesPerEpoch: site.batchesPerEpoch,
    ...(site.stage !== undefined ? { stage: site.stage } : {}),
    labels: batch.labels,
  };
  const at = (stage: string | undefined) =>
    stage !== undefined ? { ...position, stage } : position;
  return {
    model,
    params,
    batch,
    epoch: site.epoch,
    globalEpoch: site.globalEpoch ?? site.epoch,
    batchIndex: site.batchIndex,
    batchesPerEpoch: site.batchesPerEpoch,
    ...(site.stage !== undefined ? { stage: site.stage } : {}),
    get optimizerStep() {
      return driver.step;
    },
    rng: site.rng ?? driver.rng,
    log: (name, value) => site.log(name, typeof value === 'number' ? value : value.dataSync()[0]!),
    modalityKeys: (m) => {
      const keys = [...params.values()]
        .filter((p) => p.group === `encoder/${m}` || p.group === `head/${m}`)
        .map((p) => p.key);
      if (keys.length === 0) {
        throw new IgmArgumentError(
          `modalityKeys: the model has no parameters in groups "encoder/${m}" or "head/${m}". Groups: ${[...new Set([...params.values()].map((p) => p.group))].join(', ')}.`,
        );
      }
      return keys;
    },
    minimize: (lossFn, o = {}) => driver.minimize(lossFn, o.keys, at(o.stage)),
    gradients: (lossFn, keys, pass = {}) => driver.gradients(lossFn, keys, pass),
    apply: (grads, o = {}) => driver.apply(grads, at(o.stage), o.outputs ?? {}, o.evaluate),
  };
}

/** Runs `step` once inside one tf.tidy and returns its loss as a number. */
export function runTrainerStep(step: TrainerStep, site: StepSite): number {
  try {
    const loss = tf.tidy(() => step.run(createStepTools(site)));
    const value = loss.dataSync()[0]!;
    loss.dispose();
    return value;
  } finally {
    site.driver.endStep();
  }
}
