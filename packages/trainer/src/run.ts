/**
 * `runTraining`: the run loop shared by every trainer (DESIGN.md sections 4 and 9).
 *
 *   onTrainBegin
 *   for each stage s (one stage when `epochs` is given):
 *     onStageStart hook (alternating trainers: reload best, reset optimizer, build T)
 *     onStageBegin
 *     for each epoch e of the stage:
 *       onEpochBegin;  epochSamples hook (a re-sampled list of training samples, or none)
 *       for each training batch b (shuffled with a seed derived from `seed` and the epoch,
 *       or the hook's list in its order):
 *         onBatchBegin;  tf.tidy(step.run(tools));  NaN/Inf guard;  onBatchEnd;  abort check
 *       evaluate validation and test (fused and per-modality accuracy, macro-F1, mAP)
 *       selection: best-on-validation (or test) by macro-F1 (or accuracy); best-on-test too
 *       onEpochEnd;  metrics.jsonl line;  checkpoint every `checkpoint.every` epochs
 *     onStageEnd
 *   onTrainEnd;  summary.json
 *
 * A checkpoint holds the model's weights and non-trainable state, every transform's state,
 * callback state, the RNG state, the position (stage, epoch, batch, step), the history and
 * the resolved config; `resume: true` continues from it and ends with the same numbers as an
 * uninterrupted run on the same backend. An `AbortSignal` stops after the current step with a
 * checkpoint. A NaN/Inf loss throws {@link TrainingDivergedError}; checkpoints already written
 * are kept.
 */
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Callback,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  type GradientTransform,
  IgmArgumentError,
  type Logs,
  type MultimodalBatch,
  type MultimodalDataset,
  type MultimodalModelLike,
  type NamedVariable,
  type Param,
  type RngState,
  type Split,
  toParamMap,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import {
  readCheckpoint,
  restoreVariables,
  snapshotVariables,
  type TensorRecord,
  writeCheckpoint,
} from './checkpoint';
import { TransformDriver } from './driver';
import { evaluateSplit, type SplitMetrics } from './evaluate';
import { Progress, type ProgressMode, type ProgressStream } from './progress';
import { runTrainerStep, type TrainerStep } from './step';

/** What {@link RunOptions.epochSamples} gets at the start of an epoch. */
export interface EpochSamplesContext {
  /** The epoch about to run, counted over the whole run (0-based). */
  readonly globalEpoch: number;
  readonly batchSize: number;
  /** The run seed. */
  readonly seed: number;
  /**
   * True when a resumed run continues in the middle of this epoch: return the list the
   * interrupted run used (its values were already logged).
   */
  readonly resumedMidEpoch: boolean;
  /** Records a value in this epoch's `logs` (the re-sampling decision). */
  log(name: string, value: number): void;
}

/** One stage of a staged run (IGM: one modality for `epochs` epochs). */
export interface StageSpec {
  readonly name: string;
  readonly epochs: number;
}

export interface SelectionOptions {
  /** Split that chooses the best checkpoint. Default: 'validation' when the dataset has one. */
  readonly split?: 'validation' | 'test';
  /** Default 'macroF1'. */
  readonly metric?: 'macroF1' | 'accuracy';
}

export interface CheckpointOptions {
  /** Directory holding `last/` and `best/`. */
  readonly dir: string;
  /** Write `last/` every this many epochs (and at the end of the run). Default 1. */
  readonly every?: number;
}

/** What the stage-start hook may do (alternating trainers). */
export interface StageStartContext {
  readonly stageIndex: number;
  readonly stage: StageSpec;
  readonly previousStage: StageSpec | undefined;
  readonly model: MultimodalModelLike;
  readonly params: ReadonlyMap<string, Param>;
  /** The transform state (install T here). */
  readonly transformState: unknown;
  /** Loads the best weights so far (global across stages); false when there are none yet. */
  reloadBest(): boolean;
  /** Fresh transform state and optimizer step counter (a new optimizer and schedule). */
  resetOptimizer(): void;
  /**
   * One pass over the training split (`dropLast`, training augmentation, the run's batch
   * size, seeded from the run seed and stage): `fn` gets each batch; its tensors are disposed
   * after `fn` returns. Use tf.tidy inside `fn`.
   */
  forEachTrainingBatch(fn: (batch: MultimodalBatch) => void): Promise<number>;
  /** Records a value (a number or an array, e.g. the spectrum of T) in this epoch's record. */
  record(name: string, value: number | readonly number[]): void;
}

export interface RunOptions {
  readonly model: MultimodalModelLike;
  readonly dataset: MultimodalDataset;
  readonly step: TrainerStep;
  /** The gradient transform chain; its state is created once (and by `resetOptimizer`). */
  readonly transform: GradientTransform<any>;
  /** Number of epochs (a run without stages). Exactly one of `epochs` and `stages`. */
  readonly epochs?: number;
  readonly stages?: readonly StageSpec[];
  readonly batchSize: number;
  /** Default 64. */
  readonly evalBatchSize?: number;
  /** Seeds shuffling and the step RNG (mixup, noise). Default 0. */
  readonly seed?: number;
  /** Drop the last incomplete training batch (the references do). Default true. */
  readonly dropLast?: boolean;
  readonly callbacks?: readonly Callback[];
  /** Writes metrics.jsonl, config.json and summary.json here. */
  readonly outDir?: string;
  readonly checkpoint?: CheckpointOptions;
  /** Continue from `checkpoint.dir/last` when it exists. Default false. */
  readonly resume?: boolean;
  readonly selection?: SelectionOptions;
  /** Label of the fusion rule used for `fused` (recorded; e.g. 'mean-softmax'). */
  readonly fusionRule?: string;
  /** Splits evaluated each epoch. Default: those of validation/test the dataset has. */
  readonly evaluate?: readonly Split[];
  readonly progress?: ProgressMode;
  readonly progressStream?: ProgressStream;
  /** Stops after the current step, writing a checkpoint (Ctrl-C in the CLI). */
  readonly signal?: AbortSignal;
  /** Resolved user config, recorded in checkpoints and config.json. */
  readonly config?: Record<string, unknown>;
  /** Called at the start of every stage, before `onStageBegin` (not again on resume). */
  readonly onStageStart?: (ctx: StageStartContext) => void | Promise<void>;
  /**
   * Re-samples the training split (SMV). Called at the start of every epoch, after
   * `onEpochBegin`: return the epoch's training samples as positions of the training split (in
   * its canonical order, repeats allowed) in visiting order, or undefined for the usual shuffled
   * pass. A list is read with `indices` (no further shuffling), `batchSize` and `dropLast`, so
   * batch b holds list entries [b * batchSize, (b + 1) * batchSize) and the epoch has its own
   * number of batches (`batchesPerEpoch` of the steps). The list must be reproducible or kept
   * in a callback's state, so that a resumed run visits the same samples.
   */
  readonly epochSamples?: (
    ctx: EpochSamplesContext,
  ) =>
    | readonly number[]
    | Int32Array
    | undefined
    | Promise<readonly number[] | Int32Array | undefined>;
}

/** One line of metrics.jsonl. */
export interface EpochRecord {
  epoch: number;
  stage?: string;
  stageIndex: number;
  epochInStage: number;
  step: number;
  trainLoss: number;
  /** Learning rate of the epoch's last step (the value logged as `lr`). */
  lr?: number;
  /** Mean over the epoch of every value transforms and steps logged. */
  logs: Record<string, number>;
  /** Values recorded at stage start (spectrum of T...). */
  records?: Record<string, number | readonly number[]>;
  metrics: Partial<Record<Split, SplitMetrics>>;
  /** The selection metric improved this epoch (the best checkpoint was replaced). */
  selected: boolean;
  seconds: number;
}

export interface SelectedResult {
  readonly label: string;
  readonly epoch: number;
  readonly stage?: string;
  readonly value: number;
  readonly metrics: Partial<Record<Split, SplitMetrics>>;
}

export interface RunSummary {
  status: 'completed' | 'aborted';
  epochs: number;
  steps: number;
  seed: number;
  fusionRule: string;
  selection: { split: 'validation' | 'test'; metric: 'macroF1' | 'accuracy' };
  /** Test (and validation) metrics at the epoch chosen on the selection split. */
  best: SelectedResult | null;
  /** Best test epoch: the references' protocol, reported for comparison only. */
  bestOnTest: SelectedResult | null;
  /** Metrics after the last epoch. */
  final: Partial<Record<Split, SplitMetrics>> | null;
  evaluatedSamples: Partial<Record<Split, number>>;
  history: EpochRecord[];
}

/** A NaN/Inf loss stopped the run. */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
}

interface Position {
  stage: number;
  epoch: number;
  batch: number;
  globalEpoch: number;
  globalStep: number;
  stageStarted: boolean;
}

interface EpochAccumulator {
  lossSum: number;
  count: number;
  logSums: Record<string, number>;
  logCounts: Record<string, number>;
  logLast: Record<string, number>;
  records: Record<string, number | readonly number[]>;
}

interface SavedState {
  format: 'igm-run-state';
  position: Position;
  rng: RngState;
  optimizerStep: number;
  accumulator: EpochAccumulator;
  history: EpochRecord[];
  best: SelectedResult | null;
  bestOnTest: SelectedResult | null;
  callbacks: Record<string, unknown>;
  config: Record<string, unknown>;
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

function emptyAccumulator(): EpochAccumulator {
  return { lossSum: 0, count: 0, logSums: {}, logCounts: {}, logLast: {}, records: {} };
}

/** Seed of the shuffle of global epoch `epoch` (and of stage passes, with a tag). */
export function epochSeed(seed: number, epoch: number, tag = 0): number {
  return (
    (Math.imul(seed ^ 0x5bd1e995, 2654435761) + Math.imul(epoch + 1, 40503) + tag * 7919) >>> 0
  );
}

function modelVariables(model: MultimodalModelLike): NamedVariable[] {
  return [
    ...model.params().map((p) => ({ name: `model/${p.key}`, variable: p.variable })),
    ...model.nonTrainable().map((v) => ({ name: `model-state/${v.key}`, variable: v.variable })),
  ];
}

function validate(o: RunOptions): void {
  checkKnownKeys('runTraining', o, RUN_KEYS);
  if (!o.model || typeof o.model.forward !== 'function') {
    throw new IgmArgumentError(
      'runTraining: received no model. Pass a MultimodalModelLike as `model`.',
    );
  }
  if (!o.dataset || typeof o.dataset.batches !== 'function') {
    throw new IgmArgumentError(
      'runTraining: received no dataset. Pass a MultimodalDataset as `dataset`.',
    );
  }
  if (!o.step || typeof o.step.run !== 'function') {
    throw new IgmArgumentError(
      'runTraining: received no step. Pass a TrainerStep (e.g. jointStep()).',
    );
  }
  if (!o.transform || typeof o.transform.init !== 'function') {
    throw new IgmArgumentError(
      'runTraining: received no transform. Pass a GradientTransform such as sgd({ learningRate: 0.01 }).',
    );
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
  if (o.checkpoint) {
    checkKnownKeys('runTraining checkpoint', o.checkpoint, ['dir', 'every']);
    if (typeof o.checkpoint.dir !== 'string' || o.checkpoint.dir === '') {
      throw new IgmArgumentError(
        `runTraining: received checkpoint.dir=${JSON.stringify(o.checkpoint.dir)}. Expected a directory path.`,
      );
    }
    if (o.checkpoint.every !== undefined) {
      checkNumber('runTraining', 'checkpoint.every', o.checkpoint.every, { min: 1, integer: true });
    }
  }
  if (o.resume && !o.checkpoint) {
    throw new IgmArgumentError(
      'runTraining: received resume=true without checkpoint.dir. Resuming reads checkpoint.dir/last.',
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

function mean(sum: number, count: number): number {
  return count > 0 ? sum / count : Number.NaN;
}

function selectionValue(
  metrics: Partial<Record<Split, SplitMetrics>>,
  split: Split,
  metric: 'macroF1' | 'accuracy',
): number {
  return metrics[split]?.outputs['fused']?.[metric] ?? Number.NaN;
}

function formatMetrics(m: Partial<Record<Split, SplitMetrics>>): string {
  const parts: string[] = [];
  for (const split of ['validation', 'test'] as const) {
    const s = m[split];
    if (!s) continue;
    const per = Object.entries(s.outputs)
      .filter(([k]) => k !== 'fused')
      .map(([k, v]) => `${k} ${(100 * v.accuracy).toFixed(1)}`)
      .join(' ');
    const f = s.outputs['fused'];
    if (f)
      parts.push(
        `${split} acc ${(100 * f.accuracy).toFixed(1)} f1 ${(100 * f.macroF1).toFixed(1)} (${per})`,
      );
  }
  return parts.join(' | ');
}

/** Trains `model` with `step` and `transform`; see the module doc for the loop. */
export async function runTraining(options: RunOptions): Promise<RunSummary> {
  validate(options);
  const { model, dataset, step } = options;
  step.validate?.(model);
  const seed = options.seed ?? 0;
  const batchSize = options.batchSize;
  const evalBatchSize = options.evalBatchSize ?? 64;
  const dropLast = options.dropLast ?? true;
  const callbacks = options.callbacks ?? [];
  const hasValidation = (dataset.splitSizes.validation ?? 0) > 0;
  const hasTest = (dataset.splitSizes.test ?? 0) > 0;
  const evalSplits: Split[] = options.evaluate
    ? [...options.evaluate]
    : ([hasValidation ? 'validation' : null, hasTest ? 'test' : null].filter(Boolean) as Split[]);
  const selSplit = options.selection?.split ?? (hasValidation ? 'validation' : 'test');
  const selMetric = options.selection?.metric ?? 'macroF1';
  if (!evalSplits.includes(selSplit)) {
    throw new IgmArgumentError(
      `runTraining: selection.split="${selSplit}" is not evaluated (evaluated splits: ${evalSplits.join(', ') || 'none'}). The dataset has splitSizes ${JSON.stringify(dataset.splitSizes)}.`,
    );
  }
  const stages: StageSpec[] = options.stages
    ? options.stages.map((s) => ({ name: s.name, epochs: s.epochs }))
    : [{ name: '', epochs: options.epochs! }];
  const staged = options.stages !== undefined;
  const trainSize = dataset.splitSizes.train!;
  const batchesPerEpoch = dropLast
    ? Math.floor(trainSize / batchSize)
    : Math.ceil(trainSize / batchSize);
  if (batchesPerEpoch === 0) {
    throw new IgmArgumentError(
      `runTraining: batchSize=${batchSize} exceeds the ${trainSize} training samples with dropLast=true, so an epoch has no batch. Lower batchSize or set dropLast=false.`,
    );
  }
  const totalEpochs = stages.reduce((n, s) => n + s.epochs, 0);
  const totalSteps = totalEpochs * batchesPerEpoch;
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
      selection: { split: selSplit, metric: selMetric },
      fusionRule,
      dataset: dataset.name,
      modalities: model.modalities,
    },
  };

  const params = toParamMap(model.params());
  const rng = createRng(seed).fork('steps');
  let acc = emptyAccumulator();
  const logValue = (name: string, value: number): void => {
    acc.logSums[name] = (acc.logSums[name] ?? 0) + value;
    acc.logCounts[name] = (acc.logCounts[name] ?? 0) + 1;
    acc.logLast[name] = value;
  };
  const driver = new TransformDriver(options.transform, params, rng, logValue);

  const ckptDir = options.checkpoint?.dir;
  const every = options.checkpoint?.every ?? 1;
  const pos: Position = {
    stage: 0,
    epoch: 0,
    batch: 0,
    globalEpoch: 0,
    globalStep: 0,
    stageStarted: false,
  };
  let history: EpochRecord[] = [];
  let best: SelectedResult | null = null;
  let bestOnTest: SelectedResult | null = null;
  let bestWeights: Map<string, TensorRecord> | null = null;
  const progress = new Progress(
    options.progress ?? 'auto',
    totalSteps,
    options.progressStream ?? process.stderr,
  );

  const callbackVariables = (): NamedVariable[] =>
    callbacks.flatMap((cb) =>
      (cb.stateVariables?.() ?? []).map((v) => ({
        name: `callback/${cb.name}/${v.name}`,
        variable: v.variable,
      })),
    );
  const allVariables = (): NamedVariable[] => [
    ...modelVariables(model),
    ...driver.stateVariables().map((v) => ({ name: `transform/${v.name}`, variable: v.variable })),
    ...callbackVariables(),
  ];

  const saveLast = async (): Promise<void> => {
    if (!ckptDir) return;
    const state: SavedState = {
      format: 'igm-run-state',
      position: { ...pos },
      rng: rng.getState(),
      optimizerStep: driver.step,
      accumulator: acc,
      history,
      best,
      bestOnTest,
      callbacks: Object.fromEntries(
        callbacks.filter((c) => c.getState).map((c) => [c.name, c.getState!()]),
      ),
      config,
    };
    await writeCheckpoint(
      ckptDir,
      'last',
      (await snapshotVariables(allVariables())).values(),
      state,
    );
  };

  let resumed = false;
  if (options.resume && ckptDir) {
    const last = await readCheckpoint<SavedState>(ckptDir, 'last');
    if (last) {
      const s = last.state;
      if (s.format !== 'igm-run-state') {
        throw new IgmArgumentError(
          `runTraining: ${last.path}/state.json is not a run state (format ${JSON.stringify(s.format)}).`,
        );
      }
      // The transform state's shape may depend on stage (T installed); restore what was saved.
      restoreVariables(tf, last.tensors, allVariables(), `runTraining resume from ${last.path}`);
      Object.assign(pos, s.position);
      rng.setState(s.rng);
      driver.step = s.optimizerStep;
      acc = s.accumulator;
      history = s.history;
      best = s.best;
      bestOnTest = s.bestOnTest;
      for (const cb of callbacks) {
        if (cb.setState && s.callbacks[cb.name] !== undefined) cb.setState(s.callbacks[cb.name]);
      }
      const bestCk = await readCheckpoint<unknown>(ckptDir, 'best');
      if (bestCk) {
        bestWeights = new Map([...bestCk.tensors].filter(([k]) => k.startsWith('model')));
      }
      resumed = true;
      progress.message(
        `resumed from ${last.path}: epoch ${pos.globalEpoch}, batch ${pos.batch}, step ${pos.globalStep}`,
      );
    }
  }

  if (options.outDir) {
    await mkdir(options.outDir, { recursive: true });
    await writeFile(join(options.outDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    // On resume, metrics.jsonl is rewritten from the checkpoint's history (drops lines
    // written after the checkpoint by the killed run).
    await writeFile(
      join(options.outDir, 'metrics.jsonl'),
      history.map((r) => `${JSON.stringify(r)}\n`).join(''),
    );
  }

  const fire = async (f: (cb: Callback) => unknown): Promise<void> => {
    for (const cb of callbacks) await f(cb);
  };

  let lastLoss = Number.NaN;
  const runStep = (batch: MultimodalBatch, stage: StageSpec, epochBatches: number): number =>
    runTrainerStep(step, {
      model,
      driver,
      batch,
      epoch: pos.epoch,
      globalEpoch: pos.globalEpoch,
      batchIndex: pos.batch,
      batchesPerEpoch: epochBatches,
      ...(staged ? { stage: stage.name } : {}),
      log: logValue,
    });

  const evaluateAll = async (): Promise<Partial<Record<Split, SplitMetrics>>> => {
    const out: Partial<Record<Split, SplitMetrics>> = {};
    for (const split of evalSplits)
      out[split] = await evaluateSplit(model, dataset, split, evalBatchSize);
    return out;
  };

  progress.start(pos.globalStep);
  await fire((cb) => cb.onTrainBegin?.({ resumed: resumed ? 1 : 0 }));
  try {
    for (; pos.stage < stages.length; pos.stage++) {
      const stage = stages[pos.stage]!;
      const stageLabel = staged ? `stage ${pos.stage + 1}/${stages.length} (${stage.name})` : '';
      if (!pos.stageStarted) {
        if (options.onStageStart) {
          const stageIndex = pos.stage;
          await options.onStageStart({
            stageIndex,
            stage,
            previousStage: stageIndex > 0 ? stages[stageIndex - 1] : undefined,
            model,
            params,
            get transformState() {
              return driver.state;
            },
            reloadBest: () => {
              if (!bestWeights) return false;
              restoreVariables(tf, bestWeights, modelVariables(model), 'reloadBest');
              return true;
            },
            resetOptimizer: () => driver.reset(),
            forEachTrainingBatch: async (fn) => {
              let n = 0;
              for await (const batch of dataset.batches({
                split: 'train',
                batchSize,
                shuffle: true,
                seed: epochSeed(seed, pos.globalEpoch, 1 + stageIndex),
                dropLast,
                augment: true,
              })) {
                try {
                  fn(batch);
                  n++;
                } finally {
                  for (const t of Object.values(batch.inputs)) t.dispose();
                  batch.labels.dispose();
                }
              }
              return n;
            },
            record: (name, value) => {
              acc.records[name] = Array.isArray(value) ? [...value] : value;
            },
          });
        }
        pos.stageStarted = true;
        if (staged) await fire((cb) => cb.onStageBegin?.(stage.name, pos.stage));
      }
      for (; pos.epoch < stage.epochs; ) {
        const started = performance.now();
        if (pos.batch === 0) await fire((cb) => cb.onEpochBegin?.(pos.globalEpoch));
        const resumedMidEpoch = pos.batch > 0;
        const list = options.epochSamples
          ? await options.epochSamples({
              globalEpoch: pos.globalEpoch,
              batchSize,
              seed,
              resumedMidEpoch,
              log: resumedMidEpoch ? () => {} : logValue,
            })
          : undefined;
        const epochBatches = list
          ? dropLast
            ? Math.floor(list.length / batchSize)
            : Math.ceil(list.length / batchSize)
          : batchesPerEpoch;
        let b = 0;
        for await (const batch of dataset.batches({
          split: 'train',
          batchSize,
          shuffle: !list,
          seed: epochSeed(seed, pos.globalEpoch),
          dropLast,
          augment: true,
          ...(list ? { indices: list } : {}),
        })) {
          try {
            if (b < pos.batch || b >= epochBatches) continue; // resume: skip batches done
            if (
              list &&
              batch.labels.shape[0] !== Math.min(batchSize, list.length - b * batchSize)
            ) {
              throw new IgmArgumentError(
                `runTraining: dataset "${dataset.name}" returned a batch of ${batch.labels.shape[0]} samples at position ${b} of a re-sampled epoch of ${list.length} samples (batch size ${batchSize}). Its batches() must honour the \`indices\` option.`,
              );
            }
            await fire((cb) => cb.onBatchBegin?.(b, { batch: b }));
            const loss = runStep(batch, stage, epochBatches);
            if (!Number.isFinite(loss)) {
              const where = `epoch ${pos.globalEpoch}${staged ? ` (stage ${pos.stage} "${stage.name}")` : ''}, batch ${b}, step ${pos.globalStep}`;
              throw new TrainingDivergedError(
                `Training diverged: the loss is ${loss} at ${where}. The run stopped; ${
                  ckptDir
                    ? `the last good checkpoint is kept at ${join(ckptDir, 'last')} (resume with resume: true after fixing the cause)`
                    : 'no checkpoint directory was given, so nothing was saved'
                }. Lower the learning rate, check the inputs for NaN/Inf, or clip gradients.`,
              );
            }
            lastLoss = loss;
            acc.lossSum += loss;
            acc.count++;
            pos.batch = b + 1;
            pos.globalStep++;
            await fire((cb) => cb.onBatchEnd?.(b, { batch: b, loss }));
            progress.step(
              pos.globalStep,
              `epoch ${pos.globalEpoch + 1}/${totalEpochs}${staged ? ` ${stage.name}` : ''}`,
              loss,
            );
            if (options.signal?.aborted) {
              await saveLast();
              progress.message(
                `aborted after step ${pos.globalStep}${ckptDir ? `; checkpoint written to ${join(ckptDir, 'last')}` : ''}`,
              );
              return await finish('aborted');
            }
          } finally {
            b++;
            for (const t of Object.values(batch.inputs)) t.dispose();
            batch.labels.dispose();
          }
        }
        if (list && b !== epochBatches) {
          throw new IgmArgumentError(
            `runTraining: dataset "${dataset.name}" returned ${b} batches for a re-sampled epoch of ${list.length} samples (expected ${epochBatches}). Its batches() must honour the \`indices\` option.`,
          );
        }
        // End of epoch: evaluate, select, record, checkpoint.
        const metrics = await evaluateAll();
        const value = selectionValue(metrics, selSplit, selMetric);
        const selected = Number.isFinite(value) && (best === null || value > best.value);
        const stageName = staged ? stage.name : undefined;
        if (selected) {
          best = {
            label: `best-on-${selSplit} (${selMetric})`,
            epoch: pos.globalEpoch,
            ...(stageName !== undefined ? { stage: stageName } : {}),
            value,
            metrics,
          };
          bestWeights = await snapshotVariables(modelVariables(model));
          if (ckptDir)
            await writeCheckpoint(ckptDir, 'best', bestWeights.values(), {
              format: 'igm-best',
              best,
            });
        }
        const testValue = selectionValue(metrics, 'test', selMetric);
        if (Number.isFinite(testValue) && (bestOnTest === null || testValue > bestOnTest.value)) {
          bestOnTest = {
            label: `best-on-test (${selMetric}; reference protocol, optimistic)`,
            epoch: pos.globalEpoch,
            ...(stageName !== undefined ? { stage: stageName } : {}),
            value: testValue,
            metrics,
          };
        }
        const logs: Record<string, number> = {};
        for (const k of Object.keys(acc.logSums))
          logs[k] = mean(acc.logSums[k]!, acc.logCounts[k]!);
        const record: EpochRecord = {
          epoch: pos.globalEpoch,
          ...(stageName !== undefined ? { stage: stageName } : {}),
          stageIndex: pos.stage,
          epochInStage: pos.epoch,
          step: pos.globalStep,
          trainLoss: mean(acc.lossSum, acc.count),
          ...(acc.logLast['lr'] !== undefined ? { lr: acc.logLast['lr'] } : {}),
          logs,
          ...(Object.keys(acc.records).length > 0 ? { records: acc.records } : {}),
          metrics,
          selected,
          seconds: (performance.now() - started) / 1000,
        };
        history.push(record);
        const epochLogs: Logs = { loss: record.trainLoss, ...logs };
        for (const split of evalSplits) {
          const f = metrics[split]?.outputs['fused'];
          if (f) {
            epochLogs[`${split}/accuracy`] = f.accuracy;
            epochLogs[`${split}/macroF1`] = f.macroF1;
          }
        }
        await fire((cb) => cb.onEpochEnd?.(pos.globalEpoch, epochLogs));
        progress.epoch(
          pos.globalStep,
          `epoch ${pos.globalEpoch + 1}/${totalEpochs}${stageLabel ? ` ${stageLabel}` : ''} loss ${record.trainLoss.toFixed(4)} ${formatMetrics(metrics)}${selected ? ' *' : ''}`,
        );
        if (options.outDir)
          await appendFile(join(options.outDir, 'metrics.jsonl'), `${JSON.stringify(record)}\n`);
        acc = emptyAccumulator();
        pos.epoch++;
        pos.batch = 0;
        pos.globalEpoch++;
        const lastEpoch = pos.globalEpoch === totalEpochs;
        if (ckptDir && (pos.globalEpoch % every === 0 || lastEpoch)) await saveLast();
      }
      if (staged) await fire((cb) => cb.onStageEnd?.(stage.name, pos.stage));
      pos.epoch = 0;
      pos.stageStarted = false;
    }
    return await finish('completed');
  } finally {
    driver.dispose();
  }

  async function finish(status: 'completed' | 'aborted'): Promise<RunSummary> {
    const final = history.length > 0 ? history[history.length - 1]!.metrics : null;
    const evaluatedSamples: Partial<Record<Split, number>> = {};
    for (const split of evalSplits) {
      const n = final?.[split]?.n;
      if (n !== undefined) evaluatedSamples[split] = n;
    }
    const summary: RunSummary = {
      status,
      epochs: pos.globalEpoch,
      steps: pos.globalStep,
      seed,
      fusionRule,
      selection: { split: selSplit, metric: selMetric },
      best,
      bestOnTest,
      final,
      evaluatedSamples,
      history,
    };
    if (status === 'completed') {
      await fire((cb) => cb.onTrainEnd?.({ loss: lastLoss }));
    }
    if (options.outDir) {
      const { history: _h, ...rest } = summary;
      await writeFile(join(options.outDir, 'summary.json'), `${JSON.stringify(rest, null, 2)}\n`);
    }
    return summary;
  }
}
