/**
 * The options every registry method shares (epochs, optimizer, schedule), as schema fields with
 * the method's own defaults, and the optimizer they describe: `sgd` or `adam` of `@igm/core`
 * (PyTorch semantics, coupled weight decay) with the learning rate
 *
 *   lr(epoch) = learningRate * lrGamma^floor(epoch / lrStepSize)   (PyTorch StepLR stepped after
 *               each epoch), or learningRate when lrStepSize is null
 */
import {
  adam,
  addDecayedWeights,
  chain,
  choiceOption,
  constant,
  type GradientTransform,
  numberOption,
  type Schedule,
  scaleByAdam,
  scaleByLearningRate,
  sgd,
  stepLR,
} from '@igm/core';
import type { OptimizerSettings } from './scratch';

/** Defaults a method may change (the others are the same for every method). */
export interface CommonDefaults {
  readonly epochs: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly optimizer: 'sgd' | 'adam';
  readonly lrStepSize: number | null;
}

const DEFAULTS: CommonDefaults = {
  epochs: 100,
  learningRate: 1e-3,
  weightDecay: 1e-4,
  optimizer: 'sgd',
  lrStepSize: null,
};

/**
 * The common option fields with the method's defaults (`defaults` overrides the usual ones);
 * `epochs` says what `epochs` counts when it is not simply the run's length.
 */
export function commonOptionFields(
  defaults: Partial<CommonDefaults> = {},
  epochs = 'Epochs of the run; every modality trains in each of them.',
) {
  const d = { ...DEFAULTS, ...defaults };
  return {
    epochs: numberOption({ min: 1, integer: true }).default(d.epochs).describe(epochs),
    learningRate: numberOption({ min: 0 })
      .default(d.learningRate)
      .describe('Learning rate (the starting rate when lrStepSize is set).'),
    momentum: numberOption({ min: 0, max: 1 })
      .default(0.9)
      .describe("SGD momentum (optimizer 'sgd'; Adam's beta1 is 0.9)."),
    weightDecay: numberOption({ min: 0 })
      .default(d.weightDecay)
      .describe(
        'Weight decay added to the gradient before the update (coupled L2, as PyTorch SGD and Adam).',
      ),
    optimizer: choiceOption(['sgd', 'adam'])
      .default(d.optimizer)
      .describe(
        "Optimizer: 'sgd' (PyTorch SGD with momentum) or 'adam' (PyTorch Adam, coupled weight decay).",
      ),
    beta2: numberOption({ min: 0, max: 1, minExclusive: true })
      .default(0.999)
      .describe("Adam's second-moment decay (optimizer 'adam'; recorded only then)."),
    lrStepSize: numberOption({ min: 1, integer: true })
      .nullable()
      .default(d.lrStepSize)
      .meta({ expected: 'an integer >= 1, or null for a constant rate' })
      .describe(
        'StepLR step in epochs: the rate is multiplied by lrGamma after every lrStepSize epochs (PyTorch StepLR, stepped after each epoch); null keeps it constant.',
      ),
    lrGamma: numberOption({ min: 0 }).default(0.1).describe('StepLR factor.'),
  };
}

/** The common options after validation. */
export interface CommonOptions extends OptimizerSettings {
  readonly epochs: number;
  readonly learningRate: number;
}

/** The learning-rate schedule of `c`: StepLR when `lrStepSize` is set, else constant. */
export function learningRateOf(c: CommonOptions): Schedule {
  return c.lrStepSize === null
    ? constant(c.learningRate)
    : stepLR({ initial: c.learningRate, stepSize: c.lrStepSize, gamma: c.lrGamma });
}

/** The run's optimizer from the common options. */
export function baseOptimizer(c: CommonOptions): GradientTransform {
  const learningRate = learningRateOf(c);
  return c.optimizer === 'sgd'
    ? sgd({ learningRate, momentum: c.momentum, weightDecay: c.weightDecay })
    : adam({ learningRate, beta2: c.beta2, weightDecay: c.weightDecay });
}

/** The common options as run configs record them (beta2 only with Adam). */
export function commonConfig(c: CommonOptions): Record<string, unknown> {
  return {
    epochs: c.epochs,
    learningRate: c.learningRate,
    momentum: c.momentum,
    weightDecay: c.weightDecay,
    optimizer: c.optimizer,
    ...(c.optimizer === 'adam' ? { beta2: c.beta2 } : {}),
    lrStepSize: c.lrStepSize,
    lrGamma: c.lrGamma,
  };
}

/**
 * Adam with a gradient transform between its preconditioning and the learning rate:
 * chain(addDecayedWeights(wd), scaleByAdam, inner, scaleByLearningRate(lr)) (OGM-GE's placement,
 * where a scale before Adam would be largely undone by its normalisation).
 */
export function adamAround<S>(c: CommonOptions, inner: GradientTransform<S>) {
  return chain(
    addDecayedWeights(c.weightDecay),
    scaleByAdam({ beta2: c.beta2 }),
    inner,
    scaleByLearningRate(learningRateOf(c)),
  );
}
