/**
 * Which datasets `igm compare` and `igm train` offer (a light module: `igm --help` reads it).
 */

/** Preset files of @igm/baselines, by dataset name: the datasets igm compare and train offer. */
export const PRESET_OF_DATASET: Readonly<Record<string, string>> = {
  synthetic: 'synthetic',
  'av-mnist': 'av-mnist',
  'av-mnist-imbalanced': 'av-mnist-imbalanced',
  'crema-d': 'cremad',
  'kinetics-sounds': 'kinetics-sounds',
};

/** The datasets of igm compare and igm train (`--dataset`). */
export const COMPARE_DATASETS: readonly string[] = Object.keys(PRESET_OF_DATASET);

/**
 * Datasets @igm/datasets loads that comparisons do not offer, with their library loader: their
 * loaders read precomputed features (BERT, ResNet-50, I3D) that this project does not produce,
 * and no method has presets or encoders for them here. `igm data info` still reads them.
 */
export const LIBRARY_ONLY_DATASETS: Readonly<Record<string, string>> = {
  'twitter-2015': 'twitter2015()',
  sarcasm: 'sarcasm()',
  nvgesture: 'nvGesture()',
};
