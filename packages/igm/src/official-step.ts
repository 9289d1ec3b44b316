/**
 * IGM's step with the released code's semantics (`train_CREMA.py` L78-128;
 * docs/algorithms/igm.md#official-step), for the modality j of the current stage:
 *
 *   lambda ~ Beta(alpha, alpha);  pi = permutation;  x~ = lambda x_j + (1 - lambda) x_j[pi]
 *   f = enc_j(x~; theta_e);  o = head_j(f; theta_h)                    (BN statistics update once)
 *   L_ori,i  = lambda CE(o_i, y_i) + (1 - lambda) CE(o_i, y_pi(i))
 *   g        = grad_{theta_e, theta_h} mean(L_ori)
 *   eps_p    = rho_enc g_p / ||g_p||_F  (encoder tensors);  rho_cls g_p / ||g_p||_F  (head)
 *              PER TENSOR; eps_p = 0 where g_p = 0 (the reference gives NaN there)
 *   o'       = head_j(f; theta_h + eps_h)          head only, on the same features f
 *   L_flat,i = CE(o'_i, y_i)                        UNMIXED labels with mixed inputs
 *   L        = (1 - beta) mean(L_ori) + beta mean(L_flat),  beta = 0.3
 *   G        = grad_{theta_e, theta_h} L            (L_flat reaches theta_e through f)
 *   theta   <- theta + eps                          NEVER undone
 *   then the transform chain on G (flat projection, SGD with decay on theta + eps)
 *
 * Implementation: G = (1 - beta) g + beta grad L_flat, by linearity. The second gradient is
 * taken with the head variables set to theta_h + eps_h and a re-run of the encoder at theta_e
 * with frozen BatchNorm statistics, which reproduces f exactly (same weights, same batch,
 * batch statistics) without updating the moving averages twice.
 *
 * With the official rho (1e-10 / 1e-15) the perturbation is numerically zero in float32 and
 * the step is mixup with skewed label weights (docs/algorithms/igm.md#official-step).
 */

import { drawMixup, type MixupDraw, mixInputs, mixupLossPerSample } from '@igm/alternating-trainer';
import { checkKnownKeys, checkNumber, type Grads, IgmArgumentError, type LossFn } from '@igm/core';
import { crossEntropy, crossEntropyPerSample, type TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';

export interface OfficialStepOptions {
  /** Mixup alpha (1.0 on CREMA-D, KS, NVGesture, Sarcasm; 0.9 on Twitter-2015); false: no mixup (text). */
  readonly mixup?: { readonly alpha: number } | false;
  /** rho of the encoder tensors (official 1e-10; 1e-15 on NVGesture and text-image). */
  readonly rhoEncoder?: number;
  /** rho of the head tensors (same defaults). */
  readonly rhoHead?: number;
  /** beta, the weight of the flat loss (`flat_ratio`, 0.3). */
  readonly flatRatio?: number;
}

/** Per-tensor perturbation eps_p = rho_p g_p / ||g_p||_F (0 when g_p = 0). */
export function perTensorPerturbation(g: tf.Tensor, rho: number): tf.Tensor {
  return tf.tidy(() => {
    const norm = tf.sqrt(tf.sum(tf.square(g)));
    const safe = tf.where(tf.greater(norm, 0), norm, tf.onesLike(norm));
    return tf.mul(tf.div(g, safe), rho);
  });
}

export function officialStep(options: OfficialStepOptions = {}): TrainerStep {
  const where = 'officialStep';
  checkKnownKeys(where, options, ['mixup', 'rhoEncoder', 'rhoHead', 'flatRatio']);
  const alpha =
    options.mixup === false
      ? 0
      : checkNumber(where, 'mixup.alpha', options.mixup?.alpha ?? 1.0, {
          min: 0,
          minExclusive: true,
        });
  const rhoEnc = checkNumber(where, 'rhoEncoder', options.rhoEncoder ?? 1e-10, { min: 0 });
  const rhoHead = checkNumber(where, 'rhoHead', options.rhoHead ?? 1e-10, { min: 0 });
  const beta = checkNumber(where, 'flatRatio', options.flatRatio ?? 0.3, { min: 0, max: 1 });
  return {
    name: 'igm-official',
    describe: () => ({
      step: 'igm-official',
      mixup: alpha > 0 ? { alpha } : false,
      rhoEncoder: rhoEnc,
      rhoHead,
      flatRatio: beta,
    }),
    run(tools) {
      const m = tools.stage;
      if (m === undefined) {
        throw new IgmArgumentError(
          `${where}: the run has no stages. IGM trains one modality per stage (runStageWise / igm()).`,
        );
      }
      const { inputs, labels } = tools.batch;
      const params = tools.params;
      const keys = tools.modalityKeys(m);
      const isHead = (k: string): boolean => params.get(k)!.group === `head/${m}`;
      const draw: MixupDraw | null =
        alpha > 0 ? drawMixup(tools.rng, alpha, labels.shape[0]) : null;
      if (draw) tools.log('mixup/lambda', draw.lambda);
      const mixed = { ...inputs, [m]: draw ? mixInputs(inputs[m]!, draw) : inputs[m]! };
      const forward = (batchStatistics: 'update' | 'frozen') =>
        tools.model.forward(mixed, { training: true, batchStatistics, modalities: [m] });

      // Pass 1: L_ori at theta (BN statistics update once).
      const oriFn: LossFn = () => {
        const outputs = forward('update');
        const logits = outputs[`logits/${m}`]!;
        const loss = draw
          ? (tf.mean(mixupLossPerSample(logits, labels, draw)) as tf.Scalar)
          : crossEntropy(logits, labels);
        return { loss, outputs };
      };
      const ori = tools.gradients(oriFn, keys, { batchStatistics: 'update' });

      // Per-tensor eps; the head moves to theta_h + eps_h for the flat pass.
      const eps = new Map<string, tf.Tensor>();
      for (const k of keys) {
        const g = ori.grads.get(k);
        if (g) eps.set(k, perTensorPerturbation(g, isHead(k) ? rhoHead : rhoEnc));
      }
      for (const k of keys) {
        if (isHead(k) && eps.has(k)) {
          const v = params.get(k)!.variable;
          v.assign(tf.add(v, eps.get(k)!));
        }
      }
      // Pass 2: L_flat = CE(head(f; theta_h + eps_h), y) with unmixed labels.
      const flatFn: LossFn = () => {
        const outputs = forward('frozen');
        return {
          loss: tf.mean(crossEntropyPerSample(outputs[`logits/${m}`]!, labels)) as tf.Scalar,
          outputs,
        };
      };
      const flat = tools.gradients(flatFn, keys, { batchStatistics: 'frozen' });
      // theta <- theta + eps for the encoder too (never undone).
      for (const k of keys) {
        if (!isHead(k) && eps.has(k)) {
          const v = params.get(k)!.variable;
          v.assign(tf.add(v, eps.get(k)!));
        }
      }
      const G: Grads = new Map();
      for (const k of keys) {
        const a = ori.grads.get(k);
        const b = flat.grads.get(k);
        if (a && b) G.set(k, tf.add(tf.mul(a, 1 - beta), tf.mul(b, beta)));
        else if (a) G.set(k, tf.mul(a, 1 - beta));
        else if (b) G.set(k, tf.mul(b, beta));
      }
      tools.log('loss/ori', ori.loss);
      tools.log('loss/flat', flat.loss);
      tools.apply(G, { keys, outputs: ori.outputs });
      return tf.add(tf.mul(ori.loss, 1 - beta), tf.mul(flat.loss, beta)) as tf.Scalar;
    },
  };
}
