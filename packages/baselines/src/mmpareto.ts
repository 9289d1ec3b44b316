/**
 * MMPareto (Wei & Hu, ICML 2024; docs/algorithms/mmpareto.md): per modality, the multimodal
 * gradient and the unimodal gradient of the encoder are combined with MGDA weights when they
 * conflict, then rescaled.
 *
 *   G = grad(L_mm + sum_m L_m) (all parameters);  g_mm = grad L_mm (encoders)
 *   g_m = G - g_mm on encoder m's tensors (L_m depends on modality m's parameters only)
 *   per modality m:  cos_m = cosine(flat g_mm|m, flat g_m)
 *     (k1, k2) = (1/2, 1/2) if cos_m > 0 else (c, 1 - c), c = minNorm2(g_mm|m, g_m)
 *   per encoder tensor p of m (BN gamma/beta included):
 *     new = 2 k1 g_mm[p] + 2 k2 g_m[p];  r = ||G[p]|| / ||new||
 *     grad[p] = gamma new r if r > 1 else gamma new         gamma = 1.5 (hard-coded in the code)
 *   heads and fusion keep G
 *
 * Two backward passes suffice (g_m = G - g_mm); BN moving statistics update once (the g_mm pass
 * runs with frozen statistics). Works for any number of modalities (each pairs with L_mm).
 * Logs `mmpareto/cos/<m>`, `mmpareto/weight/<m>` (k1, the multimodal weight; k2 = 1 - k1).
 */
import {
  checkKnownKeys,
  checkNumber,
  type Grads,
  IgmArgumentError,
  type LossFn,
  type MultimodalModelLike,
  type Param,
} from '@igm/core';
import { lossOnOutput, type TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { encoderModality, requireEncoderGroups } from './common';

/**
 * MGDA's two-vector min-norm weight c of v1 (1 - c of v2), from the dot products:
 * v12 >= v11 -> 0.999; v12 >= v22 -> 0.001; else (v22 - v12) / (v11 + v22 - 2 v12).
 */
export function minNormWeight(v11: number, v12: number, v22: number): number {
  if (v12 >= v11) return 0.999;
  if (v12 >= v22) return 0.001;
  return (v22 - v12) / (v11 + v22 - 2 * v12);
}

export interface MmParetoDecision {
  readonly cosine: Record<string, number>;
  /** k1 per modality (the multimodal gradient's weight; the unimodal one gets 1 - k1). */
  readonly weight: Record<string, number>;
}

/**
 * Combines the gradients as the module doc says. `total` is G (every trained key), `multimodal`
 * g_mm (at least the encoder keys). Returns new gradients for every key of `total`.
 */
export function mmParetoCombine(
  total: Grads,
  multimodal: Grads,
  params: ReadonlyMap<string, Param>,
  gamma = 1.5,
): { grads: Grads; decision: MmParetoDecision } {
  const byModality = new Map<string, string[]>();
  for (const key of total.keys()) {
    const p = params.get(key);
    const m = p ? encoderModality(p) : undefined;
    if (m === undefined) continue;
    if (!multimodal.has(key)) {
      throw new IgmArgumentError(
        `mmParetoCombine: no multimodal gradient for encoder tensor "${key}". Differentiate L_mm with respect to every encoder key.`,
      );
    }
    const list = byModality.get(m) ?? [];
    list.push(key);
    byModality.set(m, list);
  }
  const out: Grads = new Map(total);
  const cosine: Record<string, number> = {};
  const weight: Record<string, number> = {};
  for (const [m, keys] of byModality) {
    const uni = new Map(keys.map((k) => [k, tf.sub(total.get(k)!, multimodal.get(k)!)]));
    const dots = tf.tidy(() => {
      let v11: tf.Tensor = tf.scalar(0);
      let v12: tf.Tensor = tf.scalar(0);
      let v22: tf.Tensor = tf.scalar(0);
      for (const k of keys) {
        const a = multimodal.get(k)!;
        const b = uni.get(k)!;
        v11 = tf.add(v11, tf.sum(tf.mul(a, a)));
        v12 = tf.add(v12, tf.sum(tf.mul(a, b)));
        v22 = tf.add(v22, tf.sum(tf.mul(b, b)));
      }
      return tf.stack([v11, v12, v22]);
    });
    const [v11, v12, v22] = Array.from(dots.dataSync()) as [number, number, number];
    dots.dispose();
    const cos = v12 / (Math.sqrt(v11) * Math.sqrt(v22) + 1e-12);
    const k1 = cos > 0 ? 0.5 : minNormWeight(v11, v12, v22);
    const k2 = cos > 0 ? 0.5 : 1 - k1;
    cosine[m] = cos;
    weight[m] = k1;
    for (const k of keys) {
      const G = total.get(k)!;
      const next = tf.tidy(() => {
        const combined = tf.add(tf.mul(multimodal.get(k)!, 2 * k1), tf.mul(uni.get(k)!, 2 * k2));
        const r = tf.div(tf.norm(G), tf.maximum(tf.norm(combined), 1e-30));
        // grad = gamma * new * max(r, 1); a zero `new` stays zero.
        const scaleBy = tf.where(tf.greater(r, 1), r, tf.onesLike(r));
        return tf.mul(combined, tf.mul(scaleBy, gamma));
      });
      out.set(k, next);
    }
    tf.dispose([...uni.values()]);
  }
  return { grads: out, decision: { cosine, weight } };
}

export interface MmParetoStepOptions {
  /** Rescale factor gamma (default 1.5, hard-coded in the reference). */
  readonly gamma?: number;
}

/**
 * The MMPareto trainer step: L = CE(logits/fused) + sum_m CE(logits/m) on a model with a fusion
 * head and one auxiliary head per modality ({@link withAuxiliaryHeads}).
 */
export function mmParetoStep(options: MmParetoStepOptions = {}): TrainerStep {
  checkKnownKeys('mmParetoStep', options, ['gamma']);
  const gamma = checkNumber('mmParetoStep', 'gamma', options.gamma ?? 1.5, { min: 0 });
  return {
    name: 'mmpareto',
    describe: () => ({ step: 'mmpareto', gamma }),
    validate(model: MultimodalModelLike) {
      if (model.modalities.length < 2) {
        throw new IgmArgumentError(
          `mmParetoStep: the model has ${model.modalities.length} modality; MMPareto needs at least 2.`,
        );
      }
      // The combination acts on the `encoder/<m>` groups; a modality without one would silently
      // get plain joint gradients.
      requireEncoderGroups('mmParetoStep', model);
    },
    run(tools) {
      const { inputs, labels } = tools.batch;
      const lossFn: LossFn = (pass) => {
        const outputs = tools.model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
        });
        if (pass.loss !== undefined) {
          return { loss: lossOnOutput(outputs, pass.loss, labels, 'mmParetoStep'), outputs };
        }
        let loss = lossOnOutput(outputs, 'logits/fused', labels, 'mmParetoStep');
        for (const m of tools.model.modalities) {
          loss = tf.add(loss, lossOnOutput(outputs, `logits/${m}`, labels, 'mmParetoStep'));
        }
        return { loss, outputs };
      };
      const all = tools.gradients(lossFn, undefined, { batchStatistics: 'update' });
      const encoderKeys = [...tools.params.values()]
        .filter((p) => encoderModality(p) !== undefined)
        .map((p) => p.key);
      const mm = tools.gradients(lossFn, encoderKeys, {
        batchStatistics: 'frozen',
        loss: 'logits/fused',
      });
      const { grads, decision } = mmParetoCombine(all.grads, mm.grads, tools.params, gamma);
      for (const m of Object.keys(decision.cosine)) {
        tools.log(`mmpareto/cos/${m}`, decision.cosine[m]!);
        tools.log(`mmpareto/weight/${m}`, decision.weight[m]!);
      }
      tools.apply(grads, { outputs: all.outputs });
      return all.loss;
    },
  };
}
