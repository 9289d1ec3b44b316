/**
 * One run of a comparison: trains the method of a `RunSpec` on one seed, selects its checkpoint,
 * measures the modality contributions on test and writes the run's folder:
 *
 *   <dir>/<method>/seed-<s>/  config, metrics.jsonl, summary.json, checkpoints/, and
 *                             record.json (written last: the run is complete)
 *
 * The same code runs a local comparison, each process of a parallel one and each queued job, so a
 * run's results do not depend on where it ran. With `resume`, a finished run is read back from its
 * record.json and an interrupted one continues from its last checkpoint.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMethod } from '@igm/baselines';
import type { Callback, MultimodalDataset, MultimodalModelLike } from '@igm/core';
import { allCoalitions, coalitionKey, imbalanceDegree, shapleyContributions } from '@igm/metrics';
import {
  fileSystemCheckpoints,
  inferenceBatches,
  linearProbe,
  type RunSummary,
  restoreVariables,
  runTraining,
  type SplitMetrics,
  type EpochRecord as TrainerEpoch,
  TrainingDivergedError,
} from '@igm/trainer/node';
import * as tf from '@tensorflow/tfjs';
import { type CompareConfig, ConfigError, showOption } from './config';
import type { RunSpec } from './plan';
import type { ProgressReporter, ProgressState } from './progress';
import {
  type EpochRecord,
  type EvalMetrics,
  type RunRecord,
  type SpectrumRecord,
  writeFileAtomic,
} from './report';
import { defaultEncoders } from './setups';

function toEval(m: SplitMetrics | undefined, modalities: readonly string[]): EvalMetrics {
  const fused = m?.outputs['fused'];
  return {
    accuracy: fused?.accuracy ?? Number.NaN,
    macroF1: fused?.macroF1 ?? Number.NaN,
    ...(fused && Number.isFinite(fused.mAP) ? { mAP: fused.mAP } : {}),
    perModality: Object.fromEntries(
      modalities.flatMap((mod) => {
        const o = m?.outputs[mod];
        return o ? [[mod, { accuracy: o.accuracy, macroF1: o.macroF1 }]] : [];
      }),
    ),
    samples: m?.n ?? 0,
  };
}

function epochRecords(
  method: string,
  seed: number,
  history: readonly TrainerEpoch[],
  modalities: readonly string[],
): EpochRecord[] {
  return history.map((h) => ({
    method,
    seed,
    epoch: h.epoch,
    ...(h.stage !== undefined ? { stage: h.stage } : {}),
    ...(h.metrics.validation ? { validation: toEval(h.metrics.validation, modalities) } : {}),
    test: toEval(h.metrics.test, modalities),
    trainLoss: h.trainLoss,
    seconds: h.seconds,
    logs: { ...h.logs, ...(h.lr !== undefined ? { lr: h.lr } : {}) },
  }));
}

function spectraOf(history: readonly TrainerEpoch[]): SpectrumRecord[] {
  const out: SpectrumRecord[] = [];
  for (const h of history) {
    // @igm/igm records T's full spectrum as `T/<kernel key>/eigenvalues` at each boundary.
    for (const [name, value] of Object.entries(h.records ?? {})) {
      const match = /^T\/(.+)\/eigenvalues$/.exec(name);
      if (match && Array.isArray(value)) {
        out.push({
          stage: h.stageIndex,
          layer: match[1]!,
          eigenvalues: [...(value as number[])].sort((a, b) => b - a),
        });
      }
    }
  }
  return out;
}

/**
 * Shapley contribution of each modality on the test split
 * (docs/algorithms/evaluation.md#modality-contributions): v(S) is the fused accuracy with the
 * inputs of the modalities outside S zeroed before their encoders, v(empty set) measured. Runs
 * 2^M inference passes.
 */
export async function testContributions(
  model: MultimodalModelLike,
  dataset: MultimodalDataset,
  batchSize: number,
): Promise<{
  values: Record<string, number>;
  contributions: Record<string, number>;
  degree: number;
}> {
  const modalities = dataset.modalities.map((m) => m.name);
  const coalitions = allCoalitions(modalities);
  const correct = new Map<string, number>(coalitions.map((c) => [coalitionKey(c), 0]));
  let n = 0;
  for await (const batch of inferenceBatches(dataset, 'test', batchSize)) {
    const counts = tf.tidy(() =>
      coalitions.map((c) => {
        const zeroed = modalities.filter((m) => !c.includes(m));
        const out = model.forward(batch.inputs, { training: false, zeroed });
        const scores = out['probs/fused'] ?? out['logits/fused'];
        if (!scores) throw new Error('the model produced neither probs/fused nor logits/fused');
        const pred = tf.argMax(scores, 1);
        return tf.sum(tf.cast(tf.equal(pred, tf.cast(batch.labels, 'int32')), 'float32'));
      }),
    );
    const values = await Promise.all(counts.map(async (t) => (await t.data())[0]!));
    tf.dispose(counts);
    coalitions.forEach((c, i) => {
      const k = coalitionKey(c);
      correct.set(k, correct.get(k)! + values[i]!);
    });
    n += batch.labels.shape[0];
  }
  const values = Object.fromEntries([...correct].map(([k, c]) => [k, n ? c / n : 0]));
  const contributions = shapleyContributions(modalities, values);
  return { values, contributions, degree: imbalanceDegree(contributions) };
}

/** Loads the weights of the selected (best) checkpoint into the model, if there is one. */
async function loadBestWeights(
  model: MultimodalModelLike,
  checkpointDir: string,
): Promise<boolean> {
  const best = await fileSystemCheckpoints(checkpointDir).load('best');
  if (!best) return false;
  const named = [
    ...model.params().map((p) => ({ name: `model/${p.key}`, variable: p.variable })),
    ...model.nonTrainable().map((v) => ({ name: `model-state/${v.key}`, variable: v.variable })),
  ];
  restoreVariables(tf as never, best.tensors, named, `best checkpoint in ${checkpointDir}`);
  return true;
}

/** The least time between two memory samples at batch ends (ms). */
const MEMORY_SAMPLE_MS = 100;

/**
 * Samples the process's resident memory at batch ends, at most every {@link MEMORY_SAMPLE_MS},
 * and at every epoch end; the maximum is the run's peak. `process.memoryUsage.rss()` reads the
 * resident size only (`process.memoryUsage()` also walks the V8 heap), yet it still costs
 * ~0.2 ms per call here: 3.4 % of a quick AV-MNIST run's CPU when sampled at every batch. The
 * resident size moves slowly (the wasm heap only grows), so sampling ten times a second finds
 * the same peak within the batches' own allocations.
 */
function memoryProbe(): Callback & { peakMB: () => number } {
  let peak = process.memoryUsage.rss();
  let last = performance.now();
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
    last = performance.now();
  };
  return {
    name: 'memory-probe',
    onBatchEnd: () => {
      if (performance.now() - last >= MEMORY_SAMPLE_MS) sample();
    },
    onEpochEnd: sample,
    peakMB: () => peak / 2 ** 20,
  };
}

/**
 * The run's progress in true epochs: where it starts (epoch 0, or where a resumed run continues,
 * said in a line of its own) and every epoch's end (onEpochEnd gets the 0-based epoch counted
 * over the whole run, stages included).
 */
function progressCallback(
  reporter: ProgressReporter,
  state: Omit<ProgressState, 'epoch' | 'detail' | 'resumedAt'>,
): Callback {
  let resumedAt = 0;
  return {
    name: 'cli-progress',
    onTrainBegin(logs) {
      const epoch = logs?.['epoch'] ?? 0;
      const batch = logs?.['batch'] ?? 0;
      if (logs?.['resumed']) {
        resumedAt = epoch;
        reporter.log(
          `${state.current}: resumed from epoch ${epoch} of ${state.epochsTotal}${batch ? ` and ${batch} batch${batch === 1 ? '' : 'es'} of epoch ${epoch + 1}` : ''}`,
        );
      }
      reporter.update({ ...state, epoch, resumedAt });
    },
    onEpochEnd(e, logs) {
      const acc = logs?.['test/accuracy'];
      reporter.update({
        ...state,
        epoch: e + 1,
        resumedAt,
        ...(typeof acc === 'number' ? { detail: `test acc ${(100 * acc).toFixed(1)}%` } : {}),
      });
    },
  };
}

/**
 * `--resume` on a run that already started: the options and batch size it was started with
 * (its config.json) must be the ones planned now, or continuing would mix two runs (the presets
 * may have changed between igm versions even when the comparison's options did not).
 */
async function checkResumedRun(spec: RunSpec, runDir: string): Promise<void> {
  let saved: { requestedOptions?: unknown; batchSize?: unknown; seed?: unknown };
  try {
    saved = JSON.parse(await readFile(join(runDir, 'config.json'), 'utf8'));
  } catch {
    return; // not started, or killed before its first record: it starts from the beginning
  }
  const now = JSON.parse(JSON.stringify(spec.options)) as Record<string, unknown>;
  const before = (saved.requestedOptions ?? {}) as Record<string, unknown>;
  const changes: string[] = [];
  for (const key of [...new Set([...Object.keys(before), ...Object.keys(now)])].sort()) {
    if (JSON.stringify(before[key]) !== JSON.stringify(now[key])) {
      changes.push(`${key}: ${showOption(before[key])} then, ${showOption(now[key])} now`);
    }
  }
  if (saved.batchSize !== undefined && saved.batchSize !== spec.batchSize) {
    changes.push(`batch size: ${saved.batchSize} then, ${spec.batchSize} now`);
  }
  if (changes.length) {
    throw new ConfigError(
      `${spec.method} seed ${spec.seed} in ${runDir} was started with other settings than the plan gives now (another igm version?); continuing would mix them:\n  ${changes.join('\n  ')}\nStart the comparison anew (--overwrite, or another --out).`,
    );
  }
}

/** A NaN/Inf loss, in the words of the CLI: where, which checkpoint exists, what to change. */
function divergedMessage(error: TrainingDivergedError): string {
  const { position } = error;
  const where = `epoch ${position.epoch + 1}${position.stage ? ` (stage ${position.stage.index + 1}, ${position.stage.name})` : ''}, batch ${position.batch + 1}`;
  const checkpoint = error.checkpoint
    ? `Its last good checkpoint is ${error.checkpoint}; --resume continues from it with the same options, which diverge the same way on the same backend.`
    : 'It diverged before its first checkpoint (written at the end of each epoch), so nothing was saved to continue from.';
  return `training diverged (loss ${error.loss} at ${where}). ${checkpoint} Lower the learning rate (methodOptions in a --config file, or a variant) or check the data for NaN/Inf, then run it anew (--overwrite, or another --out).`;
}

/** Where a run's files live inside the comparison folder `dir`. */
export function runDirOf(dir: string, spec: Pick<RunSpec, 'method' | 'seed'>): string {
  return join(dir, spec.method, `seed-${spec.seed}`);
}

/** What a run needs besides its spec: the data, the comparison's settings, and reporting. */
export interface RunJobContext {
  readonly dataset: MultimodalDataset;
  /** The comparison's config (dataset name, preset, resume, selection, probe). */
  readonly config: Pick<CompareConfig, 'dataset' | 'preset' | 'resume' | 'selection'> &
    Partial<Pick<CompareConfig, 'probe'>>;
  /** The comparison folder. */
  readonly dir: string;
  readonly signal?: AbortSignal;
  readonly reporter: ProgressReporter;
  /** Runs finished before this one and the comparison's total, for the progress line. */
  readonly runsDone: number;
  readonly runsTotal: number;
  /** Planned epochs of the runs before this one, when the reporter counts epochs. */
  readonly epochsBefore?: number;
}

/** A run's loss became NaN/Inf; the message says where, what was saved and what to change. */
export class RunDivergedError extends Error {
  override name = 'RunDivergedError';
}

export type RunJobResult =
  | {
      readonly status: 'completed' | 'reused';
      readonly record: RunRecord;
      readonly epochs: EpochRecord[];
    }
  | { readonly status: 'aborted' };

/** Trains, evaluates and records one run (see the module doc). */
export async function runJob(spec: RunSpec, ctx: RunJobContext): Promise<RunJobResult> {
  const { method, seed, options, batchSize } = spec;
  const { dataset, config, reporter } = ctx;
  const modalities = dataset.modalities.map((m) => m.name);
  const runDir = runDirOf(ctx.dir, spec);
  const recordPath = join(runDir, 'record.json');
  if (config.resume) await checkResumedRun(spec, runDir);
  if (config.resume && existsSync(recordPath)) {
    const saved = JSON.parse(await readFile(recordPath, 'utf8')) as {
      record: RunRecord;
      epochs: EpochRecord[];
    };
    reporter.log(`${method} seed ${seed}: already finished, reusing ${recordPath}`);
    return { status: 'reused', record: saved.record, epochs: saved.epochs };
  }
  const run = createMethod(
    spec.baseMethod ?? method,
    { ...options },
    {
      dataset,
      numClasses: dataset.classNames.length,
      batchSize,
      seed,
      encoders: defaultEncoders(dataset, seed, config.preset === 'quick'),
    },
  );
  try {
    const probe = memoryProbe();
    const trainOptions = run.trainOptions();
    const epochsTotal = trainOptions.stages
      ? trainOptions.stages.reduce((a, s) => a + s.epochs, 0)
      : (trainOptions.epochs ?? 0);
    const state = {
      runsDone: ctx.runsDone,
      runsTotal: ctx.runsTotal,
      current: `${method} seed ${seed}`,
      epochsTotal,
      ...(ctx.epochsBefore !== undefined ? { epochsBefore: ctx.epochsBefore } : {}),
    };
    const checkpointDir = join(runDir, 'checkpoints');
    const summary: RunSummary = await runTraining({
      ...trainOptions,
      callbacks: [...(trainOptions.callbacks ?? []), probe, progressCallback(reporter, state)],
      dataset,
      batchSize,
      seed,
      outDir: runDir,
      checkpoint: { dir: checkpointDir },
      resume: config.resume,
      selection: config.selection,
      progress: 'none',
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      config: {
        ...trainOptions.config,
        seed,
        requestedOptions: options,
        batchSize,
        dataset: config.dataset,
        preset: config.preset,
      },
    }).catch((e: unknown) => {
      if (e instanceof TrainingDivergedError) throw new RunDivergedError(divergedMessage(e));
      throw e;
    });
    if (summary.status === 'aborted') return { status: 'aborted' };
    const selectedLoaded = await loadBestWeights(run.model, checkpointDir);
    const contribution = await testContributions(run.model, dataset, 64);
    // The linear probe of every modality's encoder (same weights), for the utilization measure.
    const linear = config.probe === false ? undefined : await linearProbe(run.model, dataset);
    const last = summary.history[summary.history.length - 1];
    const record: RunRecord = {
      method,
      ...(spec.baseMethod && spec.baseMethod !== method ? { baseMethod: spec.baseMethod } : {}),
      ...(spec.role ? { role: spec.role } : {}),
      seed,
      dataset: config.dataset,
      ...(typeof run.config['variant'] === 'string'
        ? { variant: run.config['variant'] as string }
        : {}),
      fusionRule: run.fusionRule,
      unimodalProtocol: run.unimodalProtocol,
      modalities,
      selection: summary.selection,
      ...(summary.best
        ? {
            bestOnValidation: {
              epoch: summary.best.epoch,
              test: toEval(summary.best.metrics.test, modalities),
            },
          }
        : {}),
      final: { epoch: last?.epoch ?? 0, test: toEval(summary.final?.test, modalities) },
      bestOnTest: {
        epoch: summary.bestOnTest?.epoch ?? 0,
        test: toEval(summary.bestOnTest?.metrics.test, modalities),
      },
      contributions: contribution.contributions,
      imbalanceDegree: contribution.degree,
      secondsPerEpoch:
        summary.history.reduce((a, h) => a + h.seconds, 0) / Math.max(1, summary.history.length),
      peakMemoryMB: probe.peakMB(),
      spectra: spectraOf(summary.history),
      ...(linear ? { probe: linear } : {}),
    };
    const epochs = epochRecords(method, seed, summary.history, modalities);
    await writeFileAtomic(
      recordPath,
      `${JSON.stringify({ record, epochs, contributionsOn: selectedLoaded ? 'selected checkpoint' : 'final weights', coalitionAccuracy: contribution.values }, null, 2)}\n`,
    );
    const shown = record.bestOnValidation?.test ?? record.final.test;
    reporter.log(
      `${method} seed ${seed}: test accuracy ${(100 * shown.accuracy).toFixed(1)}% (${modalities
        .map((m) => `${m} ${(100 * shown.perModality[m]!.accuracy).toFixed(1)}%`)
        .join(', ')})${
        linear
          ? `, linear probe ${modalities.map((m) => `${m} ${(100 * linear.accuracy[m]!).toFixed(1)}%`).join(', ')}`
          : ''
      }, ${record.secondsPerEpoch.toFixed(1)} s/epoch`,
    );
    return { status: 'completed', record, epochs };
  } finally {
    run.dispose();
  }
}
