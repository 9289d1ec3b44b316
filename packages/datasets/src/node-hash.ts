/**
 * SHA-256 through node:crypto, for the Node-only modules that hash large files (cache entries,
 * the FSDD download): the same digests as hash.ts's pure `sha256`, several times faster.
 */
import { createHash } from 'node:crypto';

/** SHA-256 of bytes or a string (UTF-8), as lowercase hex. */
export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
