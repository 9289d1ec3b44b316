/**
 * Dataset names, their modalities from options alone, and `describeDataset` (the summary
 * `igm data info` prints): no file system, so they are part of the browser build. `loadDataset`
 * (registry.ts) is Node only.
 */
import { IgmArgumentError, type MultimodalDataset } from '@igm/core';
import type { AvMnistImbalancedOptions, AvMnistOptions } from './avmnist';
import { SPLITS, StreamingDataset } from './dataset';
import type { CremaDOptions } from './loaders/crema-d';
import type { KineticsSoundsOptions } from './loaders/kinetics-sounds';
import type { NvGestureOptions } from './loaders/nvgesture';
import type { SarcasmOptions } from './loaders/sarcasm';
import type { Twitter2015Options } from './loaders/twitter';
import { resolveModalities, type SyntheticOptions } from './synthetic';

export interface DatasetOptionsByName {
  synthetic: SyntheticOptions;
  'av-mnist': AvMnistOptions;
  'av-mnist-imbalanced': AvMnistImbalancedOptions;
  'crema-d': CremaDOptions;
  'kinetics-sounds': KineticsSoundsOptions;
  'twitter-2015': Twitter2015Options;
  sarcasm: SarcasmOptions;
  nvgesture: NvGestureOptions;
}

export type DatasetName = keyof DatasetOptionsByName;

export const DATASET_NAMES: readonly DatasetName[] = [
  'synthetic',
  'av-mnist',
  'av-mnist-imbalanced',
  'crema-d',
  'kinetics-sounds',
  'twitter-2015',
  'sarcasm',
  'nvgesture',
];

/** Modality names of the datasets whose modalities do not depend on options, in loader order. */
const FIXED_MODALITIES: Readonly<Record<string, readonly string[]>> = {
  'av-mnist': ['audio', 'visual'],
  'av-mnist-imbalanced': ['audio', 'visual'],
  'crema-d': ['audio', 'visual'],
  'kinetics-sounds': ['audio', 'visual'],
  'twitter-2015': ['text', 'image'],
  sarcasm: ['text', 'image'],
};

/**
 * The modality names of dataset `name` in the order the loaded dataset has them, from the name
 * and options alone: no file is read, nothing is downloaded or decoded (plans and dry runs use
 * it). Options that choose modalities are honoured (synthetic `modalities`, NVGesture
 * `modalities`). An unknown name is an error listing the valid ones.
 */
export function datasetModalities<N extends DatasetName>(
  name: N,
  options?: Partial<DatasetOptionsByName[N]>,
): string[] {
  const o = (options ?? {}) as Record<string, unknown>;
  if (name === 'synthetic') {
    return resolveModalities(o['modalities'] as SyntheticOptions['modalities']).map((m) => m.name);
  }
  if (name === 'nvgesture') {
    return [...((o['modalities'] as string[] | undefined) ?? ['rgb', 'depth', 'flow'])];
  }
  const fixed = FIXED_MODALITIES[name];
  if (!fixed) {
    throw new IgmArgumentError(
      `datasetModalities: received name=${JSON.stringify(name)}. Expected one of ${DATASET_NAMES.map((n) => JSON.stringify(n)).join(', ')}.`,
    );
  }
  return [...fixed];
}

/** A plain-text summary: modalities and shapes, classes, split sizes, and loader details. */
export function describeDataset(ds: MultimodalDataset): string {
  const lines = [`dataset: ${ds.name}`];
  const label = ds instanceof StreamingDataset ? ds.info['label'] : undefined;
  if (typeof label === 'string') lines.push(`  ${label}`);
  lines.push('modalities:');
  for (const m of ds.modalities) lines.push(`  ${m.name} (${m.kind}) [${m.shape.join(', ')}]`);
  const classes = ds.classNames;
  lines.push(
    `classes (${classes.length}): ${classes.length <= 12 ? classes.join(', ') : `${classes.slice(0, 10).join(', ')}, ...`}`,
  );
  lines.push(
    `splits: ${SPLITS.filter((s) => ds.splitSizes[s] !== undefined)
      .map((s) => `${s} ${ds.splitSizes[s]}`)
      .join(', ')}`,
  );
  if (ds instanceof StreamingDataset) {
    for (const [key, value] of Object.entries(ds.info)) {
      if (key === 'label' || value === undefined) continue;
      lines.push(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
    }
  }
  return lines.join('\n');
}
