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
    resume: z.boolean().default(false),
    /** Runs at once on this machine, each in its own process ('auto': one per core). */
    jobs: z.union([z.literal('auto'), z.number().int().min(1).max(256)]).default(1),
    /** Redis URL of the job queue (runs go to `igm worker`s); its password is never saved. */
    queue: z
      .string()
      .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
      .optional(),
    /** Options handed to the dataset loader (e.g. { root, fsddDir, pcaEnergyRemoved, snrDb }). */
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

/** Formats zod issues as "field: message" lines naming the offending key and value. */
export function formatIssues(source: string, error: z.ZodError): string {
  const lines = error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join('.') : '(root)';
    if (issue.code === 'unrecognized_keys') {
      return `  ${path}: unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
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
  try {
    const value = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new Error('expected a mapping of option names to values at the top level');
    }
    return value as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(
      `Config file ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`,
    );
  }
}

/** Merges file values under command-line values (flags win) and validates the result. */
export function resolveCompareConfig(
  fromFlags: Record<string, unknown>,
  fromFile: Record<string, unknown> = {},
  source = 'command line',
): CompareConfig {
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [k, v] of Object.entries(fromFlags)) if (v !== undefined) merged[k] = v;
  const parsed = compareConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(formatIssues(source, parsed.error));
  return parsed.data;
}
