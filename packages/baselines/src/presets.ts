/**
 * Presets: the reference hyper-parameters of every method per dataset, as plain JSON files in
 * `presets/` (shipped with the package: `@igm/baselines/presets/cremad.json`). Each entry has
 * `options` (what `createMethod` takes), `source` (where the values come from; [project]
 * marks the project's choices where no reference exists) and, when the method's reference
 * batch size differs from the file's `batchSize`, its own `batchSize` ({@link presetBatchSize}).
 *
 *   const opts = preset('cremad', 'ogm-ge', { epochs: 10 });   // overrides win, key by key
 *
 * Every file is checked when the package loads ({@link checkPresetFile}): its shape, and each
 * entry's options by the method's own schema, so an error names the file, the method, the option
 * and the bad value. The options are kept as written (defaults are applied by the method).
 */
import { IgmArgumentError, numberOption, parseOptions, parseOptionValue } from '@igm/core';
import { z } from 'zod';
import avMnist from '../presets/av-mnist.json';
import avMnistImbalanced from '../presets/av-mnist-imbalanced.json';
import cremad from '../presets/cremad.json';
import kineticsSounds from '../presets/kinetics-sounds.json';
import synthetic from '../presets/synthetic.json';
import { methods } from './methods';

export interface PresetEntry {
  readonly source: string;
  readonly options: Record<string, unknown>;
  /** The method's reference training batch size, when it differs from the file's (IGM: 12). */
  readonly batchSize?: number;
}

export interface PresetFile {
  readonly dataset: string;
  readonly description: string;
  /** The training batch size of every method without a `batchSize` of its own. */
  readonly batchSize: number;
  readonly methods: Record<string, PresetEntry>;
}

const presetFileSchema = z.strictObject({
  dataset: z.string({ error: 'the dataset name' }).min(1, { error: 'the dataset name' }),
  description: z.string({ error: 'a text' }),
  batchSize: numberOption({ min: 1, integer: true }),
  methods: z.record(
    z.string(),
    z.strictObject(
      {
        source: z.string({ error: 'where the values come from' }),
        options: z.record(z.string(), z.unknown(), { error: "an object of the method's options" }),
        batchSize: numberOption({ min: 1, integer: true }).optional(),
      },
      { error: '{ source, options, batchSize? }' },
    ),
    { error: 'an object of { source, options } by method name' },
  ),
});

/**
 * `file` (the JSON of a preset file called `name`) checked: its shape, every method registered,
 * and every entry's options accepted by that method's schema. Errors name the file, the method,
 * the option and the bad value.
 */
export function checkPresetFile(name: string, file: unknown): PresetFile {
  const where = `preset ${name}`;
  const checked = parseOptionValue(where, '', presetFileSchema, file);
  for (const [method, entry] of Object.entries(checked.methods)) {
    const info = Object.hasOwn(methods, method) ? methods[method] : undefined;
    if (!info) {
      throw new IgmArgumentError(
        `${where}: methods["${method}"] is not a registered method. Valid methods: ${Object.keys(methods).join(', ')}.`,
      );
    }
    parseOptions(`${where}, methods["${method}"].options`, info.schema, entry.options);
  }
  return checked;
}

/** Every shipped preset file by dataset name (checked when the package loads). */
export const presets: Record<string, PresetFile> = {
  cremad: checkPresetFile('cremad.json', cremad),
  'kinetics-sounds': checkPresetFile('kinetics-sounds.json', kineticsSounds),
  'av-mnist': checkPresetFile('av-mnist.json', avMnist),
  'av-mnist-imbalanced': checkPresetFile('av-mnist-imbalanced.json', avMnistImbalanced),
  synthetic: checkPresetFile('synthetic.json', synthetic),
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

/**
 * The training batch size of `method` in the preset of `dataset`: the entry's own `batchSize`
 * (IGM's reference 12 on CREMA-D and Kinetics-Sounds), else the file's `batchSize`.
 */
export function presetBatchSize(dataset: string, method: string): number {
  const file = presetFile(dataset);
  const entry = Object.hasOwn(file.methods, method) ? file.methods[method] : undefined;
  if (!entry) {
    throw new IgmArgumentError(
      `The ${dataset} preset has no method ${JSON.stringify(method)}. Methods: ${Object.keys(file.methods).join(', ')}.`,
    );
  }
  return entry.batchSize ?? file.batchSize;
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
