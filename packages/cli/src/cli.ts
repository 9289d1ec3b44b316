/**
 * The `igm` command:
 *
 *   igm compare --dataset av-mnist --methods joint,ogm-ge,pmr,agm,mla,igm --seeds 3 [--json]
 *   igm train --method igm --dataset av-mnist
 *   igm methods [name...] [--json]
 *   igm report runs/NAME [--json]
 *   igm data prepare|info <dataset>
 *   igm worker --queue redis://host:6379        (runs the jobs of igm compare --queue)
 *   igm --version
 *
 * Exit codes: 0 done; 1 bad input or failed runs (the message names them); 130 stopped by
 * Ctrl-C, 143 by SIGTERM (after a checkpoint; the message gives the command that continues).
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import packageJson from '../package.json';
import { BACKEND_REQUESTS } from './backend';
import { ConfigError, PRESETS, readConfigFile, resolveCompareConfig } from './config';
import type { RunFailure } from './grid/job';
import { maskSecrets, resolveQueueUrl } from './grid/redis-url';
import { COMPARE_DATASETS } from './offered-datasets';

/** The version of @igm/cli (`igm --version`). */
export const VERSION: string = packageJson.version;

function integer(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new InvalidArgumentError(`${name} must be a positive integer; got "${value}".`);
    }
    return n;
  };
}

/** `--seed`: the first seed, an integer >= 0. */
function firstSeed(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < 0) {
    throw new InvalidArgumentError(`--seed must be an integer >= 0; got "${value}".`);
  }
  return n;
}

function threadCount(value: string): number | 'auto' {
  return value === 'auto' ? 'auto' : integer('--threads')(value);
}

function jobCount(value: string): number | 'auto' {
  return value === 'auto' ? 'auto' : integer('--jobs')(value);
}

function seconds(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 1) {
      throw new InvalidArgumentError(`${name} must be a number of seconds >= 1; got "${value}".`);
    }
    return n;
  };
}

/** What the actions tell `main`: the exit code, and the argv (for the resume command). */
export interface ProgramContext {
  readonly argv: readonly string[];
  exitCode: number;
}

/** Runs that failed: the comparison exits non-zero naming them. */
export class RunsFailedError extends Error {
  override name = 'RunsFailedError';
  constructor(
    readonly failures: readonly RunFailure[],
    total: number,
  ) {
    super(
      `${failures.length} of ${total} runs failed: ${failures
        .map((f) => `${f.method} seed ${f.seed} (${f.error})`)
        .join('; ')}`,
    );
  }
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * How the user invoked igm: `igm`, or what a wrapper says in IGM_COMMAND (the repository's
 * `pnpm igm` script sets "pnpm igm"), so that printed commands can be pasted as they are.
 */
export function commandName(): string {
  return process.env['IGM_COMMAND']?.trim() || 'igm';
}

/**
 * The command line that continues a comparison: the arguments as typed (igm train or igm
 * compare, every option in its place), --out when it was left to its default, and --resume;
 * without --overwrite (the folder is now the comparison to continue). A Redis password is masked.
 */
export function resumeCommandOf(argv: readonly string[], out: string): string {
  const args = argv.slice(2).filter((a) => a !== '--resume' && a !== '--overwrite');
  const hasOut = args.some((a) => a === '--out' || a.startsWith('--out='));
  const words = [...args, ...(hasOut ? [] : ['--out', out]), '--resume'];
  const line = [commandName(), ...words.map((w) => shellWord(maskSecrets(w)))].join(' ');
  return line.includes('***')
    ? `${line}\n  (*** is the Redis password: put it back, or give --queue without a URL and set IGM_REDIS_URL)`
    : line;
}

const list = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

interface RunFlags {
  dataset?: string;
  methods?: string[];
  method?: string;
  seeds?: number;
  seed?: number;
  preset?: string;
  config?: string;
  epochs?: number;
  batchSize?: number;
  backend?: string;
  threads?: number | 'auto';
  out?: string;
  resume?: boolean;
  overwrite?: boolean;
  fsddDir?: string;
  dryRun?: boolean;
  json?: boolean;
  probe?: boolean;
  jobs?: number | 'auto';
  queue?: string | boolean;
}

function defaultRunName(dataset: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  return `runs/${dataset}-${stamp}`;
}

async function runFromFlags(
  flags: RunFlags,
  methods: string[],
  context: ProgramContext,
  command: 'compare' | 'train',
): Promise<void> {
  const fromFile = flags.config ? await readConfigFile(flags.config) : {};
  const dataset = flags.dataset ?? (fromFile['dataset'] as string | undefined) ?? 'av-mnist';
  const config = resolveCompareConfig(
    {
      dataset,
      methods: methods.length ? methods : undefined,
      seeds: flags.seeds,
      seed0: flags.seed,
      preset: flags.preset,
      epochs: flags.epochs,
      batchSize: flags.batchSize,
      backend: flags.backend,
      threads: flags.threads,
      out: flags.out ?? (fromFile['out'] as string | undefined) ?? defaultRunName(dataset),
      resume: flags.resume,
      overwrite: flags.overwrite,
      probe: flags.probe === false ? false : undefined,
      jobs: flags.jobs,
      queue: flags.queue === undefined ? undefined : resolveQueueUrl(flags.queue, '--queue'),
      ...(flags.fsddDir
        ? {
            datasetOptions: {
              ...((fromFile['datasetOptions'] as object) ?? {}),
              fsddDir: flags.fsddDir,
            },
          }
        : {}),
    },
    { seeds: 1, preset: 'quick', backend: 'auto', ...fromFile },
    flags.config ? `${flags.config} + command line` : 'command line',
  );
  if (flags.dryRun) {
    // No data, no training: the plan from the config alone, and the runs at once as a fresh
    // start would decide them (--backend auto: which backend it would take; see jobs.ts).
    const { dryRun, formatDryRun } = await import('./dry-run');
    const { decideJobs } = await import('./jobs');
    const runs = dryRun(config);
    const jobs = config.queue ? undefined : await decideJobs(config, runs.runs.length);
    const plan = jobs ? { ...runs, jobs: jobs.jobs } : runs;
    process.stdout.write(
      flags.json ? `${JSON.stringify(plan, null, 2)}\n` : `${formatDryRun(plan, jobs)}\n`,
    );
    return;
  }
  const { exitCodeOfSignal, runComparison } = await import('./compare');
  const result = await runComparison(config, {
    resumeCommand: resumeCommandOf(context.argv, config.out),
    format: flags.json ? 'json' : 'text',
    command,
  });
  if (result.status === 'aborted') context.exitCode = exitCodeOfSignal(result.stoppedBy);
  if (result.failures?.length) {
    throw new RunsFailedError(result.failures, result.summary.runs.length + result.failures.length);
  }
}

/**
 * How many runs the comparison in `dir` planned (from the config.json it was started with), or
 * undefined when that cannot be told (no config.json, or a plan this version cannot rebuild).
 */
async function plannedRunCount(dir: string): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const { planRuns } = await import('./plan');
  try {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    return planRuns(config).length;
  } catch {
    return undefined;
  }
}

/**
 * `igm train --method <name>`: one method. Checked in the action (not as a required option), so
 * that a mistyped flag (`--methods`) is reported as the unknown option it is.
 */
function trainMethod(method: string | undefined): string {
  if (method === undefined || method.trim() === '') {
    throw new Error(
      'igm train needs --method <name>, e.g. --method igm (igm methods lists them); igm compare --methods a,b trains several.',
    );
  }
  if (method.includes(',')) {
    throw new Error(
      `--method ${method}: igm train trains one method; use igm compare --methods ${method} for several.`,
    );
  }
  return method.trim();
}

function addRunOptions(cmd: Command): Command {
  return cmd
    .option(
      '--dataset <name>',
      `dataset: ${COMPARE_DATASETS.join(', ')} (default av-mnist; Twitter-2015, Sarcasm and NVGesture: library loaders only, see igm data --help)`,
    )
    .option(
      '--seed <n>',
      'first seed, an integer >= 0 (seeds are seed, seed+1, ...; default 0)',
      firstSeed,
    )
    .addOption(new Option('--preset <name>', 'hyper-parameter preset').choices([...PRESETS]))
    .option('--config <file>', 'JSON or YAML file with any of these options (flags win)')
    .option(
      '--epochs <n>',
      'epoch budget: every modality trains >= n epochs in every method (joint-training methods: n epochs, epoch windows scaled with them; IGM, ReconBoost: their stage pattern scaled, e.g. IGM [25, 50] x 6 -> [1, 2] for n = 1). Learning-rate steps stay as given. Check with --dry-run',
      integer('--epochs'),
    )
    .option(
      '--batch-size <n>',
      'training batch size (overrides the preset)',
      integer('--batch-size'),
    )
    .addOption(
      new Option(
        '--backend <name>',
        'tfjs backend; auto tries tfjs-node-gpu, tfjs-node, wasm, cpu',
      ).choices([...BACKEND_REQUESTS]),
    )
    .option(
      '--threads <n>',
      'wasm threads: a count, or auto for every core (default 1)',
      threadCount,
    )
    .option(
      '--out <dir>',
      'run directory (default runs/<dataset>-<time>); a non-empty one needs --resume or --overwrite',
    )
    .option(
      '--resume',
      'continue the comparison in --out: reuse finished runs, continue interrupted ones from their last checkpoints. The options that decide results must be those it was started with (else an error names each one)',
    )
    .option(
      '--overwrite',
      'replace the comparison already in --out (only a folder written by igm compare/train)',
    )
    .option('--fsdd-dir <dir>', 'folder with the FSDD recordings (default $FSDD_DIR)')
    .option(
      '--no-probe',
      'skip the linear probe of the encoders and the unimodal reference runs (no utilization)',
    )
    .option(
      '--dry-run',
      'print the resolved plan (methods, seeds, epochs, stages per modality) and exit: no data, no training',
    )
    .option(
      '--json',
      'print the final results table as JSON on stdout (with --dry-run: the plan); progress and messages stay on stderr',
    )
    .option(
      '--jobs <n>',
      'runs at once on this machine, each in its own process with --threads wasm threads (default auto: on wasm and cpu, as many as the cores allow, cores / --threads, at most the runs to go, capped by memory when resuming; 1 on tfjs-node(-gpu), which use every core or the GPU themselves; the first line says what was decided). 1: one after another in the igm process',
      jobCount,
    )
    .option(
      '--queue [url]',
      'enqueue the runs on Redis for igm workers: redis://[:password@]host:port[/db] or rediss:// (TLS); without a URL, $IGM_REDIS_URL',
    );
}

export function buildProgram(
  context: ProgramContext = { argv: process.argv, exitCode: 0 },
): Command {
  const program = new Command('igm')
    .description(
      'Balanced multimodal learning on TensorFlow.js: IGM and the modality-imbalance baselines.',
    )
    .version(VERSION, '-v, --version', 'print the version of igm (@igm/cli)')
    .showHelpAfterError('(igm <command> --help lists the options)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Exit codes: 0 done; 1 bad input or failed runs (named); 130 stopped by Ctrl-C, 143 by
SIGTERM (it prints the command that continues).`,
    );

  addRunOptions(
    program
      .command('compare')
      .description('train several methods x seeds on one dataset and write a report')
      .option('--methods <list>', 'comma-separated methods', list)
      .option('--seeds <n>', 'number of seeds', integer('--seeds')),
  )
    .addHelpText(
      'after',
      `
Examples:
  igm compare --dataset av-mnist --methods joint,ogm-ge,pmr,agm,mla,igm --seeds 3
  igm compare --dataset synthetic --methods joint,igm --epochs 4 --backend wasm --out runs/smoke
  igm compare --config compare.yaml --resume --out runs/avmnist-1
  igm compare --dataset crema-d --preset paper --methods joint,igm --epochs 1 --dry-run --json
  igm compare --dataset synthetic --methods joint,igm --epochs 2 --json > results.json
  igm compare --dataset synthetic --methods joint,igm --seeds 4 --jobs 2
  IGM_REDIS_URL=redis://:PASSWORD@10.0.0.5:6379 igm compare --methods joint,igm --seeds 5 --queue --out /shared/runs/grid-1

A config file can define labelled variants, usable in --methods (the IGM ablation):
  variants:
    igm-no-projection: { method: igm, options: { tau: 0 } }          # T = I exactly
    igm-no-sam-no-projection: { method: igm-no-sam, options: { tau: 0 } }
    igm-poe: { method: igm, options: { fusion: sum-log-softmax } }   # departure from the official fusion
  methods: [igm, igm-no-sam, igm-no-projection, igm-no-sam-no-projection]`,
    )
    .action(async (flags: RunFlags) =>
      runFromFlags(flags, flags.methods ?? [], context, 'compare'),
    );

  addRunOptions(
    program
      .command('train')
      .description('train one method (one seed unless --seeds) and write a report')
      .option('--method <name>', 'the method to train, e.g. igm (igm methods lists them)')
      .option('--seeds <n>', 'number of seeds', integer('--seeds')),
  )
    .addHelpText('after', '\nExamples:\n  igm train --method igm --dataset av-mnist --epochs 8\n')
    .action(async (flags: RunFlags) =>
      runFromFlags(flags, [trainMethod(flags.method)], context, 'train'),
    );

  program
    .command('methods')
    .description('list the methods, their options, defaults and meaning')
    .argument('[name...]', 'only these methods (e.g. igm mla)')
    .option(
      '--json',
      'print them as JSON (name, description, modalities, budget, options, jsonSchema)',
    )
    .addHelpText(
      'after',
      `
Options go into a --config file as methodOptions: { <method>: { <option>: value } } or as a
variant (variants: { <label>: { method, options } }).

Examples:
  igm methods
  igm methods igm --json`,
    )
    .action(async (names: string[], flags: { json?: boolean }) => {
      const { describeMethodsJson, formatMethods } = await import('./methods');
      process.stdout.write(
        flags.json
          ? `${JSON.stringify(describeMethodsJson(names), null, 2)}\n`
          : `${formatMethods(names)}\n`,
      );
    });

  program
    .command('report')
    .description('rebuild report.md and report.html of a run directory')
    .argument('<dir>', 'run directory, e.g. runs/av-mnist-2026-11-27T10-00-00')
    .option('--json', 'print the results table as JSON (the shape of igm compare --json)')
    .addHelpText('after', '\nExample:\n  igm report runs/avmnist-1\n')
    .action(async (dir: string, flags: { json?: boolean }) => {
      const {
        buildResultsTable,
        printedColumns,
        readRunDirectory,
        tableToJson,
        tableToText,
        writeReport,
      } = await import('./report');
      const { markdown, html } = await writeReport(dir);
      const { summary } = await readRunDirectory(dir);
      const table = buildResultsTable(summary);
      const columns = printedColumns(table);
      const planned = await plannedRunCount(dir);
      const failures = (summary.failures ?? []).map((f) => ({ ...f, attempts: f.attempts ?? 1 }));
      const incomplete = planned !== undefined && summary.runs.length + failures.length < planned;
      if (incomplete) {
        process.stderr.write(
          `igm: ${dir} holds ${summary.runs.length} of the ${planned} planned runs (the comparison was stopped, or some runs failed); the table and report show those. The command that started it, with --resume, continues it.\n`,
        );
      }
      if (failures.length) {
        process.stderr.write(
          `igm: ${failures.length} run${failures.length === 1 ? '' : 's'} of ${dir} failed (${failures.map((f) => `${f.method} seed ${f.seed}`).join(', ')}); the report lists them.\n`,
        );
      }
      if (flags.json) {
        const json = tableToJson(table, columns, {
          dataset: summary.dataset,
          datasetLabel: summary.datasetLabel,
          backend: summary.backend,
          out: dir,
          report: html,
          status: incomplete ? 'incomplete' : failures.length ? 'failed' : 'completed',
          failures,
        });
        process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
      } else {
        process.stdout.write(`${tableToText(table, columns)}\n\n${markdown}\n${html}\n`);
      }
    });

  program
    .command('worker')
    .description(
      'run the jobs of queued comparisons (igm compare --queue) on this machine, until Ctrl-C',
    )
    .option(
      '--queue <url>',
      'Redis URL, redis://[:password@]host:port[/db] (default $IGM_REDIS_URL)',
    )
    .option(
      '--concurrency <n>',
      'runs at once, each in its own process (default 1)',
      integer('--concurrency'),
    )
    .option(
      '--threads <n>',
      "wasm threads per run: a count, or auto (cores / concurrency); default: the comparison's --threads",
      threadCount,
    )
    .option(
      '--stall-timeout <seconds>',
      "seconds after which a dead worker's run goes to another worker (default 30)",
      seconds('--stall-timeout'),
    )
    .addHelpText(
      'after',
      `
The runs are written into the comparison's --out folder, which must be storage that every worker
and the machine running igm compare see at the same path (a shared volume, e.g. NFS).

Examples:
  igm worker --queue redis://10.0.0.5:6379 --concurrency 2
  IGM_REDIS_URL=redis://:PASSWORD@10.0.0.5:6379 igm worker --concurrency 4 --threads 1
`,
    )
    .action(
      async (flags: {
        queue?: string;
        concurrency?: number;
        threads?: number | 'auto';
        stallTimeout?: number;
      }) => {
        const url = resolveQueueUrl(flags.queue, '--queue');
        const { runWorker } = await import('./grid/worker');
        await runWorker({
          url,
          ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
          ...(flags.threads ? { threads: flags.threads } : {}),
          ...(flags.stallTimeout ? { stallTimeout: flags.stallTimeout } : {}),
        });
      },
    );

  const data = program
    .command('data')
    .description('prepare or describe a dataset')
    .addHelpText(
      'after',
      `
Datasets: ${COMPARE_DATASETS.join(', ')} (also in igm compare/train), and twitter-2015, sarcasm,
nvgesture: their loaders read precomputed features (--root <dir>; see the @igm/datasets README);
igm compare does not offer them (no presets or encoders for those features here). Load them in
code with twitter2015(), sarcasm(), nvGesture() from @igm/datasets.`,
    );
  data
    .command('prepare')
    .argument('<dataset>', 'dataset name')
    .option(
      '--fsdd-dir <dir>',
      'folder with the FSDD recordings (default $FSDD_DIR; with neither, av-mnist and av-mnist-imbalanced download them into the cache, pinned commit, SHA-256 checked)',
    )
    .option('--root <dir>', 'dataset root folder (benchmark datasets)')
    .description('run and cache the preprocessing')
    .addHelpText(
      'after',
      '\nExamples:\n  igm data prepare av-mnist --fsdd-dir ./free-spoken-digit-dataset/recordings\n  igm data prepare av-mnist        # no FSDD_DIR: downloads the recordings (27 MB) into the cache\n',
    )
    .action(async (name: string, flags: { fsddDir?: string; root?: string }) => {
      const { prepareDataset } = await import('./data');
      await prepareDataset(name, flags);
    });
  data
    .command('info')
    .argument('<dataset>', 'dataset name')
    .option('--fsdd-dir <dir>', 'folder with the FSDD recordings (default $FSDD_DIR)')
    .option('--root <dir>', 'dataset root folder (benchmark datasets)')
    .description('print modalities, classes and split sizes')
    .addHelpText('after', '\nExample:\n  igm data info av-mnist\n')
    .action(async (name: string, flags: { fsddDir?: string; root?: string }) => {
      const { describeDatasetByName } = await import('./data');
      process.stdout.write(`${await describeDatasetByName(name, flags)}\n`);
    });
  return program;
}

/** Runs the CLI; returns the exit code (errors print one clear line, no stack). */
export async function main(argv: readonly string[] = process.argv): Promise<number> {
  const context: ProgramContext = { argv, exitCode: 0 };
  const program = buildProgram(context);
  try {
    await program.parseAsync([...argv]);
    return context.exitCode;
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string; name?: string };
    if (err.code?.startsWith('commander.')) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version'
        ? 0
        : (err.exitCode ?? 1);
    }
    const known = e instanceof ConfigError || /Error$/.test(err.name ?? '');
    process.stderr.write(`igm: ${maskSecrets(err.message ?? String(e))}\n`);
    if (!known || process.env['IGM_DEBUG'])
      process.stderr.write(`${maskSecrets((e as Error).stack ?? '')}\n`);
    return 1;
  }
}
