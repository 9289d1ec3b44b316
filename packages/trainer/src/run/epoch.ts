/**
 * The training phase of an epoch ({@link trainEpoch}): onEpochBegin, the `epochSamples` hook,
 * then one step per training batch with the NaN/Inf guard, onBatchBegin/onBatchEnd, progress
 * and the abort check.
 */
import { IgmArgumentError, type MultimodalBatch } from '@igm/core';
import { runTrainerStep } from '../step';
import type { RunContext } from './setup';
import { currentStage, fire } from './stage';
import type { RunState } from './state';

/** Where a run diverged, as {@link TrainingDivergedError} reports it. */
export interface DivergencePosition {
  /** The epoch being trained, counted over the whole run (0-based). */
  readonly epoch: number;
  /** Its stage index and name (staged runs only). */
  readonly stage?: { readonly index: number; readonly name: string };
  /** The batch of that epoch (0-based) and the optimizer step (0-based) whose loss was bad. */
  readonly batch: number;
  readonly step: number;
}

/**
 * A NaN/Inf loss stopped the run. `checkpoint` is where the last good checkpoint `last` is, or
 * undefined when none was written yet (the run diverged before its first checkpoint, or it had
 * no checkpoint store): resuming then starts over.
 */
export class TrainingDivergedError extends Error {
  override name = 'TrainingDivergedError';
  constructor(
    message: string,
    readonly loss: number,
    readonly position: DivergencePosition,
    readonly checkpoint: string | undefined,
  ) {
    super(message);
  }
}

/** Seed of the shuffle of global epoch `epoch` (and of stage passes, with a tag). */
export function epochSeed(seed: number, epoch: number, tag = 0): number {
  return (
    (Math.imul(seed ^ 0x5bd1e995, 2654435761) + Math.imul(epoch + 1, 40503) + tag * 7919) >>> 0
  );
}

/** An epoch's training pass as it ended. */
export interface TrainedEpoch {
  readonly state: RunState;
  /** `signal` was aborted: the run stops after the step just taken. */
  readonly aborted: boolean;
  /** `performance.now()` when the epoch (or its resumed part) began. */
  readonly started: number;
}

/** The epoch's sample list from `epochSamples` (undefined: the usual shuffled pass). */
async function epochSampleList(
  run: RunContext,
  state: RunState,
): Promise<readonly number[] | Int32Array | undefined> {
  if (!run.options.epochSamples) return undefined;
  const resumedMidEpoch = state.position.batch > 0;
  return run.options.epochSamples({
    globalEpoch: state.position.globalEpoch,
    batchSize: run.batchSize,
    seed: run.seed,
    resumedMidEpoch,
    log: resumedMidEpoch ? () => {} : (name, value) => run.epochLog.log(name, value),
  });
}

function disposeBatch(batch: MultimodalBatch): void {
  for (const t of Object.values(batch.inputs)) t.dispose();
  batch.labels.dispose();
}

async function divergedError(run: RunContext, state: RunState, loss: number): Promise<Error> {
  const { position } = state;
  const stage = run.staged
    ? { index: position.stage, name: currentStage(run, state).name }
    : undefined;
  const where = `epoch ${position.globalEpoch}${stage ? ` (stage ${stage.index} "${stage.name}")` : ''}, batch ${position.batch}, step ${position.globalStep}`;
  // Only a checkpoint that exists is named (none before the first epoch ends).
  const checkpoint =
    run.checkpoints && (await run.checkpoints.exists('last'))
      ? run.checkpoints.locate('last')
      : undefined;
  const saved = checkpoint
    ? `the last good checkpoint is kept at ${checkpoint} (runTraining with resume: true continues from it, and diverges again unless the cause is fixed)`
    : run.checkpoints
      ? 'no checkpoint was written before it (the first is written at the end of the first epoch), so a new run starts from the beginning'
      : 'no checkpoint store was given, so nothing was saved';
  return new TrainingDivergedError(
    `Training diverged: the loss is ${loss} at ${where}. The run stopped; ${saved}. Lower the learning rate, check the inputs for NaN/Inf, or clip gradients.`,
    loss,
    {
      epoch: position.globalEpoch,
      ...(stage ? { stage } : {}),
      batch: position.batch,
      step: position.globalStep,
    },
    checkpoint,
  );
}

/**
 * One step on the batch at the position's `batch` index: onBatchBegin, the step inside tf.tidy,
 * the NaN/Inf guard, the loss into the epoch log, onBatchEnd. Returns the advanced position.
 */
async function trainBatch(
  run: RunContext,
  state: RunState,
  batch: MultimodalBatch,
  epochBatches: number,
): Promise<RunState> {
  const { position } = state;
  const index = position.batch;
  await fire(run, (cb) => cb.onBatchBegin?.(index, { batch: index }));
  const loss = runTrainerStep(run.step, {
    model: run.model,
    driver: run.driver,
    batch,
    epoch: position.epoch,
    globalEpoch: position.globalEpoch,
    batchIndex: index,
    batchesPerEpoch: epochBatches,
    ...(run.staged ? { stage: currentStage(run, state).name } : {}),
    log: (name, value) => run.epochLog.log(name, value),
  });
  if (!Number.isFinite(loss)) throw await divergedError(run, state, loss);
  run.epochLog.addLoss(loss);
  const next: RunState = {
    ...state,
    position: { ...position, batch: index + 1, globalStep: position.globalStep + 1 },
    lastLoss: loss,
  };
  await fire(run, (cb) => cb.onBatchEnd?.(index, { batch: index, loss }));
  return next;
}

/**
 * Trains the rest of the current epoch: batches shuffled with a seed derived from the run seed
 * and the epoch (or the `epochSamples` list in its order), skipping those a resumed run already
 * did. Stops early, with `aborted`, when `signal` is aborted after a step.
 */
export async function trainEpoch(run: RunContext, state: RunState): Promise<TrainedEpoch> {
  const started = performance.now();
  if (state.position.batch === 0) {
    await fire(run, (cb) => cb.onEpochBegin?.(state.position.globalEpoch));
  }
  const list = await epochSampleList(run, state);
  const epochBatches = list
    ? run.dropLast
      ? Math.floor(list.length / run.batchSize)
      : Math.ceil(list.length / run.batchSize)
    : run.batchesPerEpoch;
  const stage = currentStage(run, state);
  const label = `epoch ${state.position.globalEpoch + 1}/${run.totalEpochs}${run.staged ? ` ${stage.name}` : ''}`;
  let current = state;
  let b = 0;
  for await (const batch of run.dataset.batches({
    split: 'train',
    batchSize: run.batchSize,
    shuffle: !list,
    seed: epochSeed(run.seed, state.position.globalEpoch),
    dropLast: run.dropLast,
    augment: true,
    ...(list ? { indices: list } : {}),
  })) {
    try {
      if (b < current.position.batch || b >= epochBatches) continue; // resume: skip batches done
      if (
        list &&
        batch.labels.shape[0] !== Math.min(run.batchSize, list.length - b * run.batchSize)
      ) {
        throw new IgmArgumentError(
          `runTraining: dataset "${run.dataset.name}" returned a batch of ${batch.labels.shape[0]} samples at position ${b} of a re-sampled epoch of ${list.length} samples (batch size ${run.batchSize}). Its batches() must honour the \`indices\` option.`,
        );
      }
      current = await trainBatch(run, current, batch, epochBatches);
      run.progress.step(current.position.globalStep, label, current.lastLoss);
      if (run.options.signal?.aborted) return { state: current, aborted: true, started };
    } finally {
      b++;
      disposeBatch(batch);
    }
  }
  if (list && b !== epochBatches) {
    throw new IgmArgumentError(
      `runTraining: dataset "${run.dataset.name}" returned ${b} batches for a re-sampled epoch of ${list.length} samples (expected ${epochBatches}). Its batches() must honour the \`indices\` option.`,
    );
  }
  return { state: current, aborted: false, started };
}
