/**
 * Batch-wise alternation (MLA, CVPR 2024; docs/algorithms/mla.md#alternating-loop): on every
 * batch, one optimizer step per modality, in order, on a head shared by all modalities:
 *
 *   for m in order:
 *     L_m = CE(head(enc_m(x_m)), y)          head as already updated by earlier modalities
 *     g = dL_m/d(theta_enc_m, theta_head);  u = transform(g, ctx with ctx.stage = m);  apply
 *
 * Parameters of the other encoders get no gradient in modality m's step, so transforms leave
 * them untouched (no decay, no momentum): the project's reading of MLA's torch-1.8 quirk.
 * The MLA head projection (OWM, `orthogonalProjection` in @igm/flat-projection) is a transform
 * in the chain; it sees `ctx.stage` and the head inputs in `ctx.outputs`.
 */

import {
  checkKnownKeys,
  emptySelectionError,
  IgmArgumentError,
  type LossFn,
  type MultimodalModelLike,
} from '@igm/core';
import {
  crossEntropy,
  type RunOptions,
  type RunSummary,
  runTraining,
  type TrainerStep,
} from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';

export interface BatchWiseOptions {
  /** Modalities in the order of their steps within a batch (MLA: audio, visual[, text]). */
  readonly order: readonly string[];
  /** Group of the shared head's parameters. Default 'head/shared'. */
  readonly headGroup?: string;
}

export function batchWiseStep(options: BatchWiseOptions): TrainerStep {
  checkKnownKeys('batchWiseStep', options, ['order', 'headGroup']);
  const order = options.order;
  if (!Array.isArray(order) || order.length === 0) {
    throw new IgmArgumentError(
      `batchWiseStep: received order=${JSON.stringify(order)}. Expected the modalities in step order, e.g. ["audio", "visual"].`,
    );
  }
  const headGroup = options.headGroup ?? 'head/shared';
  return {
    name: 'batch-wise',
    describe: () => ({ step: 'batch-wise', order, headGroup }),
    validate(model: MultimodalModelLike) {
      const unknown = order.filter((m) => !model.modalities.includes(m));
      if (unknown.length > 0) {
        throw new IgmArgumentError(
          `batchWiseStep: order names ${unknown.join(', ')}, not a modality of the model (${model.modalities.join(', ')}).`,
        );
      }
      const params = model.params();
      if (!params.some((p) => p.group === headGroup)) {
        throw emptySelectionError(
          'batchWiseStep',
          `headGroup "${headGroup}"`,
          params,
          'MLA needs one head shared by all modalities (a MultimodalModel with a shared head), or pass headGroup.',
        );
      }
    },
    run(tools) {
      const { inputs, labels } = tools.batch;
      const headKeys = [...tools.params.values()]
        .filter((p) => p.group === headGroup)
        .map((p) => p.key);
      let total: tf.Scalar = tf.scalar(0);
      for (const m of order) {
        const encKeys = [...tools.params.values()]
          .filter((p) => p.group === `encoder/${m}`)
          .map((p) => p.key);
        const lossFn: LossFn = (pass) => {
          const outputs = tools.model.forward(inputs, {
            training: true,
            batchStatistics: pass.batchStatistics,
            modalities: [m],
          });
          return { loss: crossEntropy(outputs[`logits/${m}`]!, labels), outputs };
        };
        const loss = tools.minimize(lossFn, { keys: [...encKeys, ...headKeys], stage: m });
        tools.log(`loss/${m}`, loss);
        total = tf.add(total, loss);
      }
      return total;
    },
  };
}

export type RunBatchWiseOptions = Omit<RunOptions, 'step'> & BatchWiseOptions;

/** Batch-wise alternating training (MLA) in one call. */
export async function runBatchWise(options: RunBatchWiseOptions): Promise<RunSummary> {
  const { order, headGroup, ...run } = options;
  return runTraining({
    ...run,
    step: batchWiseStep({ order, ...(headGroup !== undefined ? { headGroup } : {}) }),
  });
}
