/**
 * `loadDataset(name, options)`: one entry point for the CLI and configs (Node: most loaders read
 * folders). The names, `datasetModalities` and `describeDataset` are in describe.ts.
 */
import { IgmArgumentError } from '@igm/core';
import { avMnist, avMnistImbalanced } from './avmnist';
import type { StreamingDataset } from './dataset';
import { DATASET_NAMES, type DatasetName, type DatasetOptionsByName } from './describe';
import { cremaD } from './loaders/crema-d';
import { kineticsSounds } from './loaders/kinetics-sounds';
import { nvGesture } from './loaders/nvgesture';
import { sarcasm } from './loaders/sarcasm';
import { twitter2015 } from './loaders/twitter';
import { synthetic } from './synthetic';

export {
  DATASET_NAMES,
  type DatasetName,
  type DatasetOptionsByName,
  datasetModalities,
  describeDataset,
} from './describe';

/** Loads a dataset by name; an unknown name is an error listing the valid ones. */
export async function loadDataset<N extends DatasetName>(
  name: N,
  options?: DatasetOptionsByName[N],
): Promise<StreamingDataset> {
  const o = (options ?? {}) as never;
  switch (name as DatasetName) {
    case 'synthetic':
      return synthetic(o);
    case 'av-mnist':
      return avMnist(o);
    case 'av-mnist-imbalanced':
      return avMnistImbalanced(o);
    case 'crema-d':
      return cremaD(o);
    case 'kinetics-sounds':
      return kineticsSounds(o);
    case 'twitter-2015':
      return twitter2015(o);
    case 'sarcasm':
      return sarcasm(o);
    case 'nvgesture':
      return nvGesture(o);
    default:
      throw new IgmArgumentError(
        `loadDataset: received name=${JSON.stringify(name)}. Expected one of ${DATASET_NAMES.map((n) => JSON.stringify(n)).join(', ')}.`,
      );
  }
}
