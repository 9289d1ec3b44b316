/**
 * `runTraining`: the run loop shared by every trainer. It runs as named phases, each a function
 * that takes the run's context and the state so far and returns the next state (run/*.ts):
 *
 *   setup            check and resolve the options, open parameters, RNG, transform, progress
 *   restoreOrBegin   resume from checkpoint `last` (with `resume`), or start at epoch 0
 *   beginRun         config.json, metrics.jsonl;  onTrainBegin (logs: resumed, epoch, batch,
 *                    step where the run starts, epochs of the whole run)
 *   for each stage s (one stage when `epochs` is given):
 *     startStage     onStageStart hook (alternating trainers: reload best, reset optimizer,
 *                    build T);  onStageBegin
 *     for each epoch e of the stage:
 *       trainEpoch   onEpochBegin;  epochSamples hook (a re-sampled list of training samples, or
 *                    none);  for each training batch b (shuffled with a seed derived from `seed`
 *                    and the epoch, or the hook's list in its order):
 *                      onBatchBegin;  tf.tidy(step.run(tools));  NaN/Inf guard;  onBatchEnd;
 *                      abort check (stopRun: checkpoint `last`, summary)
 *       endEpoch     evaluate validation and test (fused and per-modality accuracy, macro-F1,
 *                    mAP);  select best-on-validation (or test) by macro-F1 (or accuracy), and
 *                    best-on-test;  record: onEpochEnd, metrics.jsonl line;  checkpoint `last`
 *                    every `checkpoint.every` epochs
 *     endStage       onStageEnd
 *   finishRun        onTrainEnd;  summary.json
 *
 * A checkpoint holds the model's weights and non-trainable state, every transform's state,
 * callback state, the RNG state, the position (stage, epoch, batch, step), the history and
 * the resolved config; `resume: true` continues from it and ends with the same numbers as an
 * uninterrupted run on the same backend. An `AbortSignal` stops after the current step with a
 * checkpoint. A NaN/Inf loss throws {@link TrainingDivergedError}; checkpoints already written
 * are kept.
 *
 * Records and checkpoints go to a {@link RunStorage} (storage.ts): `storage`, or in Node the
 * directories `outDir` and `checkpoint.dir`.
 */
import type {
  Callback,
  GradientTransform,
  MultimodalBatch,
  MultimodalDataset,
  MultimodalModelLike,
  Param,
  Split,
} from '@igm/core';
import type { SplitMetrics } from './evaluate';
import type { ProgressMode, ProgressStream } from './progress';
import { trainEpoch } from './run/epoch';
import { endEpoch } from './run/epoch-end';
import { beginRun, finishRun, stopRun } from './run/finish';
import { type FileSystemStores, openRun, planRun } from './run/setup';
import { currentStage, endStage, startStage } from './run/stage';
import { restoreOrBegin } from './run/state';
import type { TrainerStep } from './step';
import type { RunStorage } from './storage';

export { type DivergencePosition, epochSeed, TrainingDivergedError } from './run/epoch';

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
  /**
   * Directory holding `last/` and `best/` (Node). Leave it out when `storage` is given: the
   * checkpoints then go to `storage.checkpoints`.
   */
  readonly dir?: string;
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
  /** Writes metrics.jsonl, config.json and summary.json here (Node; or use `storage`). */
  readonly outDir?: string;
  /**
   * Where the run's records go (config.json, metrics.jsonl, summary.json) and, when `checkpoint`
   * is given, its checkpoints (`storage.checkpoints`): `memoryStorage()`, `fileSystemStorage(dir)`
   * from '@igm/trainer/node', or a {@link RunStorage} of your own (IndexedDB...). Replaces
   * `outDir` and `checkpoint.dir`, which are the file-system shorthands of the Node entry.
   */
  readonly storage?: RunStorage;
  /** Checkpoints `last` and `best`; none when omitted. */
  readonly checkpoint?: CheckpointOptions;
  /** Continue from the checkpoint `last` when it exists. Default false. */
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

/**
 * `runTraining` with the given file system for `outDir` and `checkpoint.dir` (none: those
 * options are an error and `storage` must be used). The entry points call it.
 */
export async function runTrainingWith(
  options: RunOptions,
  fileSystem: FileSystemStores | undefined,
): Promise<RunSummary> {
  const run = openRun(planRun(options, fileSystem));
  try {
    let state = await restoreOrBegin(run);
    await beginRun(run, state);
    while (state.position.stage < run.stages.length) {
      state = await startStage(run, state);
      while (state.position.epoch < currentStage(run, state).epochs) {
        const trained = await trainEpoch(run, state);
        if (trained.aborted) return await stopRun(run, trained.state);
        state = await endEpoch(run, trained.state, trained.started);
      }
      state = await endStage(run, state);
    }
    return await finishRun(run, state, 'completed');
  } finally {
    run.driver.dispose();
  }
}

/**
 * Trains `model` with `step` and `transform`; see the module doc for the loop. This is the
 * entry without a file system (browsers): records and checkpoints need `storage`. In Node,
 * `@igm/trainer` resolves to the entry whose `runTraining` also writes `outDir` and
 * `checkpoint.dir`.
 */
export function runTraining(options: RunOptions): Promise<RunSummary> {
  return runTrainingWith(options, undefined);
}
