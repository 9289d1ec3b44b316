/**
 * Presets: the reference hyper-parameters of every method per dataset, as plain JSON files in
 * `presets/` (shipped with the package: `@igm/baselines/presets/cremad.json`). Each entry has
 * `options` (what `createMethod` takes) and `source` (where the values come from; [project]
 * marks the project's choices where no reference exists).
 *
 *   const opts = preset('cremad', 'ogm-ge', { epochs: 10 });   // overrides win, key by key
 */
import { IgmArgumentError } from '@igm/core';
import avMnist from '../presets/av-mnist.json';
import avMnistImbalanced from '../presets/av-mnist-imbalanced.json';
import cremad from '../presets/cremad.json';
import kineticsSounds from '../presets/kinetics-sounds.json';
import synthetic from '../presets/synthetic.json';

export interface PresetEntry {
  readonly source: string;
  readonly options: Record<string, unknown>;
}

export interface PresetFile {
  readonly dataset: string;
  readonly description: string;
  readonly batchSize: number;
  readonly methods: Record<string, PresetEntry>;
}

/** Every shipped preset file by dataset name. */
export const presets: Record<string, PresetFile> = {
  cremad: cremad as PresetFile,
  'kinetics-sounds': kineticsSounds as PresetFile,
  'av-mnist': avMnist as PresetFile,
  'av-mnist-imbalanced': avMnistImbalanced as PresetFile,
  synthetic: synthetic as PresetFile,
};

/** The preset file of `dataset`, or an error listing the datasets with presets. */
export function presetFile(dataset: string): PresetFile {
  const p = Object.hasOwn(presets, dataset) ? presets[dataset] : undefined;
  if (!p) {
    throw new IgmArgumentError(
      `No preset for dataset ${JSON.stringify(dataset)}. Datasets with presets: ${Object.keys(
        presets,
      )
        .map((n) => JSON.stringify(n))
        .join(', ')}.`,
    );
  }
  return p;
}

/** The preset options of `method` on `dataset`, with `overrides` applied key by key. */
export function preset(
  dataset: string,
  method: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const file = presetFile(dataset);
  const entry = Object.hasOwn(file.methods, method) ? file.methods[method] : undefined;
  if (!entry) {
    throw new IgmArgumentError(
      `The ${dataset} preset has no method ${JSON.stringify(method)}. Methods: ${Object.keys(file.methods).join(', ')}.`,
    );
  }
  return { ...structuredClone(entry.options), ...overrides };
}
