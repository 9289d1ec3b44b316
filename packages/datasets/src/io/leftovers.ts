/**
 * The temporary names this package makes (staging folders, atomic-write temps, write probes)
 * carry their owner (`ownerSuffix()` of @igm/temp-files), so the leftovers of a killed process
 * can be removed without touching the work of a live one.
 */
import { removeDeadLeftovers as removeDead } from '@igm/temp-files';

export { ownerSuffix } from '@igm/temp-files';

/** The temporary names this package makes: staging folders, atomic-write temps, write probes. */
export function isTemporaryName(name: string): boolean {
  return name.startsWith('.staging-') || name.startsWith('.write-test-') || name.includes('.tmp-');
}

/**
 * Removes the temporary entries of `dir` (see `isTemporaryName`) that a dead process of this
 * host left behind; returns their names. A missing folder removes nothing.
 */
export function removeDeadLeftovers(dir: string): Promise<string[]> {
  return removeDead(dir, isTemporaryName);
}
