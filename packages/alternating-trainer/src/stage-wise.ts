/**
 * Stage-wise alternation (IGM, docs/algorithms/igm.md#stage-loop): one modality per stage, in a
 * given order, for `epochList[s]` epochs.
 *
 *   for stage s = 0, 1, ...:  j = order[s mod m]
 *     if s > 0: reload the best checkpoint so far (global across stages)
 *     new optimizer and schedule (transform state and step counter reset)
 *     if s > 0: beforeStage({ modality: j, previousModality: k, ... })   e.g. build T from k
 *               k = order[(j_index + m - 1) mod m]  (paper: k = mod(j + m - 2, m) + 1, 1-based)
 *     train j's encoder and head only: the other modalities' parameters get no gradient, so
 *     transforms leave them and their state untouched (no decay, no momentum)
 *
 * The default step is unimodal cross-entropy on `logits/<j>` with optional mixup on j's input.
 */

import {
  checkKnownKeys,
  checkNumber,
  IgmArgumentError,
  type LossFn,
  type MultimodalBatch,
  type MultimodalModelLike,
} from '@igm/core';
import {
  crossEntropy,
  type RunOptions,
  type RunSummary,
  runTraining,
  type StageSpec,
  type StageStartContext,
  type TrainerStep,
} from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { drawMixup, mixInputs, mixupLossPerSample } from './mixup';

/** The cyclic predecessor of `current` in `order` (k = mod(j + m - 2, m) + 1, 1-based). */
export function previousInOrder(order: readonly string[], current: string): string {
  const j = order.indexOf(current);
  if (j < 0) {
    throw new IgmArgumentError(
      `previousInOrder: received ${JSON.stringify(current)}, which is not in the order [${order.join(', ')}].`,
    );
  }
  return order[(j + order.length - 1) % order.length]!;
}

/** The stages of an epoch list: stage s trains order[s mod m] for epochList[s] epochs. */
export function stagesFromEpochList(
  order: readonly string[],
  epochList: readonly number[],
): StageSpec[] {
  if (!Array.isArray(order) || order.length === 0) {
    throw new IgmArgumentError(
      `stageWise: received order=${JSON.stringify(order)}. Expected the modalities in training order, e.g. ["audio", "visual"].`,
    );
  }
  if (new Set(order).size !== order.length) {
    throw new IgmArgumentError(`stageWise: order [${order.join(', ')}] names a modality twice.`);
  }
  if (!Array.isArray(epochList) || epochList.length === 0) {
    throw new IgmArgumentError(
      `stageWise: received epochList=${JSON.stringify(epochList)}. Expected epochs per stage, e.g. [25, 50, 25, 50] (CREMA-D: [25, 50] repeated 6 times).`,
    );
  }
  return epochList.map((e, s) => {
    checkNumber('stageWise', `epochList[${s}]`, e, { min: 1, integer: true });
    return { name: order[s % order.length]!, epochs: e };
  });
}

/** What `beforeStage` gets at a boundary s >= 1 (after the reload and the optimizer reset). */
export interface StageBoundary extends StageStartContext {
  /** The modality trained in this stage (j). */
  readonly modality: string;
  /** The modality trained in the previous stage (k, its cyclic predecessor). */
  readonly previousModality: string;
  /**
   * One pass over the training data (training augmentation, dropLast, no mixup) with the
   * model in inference mode on `modality` only; `fn` gets each batch's named outputs
   * (`input/head/<k>/<i>`...). Returns the number of batches (n_B).
   */
  forEachInferenceOutputs(
    modality: string,
    fn: (outputs: Record<string, tf.Tensor>, batch: MultimodalBatch) => void,
  ): Promise<number>;
}

export interface UnimodalStepOptions {
  /** Mixup on the current modality's input with Beta(alpha, alpha); default off. */
  readonly mixup?: { readonly alpha: number } | false;
}

/**
 * The stage's unimodal step: L = CE(head_j(enc_j(x_j)), y) (or its mixup form), gradients and
 * updates for j's encoder and head only.
 */
export function unimodalStep(options: UnimodalStepOptions = {}): TrainerStep {
  checkKnownKeys('unimodalStep', options, ['mixup']);
  const alpha = options.mixup
    ? checkNumber('unimodalStep', 'mixup.alpha', options.mixup.alpha, {
        min: 0,
        minExclusive: true,
      })
    : 0;
  return {
    name: 'unimodal',
    describe: () => ({ step: 'unimodal', mixup: alpha > 0 ? { alpha } : false }),
    run(tools) {
      const m = tools.stage;
      if (m === undefined) {
        throw new IgmArgumentError(
          'unimodalStep: the run has no stages. Use it with stageWise / runStageWise.',
        );
      }
      const { inputs, labels } = tools.batch;
      const draw = alpha > 0 ? drawMixup(tools.rng, alpha, labels.shape[0]) : null;
      const x = draw ? mixInputs(inputs[m]!, draw) : inputs[m]!;
      if (draw) tools.log('mixup/lambda', draw.lambda);
      const lossFn: LossFn = (pass) => {
        const outputs = tools.model.forward(
          { ...inputs, [m]: x },
          { training: true, batchStatistics: pass.batchStatistics, modalities: [m] },
        );
        const logits = outputs[`logits/${m}`]!;
        const loss = draw
          ? (tf.mean(mixupLossPerSample(logits, labels, draw)) as tf.Scalar)
          : crossEntropy(logits, labels);
        return { loss, outputs };
      };
      return tools.minimize(lossFn, { keys: tools.modalityKeys(m) });
    },
  };
}

export interface StageWiseOptions {
  /** Modalities in training order (IGM CREMA-D: ['audio', 'visual']). */
  readonly order: readonly string[];
  /** Epochs per stage (CREMA-D: [25, 50] x 6). */
  readonly epochList: readonly number[];
  /** Reload the best checkpoint at each boundary (default true, as the reference). */
  readonly reloadBest?: boolean;
  /** Called at each boundary s >= 1 after reload and reset: build and install T here. */
  readonly beforeStage?: (boundary: StageBoundary) => void | Promise<void>;
}

/** The pieces `runTraining` needs for stage-wise alternation. */
export interface StageWisePlan {
  readonly stages: StageSpec[];
  readonly onStageStart: NonNullable<RunOptions['onStageStart']>;
}

export function stageWise(options: StageWiseOptions): StageWisePlan {
  checkKnownKeys('stageWise', options, ['order', 'epochList', 'reloadBest', 'beforeStage']);
  const stages = stagesFromEpochList(options.order, options.epochList);
  const order = options.order;
  const reload = options.reloadBest ?? true;
  return {
    stages,
    async onStageStart(ctx) {
      if (ctx.stageIndex > 0 && reload) ctx.reloadBest();
      ctx.resetOptimizer();
      if (ctx.stageIndex === 0 || !options.beforeStage) return;
      const modality = ctx.stage.name;
      const boundary: StageBoundary = Object.assign(Object.create(ctx) as StageStartContext, {
        modality,
        previousModality: previousInOrder(order, modality),
        forEachInferenceOutputs: (
          m: string,
          fn: (outputs: Record<string, tf.Tensor>, batch: MultimodalBatch) => void,
        ) =>
          ctx.forEachTrainingBatch((batch) =>
            tf.tidy(() =>
              fn(ctx.model.forward(batch.inputs, { training: false, modalities: [m] }), batch),
            ),
          ),
      });
      await options.beforeStage(boundary);
    },
  };
}

function checkOrder(model: MultimodalModelLike, order: readonly string[]): void {
  const unknown = order.filter((m) => !model.modalities.includes(m));
  if (unknown.length > 0) {
    throw new IgmArgumentError(
      `stageWise: order names ${unknown.map((m) => JSON.stringify(m)).join(', ')}, not a modality of the model (${model.modalities.join(', ')}).`,
    );
  }
}

export type RunStageWiseOptions = Omit<RunOptions, 'epochs' | 'stages' | 'onStageStart' | 'step'> &
  StageWiseOptions & {
    /** Default `unimodalStep()`. */
    readonly step?: TrainerStep;
  };

/**
 * Stage-wise alternating training in one call: `runTraining` with the stages of `epochList`,
 * best-checkpoint reloads, optimizer resets and the `beforeStage` hook.
 */
export async function runStageWise(options: RunStageWiseOptions): Promise<RunSummary> {
  const { order, epochList, reloadBest, beforeStage, step, ...run } = options;
  checkOrder(options.model, order);
  const plan = stageWise({
    order,
    epochList,
    ...(reloadBest !== undefined ? { reloadBest } : {}),
    ...(beforeStage ? { beforeStage } : {}),
  });
  return runTraining({
    ...run,
    step: step ?? unimodalStep(),
    stages: plan.stages,
    onStageStart: plan.onStageStart,
  });
}
