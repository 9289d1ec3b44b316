/**
 * Mixup (Zhang et al., ICLR 2018) on one modality's input, with the run's seeded RNG:
 *
 *   lambda ~ Beta(alpha, alpha);  pi = random permutation of the batch
 *   x~ = lambda x + (1 - lambda) x[pi]
 *   L  = lambda CE(o, y) + (1 - lambda) CE(o, y[pi])
 */

import { checkNumber, type Rng } from '@igm/core';
import { crossEntropyPerSample } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';

export interface MixupDraw {
  readonly lambda: number;
  /** int32 [B] permutation of the batch. */
  readonly permutation: tf.Tensor1D;
}

/** Draws lambda and the permutation (two RNG uses, in this order: Beta, then permutation). */
export function drawMixup(rng: Rng, alpha: number, batchSize: number): MixupDraw {
  checkNumber('mixup', 'alpha', alpha, { min: 0, minExclusive: true });
  const lambda = rng.beta(alpha, alpha);
  const permutation = tf.tensor1d(rng.permutation(batchSize), 'int32');
  return { lambda, permutation };
}

/** x~ = lambda x + (1 - lambda) x[pi]. */
export function mixInputs(x: tf.Tensor, draw: MixupDraw): tf.Tensor {
  return tf.tidy(() =>
    tf.add(tf.mul(x, draw.lambda), tf.mul(tf.gather(x, draw.permutation), 1 - draw.lambda)),
  );
}

/** Per-sample mixup loss lambda CE(o_i, y_i) + (1 - lambda) CE(o_i, y_pi(i)), shape [B]. */
export function mixupLossPerSample(
  logits: tf.Tensor,
  labels: tf.Tensor,
  draw: MixupDraw,
): tf.Tensor1D {
  return tf.tidy(
    () =>
      tf.add(
        tf.mul(crossEntropyPerSample(logits, labels), draw.lambda),
        tf.mul(crossEntropyPerSample(logits, tf.gather(labels, draw.permutation)), 1 - draw.lambda),
      ) as tf.Tensor1D,
  );
}
