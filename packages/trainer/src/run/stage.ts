/**
 * The stage phases: {@link startStage} (the stage-start hook, then onStageBegin; skipped when a
 * resumed run is already inside the stage) and {@link endStage} (onStageEnd, move to the next).
 */
import type { Callback } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { restoreVariables } from '../checkpoint';
import type { StageSpec, StageStartContext } from '../run';
import { epochSeed } from './epoch';
import type { RunContext } from './setup';
import { modelVariables, type RunState } from './state';

/** Calls `event` on every callback in order, awaiting each. */
export async function fire(run: RunContext, event: (cb: Callback) => unknown): Promise<void> {
  for (const cb of run.callbacks) await event(cb);
}

/** The stage the run is in. */
export function currentStage(run: RunContext, state: RunState): StageSpec {
  return run.stages[state.position.stage]!;
}

/** What the stage-start hook may do (alternating trainers). */
function stageStartContext(run: RunContext, state: RunState): StageStartContext {
  const { position } = state;
  const stageIndex = position.stage;
  return {
    stageIndex,
    stage: currentStage(run, state),
    previousStage: stageIndex > 0 ? run.stages[stageIndex - 1] : undefined,
    model: run.model,
    params: run.params,
    get transformState() {
      return run.driver.state;
    },
    reloadBest: () => {
      const weights = state.selection.bestWeights;
      if (!weights) return false;
      restoreVariables(tf, weights, modelVariables(run), 'reloadBest');
      return true;
    },
    resetOptimizer: () => run.driver.reset(),
    forEachTrainingBatch: async (fn) => {
      let n = 0;
      for await (const batch of run.dataset.batches({
        split: 'train',
        batchSize: run.batchSize,
        shuffle: true,
        seed: epochSeed(run.seed, position.globalEpoch, 1 + stageIndex),
        dropLast: run.dropLast,
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
    record: (name, value) => run.epochLog.record(name, value),
  };
}

/**
 * Starts the current stage: the `onStageStart` hook (reload best, reset the optimizer, build T),
 * then onStageBegin. A resumed run that stopped inside the stage skips both.
 */
export async function startStage(run: RunContext, state: RunState): Promise<RunState> {
  if (state.position.stageStarted) return state;
  if (run.options.onStageStart) await run.options.onStageStart(stageStartContext(run, state));
  const started: RunState = { ...state, position: { ...state.position, stageStarted: true } };
  if (run.staged) {
    const { stage } = started.position;
    await fire(run, (cb) => cb.onStageBegin?.(currentStage(run, started).name, stage));
  }
  return started;
}

/** Ends the current stage (onStageEnd) and moves to the first epoch of the next one. */
export async function endStage(run: RunContext, state: RunState): Promise<RunState> {
  const { stage } = state.position;
  if (run.staged) await fire(run, (cb) => cb.onStageEnd?.(currentStage(run, state).name, stage));
  return {
    ...state,
    position: { ...state.position, stage: stage + 1, epoch: 0, stageStarted: false },
  };
}
