/**
 * The phases that close an epoch, in order: {@link evaluate} (validation and test), {@link select}
 * (best on the selection split, with checkpoint `best`; best on test), {@link recordEpoch}
 * (history, onEpochEnd, progress line, metrics.jsonl) and {@link checkpointEpoch} (`last` every
 * `checkpoint.every` epochs and after the last one).
 */
import type { Logs, Split } from '@igm/core';
import { snapshotVariables } from '../checkpoint';
import { evaluateSplit, type SplitMetrics } from '../evaluate';
import type { EpochRecord } from '../run';
import type { RunContext } from './setup';
import { fire } from './stage';
import { modelVariables, type RunState, saveLast } from './state';

type Metrics = Partial<Record<Split, SplitMetrics>>;

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

/** Evaluates every evaluated split in inference mode. */
export async function evaluate(run: RunContext): Promise<Metrics> {
  const out: Metrics = {};
  for (const split of run.evalSplits) {
    out[split] = await evaluateSplit(run.model, run.dataset, split, run.evalBatchSize);
  }
  return out;
}

/**
 * Updates the selection with this epoch's metrics: a better value on the selection split
 * replaces `best` and its weights (and checkpoint `best`); a better test value replaces
 * `bestOnTest`. `selected` tells whether `best` changed.
 */
export async function select(
  run: RunContext,
  state: RunState,
  metrics: Metrics,
): Promise<{ state: RunState; selected: boolean }> {
  const { split, metric } = run.selection;
  const { globalEpoch } = state.position;
  const stageName = run.staged ? run.stages[state.position.stage]!.name : undefined;
  const stage = stageName !== undefined ? { stage: stageName } : {};
  let { best, bestOnTest, bestWeights } = state.selection;
  const value = selectionValue(metrics, split, metric);
  const selected = Number.isFinite(value) && (best === null || value > best.value);
  if (selected) {
    best = { label: `best-on-${split} (${metric})`, epoch: globalEpoch, ...stage, value, metrics };
    bestWeights = await snapshotVariables(modelVariables(run));
    if (run.checkpoints) {
      await run.checkpoints.save('best', {
        tensors: bestWeights.values(),
        state: { format: 'igm-best', best },
      });
    }
  }
  const testValue = selectionValue(metrics, 'test', metric);
  if (Number.isFinite(testValue) && (bestOnTest === null || testValue > bestOnTest.value)) {
    bestOnTest = {
      label: `best-on-test (${metric}; reference protocol, optimistic)`,
      epoch: globalEpoch,
      ...stage,
      value: testValue,
      metrics,
    };
  }
  return { state: { ...state, selection: { best, bestOnTest, bestWeights } }, selected };
}

/**
 * Closes the epoch's log into its {@link EpochRecord}, adds it to the history, fires onEpochEnd,
 * prints the epoch line and appends the record to metrics.jsonl; the position moves to the next
 * epoch.
 */
export async function recordEpoch(
  run: RunContext,
  state: RunState,
  metrics: Metrics,
  selected: boolean,
  started: number,
): Promise<RunState> {
  const { position } = state;
  const stageName = run.staged ? run.stages[position.stage]!.name : undefined;
  const figures = run.epochLog.close();
  const record: EpochRecord = {
    epoch: position.globalEpoch,
    ...(stageName !== undefined ? { stage: stageName } : {}),
    stageIndex: position.stage,
    epochInStage: position.epoch,
    step: position.globalStep,
    trainLoss: figures.trainLoss,
    ...(figures.lr !== undefined ? { lr: figures.lr } : {}),
    logs: figures.logs,
    ...(figures.records ? { records: figures.records } : {}),
    metrics,
    selected,
    seconds: (performance.now() - started) / 1000,
  };
  const epochLogs: Logs = { loss: record.trainLoss, ...record.logs };
  for (const split of run.evalSplits) {
    const f = metrics[split]?.outputs['fused'];
    if (f) {
      epochLogs[`${split}/accuracy`] = f.accuracy;
      epochLogs[`${split}/macroF1`] = f.macroF1;
    }
  }
  const history = [...state.history, record];
  await fire(run, (cb) => cb.onEpochEnd?.(position.globalEpoch, epochLogs));
  const stageLabel = run.staged
    ? ` stage ${position.stage + 1}/${run.stages.length} (${stageName})`
    : '';
  run.progress.epoch(
    position.globalStep,
    `epoch ${position.globalEpoch + 1}/${run.totalEpochs}${stageLabel} loss ${record.trainLoss.toFixed(4)} ${formatMetrics(metrics)}${selected ? ' *' : ''}`,
  );
  await run.records?.appendText('metrics.jsonl', `${JSON.stringify(record)}\n`);
  return {
    ...state,
    history,
    position: {
      ...position,
      epoch: position.epoch + 1,
      batch: 0,
      globalEpoch: position.globalEpoch + 1,
    },
  };
}

/** Writes checkpoint `last` every `checkpoint.every` epochs and after the run's last epoch. */
export async function checkpointEpoch(run: RunContext, state: RunState): Promise<void> {
  const { globalEpoch } = state.position;
  if (globalEpoch % run.checkpointEvery === 0 || globalEpoch === run.totalEpochs) {
    await saveLast(run, state);
  }
}

/** Evaluate, select, record, checkpoint: everything after an epoch's last step. */
export async function endEpoch(
  run: RunContext,
  state: RunState,
  started: number,
): Promise<RunState> {
  const metrics = await evaluate(run);
  const selection = await select(run, state, metrics);
  const recorded = await recordEpoch(run, selection.state, metrics, selection.selected, started);
  await checkpointEpoch(run, recorded);
  return recorded;
}
