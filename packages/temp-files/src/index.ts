/**
 * @igm/temp-files (Node.js): temporary files and folders named after the process that owns
 * them, so the leftovers of a killed process can be told from a live process's work and removed.
 */
export type { TempOwner } from './temp-files';
export {
  isDeadLeftover,
  isDeadOwner,
  ownerOf,
  ownerSuffix,
  processAlive,
  removeDeadLeftovers,
  thisHost,
} from './temp-files';
