/**
 * Unimodal training (docs/algorithms/joint-unimodal.md#baselines): one encoder + Dense(d -> C)
 * per modality, CE only.
 *
 *   L = sum_m CE(logits/m, y)
 *
 * The modalities share no parameter, so the gradient of the sum with respect to modality m's
 * parameters is exactly the gradient of CE(logits/m, y): this is M independent unimodal models
 * trained side by side on the same batches (with per-parameter optimizers such as SGD/Adam; a
 * global-norm clip would couple them and is not used). The fused output (mean of the unimodal
 * softmaxes) is a late-fusion ensemble of the unimodal models; per-modality accuracy is each
 * unimodal model's ("separate head" protocol). Works for any number of modalities.
 */
import type { LossFn } from '@igm/core';
import { lossOnOutput, type TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';

export function unimodalSumStep(): TrainerStep {
  return {
    name: 'unimodal',
    describe: () => ({ step: 'unimodal (sum of independent per-modality CE)' }),
    run(tools) {
      const { inputs, labels } = tools.batch;
      const lossFn: LossFn = (pass) => {
        const outputs = tools.model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
        });
        const parts = tools.model.modalities.map((m) => {
          const l = lossOnOutput(outputs, `logits/${m}`, labels, 'unimodalSumStep');
          tools.log(`loss/${m}`, l);
          return l;
        });
        return { loss: tf.addN(parts) as tf.Scalar, outputs };
      };
      return tools.minimize(lossFn);
    },
  };
}
