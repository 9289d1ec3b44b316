import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, IgmArgumentError } from '../errors';
import type { GradientTransform, Grads } from '../types';
import { markSgdTail } from './sgd-tail';

/**
 * Adds L2 weight decay to the gradient (PyTorch `weight_decay`, optax `add_decayed_weights`):
 *
 *   d = g + wd * theta
 *
 * Placed before the preconditioner it is coupled L2 (PyTorch `SGD`/`Adam(weight_decay)`);
 * placed after `scaleByAdam` it is decoupled decay (PyTorch `AdamW`, Loshchilov & Hutter 2019).
 * Keys absent from `grads` are not decayed this step. `wd = 0` is a pass-through without state.
 * Right before `traceMomentum` and `scaleByLearningRate` in a `chain`, it joins their fused
 * `IgmSgdMomentumUpdate` kernel (see `traceMomentum`).
 */
export function addDecayedWeights(weightDecay: number): GradientTransform<null> {
  const wd = checkNumber('addDecayedWeights', 'weightDecay', weightDecay, { min: 0 });
  const t: GradientTransform<null> = {
    name: 'addDecayedWeights',
    init: () => null,
    update(grads, _state, ctx) {
      if (wd === 0) return grads;
      const out: Grads = new Map();
      for (const [key, g] of grads) {
        const p = ctx.params.get(key);
        if (!p) {
          throw new IgmArgumentError(
            `addDecayedWeights: gradient for key "${key}" has no parameter in the step context. ` +
              `Known keys: ${[...ctx.params.keys()].join(', ')}.`,
          );
        }
        out.set(key, tf.add(g, tf.mul(p.variable, wd)));
      }
      return out;
    },
    state: () => [],
  };
  return markSgdTail(t, { role: 'decay', weightDecay: wd });
}
