import * as tf from '@tensorflow/tfjs-core';
import { checkKnownKeys, checkNumber, IgmArgumentError } from '../errors';
import type { GradientTransform, Grads, ScalarOrSchedule, StepContext } from '../types';
import { markSgdTail } from './sgd-tail';

/** Multiplies every gradient by a constant: `out = k * d` (optax `scale`). */
export function scale(k: number): GradientTransform<null> {
  const factor = checkNumber('scale', 'k', k);
  return {
    name: 'scale',
    init: () => null,
    update(grads) {
      const out: Grads = new Map();
      for (const [key, d] of grads) out.set(key, tf.mul(d, factor));
      return out;
    },
    state: () => [],
  };
}

export interface ScaleByLearningRateOptions {
  /** Name under which the current rate is logged each step. Default `'lr'`. */
  logAs?: string;
}

/**
 * Turns a descent direction into the update added to the parameters (optax
 * `scale_by_learning_rate`):
 *
 *   lr = learningRate                  or learningRate({ step, epoch }) for a schedule
 *   u  = -lr * d
 *
 * The rate is applied to the whole direction (PyTorch applies the current lr to the whole
 * momentum buffer), so a schedule never mixes scales inside a momentum buffer
 * (docs/algorithms/optimizers.md#sgd). The value used is logged as `'lr'` (or `logAs`) through
 * `ctx.log` every step.
 *
 * Right after `traceMomentum` in a `chain`, the two (with an `addDecayedWeights` before them)
 * update each parameter in one `IgmSgdMomentumUpdate` kernel where the backend has it, with
 * the same result bit for bit.
 */
export function scaleByLearningRate(
  learningRate: ScalarOrSchedule,
  options: ScaleByLearningRateOptions = {},
): GradientTransform<null> {
  checkKnownKeys('scaleByLearningRate', options, ['logAs']);
  const logAs = options.logAs ?? 'lr';
  if (typeof learningRate === 'number') {
    checkNumber('scaleByLearningRate', 'learningRate', learningRate, { min: 0 });
  } else if (typeof learningRate !== 'function') {
    throw new IgmArgumentError(
      `scaleByLearningRate: received learningRate=${String(learningRate)}. Expected a number >= 0 or a schedule ({ step, epoch }) => number.`,
    );
  }
  const rate = (ctx: StepContext): number => {
    const lr =
      typeof learningRate === 'number'
        ? learningRate
        : checkNumber(
            'scaleByLearningRate',
            `schedule value at step ${ctx.step}, epoch ${ctx.epoch}`,
            learningRate({ step: ctx.step, epoch: ctx.epoch }),
            { min: 0 },
          );
    ctx.log(logAs, lr);
    return lr;
  };
  const t: GradientTransform<null> = {
    name: 'scaleByLearningRate',
    init: () => null,
    update(grads, _state, ctx) {
      const lr = rate(ctx);
      const out: Grads = new Map();
      for (const [key, d] of grads) out.set(key, tf.mul(d, -lr));
      return out;
    },
    state: () => [],
  };
  return markSgdTail(t, { role: 'learningRate', rate });
}
