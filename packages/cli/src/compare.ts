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
 *
 * By default the runs go one after another in this process. `jobs > 1` runs that many at once in
 * job processes of this machine, `queue` enqueues them on Redis for `igm worker`s (see
 * grid/local.ts and grid/queue.ts); both run the same `runJob` and leave the same folder.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerIgmMethods } from '@igm/baselines';
import type { MultimodalDataset } from '@igm/core';
import { DATASET_NAMES, describeDataset, loadDataset } from '@igm/datasets';
import { igm } from '@igm/igm';
import * as tf from '@tensorflow/tfjs';
import {
  type BackendChoice,
  type BackendRequest,
  describeBackendChoice,
  selectBackend,
} from './backend';
import type { CompareConfig } from './config';
import { gridIdOf, gridSettingsOf, type RunFailure, readRunRecord, runLabel } from './grid/job';
import { runLocalGrid } from './grid/local';
import { probeQueue, runQueuedGrid } from './grid/queue';
import { maskSecrets } from './grid/redis-url';
import { planOfRun, planRuns, type RunSpec } from './plan';
import { ProgressReporter } from './progress';
import {
  buildResultsTable,
  type ComparisonSummary,
  type EpochRecord,
  type RunRecord,
  tableToText,
  withUtilization,
  writeFileAtomic,
  writeReport,
} from './report';
import { runJob } from './run-job';
import { FSDD_DATASETS } from './setups';

registerIgmMethods(igm as never);

export interface ComparisonHooks {
  /** Stops the comparison after the current step (the CLI wires Ctrl-C to it). */
  readonly signal?: AbortSignal;
  readonly progress?: ProgressReporter;
  /** Where the results table is printed (default stdout). */
  readonly out?: NodeJS.WritableStream;
  /** The command that continues this comparison, printed when it stops (the CLI passes it). */
  readonly resumeCommand?: string;
}

export interface ComparisonResult {
  readonly dir: string;
  readonly summary: ComparisonSummary;
  /** 'failed': some runs failed (listed in `failures`); the others are in the report. */
  readonly status: 'completed' | 'aborted' | 'failed';
  readonly report?: { markdown: string; html: string };
  readonly failures?: readonly RunFailure[];
}

/** Runs at once: `jobs`, with `auto` for every core of this machine. */
export function jobsOf(config: Pick<CompareConfig, 'jobs'>): number {
  return config.jobs === 'auto' ? availableParallelism() : config.jobs;
}

const DATASET_LABELS: Record<string, string> = {
  'av-mnist': 'AV-MNIST-style (MNIST + FSDD, project-built; not the published AV-MNIST)',
  'av-mnist-imbalanced':
    'AV-MNIST-style, imbalanced (audio 10 dB SNR, digits translated in a 40x40 canvas; project-built)',
  synthetic: 'synthetic (controllable per-modality signal)',
};

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

/**
 * Each run's epochs (its stages' sum for stage-wise methods), the cost a parallel grid orders its
 * runs by; undefined when a run has no budget plan (plan order is kept then).
 */
export function runCosts(plan: readonly RunSpec[], config: CompareConfig): number[] | undefined {
  try {
    return plan.map((spec) => planOfRun(spec, config).epochs);
  } catch {
    return undefined;
  }
}

/** The loader options of a comparison: its `datasetOptions`, with this machine's FSDD_DIR. */
export function datasetOptions(
  config: Pick<CompareConfig, 'dataset' | 'datasetOptions'>,
): Record<string, unknown> {
  const o: Record<string, unknown> = { ...config.datasetOptions };
  if (
    FSDD_DATASETS.includes(config.dataset) &&
    o['fsddDir'] === undefined &&
    process.env['FSDD_DIR']
  ) {
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
    if (FSDD_DATASETS.includes(name) && /fsdd|recording/i.test(msg)) {
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
  const plan = planRuns(config); // bad methods or options fail before any work
  // Parallel and queued runs choose their backend and load the data in their own processes.
  const gridMode = config.queue ? 'queue' : jobsOf(config) > 1 ? 'processes' : undefined;
  if (config.queue && config.jobs !== 1) {
    throw new Error(
      '--jobs and --queue do not combine: with --queue, igm workers run the jobs (start them with igm worker --concurrency N).',
    );
  }
  if (config.queue) await probeQueue(config.queue); // a wrong password or no Redis: fail first

  let choice: BackendChoice | undefined;
  if (!gridMode) {
    choice = await selectBackend(config.backend as BackendRequest, undefined, {
      threads: config.threads,
    });
    reporter.log(describeBackendChoice(choice));
  }

  const dir = resolve(config.out);
  await mkdir(dir, { recursive: true });
  let dataset: MultimodalDataset | undefined;
  if (!gridMode) {
    dataset = await openDataset(config.dataset, datasetOptions(config));
    reporter.log(describeDataset(dataset).split('\n').slice(0, 2).join(' · '));
  }

  await writeFileAtomic(
    join(dir, 'config.json'),
    `${JSON.stringify(
      {
        ...config,
        ...(config.queue ? { queue: maskSecrets(config.queue) } : {}),
        out: dir,
        backend: choice
          ? { requested: config.backend, ...choice }
          : { requested: config.backend, threads: config.threads, chosenBy: 'each job process' },
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
  let status: 'completed' | 'aborted' = 'completed';
  let failures: readonly RunFailure[] = [];
  let backendLabel = choice?.label ?? config.backend;
  const summaryOf = (): ComparisonSummary => ({
    name: dir.split(/[\\/]/).pop()!,
    dataset: config.dataset,
    datasetLabel: DATASET_LABELS[config.dataset] ?? config.dataset,
    backend: backendLabel,
    createdAt: new Date().toISOString(),
    runs: withUtilization(records),
  });
  const flush = async () => {
    await writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(summaryOf(), null, 2)}\n`);
    await writeFileAtomic(
      join(dir, 'metrics.jsonl'),
      epochs.map((e) => JSON.stringify(e)).join('\n') + (epochs.length ? '\n' : ''),
    );
  };

  try {
    if (gridMode) {
      const settings = gridSettingsOf(config, dir);
      const grid = gridIdOf(dir);
      const outcome =
        gridMode === 'queue'
          ? await runQueuedGrid(plan, settings, {
              url: config.queue!,
              reporter,
              signal: controller.signal,
              grid,
            })
          : await runLocalGrid(plan, settings, {
              jobs: jobsOf(config),
              reporter,
              signal: controller.signal,
              grid,
              costs: runCosts(plan, config),
            });
      // Plan order, whatever order the runs finished in.
      for (let i = 0; i < plan.length; i++) {
        if (!outcome.finished.has(i)) continue;
        const run = await readRunRecord(dir, plan[i]!);
        records.push(run.record);
        epochs.push(...run.epochs);
      }
      status = outcome.status;
      failures = outcome.failures;
      if (outcome.backends.length) backendLabel = outcome.backends.join('; ');
    }
    for (const spec of gridMode ? [] : plan) {
      const result = await runJob(spec, {
        dataset: dataset!,
        config,
        dir,
        signal: controller.signal,
        reporter,
        runsDone: records.length,
        runsTotal: plan.length,
      });
      if (result.status === 'aborted') {
        status = 'aborted';
        break;
      }
      records.push(result.record);
      epochs.push(...result.epochs);
      if (result.status === 'completed') await flush();
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    reporter.done();
  }

  await flush();
  const summary = summaryOf();
  if (status === 'aborted') {
    reporter.log(
      hooks.resumeCommand
        ? `Stopped. Finished runs are in ${dir}; continue with:\n  ${hooks.resumeCommand}`
        : `Stopped. Finished runs are in ${dir}; continue with: igm compare --resume --out ${config.out}${config.queue ? ` --queue ${maskSecrets(config.queue)}` : ''} (same options).`,
    );
    return { dir, summary, status };
  }
  if (failures.length) {
    reporter.log(
      `${failures.length} of ${plan.length} runs failed:\n${failures.map((f) => `  ${runLabel(f)}: ${f.error}`).join('\n')}`,
    );
    if (!records.length) return { dir, summary, status: 'failed', failures };
  }
  const report = await writeReport(dir);
  const table = buildResultsTable(summary);
  const shown = table.columns.filter(
    (c) =>
      !/^(contrib|probe) /.test(c) &&
      !['unimodal protocol', 'fusion', 'checkpoint chosen by', 'peak MB'].includes(c),
  );
  out.write(`\n${tableToText(table, shown)}\n\nReport: ${report.html}\n`);
  return {
    dir,
    summary,
    status: failures.length ? 'failed' : status,
    report: { markdown: report.markdown, html: report.html },
    ...(failures.length ? { failures } : {}),
  };
}
