/**
 * The method registry: every baseline as a composition over the shared interfaces (a model
 * shape, a `TrainerStep`, a gradient-transform chain, loss terms, callbacks, and for staged
 * methods the stage list), built from typed, validated options.
 *
 *   const run = createMethod('ogm-ge', { alpha: 0.8, window: { start: 0, end: 50 } }, env);
 *   await runTraining({ ...run.trainOptions(), dataset, batchSize: 64 });
 *
 * `methods[name].options` lists the accepted option keys; an unknown method or option throws an
 * error naming the valid ones. Presets per dataset (`presets/*.json`, see `preset()`) hold the
 * reference hyper-parameters and can be overridden key by key.
 *
 * Common options (every method):
 *   epochs, learningRate, momentum, weightDecay, optimizer ('sgd' | 'adam'), beta2,
 *   lrStepSize / lrGamma (PyTorch StepLR stepped after each epoch; omit lrStepSize for a constant rate)
 */
import { batchWiseStep } from '@igm/alternating-trainer';
import {
  adam,
  addDecayedWeights,
  type Callback,
  chain,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  constant,
  emptySelectionError,
  type GradientTransform,
  IgmArgumentError,
  type MultimodalDataset,
  type MultimodalModelLike,
  scaleByAdam,
  scaleByLearningRate,
  sgd,
  stepLR,
} from '@igm/core';
import { orthogonalProjection } from '@igm/flat-projection';
import { igm } from '@igm/igm';
import { type FusionRule, MultimodalModel } from '@igm/models';
import { jointStep, type RunOptions, type StageSpec, type TrainerStep } from '@igm/trainer';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  AgmController,
  AgmModel,
  type AgmWindow,
  agmBudget,
  agmClip,
  agmStep,
  checkAgmWindow,
} from './agm';
import { type BudgetPlan, type MethodBudget, singleRunBudget } from './budget';
import { checkWindow, lateFusionLabel, lateFusionOption } from './common';
import { DomfnModel, domfnBudget, domfnStep } from './domfn';
import { type IgmFactory, igmMethodInfo } from './igm-methods';
import { withFusionWeightLog } from './mla';
import { mmParetoStep } from './mmpareto';
import { ReconBoostModel, withAuxiliaryHeads } from './model-wrappers';
import { MsesController, msesStep } from './mses';
import { MslrController, mslrBudget, mslrStep, perModalityOptimizer } from './mslr';
import { MultitaskModel } from './multitask-model';
import { ogmGe, ogmGeSelection } from './ogm-ge';
import { OGR_GB_VARIANTS, OgrGbController, ogrGbBudget, ogrGbStep } from './ogr-gb';
import { PmrPrototypes, pmrLoss } from './pmr';
import {
  reconBoostBudget,
  reconBoostPlan,
  reconBoostStageOptions,
  reconBoostStep,
} from './reconboost';
import { type OptimizerSettings, optimizerWith } from './scratch';
import { SmvModel, SmvResampler, type SmvVariant, smvBudget, smvStep } from './smv';
import { unimodalSumStep } from './unimodal';

/** What a method needs to build its model and callbacks. */
export interface MethodEnvironment {
  /** Fresh encoders, one per modality, in modality order (each call builds new ones). */
  readonly encoders: () => Record<string, tfl.LayersModel>;
  readonly numClasses: number;
  /** The training data (PMR's prototype pass reads it). */
  readonly dataset: MultimodalDataset;
  /** Training batch size (PMR's prototype pass uses it). */
  readonly batchSize: number;
  /** Seed of the head initialisation. Default 0. */
  readonly seed?: number;
}

/** A method bound to a model: the pieces `runTraining` takes. */
export interface MethodRun {
  readonly method: string;
  readonly model: MultimodalModelLike;
  readonly step: TrainerStep;
  readonly transform: GradientTransform<any>;
  readonly callbacks: readonly Callback[];
  readonly epochs?: number;
  readonly stages?: readonly StageSpec[];
  readonly onStageStart?: RunOptions['onStageStart'];
  /** Re-sampling of the training split per epoch (SMV). */
  readonly epochSamples?: RunOptions['epochSamples'];
  /** How `fused` is formed (recorded in results). */
  readonly fusionRule: string;
  /** How per-modality numbers are obtained (weight slice, separate head, Shapley...). */
  readonly unimodalProtocol: string;
  /** Resolved options (recorded in the run config). */
  readonly config: Record<string, unknown>;
  /** The options for `runTraining` (add dataset, batchSize, seed...). */
  trainOptions(): Pick<
    RunOptions,
    'model' | 'step' | 'transform' | 'callbacks' | 'fusionRule' | 'config'
  > &
    Partial<Pick<RunOptions, 'epochs' | 'stages' | 'onStageStart' | 'epochSamples'>>;
  dispose(): void;
}

export interface MethodInfo {
  readonly name: string;
  readonly description: string;
  /** Accepted option keys (common + method-specific). */
  readonly options: readonly string[];
  /** Modality counts the method supports, and why when limited. */
  readonly modalities: { readonly min: number; readonly max: number; readonly note: string };
  /**
   * The method's epoch budget: its plan from options alone and how options scale to a target
   * budget (see budget.ts). The quick preset, `--epochs` and `--dry-run` of the CLI need it; a
   * method registered without one can still be created and trained with explicit options.
   */
  readonly budget?: MethodBudget;
  /** Validates options (throws on unknown keys or bad values) and builds the composition. */
  create(options: Record<string, unknown>, env: MethodEnvironment): MethodRun;
}

const COMMON = [
  'epochs',
  'learningRate',
  'momentum',
  'weightDecay',
  'optimizer',
  'beta2',
  'lrStepSize',
  'lrGamma',
];

interface Common {
  epochs: number;
  base: GradientTransform<any>;
  resolved: Record<string, unknown>;
}

function common(
  where: string,
  o: Record<string, unknown>,
  defaults: Record<string, unknown> = {},
): Common {
  const get = (k: string) => (o[k] !== undefined ? o[k] : defaults[k]);
  const epochs = checkNumber(where, 'epochs', get('epochs') ?? 100, { min: 1, integer: true });
  const learningRate = checkNumber(where, 'learningRate', get('learningRate') ?? 1e-3, { min: 0 });
  const momentum = checkNumber(where, 'momentum', get('momentum') ?? 0.9, { min: 0, max: 1 });
  const weightDecay = checkNumber(where, 'weightDecay', get('weightDecay') ?? 1e-4, { min: 0 });
  const optimizer = checkChoice(where, 'optimizer', get('optimizer') ?? 'sgd', ['sgd', 'adam']);
  const beta2 = checkNumber(where, 'beta2', get('beta2') ?? 0.999, {
    min: 0,
    max: 1,
    minExclusive: true,
  });
  const stepSizeRaw = get('lrStepSize');
  const lrStepSize =
    stepSizeRaw === undefined || stepSizeRaw === null
      ? null
      : checkNumber(where, 'lrStepSize', stepSizeRaw, { min: 1, integer: true });
  const lrGamma = checkNumber(where, 'lrGamma', get('lrGamma') ?? 0.1, { min: 0 });
  const lr =
    lrStepSize === null
      ? constant(learningRate)
      : stepLR({ initial: learningRate, stepSize: lrStepSize, gamma: lrGamma });
  const base =
    optimizer === 'sgd'
      ? sgd({ learningRate: lr, momentum, weightDecay })
      : adam({ learningRate: lr, beta2, weightDecay });
  return {
    epochs,
    base,
    resolved: {
      epochs,
      learningRate,
      momentum,
      weightDecay,
      optimizer,
      ...(optimizer === 'adam' ? { beta2 } : {}),
      lrStepSize,
      lrGamma,
    },
  };
}

function finish(
  method: string,
  parts: Omit<MethodRun, 'method' | 'trainOptions' | 'dispose'> & { dispose?: () => void },
): MethodRun {
  const run: MethodRun = {
    method,
    ...parts,
    trainOptions() {
      return {
        model: run.model,
        step: run.step,
        transform: run.transform,
        callbacks: [...run.callbacks],
        fusionRule: run.fusionRule,
        config: { method, unimodalProtocol: run.unimodalProtocol, options: run.config },
        ...(run.stages ? { stages: [...run.stages] } : { epochs: run.epochs! }),
        ...(run.onStageStart ? { onStageStart: run.onStageStart } : {}),
        ...(run.epochSamples ? { epochSamples: run.epochSamples } : {}),
      };
    },
    dispose() {
      parts.dispose?.();
      run.model.dispose();
    },
  };
  return run;
}

function fusionHead(where: string, o: Record<string, unknown>, key = 'fusion'): 'concat' | 'sum' {
  return checkChoice(where, key, o[key] ?? 'concat', ['concat', 'sum']);
}

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

function define(
  name: string,
  description: string,
  specific: readonly string[],
  modalities: MethodInfo['modalities'],
  build: (o: Record<string, unknown>, env: MethodEnvironment, where: string) => MethodRun,
  budget: MethodBudget = singleRunBudget(`methods["${name}"]`, {
    windowKeys: specific.includes('window') ? ['window'] : [],
  }),
): MethodInfo {
  const options = [...COMMON, ...specific];
  return {
    name,
    description,
    options,
    modalities,
    budget,
    create(o, env) {
      const where = `methods["${name}"]`;
      checkKnownKeys(where, o ?? {}, options);
      const dataNames = env.dataset.modalities.map((m) => m.name);
      if (dataNames.length < modalities.min || dataNames.length > modalities.max) {
        throw new IgmArgumentError(
          `${where}: the dataset has ${dataNames.length} modalities (${dataNames.join(', ')}); ${name} supports ${modalities.min === modalities.max ? modalities.min : `${modalities.min}-${modalities.max === Infinity ? 'any' : modalities.max}`}. ${modalities.note}`,
        );
      }
      return build(o ?? {}, env, where);
    },
  };
}

const ANY = Infinity;

const joint = define(
  'joint',
  'Joint training: CE on a late-fusion head (concat W[a; v] + b, or sum of per-modality Dense), no balancing (ALGORITHMS.md 9.2).',
  ['fusion'],
  { min: 1, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o);
    const fusion = fusionHead(where, o);
    return finish('joint', {
      model: model(env, { type: fusion }),
      step: jointStep(),
      transform: c.base,
      callbacks: [],
      epochs: c.epochs,
      fusionRule: `${fusion} head`,
      unimodalProtocol: fusion === 'concat' ? 'weight slice (b/M)' : 'branch logits (b/M)',
      config: { ...c.resolved, fusion },
    });
  },
);

const unimodal = define(
  'unimodal',
  "Unimodal training: one encoder + Dense(d -> C) per modality, CE only, trained side by side (independent models); fused = mean softmax ensemble (fusion: 'sum-log-softmax' for the product of experts).",
  ['fusion'],
  { min: 1, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o);
    const fusion = lateFusionOption(where, o);
    return finish('unimodal', {
      model: model(env, { type: 'per-modality', hidden: [], init: 'xavier' }, { type: fusion }),
      step: unimodalSumStep(),
      transform: c.base,
      callbacks: [],
      epochs: c.epochs,
      fusionRule: `${lateFusionLabel(fusion)} of the unimodal models (late-fusion ensemble)`,
      unimodalProtocol: 'separate model per modality',
      config: { ...c.resolved, fusion },
    });
  },
);

// OGR-GB, MSES and MSLR (project re-implementations; see each module's doc).

/** The run's optimizer settings from the resolved common options (for side optimizers). */
function optimizerSettings(c: Common): OptimizerSettings {
  const r = c.resolved;
  return {
    optimizer: r['optimizer'] as 'sgd' | 'adam',
    momentum: r['momentum'] as number,
    weightDecay: r['weightDecay'] as number,
    beta2: (r['beta2'] as number | undefined) ?? 0.999,
    lrStepSize: r['lrStepSize'] as number | null,
    lrGamma: r['lrGamma'] as number,
  };
}

function booleanOption(where: string, o: Record<string, unknown>, key: string, fallback: boolean) {
  const v = o[key] ?? fallback;
  if (typeof v !== 'boolean') {
    throw new IgmArgumentError(
      `${where}: received ${key}=${JSON.stringify(v)}. Expected true or false.`,
    );
  }
  return v;
}

/** A multitask model: per-modality Dense heads + a Dense head on the concatenated features. */
function multitaskModel(env: MethodEnvironment): MultitaskModel {
  return new MultitaskModel(
    model(env, { type: 'per-modality', hidden: [], init: 'pytorch' }, { type: 'mean-softmax' }),
    { seed: env.seed ?? 0 },
  );
}

const ogrGb = define(
  'ogr-gb',
  "OGR-GB: online Gradient-Blending; per-branch CE (each modality + fused) blended with weights from each branch's overfitting-to-generalisation behaviour, re-estimated every super-epoch by M + 1 scratch trainings.",
  ['variant', 'superEpoch', 'epsilon', 'maxWeight'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o);
    const variant = checkChoice(where, 'variant', o['variant'] ?? 'paper', OGR_GB_VARIANTS);
    const superEpoch = checkNumber(where, 'superEpoch', o['superEpoch'] ?? 10, {
      min: variant === 'balance-benchmark' ? 2 : 1,
      integer: true,
    });
    const epsilon = checkNumber(where, 'epsilon', o['epsilon'] ?? 1e-8, { min: 0 });
    const maxWeight = checkNumber(where, 'maxWeight', o['maxWeight'] ?? 1e6, {
      min: 0,
      minExclusive: true,
    });
    const m = variant === 'paper' ? multitaskModel(env) : model(env, { type: 'concat' });
    const settings = optimizerSettings(c);
    const initialLr = c.resolved['learningRate'] as number;
    const controller = new OgrGbController({
      model: m,
      dataset: env.dataset,
      batchSize: env.batchSize,
      superEpoch,
      variant,
      epsilon,
      maxWeight,
      scratchOptimizer: () => optimizerWith(settings, initialLr),
      seed: env.seed ?? 0,
    });
    return finish('ogr-gb', {
      model: m,
      step: ogrGbStep(controller),
      transform: c.base,
      callbacks: [controller],
      epochs: c.epochs,
      fusionRule: 'concat head',
      unimodalProtocol: variant === 'paper' ? 'separate head per modality' : 'weight slice (b/M)',
      config: { ...c.resolved, variant, superEpoch, epsilon, maxWeight },
    });
  },
  ogrGbBudget('methods["ogr-gb"]'),
);

const mses = define(
  'mses',
  'MSES: modality-specific early stopping on a multitask model (per-modality heads + fused head); each modality stops (and is restored to its best weights) when its validation loss stalls.',
  ['patience', 'minDelta', 'monitor', 'restoreBest', 'globalStop'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o);
    const patience = checkNumber(where, 'patience', o['patience'] ?? 5, { min: 1, integer: true });
    const minDelta = checkNumber(where, 'minDelta', o['minDelta'] ?? 0, { min: 0 });
    const monitor = checkChoice(where, 'monitor', o['monitor'] ?? 'loss', ['loss', 'accuracy']);
    const restoreBest = booleanOption(where, o, 'restoreBest', true);
    const globalStop = booleanOption(where, o, 'globalStop', true);
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
    return finish('mses', {
      model: m,
      step: msesStep(controller),
      transform: c.base,
      callbacks: [controller],
      epochs: c.epochs,
      fusionRule: 'concat head',
      unimodalProtocol: 'separate head per modality',
      config: { ...c.resolved, patience, minDelta, monitor, restoreBest, globalStop },
      dispose: () => controller.dispose(),
    });
  },
);

/** MSLR's stage-1 grid: one list for every modality, or a list per modality. */
function mslrGrid(
  where: string,
  raw: unknown,
  modalities: readonly string[],
): Record<string, number[]> {
  const list = (key: string, v: unknown): number[] => {
    if (!Array.isArray(v) || v.length === 0) {
      throw new IgmArgumentError(
        `${where}: received ${key}=${JSON.stringify(v)}. Expected a non-empty list of learning rates, e.g. [0.001, 0.01].`,
      );
    }
    return v.map((x, i) => checkNumber(where, `${key}[${i}]`, x, { min: 0, minExclusive: true }));
  };
  if (Array.isArray(raw)) {
    const g = list('unimodalLearningRates', raw);
    return Object.fromEntries(modalities.map((m) => [m, g]));
  }
  if (raw === null || typeof raw !== 'object') {
    throw new IgmArgumentError(
      `${where}: received unimodalLearningRates=${JSON.stringify(raw)}. Expected a list of learning rates or { <modality>: [rates] } for ${modalities.join(', ')}.`,
    );
  }
  checkKnownKeys(`${where} unimodalLearningRates`, raw as Record<string, unknown>, modalities);
  return Object.fromEntries(
    modalities.map((m) => [
      m,
      list(`unimodalLearningRates.${m}`, (raw as Record<string, unknown>)[m]),
    ]),
  );
}

const mslr = define(
  'mslr',
  'MSLR: additive late fusion (sum of per-modality logits) from fine-tuned unimodal models (stage 1: learning-rate search per modality on validation), then per-modality learning rates kept or adapted from validation accuracy (stage 2).',
  ['strategy', 'history', 'unimodalEpochs', 'unimodalLearningRates'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o);
    if (o['strategy'] === 'smooth') {
      throw new IgmArgumentError(
        `${where}: strategy "smooth" is not implemented: its rule could not be checked against the paper. Use "keep" or "dynamic".`,
      );
    }
    const strategy = checkChoice(where, 'strategy', o['strategy'] ?? 'dynamic', [
      'keep',
      'dynamic',
    ]);
    const history = checkNumber(where, 'history', o['history'] ?? 5, { min: 1, integer: true });
    const unimodalEpochs = checkNumber(where, 'unimodalEpochs', o['unimodalEpochs'] ?? c.epochs, {
      min: 0,
      integer: true,
    });
    const names = env.dataset.modalities.map((d) => d.name);
    const grid = mslrGrid(
      where,
      o['unimodalLearningRates'] ?? [c.resolved['learningRate'] as number],
      names,
    );
    const m = model(
      env,
      { type: 'per-modality', hidden: [], init: 'pytorch' },
      { type: 'fixed', weights: names.map(() => 1) },
    );
    const settings = optimizerSettings(c);
    const controller = new MslrController({
      model: m,
      dataset: env.dataset,
      batchSize: env.batchSize,
      settings,
      grid,
      unimodalEpochs,
      strategy,
      history,
      seed: env.seed ?? 0,
    });
    return finish('mslr', {
      model: m,
      step: mslrStep(controller, jointStep({ output: 'logits/fused' })),
      transform: perModalityOptimizer(m.modalities, settings, (mod, { epoch }) =>
        controller.learningRate(mod, epoch),
      ),
      callbacks: [controller],
      epochs: c.epochs,
      fusionRule: 'sum of per-modality logits (additive late fusion)',
      unimodalProtocol: 'separate head per modality (own bias)',
      config: {
        ...c.resolved,
        strategy,
        history,
        unimodalEpochs,
        unimodalLearningRates: grid,
      },
    });
  },
  mslrBudget('methods["mslr"]'),
);

function ogmLike(noiseDefault: boolean) {
  const name = noiseDefault ? 'ogm-ge' : 'ogm';
  return define(
    name,
    noiseDefault
      ? 'OGM-GE: 1 - tanh(alpha rho) on the dominant encoder (conv kernels), GE noise on both (ALGORITHMS.md 4).'
      : 'OGM: OGM-GE without the GE noise.',
    ['alpha', 'window', 'noise', 'tensors', 'fusion'],
    { min: 2, max: ANY, note: 'M >= 3 uses one-versus-others ratios [project].' },
    (o, env, where) => {
      const c = common(where, o);
      const fusion = fusionHead(where, o);
      const alpha = checkNumber(where, 'alpha', o['alpha'] ?? 0.8, { min: 0 });
      const window = o['window'] as { start?: number; end?: number } | undefined;
      checkWindow(where, window);
      const noise = o['noise'] ?? noiseDefault;
      if (typeof noise !== 'boolean')
        throw new IgmArgumentError(
          `${where}: received noise=${JSON.stringify(noise)}. Expected true or false.`,
        );
      const tensors = checkChoice(where, 'tensors', o['tensors'] ?? 'conv', ['conv', 'encoder']);
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
      // Adam: modulation between the preconditioning and the learning rate (DESIGN.md 3).
      const transform =
        c.resolved['optimizer'] === 'adam'
          ? adamWithModulation(c, modulation)
          : chain(modulation, c.base);
      return finish(name, {
        model: m,
        step: jointStep(),
        transform,
        callbacks: [],
        epochs: c.epochs,
        fusionRule: `${fusion} head`,
        unimodalProtocol: fusion === 'concat' ? 'weight slice (b/M)' : 'branch logits (b/M)',
        config: { ...c.resolved, alpha, window: window ?? 'whole run', noise, tensors, fusion },
      });
    },
  );
}

/** chain(addDecayedWeights(wd), scaleByAdam, modulation, scaleByLearningRate(lr)). */
function adamWithModulation(c: Common, modulation: GradientTransform<any>): GradientTransform<any> {
  const r = c.resolved;
  const lr =
    r['lrStepSize'] === null
      ? constant(r['learningRate'] as number)
      : stepLR({
          initial: r['learningRate'] as number,
          stepSize: r['lrStepSize'] as number,
          gamma: r['lrGamma'] as number,
        });
  return chain(
    addDecayedWeights(r['weightDecay'] as number),
    scaleByAdam({ beta2: r['beta2'] as number }),
    modulation,
    scaleByLearningRate(lr),
  );
}

const pmr = define(
  'pmr',
  'PMR: per-class prototypes from ~10% of the training batches each epoch, prototype CE for the weaker modality (ALGORITHMS.md 5).',
  ['alpha', 'protoMomentum', 'window', 'fraction', 'fusion'],
  {
    min: 2,
    max: ANY,
    note: 'M >= 3 adds the term for every modality below the mean of the others [project].',
  },
  (o, env, where) => {
    const c = common(where, o);
    const fusion = fusionHead(where, o);
    const alpha = checkNumber(where, 'alpha', o['alpha'] ?? 1.0, { min: 0 });
    const window = o['window'] as { start?: number; end?: number } | undefined;
    checkWindow(where, window);
    const m = model(env, { type: fusion });
    const protos = new PmrPrototypes({
      model: m,
      dataset: env.dataset,
      batchSize: env.batchSize,
      momentum: checkNumber(where, 'protoMomentum', o['protoMomentum'] ?? 0.2, { min: 0, max: 1 }),
      fraction: checkNumber(where, 'fraction', o['fraction'] ?? 0.1, {
        min: 0,
        max: 1,
        minExclusive: true,
      }),
      seed: env.seed ?? 0,
    });
    return finish('pmr', {
      model: m,
      step: jointStep({
        lossTerms: [pmrLoss({ prototypes: protos, alpha, ...(window ? { window } : {}) })],
      }),
      transform: c.base,
      callbacks: [protos],
      epochs: c.epochs,
      fusionRule: `${fusion} head`,
      unimodalProtocol: fusion === 'concat' ? 'weight slice (b/M)' : 'branch logits (b/M)',
      config: {
        ...c.resolved,
        alpha,
        window: window ?? 'whole run',
        protoMomentum: o['protoMomentum'] ?? 0.2,
        fusion,
      },
      dispose: () => protos.dispose(),
    });
  },
);

const agm = define(
  'agm',
  "AGM: Shapley-style unimodal logits from zeroed passes (any number of modalities), backward reweighting by running-score ratios, conditional clip; window in the reference code's 1-based epochs.",
  ['alpha', 'window', 'cap', 'clip'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o);
    const alpha = checkNumber(where, 'alpha', o['alpha'] ?? 1.0, { min: 0 });
    const cap = checkNumber(where, 'cap', o['cap'] ?? 10, {});
    const window = o['window'] as AgmWindow | undefined;
    const epochs = checkAgmWindow(where, window);
    const clip = (o['clip'] ?? {}) as { threshold?: number; maxNorm?: number };
    if (typeof clip !== 'object' || clip === null || Array.isArray(clip)) {
      throw new IgmArgumentError(
        `${where}: received clip=${JSON.stringify(o['clip'])}. Expected { threshold, maxNorm } (reference: 1 and 1; UR-Funny code: 5 and 5).`,
      );
    }
    checkKnownKeys(`${where} clip`, clip, ['threshold', 'maxNorm']);
    const inner = model(env, { type: 'concat' });
    const controller = new AgmController({
      alpha,
      cap,
      modalities: inner.modalities,
      ...(window ? { window } : {}),
    });
    const clipTransform = agmClip(clip);
    return finish('agm', {
      model: new AgmModel(inner),
      step: agmStep(controller),
      transform: chain(clipTransform, c.base),
      callbacks: [controller],
      epochs: c.epochs,
      fusionRule: 'concat head',
      unimodalProtocol: 'Shapley-style logits from zeroed passes',
      config: {
        ...c.resolved,
        alpha,
        cap,
        clip: { threshold: clip.threshold ?? 1, maxNorm: clip.maxNorm ?? 1 },
        window: window
          ? {
              ...window,
              modulatedRunEpochs: `${epochs.first}-${epochs.last === Infinity ? 'end' : epochs.last} (0-based; the window counts epochs from 1 as the reference code)`,
            }
          : 'whole run',
      },
    });
  },
  agmBudget('methods["agm"]'),
);

const domfn = define(
  'domfn',
  'DOMFN (adapted to batched classification): per-sample divergence gate between the unimodal heads; gated-in samples train everything with the divergence-amended loss, gated-out ones only the unimodal branches; prediction from the multimodal head or the most confident modality.',
  ['eta', 'tau', 'gamma', 'probabilities', 'pretrainEpochs', 'hidden'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o);
    const eta = checkNumber(where, 'eta', o['eta'] ?? 0.5, { min: 0 });
    const tau = checkNumber(where, 'tau', o['tau'] ?? 0.5, { min: 0, minExclusive: true });
    const gamma = checkNumber(where, 'gamma', o['gamma'] ?? 0.8, { min: 0 });
    const probabilities = checkChoice(where, 'probabilities', o['probabilities'] ?? 'softmax', [
      'softmax',
      'sigmoid',
    ]);
    const pretrainEpochs = checkNumber(where, 'pretrainEpochs', o['pretrainEpochs'] ?? 0, {
      min: 0,
      integer: true,
    });
    if (pretrainEpochs >= c.epochs) {
      throw new IgmArgumentError(
        `${where}: received pretrainEpochs=${pretrainEpochs} with epochs=${c.epochs}. The warm-up must leave at least one epoch for the multimodal head (pretrainEpochs < epochs).`,
      );
    }
    const hidden = checkNumber(where, 'hidden', o['hidden'] ?? 64, { min: 0, integer: true });
    const inner = model(
      env,
      { type: 'per-modality', hidden: [], init: 'pytorch' },
      { type: 'mean-softmax' },
    );
    return finish('domfn', {
      model: new DomfnModel(inner, { tau, gamma, probabilities, hidden, seed: env.seed ?? 0 }),
      step: domfnStep({ eta, pretrainEpochs }),
      transform: c.base,
      callbacks: [],
      epochs: c.epochs,
      fusionRule:
        'gated: multimodal head when the unimodal predictions agree (max_m d_m / tau < gamma), else the most confident unimodal head',
      unimodalProtocol: 'own unimodal heads',
      config: {
        ...c.resolved,
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
  domfnBudget('methods["domfn"]'),
);

const smv = define(
  'smv',
  'SMV: per-sample Shapley valuation of each modality every epoch; re-samples the next epoch with copies that keep only a low-contributing modality (sample level) or a global ratio of weak-modality copies (modality level); joint CE on a concat head.',
  ['variant', 'warmup', 'alpha', 'partRatio', 'valuationView'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    // Method defaults: the reference's Kinetics-Sounds settings (sample_level.py).
    const c = common(where, o, {
      epochs: 60,
      optimizer: 'adam',
      learningRate: 5e-5,
      weightDecay: 1e-4,
      lrStepSize: 30,
      lrGamma: 0.1,
    });
    const inner = model(env, { type: 'concat', init: 'pytorch' });
    const m = new SmvModel(inner);
    const resampler = new SmvResampler({
      model: m,
      dataset: env.dataset,
      variant: checkChoice<SmvVariant>(where, 'variant', o['variant'] ?? 'sample', [
        'sample',
        'modality',
      ]),
      warmup: checkNumber(where, 'warmup', o['warmup'] ?? 5, { min: 1, integer: true }),
      alpha: checkNumber(where, 'alpha', o['alpha'] ?? 1, { min: 0 }),
      partRatio: checkNumber(where, 'partRatio', o['partRatio'] ?? 0.2, {
        min: 0,
        max: 1,
        minExclusive: true,
      }),
      valuationView: checkChoice<'train' | 'deterministic'>(
        where,
        'valuationView',
        o['valuationView'] ?? 'train',
        ['train', 'deterministic'],
      ),
      seed: env.seed ?? 0,
    });
    return finish('smv', {
      model: m,
      step: smvStep(resampler),
      transform: c.base,
      callbacks: [resampler],
      epochs: c.epochs,
      epochSamples: resampler.epochSamples,
      fusionRule: 'concat head',
      unimodalProtocol: 'zeroed features of the other modalities (W_m f_m + b)',
      config: {
        ...c.resolved,
        variant: resampler.variant,
        warmup: resampler.warmup,
        ...(resampler.variant === 'modality'
          ? { alpha: resampler.alpha, partRatio: resampler.partRatio }
          : {}),
        valuationView: resampler.valuationView,
      },
    });
  },
  smvBudget('methods["smv"]'),
);

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

const mla = define(
  'mla',
  'MLA: batch-wise alternating unimodal steps on a shared head with the OWM head projection; entropy-weighted (or fixed) fusion (ALGORITHMS.md 3).',
  ['projection', 'normalize', 'fusionWeights', 'entropyAxis', 'fixedWeights'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o);
    const projection = checkChoice(where, 'projection', o['projection'] ?? 'paper', [
      'paper',
      'code',
      'off',
    ]);
    const normalize = o['normalize'] ?? true;
    if (typeof normalize !== 'boolean')
      throw new IgmArgumentError(
        `${where}: received normalize=${JSON.stringify(normalize)}. Expected true or false.`,
      );
    const fusionWeights = checkChoice(where, 'fusionWeights', o['fusionWeights'] ?? 'entropy', [
      'entropy',
      'fixed',
    ]);
    const entropyAxis = checkChoice(where, 'entropyAxis', o['entropyAxis'] ?? 'sample', [
      'sample',
      'batch',
    ]);
    const names = env.dataset.modalities.map((m) => m.name);
    const fixedWeights =
      (o['fixedWeights'] as number[] | undefined) ??
      (names.length === 3
        ? [0.35, 0.25, 0.4]
        : names.length === 2
          ? [0.55, 0.45]
          : names.map(() => 1 / names.length));
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
    return finish('mla', {
      model: m,
      step: withFusionWeightLog(batchWiseStep({ order: m.modalities }), fusion),
      transform: owm ? chain(owm, c.base) : c.base,
      callbacks: [],
      epochs: c.epochs,
      fusionRule:
        fusionWeights === 'entropy'
          ? `entropy-weighted logits (per ${entropyAxis})`
          : `fixed weights ${JSON.stringify(fixedWeights)}`,
      unimodalProtocol: 'shared head on each modality',
      config: {
        ...c.resolved,
        projection,
        normalize,
        fusionWeights,
        entropyAxis,
        ...(fusionWeights === 'fixed' ? { fixedWeights } : {}),
      },
    });
  },
);

const mmpareto = define(
  'mmpareto',
  'MMPareto: multimodal and unimodal encoder gradients combined by two-task min-norm weights when they conflict, per-tensor rescale, gamma 1.5 (ALGORITHMS.md 7).',
  ['gamma'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o, { learningRate: 2e-3, epochs: 50 });
    const gamma = checkNumber(where, 'gamma', o['gamma'] ?? 1.5, { min: 0 });
    return finish('mmpareto', {
      model: withAuxiliaryHeads(model(env, { type: 'concat', init: 'pytorch' }), {
        seed: env.seed ?? 0,
      }),
      step: mmParetoStep({ gamma }),
      transform: c.base,
      callbacks: [],
      epochs: c.epochs,
      fusionRule: 'concat head',
      unimodalProtocol: 'auxiliary unimodal heads',
      config: { ...c.resolved, gamma },
    });
  },
  singleRunBudget('methods["mmpareto"]', { defaultEpochs: 50 }),
);

const reconboost = define(
  'reconboost',
  'ReconBoost: stage-wise alternating boosting with reconcilement weights and joint correction stages on a shared head, ensemble beta * sum (ALGORITHMS.md 8).',
  ['w1', 'w2', 'stages', 'epochsPerStage', 'correctEpochs', 'hidden'],
  { min: 2, max: ANY, note: '' },
  (o, env, where) => {
    const c = common(where, o, { learningRate: 0.01, weightDecay: 5e-4 });
    const w1 = checkNumber(where, 'w1', o['w1'] ?? 5, { min: 0 });
    const w2 = checkNumber(where, 'w2', o['w2'] ?? 1, { min: 0 });
    const hidden = checkNumber(where, 'hidden', o['hidden'] ?? 256, { min: 1, integer: true });
    const inner = model(env, { type: 'per-modality', hidden: [] });
    const plan = reconBoostPlan({
      order: inner.modalities,
      ...reconBoostStageOptions(where, o),
    });
    return finish('reconboost', {
      model: new ReconBoostModel(inner, { hidden, seed: env.seed ?? 0 }),
      step: reconBoostStep({ w1, w2 }),
      transform: c.base,
      callbacks: [],
      stages: plan.stages,
      onStageStart: plan.onStageStart,
      fusionRule: 'softmax(beta * sum of learner logits)',
      unimodalProtocol: 'learner logits through the shared head',
      config: { ...c.resolved, w1, w2, hidden, stages: plan.stages.length },
    });
  },
  reconBoostBudget('methods["reconboost"]'),
);

/** Every method by name (IGM and IGM w/o SAM from the igm() composition of @igm/igm). */
export const methods: Record<string, MethodInfo> = {
  joint,
  unimodal,
  'ogr-gb': ogrGb,
  'ogm-ge': ogmLike(true),
  ogm: ogmLike(false),
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

/** Adds (or replaces) a method in the registry. */
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

/** Validates `options` for method `name` and builds its composition for `env`. */
export function createMethod(
  name: string,
  options: Record<string, unknown>,
  env: MethodEnvironment,
): MethodRun {
  return getMethod(name).create(options, env);
}
