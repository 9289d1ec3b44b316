import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNumber, IgmArgumentError } from '../errors';
import type { GradientTransform, Grads } from '../types';
import { checkKeys, counter, namedSlots, requireSlots, zerosLikeParam } from './state';

export interface ScaleByAdamOptions {
  /** First-moment decay. Default 0.9. */
  beta1?: number;
  /** Second-moment decay. Default 0.999 (PyTorch; IGM text-image and PMR use 0.99). */
  beta2?: number;
  /** Added to sqrt(v_hat). Default 1e-8 (PyTorch; `tf.train.adam` uses 1e-7). */
  eps?: number;
}

export interface ScaleByAdamState {
  readonly kind: 'scaleByAdam';
  readonly slots: Map<string, { m: tf.Variable; v: tf.Variable; count: tf.Variable }>;
}

/**
 * Adam's preconditioner (Kingma & Ba 2015) with PyTorch `Adam` semantics (optax
 * `scale_by_adam`), per parameter key:
 *
 *   t = t + 1                                  (the key's own step count)
 *   m = beta1 * m + (1 - beta1) * d
 *   v = beta2 * v + (1 - beta2) * d^2
 *   out = (m / (1 - beta1^t)) / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * i.e. m_hat / (sqrt(v_hat) + eps) with eps outside the square root, as PyTorch. A key that
 * first receives a gradient late starts at t = 1 then; keys absent from `grads` keep m, v, t.
 */
export function scaleByAdam(options: ScaleByAdamOptions = {}): GradientTransform<ScaleByAdamState> {
  checkKnownKeys('scaleByAdam', options, ['beta1', 'beta2', 'eps']);
  const b1 = checkNumber('scaleByAdam', 'beta1', options.beta1 ?? 0.9, { min: 0, max: 1 });
  const b2 = checkNumber('scaleByAdam', 'beta2', options.beta2 ?? 0.999, { min: 0, max: 1 });
  const eps = checkNumber('scaleByAdam', 'eps', options.eps ?? 1e-8, { min: 0 });
  for (const [field, value] of [
    ['beta1', b1],
    ['beta2', b2],
  ] as const) {
    if (value === 1) {
      throw new IgmArgumentError(
        `scaleByAdam: received ${field}=1. Expected a number in [0, 1): with 1 the bias correction divides by zero.`,
      );
    }
  }
  return {
    name: 'scaleByAdam',
    init(params) {
      const slots: ScaleByAdamState['slots'] = new Map();
      for (const [key, p] of params) {
        slots.set(key, {
          m: zerosLikeParam('adam', p, 'm'),
          v: zerosLikeParam('adam', p, 'v'),
          count: counter('adam', key),
        });
      }
      return { kind: 'scaleByAdam', slots };
    },
    update(grads, state) {
      requireSlots('scaleByAdam', state);
      checkKeys('scaleByAdam', grads, state.slots);
      const out: Grads = new Map();
      for (const [key, d] of grads) {
        const { m, v, count } = state.slots.get(key)!;
        const t = tf.add(count, 1);
        const m1 = tf.add(tf.mul(m, b1), tf.mul(d, 1 - b1));
        const v1 = tf.add(tf.mul(v, b2), tf.mul(tf.square(d), 1 - b2));
        const bc1 = tf.sub(1, tf.pow(tf.scalar(b1), t));
        const bc2 = tf.sub(1, tf.pow(tf.scalar(b2), t));
        const denom = tf.add(tf.div(tf.sqrt(v1), tf.sqrt(bc2)), eps);
        out.set(key, tf.div(tf.div(m1, bc1), denom));
        m.assign(m1);
        v.assign(v1);
        count.assign(t);
      }
      return out;
    },
    state(s) {
      requireSlots('scaleByAdam', s);
      return namedSlots(s.slots as unknown as Map<string, Record<string, tf.Variable>>);
    },
  };
}
