/**
 * Setup, the first phase of `runTraining`: checks the options ({@link validateOptions}),
 * resolves them into a {@link RunPlan} (every default filled in, the stores chosen), and opens
 * the run's live resources ({@link openRun}): parameters, the step RNG, the transform driver,
 * the epoch log and the progress display.
 */
import {
  type Callback,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  IgmArgumentError,
  type MultimodalDataset,
  type MultimodalModelLike,
  type Param,
  type Rng,
  type Split,
  toParamMap,
} from '@igm/core';
import { TransformDriver } from '../driver';
import { Progress } from '../progress';
import type { RunOptions, StageSpec } from '../run';
import type { TrainerStep } from '../step';
import type { CheckpointStore, RecordStore } from '../storage';
import { EpochLog } from './state';

/** How an entry point with a file system turns `outDir` and `checkpoint.dir` into stores. */
export interface FileSystemStores {
  records(dir: string): RecordStore;
  checkpoints(dir: string): CheckpointStore;
}

/** The options of a run with every default resolved. Fixed for the whole run. */
export interface RunPlan {
  readonly options: RunOptions;
  readonly model: MultimodalModelLike;
  readonly dataset: MultimodalDataset;
  readonly step: TrainerStep;
  readonly callbacks: readonly Callback[];
  readonly seed: number;
  readonly batchSize: number;
  readonly evalBatchSize: number;
  readonly dropLast: boolean;
  readonly evalSplits: readonly Split[];
  readonly selection: {
    readonly split: 'validation' | 'test';
    readonly metric: 'macroF1' | 'accuracy';
  };
  /** One unnamed stage when the run was given `epochs`. */
  readonly stages: readonly StageSpec[];
  readonly staged: boolean;
  /** Batches of a usual (not re-sampled) epoch. */
  readonly batchesPerEpoch: number;
  readonly totalEpochs: number;
  readonly fusionRule: string;
  /** The user's config plus the trainer's resolved settings (config.json, checkpoints). */
  readonly config: Record<string, unknown>;
  /** Where config.json, metrics.jsonl and summary.json go (none: not written). */
  readonly records: RecordStore | undefined;
  /** Where `last` and `best` go (none: no checkpoints, no resume). */
  readonly checkpoints: CheckpointStore | undefined;
  /** Write `last` every this many epochs (and at the end). */
  readonly checkpointEvery: number;
}

/** A run's plan with its live resources (their state is saved in checkpoints). */
export interface RunContext extends RunPlan {
  readonly params: ReadonlyMap<string, Param>;
  readonly rng: Rng;
  readonly driver: TransformDriver<unknown>;
  readonly epochLog: EpochLog;
  readonly progress: Progress;
}

const RUN_KEYS = [
  'model',
  'dataset',
  'step',
  'transform',
  'epochs',
  'stages',
  'batchSize',
  'evalBatchSize',
  'seed',
  'dropLast',
  'callbacks',
  'outDir',
  'storage',
  'checkpoint',
  'resume',
  'selection',
  'fusionRule',
  'evaluate',
  'progress',
  'progressStream',
  'signal',
  'config',
  'onStageStart',
  'epochSamples',
];

function validateStorageOptions(o: RunOptions): void {
  if (o.checkpoint) checkKnownKeys('runTraining checkpoint', o.checkpoint, ['dir', 'every']);
  if (o.storage !== undefined) {
    const s = o.storage as Partial<RunOptions['storage'] & object>;
    const missing = [
      ...['locate', 'writeText', 'appendText', 'readText'].filter(
        (k) => typeof s?.[k as keyof typeof s] !== 'function',
      ),
      ...['locate', 'save', 'load', 'exists', 'remove']
        .filter((k) => typeof s?.checkpoints?.[k as 'save'] !== 'function')
        .map((k) => `checkpoints.${k}`),
    ];
    if (missing.length > 0) {
      throw new IgmArgumentError(
        `runTraining: storage is not a RunStorage (it lacks ${missing.join(', ')}). Pass memoryStorage(), fileSystemStorage(dir) from '@igm/trainer/node', or an object with those methods.`,
      );
    }
    if (o.outDir !== undefined) {
      throw new IgmArgumentError(
        `runTraining: received both outDir=${JSON.stringify(o.outDir)} and storage. Pass one of them: records go to storage when it is given.`,
      );
    }
    if (o.checkpoint?.dir !== undefined) {
      throw new IgmArgumentError(
        `runTraining: received both checkpoint.dir=${JSON.stringify(o.checkpoint.dir)} and storage. With storage, checkpoints go to storage.checkpoints: pass checkpoint: { every } without dir.`,
      );
    }
    return;
  }
  if (o.outDir !== undefined && (typeof o.outDir !== 'string' || o.outDir === '')) {
    throw new IgmArgumentError(
      `runTraining: received outDir=${JSON.stringify(o.outDir)}. Expected a directory path.`,
    );
  }
  if (o.checkpoint && (typeof o.checkpoint.dir !== 'string' || o.checkpoint.dir === '')) {
    throw new IgmArgumentError(
      `runTraining: received checkpoint.dir=${JSON.stringify(o.checkpoint.dir)}. Expected a directory path (or pass \`storage\`, whose checkpoints are used).`,
    );
  }
}

/** The stores of a run: `storage`, or the file system for `outDir` and `checkpoint.dir`. */
function resolveStores(
  o: RunOptions,
  fileSystem: FileSystemStores | undefined,
): Pick<RunPlan, 'records' | 'checkpoints'> {
  if (o.storage) {
    return { records: o.storage, checkpoints: o.checkpoint ? o.storage.checkpoints : undefined };
  }
  const dirs = [
    ...(o.outDir !== undefined ? [`outDir=${JSON.stringify(o.outDir)}`] : []),
    ...(o.checkpoint?.dir !== undefined
      ? [`checkpoint.dir=${JSON.stringify(o.checkpoint.dir)}`]
      : []),
  ];
  if (!fileSystem) {
    if (dirs.length === 0) return { records: undefined, checkpoints: undefined };
    throw new IgmArgumentError(
      `runTraining: received ${dirs.join(' and ')}, but this build of @igm/trainer has no file system (the browser entry). Pass \`storage\` instead (memoryStorage(), or a RunStorage of your own such as IndexedDB); in Node, '@igm/trainer' and '@igm/trainer/node' write these directories.`,
    );
  }
  return {
    records: o.outDir !== undefined ? fileSystem.records(o.outDir) : undefined,
    checkpoints:
      o.checkpoint?.dir !== undefined ? fileSystem.checkpoints(o.checkpoint.dir) : undefined,
  };
}

/** The options that must be objects with a given method, and what to pass. */
const REQUIRED = [
  ['model', 'forward', 'a MultimodalModelLike as `model`'],
  ['dataset', 'batches', 'a MultimodalDataset as `dataset`'],
  ['step', 'run', 'a TrainerStep (e.g. jointStep())'],
  ['transform', 'init', 'a GradientTransform such as sgd({ learningRate: 0.01 })'],
] as const;

function validateOptions(o: RunOptions): void {
  checkKnownKeys('runTraining', o, RUN_KEYS);
  for (const [key, method, expected] of REQUIRED) {
    const value = o[key] as unknown as Record<string, unknown> | undefined;
    if (!value || typeof value[method] !== 'function') {
      throw new IgmArgumentError(`runTraining: received no ${key}. Pass ${expected}.`);
    }
  }
  if ((o.epochs === undefined) === (o.stages === undefined)) {
    throw new IgmArgumentError(
      `runTraining: received epochs=${o.epochs} and stages=${o.stages ? 'given' : 'undefined'}. Pass exactly one of them.`,
    );
  }
  if (o.epochs !== undefined)
    checkNumber('runTraining', 'epochs', o.epochs, { min: 1, integer: true });
  if (o.stages) {
    if (o.stages.length === 0)
      throw new IgmArgumentError('runTraining: received stages=[]. Pass at least one stage.');
    o.stages.forEach((s, i) => {
      checkNumber('runTraining', `stages[${i}].epochs`, s.epochs, { min: 1, integer: true });
    });
  }
  checkNumber('runTraining', 'batchSize', o.batchSize, { min: 1, integer: true });
  if (o.evalBatchSize !== undefined) {
    checkNumber('runTraining', 'evalBatchSize', o.evalBatchSize, { min: 1, integer: true });
  }
  if (o.seed !== undefined) checkNumber('runTraining', 'seed', o.seed, { integer: true });
  validateStorageOptions(o);
  if (o.checkpoint?.every !== undefined) {
    checkNumber('runTraining', 'checkpoint.every', o.checkpoint.every, { min: 1, integer: true });
  }
  if (o.resume && !o.checkpoint) {
    throw new IgmArgumentError(
      'runTraining: received resume=true without checkpoint.dir (or `checkpoint` with `storage`). Resuming reads the checkpoint `last`.',
    );
  }
  if (o.selection) {
    checkKnownKeys('runTraining selection', o.selection, ['split', 'metric']);
    if (o.selection.split !== undefined) {
      checkChoice('runTraining', 'selection.split', o.selection.split, ['validation', 'test']);
    }
    if (o.selection.metric !== undefined) {
      checkChoice('runTraining', 'selection.metric', o.selection.metric, ['macroF1', 'accuracy']);
    }
  }
  if (o.progress !== undefined) {
    checkChoice('runTraining', 'progress', o.progress, ['auto', 'bar', 'lines', 'none']);
  }
  const trainSize = o.dataset.splitSizes.train ?? 0;
  if (trainSize <= 0) {
    throw new IgmArgumentError(
      `runTraining: dataset "${o.dataset.name}" has no training split (splitSizes.train=${o.dataset.splitSizes.train}).`,
    );
  }
  const dataNames = o.dataset.modalities.map((m) => m.name);
  const missing = o.model.modalities.filter((m) => !dataNames.includes(m));
  if (missing.length > 0) {
    throw new IgmArgumentError(
      `runTraining: the model expects modalities ${o.model.modalities.join(', ')} but dataset "${o.dataset.name}" has ${dataNames.join(', ')} (missing: ${missing.join(', ')}).`,
    );
  }
  if (o.dataset.classNames.length !== o.model.numClasses) {
    throw new IgmArgumentError(
      `runTraining: the model has ${o.model.numClasses} classes but dataset "${o.dataset.name}" has ${o.dataset.classNames.length}.`,
    );
  }
}

/** Checks `options` and resolves them (see {@link RunPlan}). Throws on bad options. */
export function planRun(options: RunOptions, fileSystem?: FileSystemStores): RunPlan {
  validateOptions(options);
  const { model, dataset, step } = options;
  step.validate?.(model);
  const seed = options.seed ?? 0;
  const batchSize = options.batchSize;
  const evalBatchSize = options.evalBatchSize ?? 64;
  const dropLast = options.dropLast ?? true;
  const hasValidation = (dataset.splitSizes.validation ?? 0) > 0;
  const hasTest = (dataset.splitSizes.test ?? 0) > 0;
  const evalSplits: Split[] = options.evaluate
    ? [...options.evaluate]
    : ([hasValidation ? 'validation' : null, hasTest ? 'test' : null].filter(Boolean) as Split[]);
  const selection = {
    split: options.selection?.split ?? (hasValidation ? 'validation' : 'test'),
    metric: options.selection?.metric ?? 'macroF1',
  } as const;
  if (!evalSplits.includes(selection.split)) {
    throw new IgmArgumentError(
      `runTraining: selection.split="${selection.split}" is not evaluated (evaluated splits: ${evalSplits.join(', ') || 'none'}). The dataset has splitSizes ${JSON.stringify(dataset.splitSizes)}.`,
    );
  }
  const stages: StageSpec[] = options.stages
    ? options.stages.map((s) => ({ name: s.name, epochs: s.epochs }))
    : [{ name: '', epochs: options.epochs! }];
  const trainSize = dataset.splitSizes.train!;
  const batchesPerEpoch = dropLast
    ? Math.floor(trainSize / batchSize)
    : Math.ceil(trainSize / batchSize);
  if (batchesPerEpoch === 0) {
    throw new IgmArgumentError(
      `runTraining: batchSize=${batchSize} exceeds the ${trainSize} training samples with dropLast=true, so an epoch has no batch. Lower batchSize or set dropLast=false.`,
    );
  }
  const fusionRule = options.fusionRule ?? 'model';
  const config: Record<string, unknown> = {
    ...(options.config ?? {}),
    trainer: {
      step: step.describe?.() ?? { step: step.name },
      transform: options.transform.name,
      epochs: options.epochs,
      stages,
      batchSize,
      evalBatchSize,
      seed,
      dropLast,
      selection,
      fusionRule,
      dataset: dataset.name,
      modalities: model.modalities,
    },
  };
  return {
    options,
    model,
    dataset,
    step,
    callbacks: options.callbacks ?? [],
    seed,
    batchSize,
    evalBatchSize,
    dropLast,
    evalSplits,
    selection,
    stages,
    staged: options.stages !== undefined,
    batchesPerEpoch,
    totalEpochs: stages.reduce((n, s) => n + s.epochs, 0),
    fusionRule,
    config,
    ...resolveStores(options, fileSystem),
    checkpointEvery: options.checkpoint?.every ?? 1,
  };
}

/** Creates the run's resources: parameters, step RNG, transform state, epoch log, progress. */
export function openRun(plan: RunPlan): RunContext {
  const params = toParamMap(plan.model.params());
  const rng = createRng(plan.seed).fork('steps');
  const epochLog = new EpochLog();
  const driver = new TransformDriver(plan.options.transform, params, rng, (name, value) =>
    epochLog.log(name, value),
  );
  const progress = new Progress(
    plan.options.progress ?? 'auto',
    plan.totalEpochs * plan.batchesPerEpoch,
    plan.options.progressStream,
  );
  return { ...plan, params, rng, driver, epochLog, progress };
}
