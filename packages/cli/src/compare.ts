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
 * The folder `out` belongs to one comparison. A non-empty `out` is refused unless `resume`
 * (continue it: the options that decide results must equal those in its config.json, which is
 * kept as first written) or `overwrite` (replace it; only a folder an igm comparison wrote).
 * `resume` skips finished runs (their files are never rewritten; a comparison whose runs are all
 * finished is only printed) and continues interrupted ones from their last checkpoints.
 *
 * Ctrl-C (or `signal`) stops after the current step with a checkpoint and prints the command
 * that continues (`resumeCommand`). A run that fails (e.g. its loss diverged) is reported and the
 * others go on; the comparison then ends 'failed', naming it.
 *
 * `jobs` decides how many runs go at once on this machine (default `auto`: decided from the
 * backend, the cores and the threads per run, see jobs.ts; the decision is the first line
 * printed). One goes through the runs one after another in this process; more run that many at
 * once in job processes (grid/local.ts). `queue` enqueues them on Redis for `igm worker`s
 * (grid/queue.ts). All run the same `runJob` and leave the same folder.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerIgmMethods } from '@igm/baselines';
import type { MultimodalDataset } from '@igm/core';
import { DATASET_NAMES, describeDataset, loadDataset, StreamingDataset } from '@igm/datasets/node';
import { igm } from '@igm/igm';
import * as tf from '@tensorflow/tfjs';
import {
  type BackendChoice,
  type BackendRequest,
  describeBackendChoice,
  placeDatasetSamples,
  selectBackend,
} from './backend';
import { type CompareConfig, ConfigError, changedOptions, showOption } from './config';
import { gridIdOf, gridSettingsOf, type RunFailure, readRunRecord, runLabel } from './grid/job';
import { runLocalGrid } from './grid/local';
import { liveGridJobs, probeQueue, runQueuedGrid } from './grid/queue';
import { maskSecrets } from './grid/redis-url';
import { decideJobs, describeJobs } from './jobs';
import { planOfRun, planRuns, type RunSpec } from './plan';
import { ProgressReporter } from './progress';
import {
  buildResultsTable,
  type ComparisonSummary,
  type EpochRecord,
  printedColumns,
  type RunRecord,
  readRunDirectory,
  tableToJson,
  tableToText,
  withUtilization,
  writeFileAtomic,
  writeReport,
} from './report';
import { runDirOf, runJob } from './run-job';
import { FSDD_DATASETS, PROGRESS_DATASETS, ROOT_DATASETS } from './setups';

registerIgmMethods(igm as never);

export interface ComparisonHooks {
  /** Stops the comparison after the current step (the CLI wires Ctrl-C to it). */
  readonly signal?: AbortSignal;
  readonly progress?: ProgressReporter;
  /** Where the results table is printed (default stdout). */
  readonly out?: NodeJS.WritableStream;
  /** The command that continues this comparison, printed when it stops (the CLI passes it). */
  readonly resumeCommand?: string;
  /** 'json': the final table as JSON on `out` (see tableToJson), nothing else. Default 'text'. */
  readonly format?: 'text' | 'json';
  /** The command the user ran: messages name the method list `--method` under igm train. */
  readonly command?: 'compare' | 'train';
}

export interface ComparisonResult {
  readonly dir: string;
  readonly summary: ComparisonSummary;
  /** 'failed': some runs failed (listed in `failures`); the others are in the report. */
  readonly status: 'completed' | 'aborted' | 'failed';
  /** The comparison was already finished (`resume`): its files were read, none written. */
  readonly unchanged?: boolean;
  readonly report?: { markdown: string; html: string };
  readonly failures?: readonly RunFailure[];
  /** The signal that stopped an 'aborted' comparison (absent when `hooks.signal` stopped it). */
  readonly stoppedBy?: NodeJS.Signals;
}

/** Signals closer together than this count as one (a process-group signal arrives twice). */
const SIMULTANEOUS_SIGNALS_MS = 250;

/** The shell's convention: 128 + the signal's number (SIGINT 130, SIGTERM 143). */
export function exitCodeOfSignal(signal: NodeJS.Signals | undefined): number {
  return signal === 'SIGTERM' ? 143 : 130;
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
 * Each run's planned epochs (its stages' sum for stage-wise methods): the progress weights of a
 * comparison and the cost a parallel grid orders its runs by (longest first).
 */
export function plannedEpochs(plan: readonly RunSpec[], config: CompareConfig): number[] {
  return plan.map((spec) => planOfRun(spec, config).epochs);
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
  if (PROGRESS_DATASETS.includes(config.dataset) && o['progress'] === undefined) {
    o['progress'] = true;
  }
  return o;
}

/**
 * Whether the FSDD recordings an av-mnist load looked for are missing: the folder given (option
 * or FSDD_DIR) does not exist or holds no .wav file, or none was given and the loader found no
 * downloaded copy. Other failures (a bad option whose message names a recordings path) are not.
 */
function fsddRecordingsMissing(options: Record<string, unknown>, message: string): boolean {
  const dir = (options['fsddDir'] as string | undefined) ?? process.env['FSDD_DIR'];
  if (!dir) return /no FSDD recordings/.test(message);
  try {
    return !readdirSync(dir).some((f) => f.toLowerCase().endsWith('.wav'));
  } catch {
    return true;
  }
}

/**
 * Loads the dataset, turning "recordings not found" and "no dataset folder" into instructions.
 * `rootHint` says how the caller takes a dataset's folder (igm compare/train: the config file's
 * `datasetOptions.root`; igm data: `--root <dir>`).
 */
export async function openDataset(
  name: string,
  options: Record<string, unknown>,
  rootHint = 'datasetOptions: { root: <dir> } in a --config file',
): Promise<MultimodalDataset> {
  if (!(DATASET_NAMES as readonly string[]).includes(name)) {
    throw new Error(`Unknown dataset "${name}". Valid datasets: ${DATASET_NAMES.join(', ')}.`);
  }
  try {
    return await loadDataset(name as never, options as never);
  } catch (e) {
    const msg = (e as Error).message;
    if (FSDD_DATASETS.includes(name) && fsddRecordingsMissing(options, msg)) {
      throw new Error(
        `${msg}\nAV-MNIST-style needs the Free Spoken Digit Dataset recordings (3,000 WAV files, CC BY-SA 4.0). ` +
          'Clone github.com/Jakobovski/free-spoken-digit-dataset and pass its recordings folder with ' +
          '--fsdd-dir <path> or the FSDD_DIR environment variable, or run "igm data prepare av-mnist" on a machine with internet to download it into the cache.',
      );
    }
    if (ROOT_DATASETS.includes(name) && options['root'] === undefined) {
      throw new Error(
        `${msg}\nThe ${name} dataset is read from your copy of it: give its folder with ${rootHint}.`,
      );
    }
    throw e;
  }
}

/** One line about the loaded dataset: name (and label), modalities, classes, split sizes. */
function datasetLine(dataset: MultimodalDataset): string {
  const [name, label] = describeDataset(dataset).split('\n');
  const splits = Object.entries(dataset.splitSizes)
    .map(([split, n]) => `${split} ${n}`)
    .join(', ');
  return [
    name,
    ...(label && !label.startsWith('modalities:') ? [label.trim()] : []),
    dataset.modalities.map((m) => `${m.name} [${m.shape.join('x')}]`).join(', '),
    `${dataset.classNames.length} classes`,
    splits,
  ].join(' · ');
}

/**
 * Every run's batch size fits in the training split (the runs drop the last incomplete batch,
 * so a larger one would give epochs without a batch): checked once the data is loaded, before
 * any run, naming the flag or the preset it came from.
 */
function checkBatchSizes(
  plan: readonly RunSpec[],
  config: CompareConfig,
  dataset: MultimodalDataset,
): void {
  const train = dataset.splitSizes['train'];
  if (train === undefined) return;
  const tooLarge = plan.filter((spec) => spec.batchSize > train);
  if (!tooLarge.length) return;
  const from =
    config.batchSize !== undefined
      ? `--batch-size ${config.batchSize}`
      : `the ${config.preset} preset's batch size (${[...new Set(tooLarge.map((s) => `${s.method}: ${s.batchSize}`))].join(', ')})`;
  throw new Error(
    `${from} exceeds the ${train} training samples of ${config.dataset}: an epoch would have no full batch. Give --batch-size ${train} or less.`,
  );
}

/** What the folder `out` holds before a comparison starts. */
type OutFolder =
  | { readonly kind: 'empty' }
  | {
      readonly kind: 'comparison';
      readonly config: Record<string, unknown>;
      readonly finished: number;
    }
  | { readonly kind: 'other'; readonly entries: readonly string[] };

/** Reads `dir`: missing or empty, an igm comparison (its config.json), or something else. */
async function inspectOut(dir: string, plan: readonly RunSpec[]): Promise<OutFolder> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') {
      throw new Error(`--out ${dir} is a file, not a folder: choose another --out.`);
    }
    if (code !== 'ENOENT') {
      throw new Error(`--out ${dir}: cannot read the folder (${(e as Error).message}).`);
    }
    return { kind: 'empty' };
  }
  if (!entries.length) return { kind: 'empty' };
  try {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    // What igm compare writes: the resolved config with the package versions.
    if (config && typeof config === 'object' && 'methods' in config && 'versions' in config) {
      const finished = plan.filter((spec) =>
        existsSync(join(runDirOf(dir, spec), 'record.json')),
      ).length;
      return { kind: 'comparison', config, finished };
    }
  } catch {
    // no config.json, or not one of ours
  }
  return { kind: 'other', entries };
}

/**
 * The `out` rules of the module doc: returns the saved config when resuming; replaces the
 * folder's contents with `overwrite`; refuses everything else, saying what to do.
 */
async function claimOut(
  config: CompareConfig,
  dir: string,
  plan: readonly RunSpec[],
  command: 'compare' | 'train',
  reporter: ProgressReporter,
): Promise<Record<string, unknown> | undefined> {
  const found = await inspectOut(dir, plan);
  if (config.resume) {
    if (found.kind !== 'comparison') {
      throw new ConfigError(
        found.kind === 'empty'
          ? `--resume: ${dir} holds no comparison to continue. Drop --resume to start one there.`
          : `--resume: ${dir} is not a comparison folder of igm (no config.json written by igm compare/train). Check --out.`,
      );
    }
    const changes = changedOptions(found.config, config, command);
    if (changes.length) {
      throw new ConfigError(
        `--resume: the comparison in ${dir} was started with other options; continuing would mix them:\n${changes
          .map((c) => `  ${c.name}: ${showOption(c.saved)} then, ${showOption(c.now)} now`)
          .join(
            '\n',
          )}\nRerun with the options it was started with (see ${join(dir, 'config.json')}), or start anew: another --out, or --overwrite to replace it.`,
      );
    }
    const savedBackend = (found.config['backend'] as { requested?: unknown } | undefined)
      ?.requested;
    if (typeof savedBackend === 'string' && savedBackend !== config.backend) {
      reporter.log(
        `note: this comparison started with --backend ${savedBackend}; its remaining runs use --backend ${config.backend} (numbers may differ from an uninterrupted run in the last digits).`,
      );
    }
    return found.config;
  }
  if (found.kind === 'empty') return undefined;
  if (found.kind === 'other') {
    throw new ConfigError(
      `--out ${dir} is not empty (${found.entries.slice(0, 3).join(', ')}${found.entries.length > 3 ? ', ...' : ''}) and holds no igm comparison; igm writes only into a new or empty folder or one of its own comparisons. Choose another --out.`,
    );
  }
  if (!config.overwrite) {
    throw new ConfigError(
      `--out ${dir} already holds a comparison (${found.finished} of ${plan.length} planned runs finished). Continue it with --resume (same options), replace it with --overwrite, or choose another --out.`,
    );
  }
  if (config.queue) {
    const live = await liveGridJobs(config.queue, gridIdOf(dir));
    if (live.length) {
      throw new ConfigError(
        `--overwrite: runs of the comparison in ${dir} are still in the queue (${live.join(', ')}); wait until they end, or continue it with --resume.`,
      );
    }
  }
  for (const entry of await readdir(dir))
    await rm(join(dir, entry), { recursive: true, force: true });
  reporter.log(`--overwrite: removed the earlier comparison in ${dir}`);
  return undefined;
}

/**
 * The largest peak resident memory (MiB) of the comparison's `finished` runs in `dir`, or
 * undefined when there are none: the memory estimate of `--jobs auto` (see jobs.ts).
 */
async function peakMemoryOfFinished(
  dir: string,
  finished: readonly RunSpec[],
): Promise<number | undefined> {
  let peak: number | undefined;
  for (const spec of finished) {
    try {
      const mb = (await readRunRecord(dir, spec)).record.peakMemoryMB;
      if (Number.isFinite(mb) && mb > 0) peak = Math.max(peak ?? 0, mb);
    } catch {
      // an unreadable record is reported where the run is reused; it gives no estimate here
    }
  }
  return peak;
}

/** The table after a comparison: text for the terminal, or the JSON of tableToJson. */
function printTable(
  out: NodeJS.WritableStream,
  format: 'text' | 'json',
  summary: ComparisonSummary,
  dir: string,
  report: string | null,
  failures: readonly RunFailure[],
): void {
  const table = buildResultsTable(summary);
  const columns = printedColumns(table);
  if (format === 'json') {
    const json = tableToJson(table, columns, {
      dataset: summary.dataset,
      datasetLabel: summary.datasetLabel,
      backend: summary.backend,
      out: dir,
      report,
      status: failures.length ? 'failed' : 'completed',
      failures,
    });
    out.write(`${JSON.stringify(json, null, 2)}\n`);
  } else {
    out.write(`\n${tableToText(table, columns)}\n${report ? `\nReport: ${report}\n` : ''}`);
  }
}

/** Runs every (method, seed) of `config` and writes the report; see the module doc. */
export async function runComparison(
  config: CompareConfig,
  hooks: ComparisonHooks = {},
): Promise<ComparisonResult> {
  const out = hooks.out ?? process.stdout;
  const format = hooks.format ?? 'text';
  const command = hooks.command ?? 'compare';
  const reporter = hooks.progress ?? new ProgressReporter();
  // Bad methods or options fail before any work.
  const plan = planRuns(config, command === 'train' ? '--method' : '--methods');
  const epochsOfRun = plannedEpochs(plan, config);
  // --jobs auto (the default) leaves the queue's workers to decide; a number does not combine.
  if (config.queue && typeof config.jobs === 'number' && config.jobs !== 1) {
    throw new Error(
      '--jobs and --queue do not combine: with --queue, igm workers run the jobs (start them with igm worker --concurrency N).',
    );
  }
  if (config.queue) await probeQueue(config.queue); // a wrong password or no Redis: fail first

  const dir = resolve(config.out);
  const saved = await claimOut(config, dir, plan, command, reporter);

  // A finished comparison is printed as it is: nothing is trained, nothing rewritten.
  if (
    saved &&
    existsSync(join(dir, 'summary.json')) &&
    plan.every((spec) => existsSync(join(runDirOf(dir, spec), 'record.json')))
  ) {
    const { summary } = await readRunDirectory(dir);
    const html = join(dir, 'report.html');
    // Stopped after its last run but before its report: the report is written now.
    const hadReport = existsSync(html);
    const report = hadReport ? html : (await writeReport(dir)).html;
    reporter.log(
      `${plan.length === 1 ? 'The run' : `All ${plan.length} runs`} of ${dir} ${plan.length === 1 ? 'is' : 'are'} finished; nothing to do (${hadReport ? 'its files are unchanged' : 'its report was missing and is written now; the runs are unchanged'}).`,
    );
    reporter.done();
    printTable(out, format, summary, dir, report, []);
    return {
      dir,
      summary,
      status: 'completed',
      unchanged: true,
      report: { markdown: join(dir, 'report.md'), html: report },
    };
  }

  // Runs at once here, for the runs still to train (a queue's workers decide for themselves).
  let jobs = 1;
  if (!config.queue) {
    const finished = plan.filter((spec) => existsSync(join(runDirOf(dir, spec), 'record.json')));
    const toGo = plan.length - finished.length;
    const decision = await decideJobs(config, toGo, {
      ...(config.jobs === 'auto' ? { perRunMB: await peakMemoryOfFinished(dir, finished) } : {}),
    });
    jobs = decision.jobs;
    // Nothing to decide for a single run: no line.
    if (toGo > 1) reporter.log(describeJobs(decision));
  }
  // Parallel and queued runs choose their backend in their own processes.
  const gridMode = config.queue ? 'queue' : jobs > 1 ? 'processes' : undefined;

  let choice: BackendChoice | undefined;
  if (!gridMode) {
    choice = await selectBackend(config.backend as BackendRequest, undefined, {
      threads: config.threads,
    });
    reporter.log(describeBackendChoice(choice));
  }

  await mkdir(dir, { recursive: true });
  // Every local comparison loads the data here, so that missing data or a batch size its split
  // cannot hold stops it before any run with one message, and the cache is written once. Job
  // processes then load their own copy (this one is dropped); queued runs load it on the workers.
  let dataset: MultimodalDataset | undefined;
  if (gridMode !== 'queue') {
    const loaded = await openDataset(config.dataset, datasetOptions(config));
    reporter.log(datasetLine(loaded));
    checkBatchSizes(plan, config, loaded);
    if (!gridMode) {
      dataset = loaded;
      placeDatasetSamples(dataset, choice!);
    }
  }

  // A resumed comparison keeps the config.json it was started with (the same result options).
  if (!saved) {
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
  }

  const controller = new AbortController();
  // Ctrl-C (SIGINT) or SIGTERM (kill, a container stop): stop after the current step with a
  // checkpoint and print the command that continues. A second signal forces the exit, unless it
  // comes with the first: a signal sent to the process group (e.g. `timeout -s INT`) reaches igm
  // more than once at the same moment.
  let stoppedBy: { signal: NodeJS.Signals; at: number } | undefined;
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (stoppedBy) {
      if (Date.now() - stoppedBy.at < SIMULTANEOUS_SIGNALS_MS) return;
      process.exit(exitCodeOfSignal(signal));
    }
    stoppedBy = { signal, at: Date.now() };
    reporter.log(
      `Stopping after the current step (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again to force)...`,
    );
    controller.abort();
  };
  process.on('SIGINT', onStopSignal);
  process.on('SIGTERM', onStopSignal);
  hooks.signal?.addEventListener('abort', () => controller.abort(), { once: true });

  const records: RunRecord[] = [];
  const epochs: EpochRecord[] = [];
  let status: 'completed' | 'aborted' = 'completed';
  let failures: RunFailure[] = [];
  let backendLabel = choice?.label ?? config.backend;
  const summaryOf = (): ComparisonSummary => ({
    name: dir.split(/[\\/]/).pop()!,
    dataset: config.dataset,
    datasetLabel: DATASET_LABELS[config.dataset] ?? config.dataset,
    backend: backendLabel,
    createdAt: new Date().toISOString(),
    runs: withUtilization(records),
    ...(failures.length ? { failures } : {}),
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
              epochsOfRun,
            })
          : await runLocalGrid(plan, settings, {
              jobs,
              reporter,
              signal: controller.signal,
              grid,
              epochsOfRun,
            });
      // Plan order, whatever order the runs finished in.
      for (let i = 0; i < plan.length; i++) {
        if (!outcome.finished.has(i)) continue;
        const run = await readRunRecord(dir, plan[i]!);
        records.push(run.record);
        epochs.push(...run.epochs);
      }
      status = outcome.status;
      failures = [...outcome.failures];
      if (outcome.backends.length) backendLabel = outcome.backends.join('; ');
    } else {
      reporter.plan(epochsOfRun.reduce((a, b) => a + b, 0));
      let epochsBefore = 0;
      for (const [i, spec] of plan.entries()) {
        if (controller.signal.aborted) {
          status = 'aborted';
          break;
        }
        const done = records.length + failures.length;
        try {
          const result = await runJob(spec, {
            dataset: dataset!,
            config,
            dir,
            signal: controller.signal,
            reporter,
            runsDone: done,
            runsTotal: plan.length,
            epochsBefore,
          });
          if (result.status === 'aborted') {
            status = 'aborted';
            break;
          }
          if (result.status === 'reused') reporter.skip(epochsOfRun[i]!);
          records.push(result.record);
          epochs.push(...result.epochs);
          if (result.status === 'completed') await flush();
        } catch (e) {
          // A config problem concerns the whole comparison; anything else fails this run only.
          if (e instanceof ConfigError) throw e;
          const error = maskSecrets((e as Error).message ?? String(e));
          reporter.log(`${runLabel(spec)} failed: ${error}`);
          failures.push({ method: spec.method, seed: spec.seed, error, attempts: 1 });
        }
        epochsBefore += epochsOfRun[i]!;
      }
      if (controller.signal.aborted) status = 'aborted';
    }
  } finally {
    process.removeListener('SIGINT', onStopSignal);
    process.removeListener('SIGTERM', onStopSignal);
    // The samples placeDatasetSamples uploaded (none when batches were read on the host).
    if (dataset instanceof StreamingDataset) dataset.dispose();
    reporter.done();
  }

  await flush();
  const summary = summaryOf();
  if (status === 'aborted') {
    reporter.log(
      hooks.resumeCommand
        ? `Stopped. Finished runs are in ${dir}; continue with:\n  ${hooks.resumeCommand}`
        : `Stopped. Finished runs are in ${dir}; continue with the same command and --resume.`,
    );
    return { dir, summary, status, ...(stoppedBy ? { stoppedBy: stoppedBy.signal } : {}) };
  }
  if (failures.length) {
    reporter.log(
      `${failures.length} of ${plan.length} runs failed (${failures.map(runLabel).join(', ')})${records.length ? '; the others are in the report' : ''}.`,
    );
    if (!records.length) {
      if (format === 'json') printTable(out, format, summary, dir, null, failures);
      return { dir, summary, status: 'failed', failures };
    }
  }
  const report = await writeReport(dir);
  printTable(out, format, summary, dir, report.html, failures);
  return {
    dir,
    summary,
    status: failures.length ? 'failed' : status,
    report: { markdown: report.markdown, html: report.html },
    ...(failures.length ? { failures } : {}),
  };
}
