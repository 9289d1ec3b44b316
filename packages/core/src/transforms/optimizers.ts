/**
 * The classic optimizers as chains of the base transforms (optax style). Each equals the
 * PyTorch optimizer of the same name step for step, including per-parameter state for
 * parameters that get no gradient in some steps (tested against torch fixtures).
 */
import { chain } from '../chain';
import { checkKnownKeys, checkNumber, IgmArgumentError } from '../errors';
import type { GradientTransform, ScalarOrSchedule } from '../types';
import { scaleByAdam } from './adam';
import { traceMomentum } from './momentum';
import { scaleByLearningRate } from './scale';
import { addDecayedWeights } from './weight-decay';

function checkLearningRate(where: string, lr: unknown): ScalarOrSchedule {
  if (typeof lr === 'function') return lr as ScalarOrSchedule;
  if (lr === undefined) {
    throw new IgmArgumentError(`${where}: learningRate is required (a number >= 0 or a schedule).`);
  }
  return checkNumber(where, 'learningRate', lr, { min: 0 });
}

function named<S>(name: string, t: GradientTransform<S>): GradientTransform<S> {
  return { ...t, name };
}

export interface SgdOptions {
  learningRate: ScalarOrSchedule;
  /** Momentum mu in [0, 1]. Default 0 (no buffer). */
  momentum?: number;
  /** Default false. Requires momentum > 0. */
  nesterov?: boolean;
  /** Coupled L2 weight decay added to the gradient. Default 0. */
  weightDecay?: number;
}

/**
 * PyTorch `torch.optim.SGD` (dampening 0):
 *
 *   d   = g + wd * theta
 *   buf = d (first step of the key) else mu * buf + d      (only if mu > 0)
 *   d   = nesterov ? d + mu * buf : buf
 *   theta <- theta - lr * d
 *
 * = `chain(addDecayedWeights(wd), traceMomentum({ momentum, nesterov }), scaleByLearningRate(lr))`.
 */
export function sgd(options: SgdOptions): GradientTransform {
  checkKnownKeys('sgd', options, ['learningRate', 'momentum', 'nesterov', 'weightDecay']);
  const lr = checkLearningRate('sgd', options?.learningRate);
  const momentum = checkNumber('sgd', 'momentum', options.momentum ?? 0, { min: 0, max: 1 });
  const wd = checkNumber('sgd', 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  const nesterov = options.nesterov ?? false;
  if (nesterov && momentum === 0) {
    throw new IgmArgumentError(
      'sgd: received nesterov=true with momentum=0. Nesterov needs momentum > 0.',
    );
  }
  const decay = addDecayedWeights(wd);
  const step = scaleByLearningRate(lr);
  return named(
    'sgd',
    momentum > 0 ? chain(decay, traceMomentum({ momentum, nesterov }), step) : chain(decay, step),
  );
}

export interface AdamOptions {
  learningRate: ScalarOrSchedule;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999 (PyTorch). IGM text-image and PMR use 0.99. */
  beta2?: number;
  /** Default 1e-8 (PyTorch), outside the square root. */
  eps?: number;
  /** Adam: coupled L2 (default 0). AdamW: decoupled decay (default 0.01). */
  weightDecay?: number;
}

const ADAM_KEYS = ['learningRate', 'beta1', 'beta2', 'eps', 'weightDecay'];

/**
 * PyTorch `torch.optim.Adam(weight_decay=wd)`: coupled L2, decay added before the moments:
 *
 *   d = g + wd * theta;  d = m_hat / (sqrt(v_hat) + eps);  theta <- theta - lr * d
 *
 * = `chain(addDecayedWeights(wd), scaleByAdam({ beta1, beta2, eps }), scaleByLearningRate(lr))`.
 */
export function adam(options: AdamOptions): GradientTransform {
  checkKnownKeys('adam', options, ADAM_KEYS);
  const lr = checkLearningRate('adam', options?.learningRate);
  const wd = checkNumber('adam', 'weightDecay', options.weightDecay ?? 0, { min: 0 });
  return named(
    'adam',
    chain(addDecayedWeights(wd), scaleByAdam(adamMoments(options)), scaleByLearningRate(lr)),
  );
}

/**
 * PyTorch `torch.optim.AdamW` (Loshchilov & Hutter 2019), decoupled decay:
 *
 *   theta <- theta * (1 - lr * wd) - lr * m_hat / (sqrt(v_hat) + eps)
 *          = theta - lr * (m_hat / (sqrt(v_hat) + eps) + wd * theta)
 *
 * = `chain(scaleByAdam({ beta1, beta2, eps }), addDecayedWeights(wd), scaleByLearningRate(lr))`,
 * which equals PyTorch exactly (both decay the pre-step theta). Default weightDecay 0.01.
 */
export function adamw(options: AdamOptions): GradientTransform {
  checkKnownKeys('adamw', options, ADAM_KEYS);
  const lr = checkLearningRate('adamw', options?.learningRate);
  const wd = checkNumber('adamw', 'weightDecay', options.weightDecay ?? 0.01, { min: 0 });
  return named(
    'adamw',
    chain(scaleByAdam(adamMoments(options)), addDecayedWeights(wd), scaleByLearningRate(lr)),
  );
}

function adamMoments(o: AdamOptions): { beta1?: number; beta2?: number; eps?: number } {
  return {
    ...(o.beta1 !== undefined ? { beta1: o.beta1 } : {}),
    ...(o.beta2 !== undefined ? { beta2: o.beta2 } : {}),
    ...(o.eps !== undefined ? { eps: o.eps } : {}),
  };
}
