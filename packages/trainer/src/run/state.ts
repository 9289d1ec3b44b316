/**
 * The state a run carries from phase to phase ({@link RunState}: position, history, selection),
 * the running sums of the current epoch ({@link EpochLog}), and the checkpoint `last` that
 * holds all of it ({@link saveLast}, {@link restoreOrBegin}).
 */
import { IgmArgumentError, type NamedVariable, type RngState } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { restoreVariables, snapshotVariables, type TensorRecord } from '../checkpoint';
import type { EpochRecord, SelectedResult } from '../run';
import type { RunContext } from './setup';

/** Where the run is. Saved in checkpoints (the key order is part of state.json). */
export interface Position {
  /** Index of the current stage. */
  readonly stage: number;
  /** Epoch within the stage. */
  readonly epoch: number;
  /** Next batch of the epoch (> 0 only after an abort mid-epoch). */
  readonly batch: number;
  readonly globalEpoch: number;
  readonly globalStep: number;
  /** The current stage's start hook and onStageBegin have run. */
  readonly stageStarted: boolean;
}

/** The best epochs so far. */
export interface Selection {
  /** Best on the selection split (metrics of every evaluated split at that epoch). */
  readonly best: SelectedResult | null;
  /** Best on test (the references' protocol, reported for comparison only). */
  readonly bestOnTest: SelectedResult | null;
  /** Model weights at `best` (StageStartContext.reloadBest); saved as checkpoint `best`. */
  readonly bestWeights: ReadonlyMap<string, TensorRecord> | null;
}

/** What one phase hands to the next. */
export interface RunState {
  readonly position: Position;
  /** One record per finished epoch (metrics.jsonl). */
  readonly history: readonly EpochRecord[];
  readonly selection: Selection;
  /** This process continued from a checkpoint. */
  readonly resumed: boolean;
  /** Loss of the last step this process ran (NaN before the first), for onTrainEnd. */
  readonly lastLoss: number;
}

/** The running sums of an epoch, as saved in checkpoints. */
export interface EpochSums {
  lossSum: number;
  count: number;
  logSums: Record<string, number>;
  logCounts: Record<string, number>;
  logLast: Record<string, number>;
  records: Record<string, number | readonly number[]>;
}

/** What an epoch's sums come to (see {@link EpochLog.close}). */
export interface EpochFigures {
  readonly trainLoss: number;
  /** Last value logged as `lr`. */
  readonly lr: number | undefined;
  /** Mean of every logged value. */
  readonly logs: Record<string, number>;
  /** Values recorded at stage start (absent when none). */
  readonly records: Record<string, number | readonly number[]> | undefined;
}

function mean(sum: number, count: number): number {
  return count > 0 ? sum / count : Number.NaN;
}

function emptySums(): EpochSums {
  return { lossSum: 0, count: 0, logSums: {}, logCounts: {}, logLast: {}, records: {} };
}

/**
 * The current epoch's running sums: step losses, values logged by transforms, steps and hooks
 * (`ctx.log`), and values recorded at stage start. The driver logs into it during steps; the
 * end-of-epoch phase closes it. Saved in `last`, so an abort mid-epoch resumes the sums.
 */
export class EpochLog {
  private sums = emptySums();

  /** Adds a logged value (its epoch mean goes into `logs`; the last `lr` into `lr`). */
  log(name: string, value: number): void {
    const s = this.sums;
    s.logSums[name] = (s.logSums[name] ?? 0) + value;
    s.logCounts[name] = (s.logCounts[name] ?? 0) + 1;
    s.logLast[name] = value;
  }

  /** Records a value as it is (arrays copied): the spectrum of T at a stage start. */
  record(name: string, value: number | readonly number[]): void {
    this.sums.records[name] = Array.isArray(value) ? [...value] : value;
  }

  addLoss(loss: number): void {
    this.sums.lossSum += loss;
    this.sums.count++;
  }

  /** The epoch's figures; the log starts over for the next epoch. */
  close(): EpochFigures {
    const s = this.sums;
    this.sums = emptySums();
    const logs: Record<string, number> = {};
    for (const k of Object.keys(s.logSums)) logs[k] = mean(s.logSums[k]!, s.logCounts[k]!);
    return {
      trainLoss: mean(s.lossSum, s.count),
      lr: s.logLast['lr'],
      logs,
      records: Object.keys(s.records).length > 0 ? s.records : undefined,
    };
  }

  /** The sums as saved in a checkpoint. */
  save(): EpochSums {
    return this.sums;
  }

  load(sums: EpochSums): void {
    this.sums = sums;
  }
}

/** state.json of checkpoint `last`. */
interface SavedState {
  format: 'igm-run-state';
  position: Position;
  rng: RngState;
  optimizerStep: number;
  accumulator: EpochSums;
  history: readonly EpochRecord[];
  best: SelectedResult | null;
  bestOnTest: SelectedResult | null;
  callbacks: Record<string, unknown>;
  config: Record<string, unknown>;
}

const START: Position = {
  stage: 0,
  epoch: 0,
  batch: 0,
  globalEpoch: 0,
  globalStep: 0,
  stageStarted: false,
};

/** Weights and non-trainable state (BatchNorm statistics) of the model. */
export function modelVariables(run: Pick<RunContext, 'model'>): NamedVariable[] {
  return [
    ...run.model.params().map((p) => ({ name: `model/${p.key}`, variable: p.variable })),
    ...run.model
      .nonTrainable()
      .map((v) => ({ name: `model-state/${v.key}`, variable: v.variable })),
  ];
}

/** Everything `last` saves as tensors: model, transform state, callbacks' variables. */
function runVariables(run: RunContext): NamedVariable[] {
  return [
    ...modelVariables(run),
    ...run.driver
      .stateVariables()
      .map((v) => ({ name: `transform/${v.name}`, variable: v.variable })),
    ...run.callbacks.flatMap((cb) =>
      (cb.stateVariables?.() ?? []).map((v) => ({
        name: `callback/${cb.name}/${v.name}`,
        variable: v.variable,
      })),
    ),
  ];
}

/** Writes checkpoint `last` (nothing without a checkpoint store). */
export async function saveLast(run: RunContext, state: RunState): Promise<void> {
  if (!run.checkpoints) return;
  const saved: SavedState = {
    format: 'igm-run-state',
    position: { ...state.position },
    rng: run.rng.getState(),
    optimizerStep: run.driver.step,
    accumulator: run.epochLog.save(),
    history: state.history,
    best: state.selection.best,
    bestOnTest: state.selection.bestOnTest,
    callbacks: Object.fromEntries(
      run.callbacks.filter((c) => c.getState).map((c) => [c.name, c.getState!()]),
    ),
    config: run.config,
  };
  const tensors = (await snapshotVariables(runVariables(run))).values();
  await run.checkpoints.save('last', { tensors, state: saved });
}

/**
 * The restore phase: with `resume` and a checkpoint `last`, puts every variable, the RNG, the
 * optimizer step, the epoch's sums and the callbacks' state back and continues from its
 * position; otherwise the run starts at stage 0, epoch 0.
 */
export async function restoreOrBegin(run: RunContext): Promise<RunState> {
  const fresh: RunState = {
    position: START,
    history: [],
    selection: { best: null, bestOnTest: null, bestWeights: null },
    resumed: false,
    lastLoss: Number.NaN,
  };
  if (!run.options.resume || !run.checkpoints) return fresh;
  const last = await run.checkpoints.load<SavedState>('last');
  if (!last) return fresh;
  const s = last.state;
  if (s.format !== 'igm-run-state') {
    throw new IgmArgumentError(
      `runTraining: ${last.path}/state.json is not a run state (format ${JSON.stringify(s.format)}).`,
    );
  }
  // The transform state's shape may depend on stage (T installed); restore what was saved.
  restoreVariables(tf, last.tensors, runVariables(run), `runTraining resume from ${last.path}`);
  const position: Position = { ...START, ...s.position };
  run.rng.setState(s.rng);
  run.driver.step = s.optimizerStep;
  run.epochLog.load(s.accumulator);
  for (const cb of run.callbacks) {
    if (cb.setState && s.callbacks[cb.name] !== undefined) cb.setState(s.callbacks[cb.name]);
  }
  const best = await run.checkpoints.load<unknown>('best');
  run.progress.message(
    `resumed from ${last.path}: epoch ${position.globalEpoch}, batch ${position.batch}, step ${position.globalStep}`,
  );
  return {
    position,
    history: s.history,
    selection: {
      best: s.best,
      bestOnTest: s.bestOnTest,
      bestWeights: best ? new Map([...best.tensors].filter(([k]) => k.startsWith('model'))) : null,
    },
    resumed: true,
    lastLoss: Number.NaN,
  };
}
