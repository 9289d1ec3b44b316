/**
 * The method registry: every baseline as a composition over the shared interfaces (a model
 * shape, a `TrainerStep`, a gradient-transform chain, loss terms, callbacks, and for staged
 * methods the stage list), built from typed, validated options.
 *
 *   const run = createMethod('ogm-ge', { alpha: 0.8, window: { start: 0, end: 50 } }, env);
 *   await runTraining({ ...run.trainOptions(), dataset, batchSize: 64 });
 *
 * Each method declares its options once, as a zod schema (`methods[name].schema`): it validates
 * `createMethod`'s options, the budget plans and the presets (an unknown method or option, or a
 * bad value, is an error naming the method, the option, the value and what is expected), gives
 * the option types ({@link MethodOptions}) and the listing of {@link describeMethods}. Presets
 * per dataset (`presets/*.json`, see `preset()`) hold the reference hyper-parameters and can be
 * overridden key by key. An option set to null means its default (lrStepSize: null is no schedule).
 *
 * Common options (every method but IGM, which has its own recipe; see common-options.ts):
 *   epochs, learningRate, momentum, weightDecay, optimizer ('sgd' | 'adam'), beta2,
 *   lrStepSize / lrGamma (PyTorch StepLR stepped after each epoch; null for a constant rate)
 */
import { batchWiseStep } from '@igm/alternating-trainer';
import {
  addOptionProblem,
  booleanOption,
  chain,
  checkKnownKeys,
  choiceOption,
  describeOptions,
  emptySelectionError,
  IgmArgumentError,
  listOption,
  numberOption,
  type OptionDescription,
  objectOption,
} from '@igm/core';
import { orthogonalProjection } from '@igm/flat-projection';
import { igm } from '@igm/igm';
import { type FusionRule, MultimodalModel } from '@igm/models';
import { jointStep } from '@igm/trainer';
import { z } from 'zod';
import {
  AgmController,
  AgmModel,
  agmBudget,
  agmClip,
  agmStep,
  agmWindowSchema,
  checkAgmWindow,
} from './agm';
import type { BudgetPlan, MethodBudget } from './budget';
import { epochWindowSchema, LATE_FUSION_RULES, lateFusionLabel } from './common';
import { adamAround, baseOptimizer, commonConfig, commonOptionFields } from './common-options';
import { DomfnModel, domfnBudget, domfnStep } from './domfn';
import { type IgmFactory, igmMethodInfo, igmRegistrySchema } from './igm-methods';
import {
  defineMethod,
  type MethodEnvironment,
  type MethodInfo,
  type MethodRun,
  methodRun,
} from './method-definition';
import { withFusionWeightLog } from './mla';
import { mmParetoStep } from './mmpareto';
import { ReconBoostModel, withAuxiliaryHeads } from './model-wrappers';
import { MsesController, msesStep } from './mses';
import { MslrController, mslrBudget, mslrStep, perModalityOptimizer } from './mslr';
import { MultitaskModel } from './multitask-model';
import { ogmGe, ogmGeSelection } from './ogm-ge';
import { OGR_GB_VARIANTS, OgrGbController, ogrGbBudget, ogrGbStep } from './ogr-gb';
import { PmrPrototypes, pmrLoss } from './pmr';
import { reconBoostBudget, reconBoostPlan, reconBoostStep } from './reconboost';
import { optimizerWith } from './scratch';
import { SmvModel, SmvResampler, smvBudget, smvStep } from './smv';
import { unimodalSumStep } from './unimodal';

const ANY = Infinity;

function model(
  env: MethodEnvironment,
  head: ConstructorParameters<typeof MultimodalModel>[0]['head'],
  fusion?: FusionRule,
) {
  return new MultimodalModel({
    encoders: env.encoders(),
    numClasses: env.numClasses,
    head: head!,
    ...(fusion ? { fusion } : {}),
    seed: env.seed ?? 0,
  });
}

/** A multitask model: per-modality Dense heads + a Dense head on the concatenated features. */
function multitaskModel(env: MethodEnvironment): MultitaskModel {
  return new MultitaskModel(
    model(env, { type: 'per-modality', hidden: [], init: 'pytorch' }, { type: 'mean-softmax' }),
    { seed: env.seed ?? 0 },
  );
}

// Option fields several methods share.

/** The fusion head of joint training and the gradient-modulation methods. */
const fusionHead = () =>
  choiceOption(['concat', 'sum'])
    .default('concat')
    .describe(
      "Fusion head: 'concat' (one Dense on the concatenated features, W[a; v] + b) or 'sum' (one Dense per modality, logits summed).",
    );

/** An epoch window in 0-based epochs; absent = the whole run. */
const epochWindow = (what: string) =>
  epochWindowSchema
    .optional()
    .meta({ defaultText: 'the whole run' })
    .describe(
      `Epochs in which ${what}: { start, end }, 0-based and inclusive; end omitted or null for "until the end". Scaled with the run by the budget rules.`,
    );

const unimodalProtocolOf = (fusion: 'concat' | 'sum') =>
  fusion === 'concat' ? 'weight slice (b/M)' : 'branch logits (b/M)';

// The option schemas of the built-in methods (one per method; IGM's in igm-methods.ts).

const jointOptions = z.strictObject({ ...commonOptionFields(), fusion: fusionHead() });

const unimodalOptions = z.strictObject({
  ...commonOptionFields(),
  fusion: choiceOption(LATE_FUSION_RULES)
    .default('mean-softmax')
    .describe(
      "How the unimodal models' predictions are combined: 'mean-softmax' (mean of the softmaxes) or 'sum-log-softmax' (product of experts).",
    ),
});

const ogrGbOptions = z
  .strictObject({
    ...commonOptionFields(),
    variant: choiceOption(OGR_GB_VARIANTS)
      .default('paper')
      .describe(
        "'paper': multitask model (a head per modality and a fused head), each branch's train and validation CE before and after n scratch epochs; 'balance-benchmark': BalanceBenchmark's trainer (concat head, branches by zeroing the other inputs, summed losses of scratch epochs 0 and n - 1).",
      ),
    superEpoch: numberOption({ min: 1, integer: true })
      .default(10)
      .describe(
        'n: epochs between two weight estimations, and the length of each scratch training (at least 2 for balance-benchmark). BalanceBenchmark: 10.',
      ),
    epsilon: numberOption({ min: 0 })
      .default(1e-8)
      .describe('epsilon in the raw weight |dG_k| / (dO_k^2 + epsilon).'),
    maxWeight: numberOption({ min: 0, minExclusive: true })
      .default(1e6)
      .describe('Upper bound of the raw weights before they are normalised to sum to 1.'),
  })
  .superRefine((o, ctx) => {
    if (o.variant === 'balance-benchmark' && o.superEpoch < 2) {
      addOptionProblem(
        ctx,
        ['superEpoch'],
        `received superEpoch=${o.superEpoch}. Expected an integer >= 2 with variant "balance-benchmark" (its estimate compares scratch epochs 0 and n - 1).`,
      );
    }
  });

const msesOptions = z.strictObject({
  ...commonOptionFields(),
  patience: numberOption({ min: 1, integer: true })
    .default(5)
    .describe(
      "Epochs without improvement of a modality's validation score before the modality stops [project: 5].",
    ),
  minDelta: numberOption({ min: 0 })
    .default(0)
    .describe('Smallest change of the monitored score that counts as an improvement.'),
  monitor: choiceOption(['loss', 'accuracy'])
    .default('loss')
    .describe("Validation score of each modality head: 'loss' (mean CE) or 'accuracy'."),
  restoreBest: booleanOption()
    .default(true)
    .describe('A stopped modality gets back its best encoder and head weights.'),
  globalStop: booleanOption()
    .default(true)
    .describe(
      'Once every modality has stopped and the fused output has not improved for patience epochs, no parameter changes any more.',
    ),
});

const LEARNING_RATES = 'a non-empty list of learning rates, e.g. [0.001, 0.01]';
const learningRateList = listOption(numberOption({ min: 0, minExclusive: true }), LEARNING_RATES);
const MSLR_STRATEGY = 'one of "keep", "dynamic"';

const mslrOptions = z.strictObject({
  ...commonOptionFields(
    {},
    'Epochs of stage 2 (late fusion); stage 1 trains unimodalEpochs per grid value before it.',
  ),
  strategy: z
    .enum(['keep', 'dynamic'], {
      error: (issue) =>
        issue.input === 'smooth'
          ? `${MSLR_STRATEGY} (strategy "smooth" is not implemented: its rule could not be checked against the paper)`
          : MSLR_STRATEGY,
    })
    .default('dynamic')
    .meta({ expected: MSLR_STRATEGY })
    .describe(
      "Stage-2 learning rates: 'keep' (each modality keeps its stage-1 rate) or 'dynamic' (every history epochs each rate is multiplied by its modality's validation accuracy over the mean of its last history values).",
    ),
  history: numberOption({ min: 1, integer: true })
    .default(5)
    .describe("H: epochs of validation accuracy the 'dynamic' strategy averages, and its period."),
  unimodalEpochs: numberOption({ min: 0, integer: true })
    .optional()
    .meta({ defaultText: 'same as epochs' })
    .describe(
      'Stage 1: epochs of each unimodal fine-tuning trial (0 skips the search and keeps the initial weights).',
    ),
  unimodalLearningRates: z
    .union([learningRateList, z.record(z.string(), learningRateList)], {
      error: `${LEARNING_RATES}, or { <modality>: list } per modality`,
    })
    .optional()
    .meta({
      expected: `${LEARNING_RATES}, or { <modality>: list } per modality`,
      defaultText: '[learningRate]',
    })
    .describe(
      'Stage 1 grid: the learning rates tried per modality (one list for all, or a list per modality); each modality keeps the rate of its best validation accuracy.',
    ),
});

const ogmOptions = (noise: boolean) =>
  z.strictObject({
    ...commonOptionFields(),
    alpha: numberOption({ min: 0 })
      .default(0.8)
      .describe(
        'alpha in the coefficient 1 - tanh(alpha rho) of the dominant modality. Reference: 0.8 (CREMA-D tip), 0.3 (Kinetics-Sounds).',
      ),
    window: epochWindow('the gradients are modulated'),
    noise: booleanOption()
      .default(noise)
      .describe(
        'Generalisation enhancement: Gaussian noise with the std of each unscaled gradient added in the window (OGM-GE: true; OGM: false).',
      ),
    tensors: choiceOption(['conv', 'encoder'])
      .default('conv')
      .describe(
        "Encoder gradients modulated: 'conv' (rank-4 conv kernels, the official code) or 'encoder' (every encoder tensor, for encoders without convolutions).",
      ),
    fusion: fusionHead(),
  });

const pmrOptions = z.strictObject({
  ...commonOptionFields(),
  alpha: numberOption({ min: 0 })
    .default(1.0)
    .describe(
      'Weight of the prototype CE added for the weaker modality. Reference: 2.0 (CREMA-D script).',
    ),
  protoMomentum: numberOption({ min: 0, max: 1 })
    .default(0.2)
    .describe('mu in P = (1 - mu) P_new + mu P_old, the prototype update after each epoch.'),
  window: epochWindow('the prototype term is added'),
  fraction: numberOption({ min: 0, max: 1, minExclusive: true })
    .default(0.1)
    .describe(
      'Share of the training batches the prototypes are computed from each epoch (at least one batch).',
    ),
  fusion: fusionHead(),
});

const AGM_CLIP = '{ threshold, maxNorm }';

const agmOptions = z.strictObject({
  ...commonOptionFields(),
  alpha: numberOption({ min: 0 })
    .default(1.0)
    .describe(
      'alpha in the scale exp(alpha min(rbar_m - r_m, cap)). Reference: 1.5 (CREMA-D), 2.5 (AV-MNIST), 4.0 (UR-Funny).',
    ),
  window: agmWindowSchema
    .optional()
    .meta({ defaultText: "the whole run (the authors' setting)" })
    .describe(
      'Modulated epochs in the reference code\'s terms: { start, end }, epochs counted from 1, both ends inclusive ({ start: 0, end: 20 } = the first 20 epochs); end omitted or null for "until the end".',
    ),
  cap: numberOption()
    .default(10)
    .describe("Cap of alpha's argument rbar_m - r_m (two-modality code: 10; UR-Funny code: 7)."),
  clip: objectOption(
    {
      threshold: numberOption({ min: 0 })
        .default(1)
        .describe('Clip when an entry of the fusion kernel gradient exceeds this.'),
      maxNorm: numberOption({ min: 0, minExclusive: true })
        .default(1)
        .describe('Global gradient norm after the clip.'),
    },
    `${AGM_CLIP} (reference: 1 and 1; UR-Funny code: 5 and 5)`,
  )
    .prefault({})
    .describe(
      'Conditional clip: when any |entry| of the fusion kernel gradient exceeds threshold, the global gradient norm is clipped to maxNorm (reference: 1 and 1; UR-Funny code: 5 and 5).',
    ),
});

const domfnOptions = z
  .strictObject({
    ...commonOptionFields(),
    eta: numberOption({ min: 0 })
      .default(0.5)
      .describe('Weight of the divergence term subtracted in the gated-in loss. Reference 0.5.'),
    tau: numberOption({ min: 0, minExclusive: true })
      .default(0.5)
      .describe('Temperature of the gate max_m d_m / tau < gamma. Reference 0.5.'),
    gamma: numberOption({ min: 0 }).default(0.8).describe('Threshold of the gate. Reference 0.8.'),
    probabilities: choiceOption(['softmax', 'sigmoid'])
      .default('softmax')
      .describe(
        "How the gate and the prediction turn logits into probabilities: 'softmax' or 'sigmoid' (the reference code).",
      ),
    pretrainEpochs: numberOption({ min: 0, integer: true })
      .default(0)
      .describe('Warm-up epochs that train only the unimodal branches (fewer than epochs).'),
    hidden: numberOption({ min: 0, integer: true })
      .default(64)
      .describe(
        'Hidden units of the multimodal head Dense(sum d_m -> hidden) -> ReLU -> Dense(C). Reference 64.',
      ),
  })
  .superRefine((o, ctx) => {
    if (o.pretrainEpochs >= o.epochs) {
      addOptionProblem(
        ctx,
        ['pretrainEpochs'],
        `received pretrainEpochs=${o.pretrainEpochs} with epochs=${o.epochs}. The warm-up must leave at least one epoch for the multimodal head (pretrainEpochs < epochs).`,
      );
    }
  });

const smvOptions = z.strictObject({
  // The method's defaults: the reference's Kinetics-Sounds settings (sample_level.py).
  ...commonOptionFields({
    epochs: 60,
    optimizer: 'adam',
    learningRate: 5e-5,
    weightDecay: 1e-4,
    lrStepSize: 30,
  }),
  variant: choiceOption(['sample', 'modality'])
    .default('sample')
    .describe(
      "'sample': copies of each sample keeping only a low-contributing modality, by its Shapley value; 'modality': a share of copies keeping only the modality with the largest gap.",
    ),
  warmup: numberOption({ min: 1, integer: true })
    .default(5)
    .describe('First re-sampled epoch (the epochs before visit the plain training split).'),
  alpha: numberOption({ min: 0 })
    .default(1)
    .describe("'modality': scale of the copy ratio r = (max gap - min gap) 2/3 alpha."),
  partRatio: numberOption({ min: 0, max: 1, minExclusive: true })
    .default(0.2)
    .describe("'modality': share of the training split the mean Shapley values are estimated on."),
  valuationView: choiceOption(['train', 'deterministic'])
    .default('train')
    .describe(
      "Inputs of the valuation pass: 'train' (training augmentation, as the reference) or 'deterministic' (none).",
    ),
});

const mlaOptions = z.strictObject({
  ...commonOptionFields(),
  projection: choiceOption(['paper', 'code', 'off'])
    .default('paper')
    .describe(
      "OWM projection of the shared head's kernel: 'paper' (scalar denominator), 'code' (the released code's elementwise denominator) or 'off'.",
    ),
  normalize: booleanOption()
    .default(true)
    .describe(
      'Frobenius normalisation of the projection after each update (as the released code).',
    ),
  fusionWeights: choiceOption(['entropy', 'fixed'])
    .default('entropy')
    .describe("Test-time fusion: 'entropy' (weights softmax(-H_m)) or 'fixed' (fixedWeights)."),
  entropyAxis: choiceOption(['sample', 'batch'])
    .default('sample')
    .describe("Entropy weights per 'sample' (the paper) or per 'batch' (the released code)."),
  fixedWeights: z
    .array(numberOption({ min: 0 }), { error: 'a list of weights >= 0, one per modality' })
    .optional()
    .meta({
      expected: 'a list of weights >= 0, one per modality',
      defaultText: '[0.55, 0.45] (2 modalities), [0.35, 0.25, 0.4] (3), else uniform',
    })
    .describe("Fusion weights of 'fixed', in the dataset's modality order."),
});

const mmparetoOptions = z.strictObject({
  ...commonOptionFields({ learningRate: 2e-3, epochs: 50 }),
  gamma: numberOption({ min: 0 })
    .default(1.5)
    .describe('Scale of the combined encoder gradients (1.5, fixed in the released code).'),
});

const reconboostOptions = z.strictObject({
  ...commonOptionFields(
    { learningRate: 0.01, weightDecay: 5e-4 },
    'Not used by ReconBoost: stages, epochsPerStage and correctEpochs set the length of the run.',
  ),
  w1: numberOption({ min: 0 })
    .default(5)
    .describe('w1 in the boosting weight (w1 - w2 q_y) / C. Reference 5.'),
  w2: numberOption({ min: 0 })
    .default(1)
    .describe('w2 in the boosting weight (w1 - w2 q_y) / C. Reference 1.'),
  stages: numberOption({ min: 1, integer: true })
    .default(30)
    .describe('Boosting stages (modality order repeated), each followed by a correction stage.'),
  epochsPerStage: numberOption({ min: 1, integer: true })
    .default(4)
    .describe('Epochs of each boosting stage (one modality).'),
  correctEpochs: numberOption({ min: 0, integer: true })
    .default(4)
    .describe('Epochs of each correction stage (the whole ensemble); 0 for none.'),
  hidden: numberOption({ min: 1, integer: true })
    .default(256)
    .describe(
      'Hidden units of the shared head Dense(d -> hidden) -> ReLU -> Dense(C). Reference 256.',
    ),
});

/** The option schema of every built-in method. */
const schemas = {
  joint: jointOptions,
  unimodal: unimodalOptions,
  'ogr-gb': ogrGbOptions,
  'ogm-ge': ogmOptions(true),
  ogm: ogmOptions(false),
  mses: msesOptions,
  pmr: pmrOptions,
  agm: agmOptions,
  domfn: domfnOptions,
  mslr: mslrOptions,
  mla: mlaOptions,
  mmpareto: mmparetoOptions,
  reconboost: reconboostOptions,
  smv: smvOptions,
  igm: igmRegistrySchema(true),
  'igm-no-sam': igmRegistrySchema(false),
};

/** A built-in method's name. */
export type BuiltInMethod = keyof typeof schemas;

/** The options each built-in method accepts (every option with a default may be omitted). */
export type MethodOptions = { [K in BuiltInMethod]: z.input<(typeof schemas)[K]> };

/** The options of each built-in method after validation, with the defaults applied. */
export type ResolvedMethodOptions = { [K in BuiltInMethod]: z.output<(typeof schemas)[K]> };

// The methods.

const joint = defineMethod({
  name: 'joint',
  description:
    'Joint training: CE on a late-fusion head (concat W[a; v] + b, or sum of per-modality Dense), no balancing.',
  schema: schemas.joint,
  modalities: { min: 1, max: ANY, note: '' },
  create: (o, env) =>
    methodRun('joint', {
      model: model(env, { type: o.fusion }),
      step: jointStep(),
      transform: baseOptimizer(o),
      callbacks: [],
      epochs: o.epochs,
      fusionRule: `${o.fusion} head`,
      unimodalProtocol: unimodalProtocolOf(o.fusion),
      config: { ...commonConfig(o), fusion: o.fusion },
    }),
});

const unimodal = defineMethod({
  name: 'unimodal',
  description:
    "Unimodal training: one encoder + Dense(d -> C) per modality, CE only, trained side by side (independent models); fused = mean softmax ensemble (fusion: 'sum-log-softmax' for the product of experts).",
  schema: schemas.unimodal,
  modalities: { min: 1, max: ANY, note: '' },
  create: (o, env) =>
    methodRun('unimodal', {
      model: model(env, { type: 'per-modality', hidden: [], init: 'xavier' }, { type: o.fusion }),
      step: unimodalSumStep(),
      transform: baseOptimizer(o),
      callbacks: [],
      epochs: o.epochs,
      fusionRule: `${lateFusionLabel(o.fusion)} of the unimodal models (late-fusion ensemble)`,
      unimodalProtocol: 'separate model per modality',
      config: { ...commonConfig(o), fusion: o.fusion },
    }),
});

// OGR-GB, MSES and MSLR (project re-implementations; see each module's doc).

const ogrGb = defineMethod({
  name: 'ogr-gb',
  description:
    "OGR-GB: online Gradient-Blending; per-branch CE (each modality + fused) blended with weights from each branch's overfitting-to-generalisation behaviour, re-estimated every super-epoch by M + 1 scratch trainings.",
  schema: schemas['ogr-gb'],
  modalities: { min: 2, max: ANY, note: '' },
  budget: ogrGbBudget,
  create(o, env) {
    const { variant, superEpoch, epsilon, maxWeight } = o;
    const m = variant === 'paper' ? multitaskModel(env) : model(env, { type: 'concat' });
    const controller = new OgrGbController({
      model: m,
      dataset: env.dataset,
      batchSize: env.batchSize,
      superEpoch,
      variant,
      epsilon,
      maxWeight,
      scratchOptimizer: () => optimizerWith(o, o.learningRate),
      seed: env.seed ?? 0,
    });
    return methodRun('ogr-gb', {
      model: m,
      step: ogrGbStep(controller),
      transform: baseOptimizer(o),
      callbacks: [controller],
      epochs: o.epochs,
      fusionRule: 'concat head',
      unimodalProtocol: variant === 'paper' ? 'separate head per modality' : 'weight slice (b/M)',
      config: { ...commonConfig(o), variant, superEpoch, epsilon, maxWeight },
    });
  },
});

const mses = defineMethod({
  name: 'mses',
  description:
    'MSES: modality-specific early stopping on a multitask model (per-modality heads + fused head); each modality stops (and is restored to its best weights) when its validation loss stalls.',
  schema: schemas.mses,
  modalities: { min: 2, max: ANY, note: '' },
  create(o, env) {
    const { patience, minDelta, monitor, restoreBest, globalStop } = o;
    const m = multitaskModel(env);
    const controller = new MsesController({
      model: m,
      dataset: env.dataset,
      batchSize: env.batchSize,
      patience,
      minDelta,
      monitor,
      restoreBest,
      globalStop,
    });
    return methodRun('mses', {
      model: m,
      step: msesStep(controller),
      transform: baseOptimizer(o),
      callbacks: [controller],
      epochs: o.epochs,
      fusionRule: 'concat head',
      unimodalProtocol: 'separate head per modality',
      config: { ...commonConfig(o), patience, minDelta, monitor, restoreBest, globalStop },
      dispose: () => controller.dispose(),
    });
  },
});

/** MSLR's stage-1 grid per modality: one list for every modality, or a list per modality. */
function mslrGrid(
  where: string,
  rates: number[] | Record<string, number[]>,
  modalities: readonly string[],
): Record<string, number[]> {
  if (Array.isArray(rates)) return Object.fromEntries(modalities.map((m) => [m, rates]));
  checkKnownKeys(`${where} unimodalLearningRates`, rates, modalities);
  const missing = modalities.filter((m) => !rates[m]);
  if (missing.length > 0) {
    throw new IgmArgumentError(
      `${where}: unimodalLearningRates has no list for ${missing.join(', ')}. Expected ${LEARNING_RATES} for every modality (${modalities.join(', ')}), or one list for all.`,
    );
  }
  return Object.fromEntries(modalities.map((m) => [m, rates[m]!]));
}

const mslr = defineMethod({
  name: 'mslr',
  description:
    'MSLR: additive late fusion (sum of per-modality logits) from fine-tuned unimodal models (stage 1: learning-rate search per modality on validation), then per-modality learning rates kept or adapted from validation accuracy (stage 2).',
  schema: schemas.mslr,
  modalities: { min: 2, max: ANY, note: '' },
  budget: mslrBudget,
  create(o, env, where) {
    const { strategy, history } = o;
    const unimodalEpochs = o.unimodalEpochs ?? o.epochs;
    const names = env.dataset.modalities.map((d) => d.name);
    const grid = mslrGrid(where, o.unimodalLearningRates ?? [o.learningRate], names);
    const m = model(
      env,
      { type: 'per-modality', hidden: [], init: 'pytorch' },
      { type: 'fixed', weights: names.map(() => 1) },
    );
    const controller = new MslrController({
      model: m,
      dataset: env.dataset,
      batchSize: env.batchSize,
      settings: o,
      grid,
      unimodalEpochs,
      strategy,
      history,
      seed: env.seed ?? 0,
    });
    return methodRun('mslr', {
      model: m,
      step: mslrStep(controller, jointStep({ output: 'logits/fused' })),
      transform: perModalityOptimizer(m.modalities, o, (mod, { epoch }) =>
        controller.learningRate(mod, epoch),
      ),
      callbacks: [controller],
      epochs: o.epochs,
      fusionRule: 'sum of per-modality logits (additive late fusion)',
      unimodalProtocol: 'separate head per modality (own bias)',
      config: {
        ...commonConfig(o),
        strategy,
        history,
        unimodalEpochs,
        unimodalLearningRates: grid,
      },
    });
  },
});

function ogmLike(name: 'ogm-ge' | 'ogm') {
  return defineMethod({
    name,
    description:
      name === 'ogm-ge'
        ? 'OGM-GE: 1 - tanh(alpha rho) on the dominant encoder (conv kernels), GE noise on both.'
        : 'OGM: OGM-GE without the GE noise.',
    schema: schemas[name],
    modalities: { min: 2, max: ANY, note: 'M >= 3 uses one-versus-others ratios [project].' },
    create(o, env, where) {
      const { fusion, alpha, window, noise, tensors } = o;
      const m = model(env, { type: fusion });
      try {
        // Fails here, not at the first step, when `tensors` selects nothing in an encoder.
        ogmGeSelection(new Map(m.params().map((p) => [p.key, p])), m.modalities, tensors, where);
      } catch (error) {
        m.dispose();
        throw error;
      }
      const modulation = ogmGe({
        alpha,
        noise,
        tensors,
        modalities: m.modalities,
        ...(window ? { window } : {}),
      });
      return methodRun(name, {
        model: m,
        step: jointStep(),
        // Adam: the modulation between the preconditioning and the learning rate.
        transform:
          o.optimizer === 'adam' ? adamAround(o, modulation) : chain(modulation, baseOptimizer(o)),
        callbacks: [],
        epochs: o.epochs,
        fusionRule: `${fusion} head`,
        unimodalProtocol: unimodalProtocolOf(fusion),
        config: {
          ...commonConfig(o),
          alpha,
          window: window ?? 'whole run',
          noise,
          tensors,
          fusion,
        },
      });
    },
  });
}

const pmr = defineMethod({
  name: 'pmr',
  description:
    'PMR: per-class prototypes from ~10% of the training batches each epoch, prototype CE for the weaker modality.',
  schema: schemas.pmr,
  modalities: {
    min: 2,
    max: ANY,
    note: 'M >= 3 adds the term for every modality below the mean of the others [project].',
  },
  create(o, env) {
    const { fusion, alpha, window, protoMomentum, fraction } = o;
    const m = model(env, { type: fusion });
    const protos = new PmrPrototypes({
      model: m,
      dataset: env.dataset,
      batchSize: env.batchSize,
      momentum: protoMomentum,
      fraction,
      seed: env.seed ?? 0,
    });
    return methodRun('pmr', {
      model: m,
      step: jointStep({
        lossTerms: [pmrLoss({ prototypes: protos, alpha, ...(window ? { window } : {}) })],
      }),
      transform: baseOptimizer(o),
      callbacks: [protos],
      epochs: o.epochs,
      fusionRule: `${fusion} head`,
      unimodalProtocol: unimodalProtocolOf(fusion),
      config: { ...commonConfig(o), alpha, window: window ?? 'whole run', protoMomentum, fusion },
      dispose: () => protos.dispose(),
    });
  },
});

const agm = defineMethod({
  name: 'agm',
  description:
    "AGM: Shapley-style unimodal logits from zeroed passes (any number of modalities), backward reweighting by running-score ratios, conditional clip; window in the reference code's 1-based epochs.",
  schema: schemas.agm,
  modalities: { min: 2, max: ANY, note: '' },
  budget: agmBudget,
  create(o, env, where) {
    const { alpha, cap, window, clip } = o;
    const epochs = checkAgmWindow(where, window);
    const inner = model(env, { type: 'concat' });
    const controller = new AgmController({
      alpha,
      cap,
      modalities: inner.modalities,
      ...(window ? { window } : {}),
    });
    return methodRun('agm', {
      model: new AgmModel(inner),
      step: agmStep(controller),
      transform: chain(agmClip(clip), baseOptimizer(o)),
      callbacks: [controller],
      epochs: o.epochs,
      fusionRule: 'concat head',
      unimodalProtocol: 'Shapley-style logits from zeroed passes',
      config: {
        ...commonConfig(o),
        alpha,
        cap,
        clip,
        window: window
          ? {
              ...window,
              modulatedRunEpochs: `${epochs.first}-${epochs.last === Infinity ? 'end' : epochs.last} (0-based; the window counts epochs from 1 as the reference code)`,
            }
          : 'whole run',
      },
    });
  },
});

const domfn = defineMethod({
  name: 'domfn',
  description:
    'DOMFN (adapted to batched classification): per-sample divergence gate between the unimodal heads; gated-in samples train everything with the divergence-amended loss, gated-out ones only the unimodal branches; prediction from the multimodal head or the most confident modality.',
  schema: schemas.domfn,
  modalities: { min: 2, max: ANY, note: '' },
  budget: domfnBudget,
  create(o, env) {
    const { eta, tau, gamma, probabilities, pretrainEpochs, hidden } = o;
    const inner = model(
      env,
      { type: 'per-modality', hidden: [], init: 'pytorch' },
      { type: 'mean-softmax' },
    );
    return methodRun('domfn', {
      model: new DomfnModel(inner, { tau, gamma, probabilities, hidden, seed: env.seed ?? 0 }),
      step: domfnStep({ eta, pretrainEpochs }),
      transform: baseOptimizer(o),
      callbacks: [],
      epochs: o.epochs,
      fusionRule:
        'gated: multimodal head when the unimodal predictions agree (max_m d_m / tau < gamma), else the most confident unimodal head',
      unimodalProtocol: 'own unimodal heads',
      config: {
        ...commonConfig(o),
        eta,
        tau,
        gamma,
        probabilities,
        pretrainEpochs,
        hidden,
        adaptation:
          'per-sample gate inside a batch, one optimizer (the reference: batch 1, four optimizers)',
      },
    });
  },
});

const smv = defineMethod({
  name: 'smv',
  description:
    'SMV: per-sample Shapley valuation of each modality every epoch; re-samples the next epoch with copies that keep only a low-contributing modality (sample level) or a global ratio of weak-modality copies (modality level); joint CE on a concat head.',
  schema: schemas.smv,
  modalities: { min: 2, max: ANY, note: '' },
  budget: smvBudget,
  create(o, env) {
    const inner = model(env, { type: 'concat', init: 'pytorch' });
    const m = new SmvModel(inner);
    const resampler = new SmvResampler({
      model: m,
      dataset: env.dataset,
      variant: o.variant,
      warmup: o.warmup,
      alpha: o.alpha,
      partRatio: o.partRatio,
      valuationView: o.valuationView,
      seed: env.seed ?? 0,
    });
    return methodRun('smv', {
      model: m,
      step: smvStep(resampler),
      transform: baseOptimizer(o),
      callbacks: [resampler],
      epochs: o.epochs,
      epochSamples: resampler.epochSamples,
      fusionRule: 'concat head',
      unimodalProtocol: 'zeroed features of the other modalities (W_m f_m + b)',
      config: {
        ...commonConfig(o),
        variant: resampler.variant,
        warmup: resampler.warmup,
        ...(resampler.variant === 'modality'
          ? { alpha: resampler.alpha, partRatio: resampler.partRatio }
          : {}),
        valuationView: resampler.valuationView,
      },
    });
  },
});

/**
 * The kernel MLA's OWM projects: the shared head's first Dense kernel, the same key seen from
 * every modality, in the group the batch-wise step trains (`head/shared`). Anything else would
 * leave the projection with no gradient to act on, so it is an error (the model is disposed).
 */
function mlaProjectedKernel(m: MultimodalModel, where: string): string {
  const keys = m.modalities.map((k) => m.headLayers(k)[0]?.kernelKey);
  const kernel = keys[0];
  const group = m.params().find((p) => p.key === kernel)?.group;
  if (kernel === undefined || keys.some((k) => k !== kernel) || group !== 'head/shared') {
    const params = m.params();
    m.dispose();
    throw emptySelectionError(
      where,
      `projection (the OWM projection of the shared head's kernel: the first of model.headLayers(m), one key for every modality, group head/shared; got ${keys.map((k, i) => `${m.modalities[i]}: ${k ?? 'none'}`).join(', ')})`,
      params,
      "Use a shared head, or projection: 'off'.",
    );
  }
  return kernel;
}

/** MLA's fixed fusion weights when none are given: the released code's, else uniform. */
function mlaDefaultWeights(count: number): number[] {
  if (count === 3) return [0.35, 0.25, 0.4];
  if (count === 2) return [0.55, 0.45];
  return Array.from({ length: count }, () => 1 / count);
}

const mla = defineMethod({
  name: 'mla',
  description:
    'MLA: batch-wise alternating unimodal steps on a shared head with the OWM head projection; entropy-weighted (or fixed) fusion.',
  schema: schemas.mla,
  modalities: { min: 2, max: ANY, note: '' },
  create(o, env, where) {
    const { projection, normalize, fusionWeights, entropyAxis } = o;
    const fixedWeights = o.fixedWeights ?? mlaDefaultWeights(env.dataset.modalities.length);
    const fusion: FusionRule =
      fusionWeights === 'entropy'
        ? { type: 'entropy', axis: entropyAxis }
        : { type: 'fixed', weights: fixedWeights };
    const m = model(env, { type: 'shared' }, fusion);
    const kernel = projection === 'off' ? undefined : mlaProjectedKernel(m, where);
    const owm =
      projection === 'off'
        ? null
        : orthogonalProjection({
            kernelKeys: [kernel!],
            denominator: projection === 'paper' ? 'scalar' : 'outer',
            normalize,
          });
    const base = baseOptimizer(o);
    return methodRun('mla', {
      model: m,
      step: withFusionWeightLog(batchWiseStep({ order: m.modalities }), fusion),
      transform: owm ? chain(owm, base) : base,
      callbacks: [],
      epochs: o.epochs,
      fusionRule:
        fusionWeights === 'entropy'
          ? `entropy-weighted logits (per ${entropyAxis})`
          : `fixed weights ${JSON.stringify(fixedWeights)}`,
      unimodalProtocol: 'shared head on each modality',
      config: {
        ...commonConfig(o),
        projection,
        normalize,
        fusionWeights,
        entropyAxis,
        ...(fusionWeights === 'fixed' ? { fixedWeights } : {}),
      },
    });
  },
});

const mmpareto = defineMethod({
  name: 'mmpareto',
  description:
    'MMPareto: multimodal and unimodal encoder gradients combined by two-task min-norm weights when they conflict, per-tensor rescale, gamma 1.5.',
  schema: schemas.mmpareto,
  modalities: { min: 2, max: ANY, note: '' },
  create(o, env) {
    return methodRun('mmpareto', {
      model: withAuxiliaryHeads(model(env, { type: 'concat', init: 'pytorch' }), {
        seed: env.seed ?? 0,
      }),
      step: mmParetoStep({ gamma: o.gamma }),
      transform: baseOptimizer(o),
      callbacks: [],
      epochs: o.epochs,
      fusionRule: 'concat head',
      unimodalProtocol: 'auxiliary unimodal heads',
      config: { ...commonConfig(o), gamma: o.gamma },
    });
  },
});

const reconboost = defineMethod({
  name: 'reconboost',
  description:
    'ReconBoost: stage-wise alternating boosting with reconcilement weights and joint correction stages on a shared head, ensemble beta * sum.',
  schema: schemas.reconboost,
  modalities: { min: 2, max: ANY, note: '' },
  budget: reconBoostBudget,
  create(o, env) {
    const { w1, w2, hidden } = o;
    const inner = model(env, { type: 'per-modality', hidden: [] });
    const plan = reconBoostPlan({
      order: inner.modalities,
      stages: o.stages,
      epochsPerStage: o.epochsPerStage,
      correctEpochs: o.correctEpochs,
    });
    return methodRun('reconboost', {
      model: new ReconBoostModel(inner, { hidden, seed: env.seed ?? 0 }),
      step: reconBoostStep({ w1, w2 }),
      transform: baseOptimizer(o),
      callbacks: [],
      stages: plan.stages,
      onStageStart: plan.onStageStart,
      fusionRule: 'softmax(beta * sum of learner logits)',
      unimodalProtocol: 'learner logits through the shared head',
      config: { ...commonConfig(o), w1, w2, hidden, stages: plan.stages.length },
    });
  },
});

/** Every method by name (IGM and IGM w/o SAM from the igm() composition of @igm/igm). */
export const methods: Record<string, MethodInfo> = {
  joint,
  unimodal,
  'ogr-gb': ogrGb,
  'ogm-ge': ogmLike('ogm-ge'),
  ogm: ogmLike('ogm'),
  mses,
  pmr,
  agm,
  domfn,
  mslr,
  mla,
  mmpareto,
  reconboost,
  smv,
  igm: igmMethodInfo(igm as unknown as IgmFactory, true),
  'igm-no-sam': igmMethodInfo(igm as unknown as IgmFactory, false),
};

/** Adds (or replaces) a method in the registry (build it with `defineMethod`). */
export function registerMethod(info: MethodInfo): void {
  methods[info.name] = info;
}

/** Replaces 'igm' and 'igm-no-sam' with entries built by `factory` (same shape as `igm`). */
export function registerIgmMethods(factory: IgmFactory): void {
  if (typeof factory !== 'function') {
    throw new IgmArgumentError(
      'registerIgmMethods: pass a function with the signature of igm from @igm/igm.',
    );
  }
  registerMethod(igmMethodInfo(factory, true));
  registerMethod(igmMethodInfo(factory, false));
}

/** The registered method `name`, or an error listing the valid names. */
export function getMethod(name: string): MethodInfo {
  const m = Object.hasOwn(methods, name) ? methods[name] : undefined;
  if (!m) {
    throw new IgmArgumentError(
      `Unknown method ${JSON.stringify(name)}. Valid methods: ${Object.keys(methods)
        .map((n) => JSON.stringify(n))
        .join(', ')}.`,
    );
  }
  return m;
}

/** The budget rule of method `name`, or an error saying that it has none and how to add one. */
export function methodBudget(name: string): MethodBudget {
  const info = getMethod(name);
  if (!info.budget) {
    throw new IgmArgumentError(
      `Method ${JSON.stringify(name)} has no epoch budget (MethodInfo.budget), so its epochs cannot be planned or scaled (quick preset, --epochs, --dry-run). Register it with budget: singleRunBudget(...) if it trains all modalities for \`epochs\` epochs, or with its own MethodBudget; or run it with the paper preset and explicit options.`,
    );
  }
  return info.budget;
}

/** The schedule of method `name` under `options` for these modalities (no model is built). */
export function planBudget(
  name: string,
  options: Record<string, unknown>,
  modalities: readonly string[],
): BudgetPlan {
  return methodBudget(name).plan(options, modalities);
}

/** `options` of method `name` rescaled so that every modality trains >= `epochs` epochs. */
export function scaleBudget(
  name: string,
  options: Record<string, unknown>,
  epochs: number,
  modalities: readonly string[],
): Record<string, unknown> {
  return methodBudget(name).scale(options, epochs, modalities);
}

/**
 * `options` of method `name` validated by its schema, with the defaults applied (what the run
 * records is built from these); an error names the method, the option and the bad value.
 */
export function parseMethodOptions(
  name: string,
  options: Record<string, unknown> | undefined,
): Record<string, unknown> {
  return getMethod(name).parseOptions(options);
}

/** Validates `options` for method `name` and builds its composition for `env`. */
export function createMethod(
  name: string,
  options: Record<string, unknown>,
  env: MethodEnvironment,
): MethodRun {
  return getMethod(name).create(options, env);
}

/** A registered method as `igm methods --json` lists it. */
export interface MethodDescription {
  readonly name: string;
  readonly description: string;
  /** The modality counts it supports (`max` null: any number), and why when limited. */
  readonly modalities: { readonly min: number; readonly max: number | null; readonly note: string };
  /** How its epoch budget is counted, or null when it has no budget rule. */
  readonly budget: MethodBudget['kind'] | null;
  /** Its options in declaration order (common options first), with defaults and meaning. */
  readonly options: readonly OptionDescription[];
  /** JSON Schema (draft 2020-12) of its options as a config file writes them. */
  readonly jsonSchema: Record<string, unknown>;
}

/** The registered method `name` with its options, defaults and their meaning. */
export function describeMethod(name: string): MethodDescription {
  const info = getMethod(name);
  return {
    name: info.name,
    description: info.description,
    modalities: {
      min: info.modalities.min,
      max: info.modalities.max === Infinity ? null : info.modalities.max,
      note: info.modalities.note,
    },
    budget: info.budget?.kind ?? null,
    options: describeOptions(info.schema),
    jsonSchema: z.toJSONSchema(info.schema, { io: 'input', unrepresentable: 'any' }) as Record<
      string,
      unknown
    >,
  };
}

/** Every registered method, in registry order (for `igm methods [--json]`). */
export function describeMethods(): MethodDescription[] {
  return Object.keys(methods).map(describeMethod);
}
