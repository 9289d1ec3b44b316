/** Reading a run folder from the tests while its process may still be writing it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The last epoch checkpointed in a run folder, or -1 (none yet, or being renamed into place). */
export function lastCheckpointEpoch(runDir: string): number {
  try {
    const state = JSON.parse(
      readFileSync(join(runDir, 'checkpoints', 'last', 'state.json'), 'utf8'),
    );
    return state.position.globalEpoch as number;
  } catch {
    return -1;
  }
}
