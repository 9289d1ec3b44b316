/**
 * Cross-entropy losses with integer labels, written with tfjs-core functional ops.
 *
 *   crossEntropy(z, y)          = mean_i  -log softmax(z_i)[y_i]
 *   crossEntropyFromProbs(p, y) = mean_i  -log max(p_i[y_i], 1e-12)
 *   softCrossEntropy(z, q)      = mean_i  -sum_c q_ic log softmax(z_i)_c   (mixup targets)
 */

import { IgmArgumentError, softmaxCrossEntropy } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';

function checkLogits(who: string, logits: tf.Tensor, labels: tf.Tensor): void {
  if (logits.rank !== 2) {
    throw new IgmArgumentError(
      `${who}: received logits of shape [${logits.shape}]. Expected [batch, classes].`,
    );
  }
  if (labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new IgmArgumentError(
      `${who}: received labels of shape [${labels.shape}] for logits [${logits.shape}]. Expected integer labels of shape [${logits.shape[0]}].`,
    );
  }
}

/** One-hot float32 targets of integer `labels` ([B] -> [B, C]). */
export function oneHotTargets(labels: tf.Tensor, numClasses: number): tf.Tensor2D {
  return tf.cast(
    tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, numClasses),
    'float32',
  ) as tf.Tensor2D;
}

/**
 * Mean softmax cross-entropy of `logits` [B, C] against integer `labels` [B]: @igm/core's
 * `softmaxCrossEntropy` (two fused kernels where the backend has them, else the composition
 * `softCrossEntropy(logits, oneHotTargets(labels))`; the same bits either way).
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  checkLogits('crossEntropy', logits, labels);
  return softmaxCrossEntropy(logits, labels);
}

/** Mean cross-entropy against soft targets `targets` [B, C] (rows sum to 1). */
export function softCrossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, logp), -1))) as tf.Scalar;
  });
}

/** Per-sample softmax cross-entropy [B] of `logits` against integer `labels`. */
export function crossEntropyPerSample(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor1D {
  checkLogits('crossEntropyPerSample', logits, labels);
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    return tf.neg(tf.sum(tf.mul(oneHotTargets(labels, logits.shape[1]!), logp), -1)) as tf.Tensor1D;
  });
}

/** Mean negative log-likelihood of class scores `probs` [B, C] (e.g. a mean of softmaxes). */
export function crossEntropyFromProbs(probs: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  checkLogits('crossEntropyFromProbs', probs, labels);
  return tf.tidy(() => {
    const p = tf.sum(tf.mul(probs, oneHotTargets(labels, probs.shape[1]!)), -1);
    return tf.neg(tf.mean(tf.log(tf.maximum(p, 1e-12)))) as tf.Scalar;
  });
}
