/**
 * `igm compare` / `igm train` configuration: command-line flags and an optional JSON/YAML file
 * merged into one object and validated with a schema, so unknown keys and bad values are errors
 * that name them. The resolved config is saved with each run.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BACKEND_REQUESTS } from './backend';

export const PRESETS = ['quick', 'paper'] as const;

export const compareConfigSchema = z
  .object({
    dataset: z.string().min(1),
    methods: z.array(z.string().min(1)).min(1),
    seeds: z.number().int().min(1).max(100),
    /** First seed; seeds are seed0, seed0 + 1, ... */
    seed0: z.number().int().min(0).default(0),
    preset: z.enum(PRESETS),
    epochs: z.number().int().min(1).optional(),
    batchSize: z.number().int().min(1).optional(),
    backend: z.enum(BACKEND_REQUESTS as unknown as [string, ...string[]]),
    /** wasm threads: a count, or 'auto' for every core (see selectBackend). */
    threads: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default(1),
    out: z.string().min(1),
    /** Continue the comparison in `out` (same options, checked against its config.json). */
    resume: z.boolean().default(false),
    /** Replace the comparison in a non-empty `out` (an igm comparison folder only). */
    overwrite: z.boolean().default(false),
    /**
     * Runs at once on this machine, each in its own process above 1 ('auto', the default: decided
     * from the backend, the cores and --threads; see jobs.ts). 1: one after another in-process.
     */
    jobs: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default('auto'),
    /** Redis URL of the job queue (runs go to `igm worker`s); its password is never saved. */
    queue: z
      .string()
      .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
      .optional(),
    /**
     * Options handed to the dataset loader, as its options type names them: e.g. for av-mnist
     * { fsddDir, seed, image: { pcaEnergyRemoved }, audio: { snrDb } }, for crema-d { root }.
     */
    datasetOptions: z.record(z.string(), z.unknown()).default({}),
    /** Per-method option overrides, validated by each method's own schema. */
    methodOptions: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
    /**
     * Methods run under a label with options, usable in `methods` (e.g. the IGM ablation:
     * { "igm-no-projection": { "method": "igm", "options": { "tau": 0 } } }). See plan.ts.
     */
    variants: z
      .record(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.+-]*$/, 'a label of letters, digits and _ . + -'),
        z
          .object({
            method: z.string().min(1),
            options: z.record(z.string(), z.unknown()).default({}),
          })
          .strict(),
      )
      .default({}),
    /**
     * Linear probe of every modality's encoder after training, and the unimodal reference runs
     * it is divided by (utilization); see plan.ts.
     */
    probe: z.boolean().default(true),
    /** Select checkpoints on this split and metric. */
    selection: z
      .object({ split: z.enum(['validation', 'test']), metric: z.enum(['macroF1', 'accuracy']) })
      .strict()
      .default({ split: 'validation', metric: 'macroF1' }),
  })
  .strict();

export type CompareConfig = z.infer<typeof compareConfigSchema>;

/**
 * The command-line flag of each config key (`methods` is `--method` under `igm train`), so that
 * messages name what the user typed.
 */
export const FLAG_OF_KEY: Readonly<Record<string, string>> = {
  dataset: '--dataset',
  methods: '--methods',
  seeds: '--seeds',
  seed0: '--seed',
  preset: '--preset',
  epochs: '--epochs',
  batchSize: '--batch-size',
  backend: '--backend',
  threads: '--threads',
  out: '--out',
  resume: '--resume',
  overwrite: '--overwrite',
  probe: '--no-probe',
  jobs: '--jobs',
  queue: '--queue',
  'datasetOptions.fsddDir': '--fsdd-dir',
};

/**
 * Formats zod issues as "field: message" lines naming the offending key and value. A key given
 * on the command line (`flagKeys`) is named by its flag (`--seed`), others by their config path.
 */
export function formatIssues(
  source: string,
  error: z.ZodError,
  flagKeys: ReadonlySet<string> = new Set(),
): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.join('.');
    const path = !issue.path.length
      ? '(root)'
      : flagKeys.has(String(issue.path[0])) && FLAG_OF_KEY[key]
        ? FLAG_OF_KEY[key]
        : key;
    if (issue.code === 'unrecognized_keys') {
      return `  ${path}: unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    }
    if (key === 'methods' && issue.code === 'invalid_type') {
      return `  ${path}: ${issue.message}; write a list of method names, e.g. methods: [joint, igm] (YAML) or "methods": ["joint", "igm"] (JSON)`;
    }
    return `  ${path}: ${issue.message}`;
  });
  return `Invalid configuration (${source}):\n${lines.join('\n')}`;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads a JSON or YAML config file; the error names the file and the parse problem. */
export async function readConfigFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`Cannot read config file ${path}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(
      `Config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const found = value === null ? 'nothing' : Array.isArray(value) ? 'a list' : typeof value;
    throw new ConfigError(
      `Config file ${path} holds ${found} at the top level; expected a mapping of option names to values (e.g. "dataset: synthetic" and "methods: [joint, igm]" on their own lines).`,
    );
  }
  return value as Record<string, unknown>;
}

/** Merges file values under command-line values (flags win) and validates the result. */
export function resolveCompareConfig(
  fromFlags: Record<string, unknown>,
  fromFile: Record<string, unknown> = {},
  source = 'command line',
): CompareConfig {
  const merged: Record<string, unknown> = { ...fromFile };
  const flagKeys = new Set<string>();
  for (const [k, v] of Object.entries(fromFlags)) {
    if (v === undefined) continue;
    merged[k] = v;
    flagKeys.add(k);
  }
  if (merged['methods'] === undefined) {
    throw new ConfigError(
      'No methods to run: give --methods, e.g. --methods joint,igm (igm methods lists them), or "methods:" in a --config file.',
    );
  }
  const parsed = compareConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(formatIssues(source, parsed.error, flagKeys));
  if (parsed.data.resume && parsed.data.overwrite) {
    throw new ConfigError(
      '--resume and --overwrite exclude each other: --resume continues the comparison in --out, --overwrite replaces it.',
    );
  }
  return parsed.data;
}

/**
 * The config keys that decide a comparison's results: `--resume` refuses to continue when one
 * of them differs from the saved config.json. The others say how it runs (backend, threads, jobs,
 * queue), and may change between attempts.
 */
export const RESULT_KEYS = [
  'dataset',
  'methods',
  'seeds',
  'seed0',
  'preset',
  'epochs',
  'batchSize',
  'datasetOptions',
  'methodOptions',
  'variants',
  'probe',
  'selection',
] as const;

/**
 * Dataset options that say where the data is read from or how it is fetched, not what it is: a
 * resumed comparison may give other values (the data moved, another machine's FSDD_DIR).
 */
export function isDataLocationKey(key: string): boolean {
  return (
    /Dir$/.test(key) ||
    ['root', 'download', 'baseUrl', 'concurrency', 'progress', 'fetch'].includes(key)
  );
}

/** One option whose value differs between a saved comparison and the one asked for now. */
export interface ChangedOption {
  /** The config path (`epochs`, `methodOptions.igm.tau`). */
  readonly key: string;
  /** How the user gives it: a flag (`--epochs`) or the config path. */
  readonly name: string;
  readonly saved: unknown;
  readonly now: unknown;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

const same = (a: unknown, b: unknown) =>
  JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** The value a key takes when it is not given (schema default), for configs saved without it. */
function defaultOf(key: string): unknown {
  const field = (compareConfigSchema.shape as Record<string, z.ZodType>)[key];
  const absent = field?.safeParse(undefined);
  return absent?.success ? absent.data : undefined;
}

/**
 * The result-deciding options (RESULT_KEYS) that differ between `saved` (a comparison's
 * config.json) and `now`, one entry per leaf for the option maps (datasetOptions,
 * methodOptions, variants), data locations excepted. `command` 'train' names `methods` --method.
 */
export function changedOptions(
  saved: Record<string, unknown>,
  now: CompareConfig,
  command: 'compare' | 'train' = 'compare',
): ChangedOption[] {
  const changes: ChangedOption[] = [];
  const nameOf = (key: string) =>
    key === 'methods' && command === 'train' ? '--method' : (FLAG_OF_KEY[key] ?? key);
  for (const key of RESULT_KEYS) {
    const before = key in saved ? saved[key] : defaultOf(key);
    const after = (now as Record<string, unknown>)[key];
    if (key === 'datasetOptions' || key === 'methodOptions' || key === 'variants') {
      const a = (before ?? {}) as Record<string, unknown>;
      const b = (after ?? {}) as Record<string, unknown>;
      for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (key === 'datasetOptions' && isDataLocationKey(k)) continue;
        if (!same(a[k], b[k])) {
          changes.push({ key: `${key}.${k}`, name: `${key}.${k}`, saved: a[k], now: b[k] });
        }
      }
    } else if (!same(before, after)) {
      changes.push({ key, name: nameOf(key), saved: before, now: after });
    }
  }
  return changes;
}

/** How a value reads in a message ("not given" for undefined). */
export function showOption(value: unknown): string {
  if (value === undefined) return 'not given';
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(',');
  return typeof value === 'string' ? value : JSON.stringify(value);
}
