/**
 * The phases that start and end a run: {@link beginRun} (config.json and metrics.jsonl,
 * progress, onTrainBegin), {@link stopRun} (an abort: checkpoint `last`, then the summary) and
 * {@link finishRun} (onTrainEnd when completed; summary.json).
 */
import type { Split } from '@igm/core';
import type { RunSummary } from '../run';
import type { RunContext } from './setup';
import { fire } from './stage';
import { type RunState, saveLast } from './state';

/**
 * Writes config.json and metrics.jsonl (on resume rewritten from the checkpoint's history, which
 * drops lines a killed run wrote after its checkpoint), starts the progress display and fires
 * onTrainBegin.
 */
export async function beginRun(run: RunContext, state: RunState): Promise<void> {
  if (run.records) {
    await run.records.writeText('config.json', `${JSON.stringify(run.config, null, 2)}\n`);
    await run.records.writeText(
      'metrics.jsonl',
      state.history.map((r) => `${JSON.stringify(r)}\n`).join(''),
    );
  }
  run.progress.start(state.position.globalStep);
  await fire(run, (cb) => cb.onTrainBegin?.(trainBeginLogs(run, state)));
}

/**
 * What onTrainBegin receives: `resumed` (1 when the run continues from checkpoint `last`, else
 * 0), where it starts (`epoch`: epochs already trained, counted over the whole run; `batch`:
 * batches already trained in that epoch; `step`: optimizer steps so far) and the run's length
 * (`epochs`: every stage's epochs summed), so a display can say "resumed from epoch 12 of 20".
 */
export function trainBeginLogs(
  run: Pick<RunContext, 'totalEpochs'>,
  state: Pick<RunState, 'position' | 'resumed'>,
): Record<string, number> {
  return {
    resumed: state.resumed ? 1 : 0,
    epoch: state.position.globalEpoch,
    batch: state.position.batch,
    step: state.position.globalStep,
    epochs: run.totalEpochs,
  };
}

/** The run's summary; onTrainEnd when it completed; summary.json (without the history). */
export async function finishRun(
  run: RunContext,
  state: RunState,
  status: 'completed' | 'aborted',
): Promise<RunSummary> {
  const { history } = state;
  const final = history.length > 0 ? history[history.length - 1]!.metrics : null;
  const evaluatedSamples: Partial<Record<Split, number>> = {};
  for (const split of run.evalSplits) {
    const n = final?.[split]?.n;
    if (n !== undefined) evaluatedSamples[split] = n;
  }
  const summary: RunSummary = {
    status,
    epochs: state.position.globalEpoch,
    steps: state.position.globalStep,
    seed: run.seed,
    fusionRule: run.fusionRule,
    selection: { split: run.selection.split, metric: run.selection.metric },
    best: state.selection.best,
    bestOnTest: state.selection.bestOnTest,
    final,
    evaluatedSamples,
    history: [...history],
  };
  if (status === 'completed') await fire(run, (cb) => cb.onTrainEnd?.({ loss: state.lastLoss }));
  if (run.records) {
    const { history: _history, ...rest } = summary;
    await run.records.writeText('summary.json', `${JSON.stringify(rest, null, 2)}\n`);
  }
  return summary;
}

/** An abort: checkpoint `last` at the step reached (mid-epoch), then the summary. */
export async function stopRun(run: RunContext, state: RunState): Promise<RunSummary> {
  await saveLast(run, state);
  const { globalStep } = state.position;
  run.progress.message(
    `aborted after step ${globalStep}${run.checkpoints ? `; checkpoint written to ${run.checkpoints.locate('last')}` : ''}`,
  );
  return finishRun(run, state, 'aborted');
}
