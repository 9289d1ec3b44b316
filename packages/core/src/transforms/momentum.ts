import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNumber, IgmArgumentError } from '../errors';
import type { GradientTransform, Grads } from '../types';
import { markSgdTail } from './sgd-tail';
import { checkKeys, namedSlots, requireSlots, zerosLikeParam } from './state';

export interface TraceMomentumOptions {
  /** Momentum coefficient mu in [0, 1]. */
  momentum: number;
  /** Nesterov momentum (Sutskever et al. 2013, PyTorch's formulation). Default false. */
  nesterov?: boolean;
}

export interface TraceMomentumState {
  readonly kind: 'traceMomentum';
  readonly slots: Map<string, { buf: tf.Variable }>;
}

/**
 * Heavy-ball momentum with PyTorch `SGD` semantics (dampening 0; optax `trace`):
 *
 *   buf = d                     on the key's first step
 *   buf = mu * buf + d          afterwards
 *   out = buf                   (nesterov: out = d + mu * buf)
 *
 * The buffer is per parameter key and starts at zero, so `mu * 0 + d = d` exactly reproduces
 * PyTorch's lazily created per-parameter buffer: a key that first receives a gradient at step
 * 3 starts its buffer at its own d then. Keys absent from `grads` keep their buffer untouched
 * (PyTorch skips parameters whose `.grad` is None). `tf.train.momentum` has the same recursion.
 *
 * Followed by `scaleByLearningRate` in a `chain` (as in `sgd`), the pair updates each parameter
 * in one `IgmSgdMomentumUpdate` kernel where the backend has it, bit for bit as the ops here.
 */
export function traceMomentum(
  options: TraceMomentumOptions,
): GradientTransform<TraceMomentumState> {
  checkKnownKeys('traceMomentum', options, ['momentum', 'nesterov']);
  const mu = checkNumber('traceMomentum', 'momentum', options?.momentum, { min: 0, max: 1 });
  const nesterov = options.nesterov ?? false;
  if (typeof nesterov !== 'boolean') {
    throw new IgmArgumentError(
      `traceMomentum: received nesterov=${String(nesterov)}. Expected true or false.`,
    );
  }
  if (nesterov && mu === 0) {
    throw new IgmArgumentError(
      'traceMomentum: received nesterov=true with momentum=0. Nesterov needs momentum > 0.',
    );
  }
  const t: GradientTransform<TraceMomentumState> = {
    name: 'traceMomentum',
    init(params) {
      const slots = new Map<string, { buf: tf.Variable }>();
      for (const [key, p] of params) slots.set(key, { buf: zerosLikeParam('momentum', p, 'buf') });
      return { kind: 'traceMomentum', slots };
    },
    update(grads, state) {
      requireSlots('traceMomentum', state);
      checkKeys('traceMomentum', grads, state.slots);
      const out: Grads = new Map();
      for (const [key, d] of grads) {
        const { buf } = state.slots.get(key)!;
        const next = tf.add(tf.mul(buf, mu), d);
        buf.assign(next);
        out.set(key, nesterov ? tf.add(d, tf.mul(next, mu)) : next);
      }
      return out;
    },
    state(s) {
      requireSlots('traceMomentum', s);
      return namedSlots(s.slots as Map<string, Record<string, tf.Variable>>);
    },
  };
  return markSgdTail(t, { role: 'momentum', momentum: mu, nesterov });
}
