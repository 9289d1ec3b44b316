/**
 * The plan of a comparison: one fully resolved `RunSpec` per (method, seed), computed from the
 * config alone (no data, no backend). Local runs, parallel runs and queued runs all execute the
 * same specs, so a run is reproducible from its spec.
 *
 * A run's options, in order (later wins):
 *   1. the method's preset for the dataset (@igm/baselines presets);
 *   2. quick preset only: its optimizer settings (`quickSettings`);
 *   3. a variant's options (config `variants`: a label that runs a registered method with options);
 *   4. the epoch budget, when the quick preset or `epochs` asks for one: the method's own budget
 *      hook scales its options so that every modality trains >= N epochs (`scaleBudget`);
 *   5. `methodOptions[<name as listed in methods>]`, as given (not scaled).
 *
 * Batch size: `batchSize` (--batch-size), else 64 under the quick preset, else the paper preset's:
 * the method's own (IGM's reference 12) or the preset file's (see presetBatchSize).
 *
 * The plan checks the config before any work: the dataset is offered, no method is listed twice,
 * variants and `methodOptions` name registered methods (or variant labels) and their option
 * values pass the method's schema.
 *
 * With `probe` (default), every seed also needs the `unimodal` run (the encoders trained on one
 * modality alone, the reference of the utilization measure): if `methods` does not list it, the
 * plan adds it with `role: 'probe-reference'`.
 */

import {
  type BudgetPlan,
  getMethod,
  methods,
  methodWhere,
  planBudget,
  preset,
  presetBatchSize,
  scaleBudget,
} from '@igm/baselines';
import { DATASET_NAMES, type DatasetName, datasetModalities } from '@igm/datasets';
import { type CompareConfig, ConfigError } from './config';
import { COMPARE_DATASETS, LIBRARY_ONLY_DATASETS, PRESET_OF_DATASET } from './offered-datasets';
import { UTILIZATION_REFERENCE } from './report/utilization';
import { quickBudget, quickSettings } from './setups';

/** The method every seed's utilization is divided by (the encoders trained alone). */
export const PROBE_REFERENCE_METHOD = UTILIZATION_REFERENCE;

/** One run of a comparison, with everything it needs except the data and the backend. */
export interface RunSpec {
  /** The name the run is listed, stored and reported under: a method or a variant label. */
  readonly method: string;
  /** The registered method that trains it (`method` itself unless that is a variant label). */
  readonly baseMethod: string;
  readonly seed: number;
  /** The method's options, resolved as the module doc says. */
  readonly options: Record<string, unknown>;
  readonly batchSize: number;
  /** 'probe-reference': added by the plan as the reference of the utilization measure. */
  readonly role?: 'probe-reference';
}

/**
 * The preset file of `dataset`, or an error: for a dataset the library loads but comparisons do
 * not offer (no presets, no encoders for its features), where to load it instead.
 */
export function presetOfDataset(dataset: string): string {
  const name = Object.hasOwn(PRESET_OF_DATASET, dataset) ? PRESET_OF_DATASET[dataset] : undefined;
  if (name) return name;
  const loader = Object.hasOwn(LIBRARY_ONLY_DATASETS, dataset)
    ? LIBRARY_ONLY_DATASETS[dataset]
    : undefined;
  if (loader) {
    throw new ConfigError(
      `--dataset ${dataset}: igm compare and igm train do not offer it (no method presets or encoders for its precomputed features here). ` +
        `It is available through the library loader ${loader} of @igm/datasets and igm data info ${dataset} --root <dir> (see the @igm/datasets README). ` +
        `Datasets for igm compare: ${COMPARE_DATASETS.join(', ')}.`,
    );
  }
  throw new ConfigError(
    `Unknown dataset "${dataset}". Datasets for igm compare: ${COMPARE_DATASETS.join(', ')}.`,
  );
}

/** Modality names of the config's dataset, in dataset order, without loading it. */
export function modalitiesOf(config: Pick<CompareConfig, 'dataset' | 'datasetOptions'>): string[] {
  if (!(DATASET_NAMES as readonly string[]).includes(config.dataset)) {
    throw new Error(
      `Unknown dataset "${config.dataset}". Valid datasets: ${DATASET_NAMES.join(', ')}.`,
    );
  }
  return datasetModalities(config.dataset as DatasetName, config.datasetOptions as never);
}

/** The registered method behind `name` (a method, or a variant label) and the variant's options. */
export function methodOf(
  config: Pick<CompareConfig, 'variants'>,
  name: string,
): { baseMethod: string; variantOptions: Record<string, unknown> } {
  const variant = Object.hasOwn(config.variants, name) ? config.variants[name] : undefined;
  if (!variant) {
    getMethod(name); // unknown names: an error listing the methods
    return { baseMethod: name, variantOptions: {} };
  }
  return { baseMethod: variant.method, variantOptions: variant.options };
}

/**
 * `options` over `base` (the preset's options, which supply required ones such as IGM's
 * epochList) checked by `method`'s schema; an error names the options by `where` (a config path).
 */
function checkOptionValues(
  method: string,
  options: Record<string, unknown>,
  where: string,
  base: Record<string, unknown> = {},
): void {
  try {
    getMethod(method).parseOptions({ ...base, ...options });
  } catch (e) {
    const prefix = `${methodWhere(method)}: `;
    const lines = (e as Error).message
      .split('\n')
      .map((line) => (line.startsWith(prefix) ? line.slice(prefix.length) : line));
    throw new ConfigError(`${where}: ${lines.join(`\n${where}: `)}`);
  }
}

/** The preset options of `method` for the config's dataset (the base of option checks). */
function presetOptions(config: Pick<CompareConfig, 'dataset'>, method: string) {
  return preset(presetOfDataset(config.dataset), method);
}

/**
 * Checks every variant: a new label, a registered method, and options that method's schema
 * accepts (keys and values).
 */
export function checkVariants(config: Pick<CompareConfig, 'variants' | 'dataset'>): void {
  for (const [label, v] of Object.entries(config.variants)) {
    const where = `variants["${label}"]`;
    if (Object.hasOwn(methods, label)) {
      throw new ConfigError(
        `${where}: "${label}" is a registered method; give the variant a label of its own (e.g. "${label}-custom").`,
      );
    }
    if (!Object.hasOwn(methods, v.method)) {
      throw new ConfigError(
        `${where}: method "${v.method}" is not registered. Valid methods: ${Object.keys(methods).join(', ')}.`,
      );
    }
    checkOptionValues(v.method, v.options, `${where}.options`, presetOptions(config, v.method));
  }
}

/**
 * Checks `methodOptions`: every key names a registered method or a variant label (a typo such as
 * "mlaa" is an error, not silently ignored), and its options pass that method's schema.
 */
export function checkMethodOptions(
  config: Pick<CompareConfig, 'methodOptions' | 'variants' | 'dataset'>,
): void {
  for (const [name, options] of Object.entries(config.methodOptions)) {
    const where = `methodOptions["${name}"]`;
    const variant = Object.hasOwn(config.variants, name) ? config.variants[name] : undefined;
    if (!variant && !Object.hasOwn(methods, name)) {
      const labels = Object.keys(config.variants);
      throw new ConfigError(
        `${where}: "${name}" is neither a registered method nor a variant label. Valid methods: ${Object.keys(methods).join(', ')}${labels.length ? `; variants: ${labels.join(', ')}` : ''}.`,
      );
    }
    const method = variant?.method ?? name;
    checkOptionValues(method, options, where, {
      ...presetOptions(config, method),
      ...(variant?.options ?? {}),
    });
  }
}

/** Checks the method list: no name twice (a second copy would train the same seeds again). */
export function checkMethodList(config: Pick<CompareConfig, 'methods'>, flag = '--methods') {
  const seen = new Set<string>();
  const twice = config.methods.filter((m) => seen.has(m) || !seen.add(m));
  if (twice.length) {
    throw new ConfigError(
      `${flag} lists ${[...new Set(twice)].map((m) => `"${m}"`).join(', ')} more than once (${config.methods.join(',')}); each method runs once per seed: list it once (--seeds sets the seeds).`,
    );
  }
}

/** The training batch size of every method under the quick preset (unless --batch-size). */
export const QUICK_BATCH_SIZE = 64;

/** The epoch budget the config asks for: quick preset default or `epochs`; none for paper. */
export function budgetOf(config: Pick<CompareConfig, 'preset' | 'epochs' | 'dataset'>) {
  if (config.epochs !== undefined) return config.epochs;
  return config.preset === 'quick' ? quickBudget(config.dataset) : undefined;
}

/** The resolved options and batch size of `method` (a method or a variant label) under `config`. */
export function resolveRun(config: CompareConfig, method: string, seed: number): RunSpec {
  const quick = config.preset === 'quick';
  const { baseMethod, variantOptions } = methodOf(config, method);
  let options = preset(presetOfDataset(config.dataset), baseMethod, {
    ...(quick ? quickSettings(baseMethod) : {}),
    ...structuredClone(variantOptions),
  });
  const budget = budgetOf(config);
  if (budget !== undefined) {
    options = scaleBudget(baseMethod, options, budget, modalitiesOf(config));
  }
  options = { ...options, ...(config.methodOptions[method] ?? {}) };
  // --batch-size, else 64 under the quick preset, else the preset's (the method's own, e.g.
  // IGM's reference 12, or the preset file's).
  const batchSize =
    config.batchSize ??
    (quick ? QUICK_BATCH_SIZE : presetBatchSize(presetOfDataset(config.dataset), baseMethod));
  return { method, baseMethod, seed, options, batchSize };
}

/** The epochs and stages `spec` will train for (see @igm/baselines budget.ts). */
export function planOfRun(
  spec: RunSpec,
  config: Pick<CompareConfig, 'dataset' | 'datasetOptions'>,
): BudgetPlan {
  return planBudget(spec.baseMethod, spec.options, modalitiesOf(config));
}

/**
 * Every run of `config`, method-major (all seeds of the first method first), then the probe
 * reference runs the config needs (see the module doc).
 */
export function planRuns(config: CompareConfig, methodsFlag = '--methods'): RunSpec[] {
  presetOfDataset(config.dataset);
  checkMethodList(config, methodsFlag);
  checkVariants(config);
  for (const m of config.methods) methodOf(config, m); // unknown names fail before any work
  checkMethodOptions(config);
  modalitiesOf(config);
  const seeds = Array.from({ length: config.seeds }, (_, i) => config.seed0 + i);
  const runs = config.methods.flatMap((method) =>
    seeds.map((seed) => resolveRun(config, method, seed)),
  );
  // The resolved options as a whole (preset, budget and overrides together).
  for (const spec of runs.filter((r) => r.seed === config.seed0)) {
    checkOptionValues(spec.baseMethod, spec.options, `${spec.method} (its resolved options)`);
  }
  if (config.probe && !config.methods.includes(PROBE_REFERENCE_METHOD)) {
    for (const seed of seeds) {
      runs.push({
        ...resolveRun(config, PROBE_REFERENCE_METHOD, seed),
        role: 'probe-reference',
      });
    }
  }
  return runs;
}
