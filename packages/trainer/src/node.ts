/**
 * The Node entry of @igm/trainer (`@igm/trainer/node`, and `@igm/trainer` itself in Node through
 * the `node` export condition): everything of the main entry, plus the file-system storage, with
 * a `runTraining` that writes `outDir` and `checkpoint.dir` on disk.
 */

import { fileSystemCheckpoints, fileSystemRecords } from './node/file-system';
import { type RunOptions, type RunSummary, runTrainingWith } from './run';

export * from './index';
export {
  fileSystemCheckpoints,
  fileSystemRecords,
  fileSystemStorage,
  readCheckpoint,
  removeDeadCheckpointTemps,
  writeCheckpoint,
  writeFileAtomic,
} from './node/file-system';

const fileSystem = { records: fileSystemRecords, checkpoints: fileSystemCheckpoints };

/**
 * Trains `model` with `step` and `transform` (the loop: see the module doc of run.ts and the
 * package README). Records go to `outDir` (config.json, metrics.jsonl, summary.json) and
 * checkpoints to `checkpoint.dir` (`last/`, `best/`, written atomically), or both to `storage`.
 */
export function runTraining(options: RunOptions): Promise<RunSummary> {
  return runTrainingWith(options, fileSystem);
}
