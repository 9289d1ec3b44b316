/**
 * `runComparison`: methods x seeds on one dataset, each run a `runTraining` of a method from the
 * @igm/baselines registry, then the report. Layout of `runs/<name>/`:
 *
 *   config.json            resolved config, package versions, backend, git commit
 *   <method>/seed-<s>/     one run: its config, metrics.jsonl, summary.json, checkpoints/,
 *                          record.json (written last: the run is complete)
 *   metrics.jsonl          every run's epochs, one line each (the report's curves)
 *   summary.json           one RunRecord per finished run (the report's table)
 *   report.md, report.html
 *
 * Ctrl-C (or `signal`) stops after the current step with a checkpoint; `resume: true` skips
 * finished runs and continues the interrupted one from its last checkpoint.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMethod, getMethod, preset, registerIgmMethods } from '@igm/baselines';
import {
  allCoalitions,
  type Callback,
  coalitionKey,
  imbalanceDegree,
  type MultimodalDataset,
  type MultimodalModelLike,
  shapleyContributions,
} from '@igm/core';
import { DATASET_NAMES, describeDataset, disposeBatch, loadDataset } from '@igm/datasets';
import { igm } from '@igm/igm';
import {
  type RunSummary,
  readCheckpoint,
  restoreVariables,
  runTraining,
  type SplitMetrics,
  type EpochRecord as TrainerEpoch,
} from '@igm/trainer';
import * as tf from '@tensorflow/tfjs';
import { type BackendRequest, describeBackendChoice, selectBackend } from './backend';
import type { CompareConfig } from './config';
import { ProgressReporter } from './progress';
import {
  buildResultsTable,
  type ComparisonSummary,
  type EpochRecord,
  type EvalMetrics,
  type RunRecord,
  type SpectrumRecord,
  tableToText,
  writeFileAtomic,
  writeReport,
} from './report';
import { defaultEncoders, epochOverride, PRESET_OF_DATASET, quickOverrides } from './setups';

registerIgmMethods(igm as never);

export interface ComparisonHooks {
  /** Stops the comparison after the current step (the CLI wires Ctrl-C to it). */
  readonly signal?: AbortSignal;
  readonly progress?: ProgressReporter;
  /** Where the results table is printed (default stdout). */
  readonly out?: NodeJS.WritableStream;
}

export interface ComparisonResult {
  readonly dir: string;
  readonly summary: ComparisonSummary;
  readonly status: 'completed' | 'aborted';
  readonly report?: { markdown: string; html: string };
}

const DATASET_LABELS: Record<string, string> = {
  'av-mnist': 'AV-MNIST-style (MNIST + FSDD, project-built; not the published AV-MNIST)',
  synthetic: 'synthetic (controllable per-modality signal)',
};

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
 * Shapley contribution of each modality on the test split (DATASETS.md section 11): v(S) is
 * the fused accuracy with the inputs of the modalities outside S zeroed before their encoders,
 * v(empty set) measured. Runs 2^M inference passes.
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
  for await (const batch of dataset.batches({
    split: 'test',
    batchSize,
    shuffle: false,
    dropLast: false,
    augment: false,
  })) {
    try {
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
    } finally {
      disposeBatch(batch);
    }
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
  const best = await readCheckpoint(checkpointDir, 'best');
  if (!best) return false;
  const named = [
    ...model.params().map((p) => ({ name: `model/${p.key}`, variable: p.variable })),
    ...model.nonTrainable().map((v) => ({ name: `model-state/${v.key}`, variable: v.variable })),
  ];
  restoreVariables(tf as never, best.tensors, named, `best checkpoint in ${checkpointDir}`);
  return true;
}

/** Samples the process's resident memory at every batch end; the maximum is the run's peak. */
function memoryProbe(): Callback & { peakMB: () => number } {
  let peak = process.memoryUsage().rss;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  return {
    name: 'memory-probe',
    onBatchEnd: sample,
    onEpochEnd: sample,
    peakMB: () => peak / 2 ** 20,
  };
}

function progressCallback(
  reporter: ProgressReporter,
  state: { runsDone: number; runsTotal: number; current: string; epochsTotal: number },
): Callback {
  let epoch = 0;
  return {
    name: 'cli-progress',
    onEpochEnd(_e, logs) {
      epoch++;
      const acc = logs?.['test/fused/accuracy'] ?? logs?.['test_accuracy'];
      reporter.update({
        ...state,
        epoch,
        ...(typeof acc === 'number' ? { detail: `test acc ${(100 * acc).toFixed(1)}%` } : {}),
      });
    },
  };
}

function packageVersions(): Record<string, string> {
  const here = dirname(fileURLToPath(import.meta.url));
  const versions: Record<string, string> = {};
  for (const pkg of ['core', 'baselines', 'datasets', 'models', 'trainer', 'igm', 'cli']) {
    for (const candidate of [
      join(here, '..', '..', pkg, 'package.json'),
      join(here, '..', 'package.json'),
    ]) {
      try {
        const json = JSON.parse(readFileSync(candidate, 'utf8')) as {
          name: string;
          version: string;
        };
        if (json.name === (pkg === 'igm' ? '@igm/igm' : `@igm/${pkg}`)) {
          versions[json.name] = json.version;
          break;
        }
      } catch {
        // not in a workspace layout: only what is found is recorded
      }
    }
  }
  versions['@tensorflow/tfjs'] = tf.version.tfjs;
  return versions;
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return null;
  }
}

function datasetOptions(config: CompareConfig): Record<string, unknown> {
  const o: Record<string, unknown> = { ...config.datasetOptions };
  if (config.dataset === 'av-mnist' && o['fsddDir'] === undefined && process.env['FSDD_DIR']) {
    o['fsddDir'] = process.env['FSDD_DIR'];
  }
  if (config.dataset !== 'synthetic' && o['progress'] === undefined) o['progress'] = true;
  return o;
}

/** Loads the dataset, turning "recordings not found" into instructions. */
export async function openDataset(
  name: string,
  options: Record<string, unknown>,
): Promise<MultimodalDataset> {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new Error(`Unknown dataset "${name}". Valid datasets: ${DATASET_NAMES.join(', ')}.`);
  }
  try {
    return await loadDataset(name as never, options as never);
  } catch (e) {
    const msg = (e as Error).message;
    if (name === 'av-mnist' && /fsdd|recording/i.test(msg)) {
      throw new Error(
        `${msg}\nAV-MNIST-style needs the Free Spoken Digit Dataset recordings (3,000 WAV files, CC BY-SA 4.0). ` +
          'Clone github.com/Jakobovski/free-spoken-digit-dataset and pass its recordings folder with ' +
          '--fsdd-dir <path> or the FSDD_DIR environment variable, or run "igm data prepare av-mnist" on a machine with internet to download it into the cache.',
      );
    }
    throw e;
  }
}

/** Runs every (method, seed) of `config` and writes the report; see the module doc. */
export async function runComparison(
  config: CompareConfig,
  hooks: ComparisonHooks = {},
): Promise<ComparisonResult> {
  const out = hooks.out ?? process.stdout;
  const reporter = hooks.progress ?? new ProgressReporter();
  for (const m of config.methods) getMethod(m); // unknown names fail before any work
  const presetName = PRESET_OF_DATASET[config.dataset];
  if (!presetName) {
    throw new Error(
      `No method presets for dataset "${config.dataset}". Datasets with presets: ${Object.keys(PRESET_OF_DATASET).join(', ')}.`,
    );
  }

  const choice = await selectBackend(config.backend as BackendRequest, undefined, {
    threads: config.threads,
  });
  reporter.log(describeBackendChoice(choice));

  const dir = resolve(config.out);
  await mkdir(dir, { recursive: true });
  const dataset = await openDataset(config.dataset, datasetOptions(config));
  reporter.log(describeDataset(dataset).split('\n').slice(0, 2).join(' · '));
  const modalities = dataset.modalities.map((m) => m.name);
  const quick = config.preset === 'quick';

  await writeFileAtomic(
    join(dir, 'config.json'),
    `${JSON.stringify(
      {
        ...config,
        out: dir,
        backend: { requested: config.backend, ...choice },
        versions: packageVersions(),
        gitCommit: gitCommit(),
      },
      null,
      2,
    )}\n`,
  );

  const controller = new AbortController();
  const onSigint = () => {
    reporter.log('Stopping after the current step (Ctrl-C again to force)...');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', onSigint);
  hooks.signal?.addEventListener('abort', () => controller.abort(), { once: true });

  const records: RunRecord[] = [];
  const epochs: EpochRecord[] = [];
  const seeds = Array.from({ length: config.seeds }, (_, i) => config.seed0 + i);
  const runsTotal = config.methods.length * seeds.length;
  let status: 'completed' | 'aborted' = 'completed';
  const summaryOf = (): ComparisonSummary => ({
    name: dir.split(/[\\/]/).pop()!,
    dataset: config.dataset,
    datasetLabel: DATASET_LABELS[config.dataset] ?? config.dataset,
    backend: choice.label,
    createdAt: new Date().toISOString(),
    runs: records,
  });
  const flush = async () => {
    await writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(summaryOf(), null, 2)}\n`);
    await writeFileAtomic(
      join(dir, 'metrics.jsonl'),
      epochs.map((e) => JSON.stringify(e)).join('\n') + (epochs.length ? '\n' : ''),
    );
  };

  try {
    outer: for (const method of config.methods) {
      for (const seed of seeds) {
        const runDir = join(dir, method, `seed-${seed}`);
        const recordPath = join(runDir, 'record.json');
        if (config.resume && existsSync(recordPath)) {
          const saved = JSON.parse(await readFile(recordPath, 'utf8')) as {
            record: RunRecord;
            epochs: EpochRecord[];
          };
          records.push(saved.record);
          epochs.push(...saved.epochs);
          reporter.log(`${method} seed ${seed}: already finished, reusing ${recordPath}`);
          continue;
        }
        const overrides = {
          ...(quick ? quickOverrides(config.dataset, method, config.epochs) : {}),
          ...(!quick && config.epochs ? epochOverride(method, config.epochs) : {}),
          ...(config.methodOptions[method] ?? {}),
        };
        const options = preset(presetName, method, overrides);
        const batchSize =
          config.batchSize ?? (quick ? 64 : ((options['batchSize'] as number | undefined) ?? 64));
        delete options['batchSize'];
        const run = createMethod(method, options, {
          dataset,
          numClasses: dataset.classNames.length,
          batchSize,
          seed,
          encoders: defaultEncoders(dataset, seed, quick),
        });
        const probe = memoryProbe();
        const trainOptions = run.trainOptions();
        const epochsTotal = trainOptions.stages
          ? trainOptions.stages.reduce((a, s) => a + s.epochs, 0)
          : (trainOptions.epochs ?? 0);
        const state = {
          runsDone: records.length,
          runsTotal,
          current: `${method} seed ${seed}`,
          epochsTotal,
        };
        reporter.update({ ...state, epoch: 0 });
        const checkpointDir = join(runDir, 'checkpoints');
        let summary: RunSummary;
        try {
          summary = await runTraining({
            ...trainOptions,
            callbacks: [
              ...(trainOptions.callbacks ?? []),
              probe,
              progressCallback(reporter, state),
            ],
            dataset,
            batchSize,
            seed,
            outDir: runDir,
            checkpoint: { dir: checkpointDir },
            resume: config.resume,
            selection: config.selection,
            progress: 'none',
            signal: controller.signal,
            config: {
              method,
              seed,
              options,
              batchSize,
              dataset: config.dataset,
              preset: config.preset,
            },
          });
          if (summary.status === 'aborted') {
            status = 'aborted';
            break outer;
          }
          const selectedLoaded = await loadBestWeights(run.model, checkpointDir);
          const contribution = await testContributions(run.model, dataset, 64);
          const last = summary.history[summary.history.length - 1];
          const record: RunRecord = {
            method,
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
              summary.history.reduce((a, h) => a + h.seconds, 0) /
              Math.max(1, summary.history.length),
            peakMemoryMB: probe.peakMB(),
            spectra: spectraOf(summary.history),
          };
          const runEpochs = epochRecords(method, seed, summary.history, modalities);
          records.push(record);
          epochs.push(...runEpochs);
          await writeFileAtomic(
            recordPath,
            `${JSON.stringify({ record, epochs: runEpochs, contributionsOn: selectedLoaded ? 'selected checkpoint' : 'final weights', coalitionAccuracy: contribution.values }, null, 2)}\n`,
          );
          await flush();
          const acc = record.bestOnValidation?.test.accuracy ?? record.final.test.accuracy;
          reporter.log(
            `${method} seed ${seed}: test accuracy ${(100 * acc).toFixed(1)}% (${modalities
              .map(
                (m) =>
                  `${m} ${(100 * (record.bestOnValidation?.test ?? record.final.test).perModality[m]!.accuracy).toFixed(1)}%`,
              )
              .join(', ')}), ${record.secondsPerEpoch.toFixed(1)} s/epoch`,
          );
        } finally {
          run.dispose();
        }
      }
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    reporter.done();
  }

  await flush();
  const summary = summaryOf();
  if (status === 'aborted') {
    reporter.log(
      `Stopped. Finished runs are in ${dir}; continue with: igm compare --resume --out ${config.out} (same options).`,
    );
    return { dir, summary, status };
  }
  const report = await writeReport(dir);
  const table = buildResultsTable(summary);
  const shown = table.columns.filter(
    (c) => !c.startsWith('contrib') && c !== 'checkpoint chosen by' && c !== 'peak MB',
  );
  out.write(`\n${tableToText(table, shown)}\n\nReport: ${report.html}\n`);
  return { dir, summary, status, report: { markdown: report.markdown, html: report.html } };
}
