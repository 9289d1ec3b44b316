/**
 * IGM's options, declared once: `igm()` validates with {@link igmOptionsSchema}, and the method
 * registry of `@igm/baselines` builds its 'igm' and 'igm-no-sam' entries from
 * {@link igmOptionFields} (without `sam`, which the entry fixes, and `optimizer`, a transform
 * object that a JSON config cannot hold), so the two cannot accept different options.
 */
import {
  addOptionProblem,
  choiceOption,
  type GradientTransform,
  listOption,
  numberOption,
  objectOption,
} from '@igm/core';
import { z } from 'zod';

const isTransform = (v: unknown): boolean =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { init?: unknown }).init === 'function' &&
  typeof (v as { update?: unknown }).update === 'function';

const ORDER_EXPECTED = 'the modalities in training order, each once, e.g. ["audio", "visual"]';

/** Every option of `igm()`, each with its meaning and default. */
export const igmOptionFields = {
  variant: choiceOption(['paper', 'official'])
    .default('paper')
    .describe(
      "Which IGM step: 'paper' (standard SAM with global norm and restored weights, optional mixup) or 'official' (the released code: mixup always, per-tensor perturbation never undone, loss 0.7 mixup CE + flatRatio x head-only flat CE).",
    ),
  order: listOption(z.string().min(1, { error: ORDER_EXPECTED }), ORDER_EXPECTED)
    .refine((o) => new Set(o).size === o.length, { error: ORDER_EXPECTED })
    .readonly()
    .optional()
    .meta({ defaultText: "the model's (the dataset's) modality order" })
    .describe(
      'Modalities in training order: stage s trains order[s mod M] (CREMA-D and Kinetics-Sounds: audio, then visual).',
    ),
  epochList: listOption(
    numberOption({ min: 1, integer: true }),
    'epochs per stage: a non-empty list of integers >= 1, e.g. [25, 50, 25, 50]',
  )
    .readonly()
    .describe(
      'Epochs of each stage, in order (CREMA-D: [25, 50] repeated 6 times; Kinetics-Sounds: [50, 100, 50, 100] in the presets).',
    ),
  tau: numberOption({ min: 0 })
    .default(0.4)
    .describe(
      "Temperature of the flat projection T = V exp(-tau (s - s_min)/(s_max - s_min)) V^T built from the previous modality's head inputs; 0 turns the projection into the identity. Reference: 0.4 on every dataset.",
    ),
  rho: numberOption({ min: 0 })
    .optional()
    .meta({ defaultText: '0.05 (paper), 2.0 (sam "asam"), 1e-10 (official)' })
    .describe(
      "SAM radius. 'paper': the perturbation's global norm; 'official': the per-tensor radius of encoder and head (reference 1e-10; 1e-15 on NVGesture and the text-image sets).",
    ),
  sam: z
    .union([z.boolean(), z.literal('asam')], { error: 'true, false or "asam"' })
    .default(true)
    .meta({ expected: 'true, false or "asam"' })
    .describe(
      "Sharpness-aware step: true, false (IGM w/o SAM: plain CE with the flat projection) or 'asam' (adaptive SAM, paper variant only).",
    ),
  mixup: z
    .union(
      [
        objectOption(
          { alpha: numberOption({ min: 0, minExclusive: true }) },
          '{ alpha } with alpha > 0, or false',
        ),
        z.literal(false),
      ],
      { error: '{ alpha } with alpha > 0, or false' },
    )
    .optional()
    .meta({
      expected: '{ alpha } with alpha > 0, or false',
      defaultText: 'off (paper), { alpha: 1 } (official)',
    })
    .describe(
      "Mixup on the current modality's input, Beta(alpha, alpha) coefficients (official reference: alpha 1.0; 0.9 for the Twitter-2015 image branch).",
    ),
  flatRatio: numberOption({ min: 0, max: 1 })
    .default(0.3)
    .describe(
      "'official': weight of the head-only flat loss in 0.7 L_mixup + flatRatio L_flat. Reference 0.3.",
    ),
  optimizer: z
    .custom<GradientTransform<unknown>>(isTransform, { error: 'a GradientTransform' })
    .optional()
    .meta({ expected: 'a GradientTransform', defaultText: 'SGD with the options below' })
    .describe(
      'Base optimizer replacing the SGD recipe (e.g. adam(...) for the text-image sets); re-created, state reset, at every stage.',
    ),
  learningRate: numberOption({ min: 0 })
    .default(1e-2)
    .describe('SGD learning rate at the start of every stage. Reference 1e-2.'),
  momentum: numberOption({ min: 0, max: 1 }).default(0.9).describe('SGD momentum. Reference 0.9.'),
  weightDecay: numberOption({ min: 0 })
    .default(1e-4)
    .describe('SGD weight decay (coupled L2). Reference 1e-4.'),
  lrStepSize: numberOption({ min: 1, integer: true })
    .default(40)
    .describe(
      'StepLR step in epochs, stepped before each epoch of a stage and restarted every stage. Reference 40 (never reached by 25- or 50-epoch stages before their end).',
    ),
  lrGamma: numberOption({ min: 0 }).default(0.1).describe('StepLR factor. Reference 0.1.'),
  unprojected: z
    .array(z.string(), { error: 'a list of kernel keys' })
    .readonly()
    .optional()
    .meta({
      expected: 'a list of kernel keys',
      defaultText: 'none (every head kernel is projected)',
    })
    .describe(
      "Head kernel keys left out of the flat projection (the text-image image head's 1000 -> 768 layer).",
    ),
};

/** `igm()`'s options: {@link igmOptionFields}, and ASAM only with the paper variant. */
export const igmOptionsSchema = z.strictObject(igmOptionFields).superRefine((o, ctx) => {
  if (o.sam === 'asam' && o.variant === 'official') {
    addOptionProblem(
      ctx,
      ['sam'],
      'received sam="asam" with variant="official". ASAM exists only in the paper variant.',
    );
  }
});

/** What `igm()` accepts (see {@link igmOptionFields} for each option's meaning and default). */
export type IgmOptions = z.input<typeof igmOptionsSchema>;

/** `igm()`'s options with their defaults applied. */
export type ResolvedIgmOptions = z.output<typeof igmOptionsSchema>;
