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
 * With `probe` (default), every seed also needs the `unimodal` run (the encoders trained on one
 * modality alone, the reference of the utilization measure): if `methods` does not list it, the
 * plan adds it with `role: 'probe-reference'`.
 */

import {
  type BudgetPlan,
  getMethod,
  methods,
  planBudget,
  preset,
  scaleBudget,
} from '@igm/baselines';
import { checkKnownKeys } from '@igm/core';
import { DATASET_NAMES, type DatasetName, datasetModalities } from '@igm/datasets';
import { type CompareConfig, ConfigError } from './config';
import { UTILIZATION_REFERENCE } from './report/utilization';
import { PRESET_OF_DATASET, quickBudget, quickSettings } from './setups';

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

/** The preset file of `dataset`, or an error listing the datasets that have one. */
export function presetOfDataset(dataset: string): string {
  const name = PRESET_OF_DATASET[dataset];
  if (!name) {
    throw new Error(
      `No method presets for dataset "${dataset}". Datasets with presets: ${Object.keys(PRESET_OF_DATASET).join(', ')}.`,
    );
  }
  return name;
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

/** Checks every variant: a new label, a registered method, option keys the method accepts. */
export function checkVariants(config: Pick<CompareConfig, 'variants'>): void {
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
    checkKnownKeys(`${where}.options`, v.options, getMethod(v.method).options);
  }
}

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
  const batchSize =
    config.batchSize ?? (quick ? 64 : ((options['batchSize'] as number | undefined) ?? 64));
  delete options['batchSize'];
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
export function planRuns(config: CompareConfig): RunSpec[] {
  checkVariants(config);
  for (const m of config.methods) methodOf(config, m); // unknown names fail before any work
  presetOfDataset(config.dataset);
  modalitiesOf(config);
  const seeds = Array.from({ length: config.seeds }, (_, i) => config.seed0 + i);
  const runs = config.methods.flatMap((method) =>
    seeds.map((seed) => resolveRun(config, method, seed)),
  );
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
