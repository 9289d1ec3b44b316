/**
 * The plan of a comparison: one fully resolved `RunSpec` per (method, seed), computed from the
 * config alone (no data, no backend). Local runs, parallel runs and queued runs all execute the
 * same specs, so a run is reproducible from its spec.
 */
import { getMethod, preset } from '@igm/baselines';
import type { CompareConfig } from './config';
import { epochOverride, PRESET_OF_DATASET, quickOverrides } from './setups';

/** One run of a comparison, with everything it needs except the data and the backend. */
export interface RunSpec {
  readonly method: string;
  readonly seed: number;
  /** The method's options: preset, then the quick budget or `--epochs`, then `methodOptions`. */
  readonly options: Record<string, unknown>;
  readonly batchSize: number;
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

/** The resolved options and batch size of `method` under `config`. */
export function resolveRun(config: CompareConfig, method: string, seed: number): RunSpec {
  const quick = config.preset === 'quick';
  const overrides = {
    ...(quick ? quickOverrides(config.dataset, method, config.epochs) : {}),
    ...(!quick && config.epochs ? epochOverride(method, config.epochs) : {}),
    ...(config.methodOptions[method] ?? {}),
  };
  const options = preset(presetOfDataset(config.dataset), method, overrides);
  const batchSize =
    config.batchSize ?? (quick ? 64 : ((options['batchSize'] as number | undefined) ?? 64));
  delete options['batchSize'];
  return { method, seed, options, batchSize };
}

/** Every run of `config`, method-major (all seeds of the first method first). */
export function planRuns(config: CompareConfig): RunSpec[] {
  for (const m of config.methods) getMethod(m); // unknown names fail before any work
  presetOfDataset(config.dataset);
  const seeds = Array.from({ length: config.seeds }, (_, i) => config.seed0 + i);
  return config.methods.flatMap((method) => seeds.map((seed) => resolveRun(config, method, seed)));
}
