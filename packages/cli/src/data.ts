/** `igm data prepare|info <dataset>`. */
import { describeDataset } from '@igm/datasets';
import { openDataset } from './compare';
import { FSDD_DATASETS, PROGRESS_DATASETS } from './setups';

/** How `igm data` takes a dataset's folder. */
const ROOT_HINT = '--root <dir>';

/**
 * The loader options of `igm data <command> <name>`. `prepare` of an FSDD dataset with no
 * recordings folder (--fsdd-dir, FSDD_DIR) downloads the recordings into the cache (pinned
 * commit, SHA-256 checked), as the missing-recordings hint says; `info` never downloads.
 */
function options(
  name: string,
  flags: { fsddDir?: string; root?: string },
  command: 'prepare' | 'info',
): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (flags.root) o['root'] = flags.root;
  if (FSDD_DATASETS.includes(name)) {
    const dir = flags.fsddDir ?? process.env['FSDD_DIR'];
    if (dir) o['fsddDir'] = dir;
    else if (command === 'prepare') o['download'] = true;
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
  const ds = await openDataset(name, options(name, flags, 'prepare'), ROOT_HINT);
  process.stdout.write(
    `${describeDataset(ds)}\nprepared in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}

export async function describeDatasetByName(
  name: string,
  flags: { fsddDir?: string; root?: string },
): Promise<string> {
  return describeDataset(await openDataset(name, options(name, flags, 'info'), ROOT_HINT));
}
