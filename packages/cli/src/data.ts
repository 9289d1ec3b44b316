/** `igm data prepare|info <dataset>`. */
import { describeDataset } from '@igm/datasets';
import { openDataset } from './compare';
import { FSDD_DATASETS, PROGRESS_DATASETS } from './setups';

/** How `igm data` takes a dataset's folder. */
const ROOT_HINT = '--root <dir>';

function options(
  name: string,
  flags: { fsddDir?: string; root?: string },
): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (flags.root) o['root'] = flags.root;
  if (FSDD_DATASETS.includes(name)) {
    const dir = flags.fsddDir ?? process.env['FSDD_DIR'];
    if (dir) o['fsddDir'] = dir;
  }
  if (PROGRESS_DATASETS.includes(name)) o['progress'] = true;
  return o;
}

/** Runs (and caches) the dataset's preprocessing, then prints its summary. */
export async function prepareDataset(
  name: string,
  flags: { fsddDir?: string; root?: string },
): Promise<void> {
  const started = Date.now();
  const ds = await openDataset(name, options(name, flags), ROOT_HINT);
  process.stdout.write(
    `${describeDataset(ds)}\nprepared in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}

export async function describeDatasetByName(
  name: string,
  flags: { fsddDir?: string; root?: string },
): Promise<string> {
  return describeDataset(await openDataset(name, options(name, flags), ROOT_HINT));
}
