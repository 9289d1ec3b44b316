/**
 * MLA's decision log: MLA (CVPR 2024; docs/algorithms/mla.md#test-time-fusion) fuses at test
 * time with entropy weights w_m = softmax_m(-H_m) (per sample, or per batch in the released
 * code) or fixed weights. The batch-wise step itself does not form them, so
 * {@link withFusionWeightLog} wraps it: after the modality steps it runs the model in inference
 * mode on the batch and logs `mla/fusion/<m>`, the batch mean of each modality's fusion weight
 * (fixed weights are logged as they are).
 */
import { entropyWeightedLogits, type FusionRule } from '@igm/models';
import type { TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';

export function withFusionWeightLog(step: TrainerStep, fusion: FusionRule): TrainerStep {
  return {
    ...step,
    name: step.name,
    run(tools) {
      const loss = step.run(tools);
      const mods = tools.model.modalities;
      if (fusion.type === 'fixed') {
        const w = fusion.weights;
        mods.forEach((m, i) => {
          tools.log(
            `mla/fusion/${m}`,
            Array.isArray(w) ? (w as number[])[i]! : (w as Record<string, number>)[m]!,
          );
        });
        return loss;
      }
      if (fusion.type !== 'entropy') return loss;
      const weights = tf.tidy(() => {
        const out = tools.model.forward(tools.batch.inputs, { training: false });
        const { weights } = entropyWeightedLogits(
          mods.map((m) => out[`logits/${m}`]!),
          fusion.axis ?? 'sample',
        );
        return weights.rank === 2 ? tf.mean(weights, 0) : weights;
      });
      const values = weights.dataSync();
      weights.dispose();
      mods.forEach((m, i) => {
        tools.log(`mla/fusion/${m}`, values[i]!);
      });
      return loss;
    },
  };
}
