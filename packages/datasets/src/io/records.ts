/**
 * Fixed-size float32 records in a flat little-endian file, read by index with positioned reads,
 * so a batch costs a few reads and the dataset is never loaded whole. Runs of consecutive
 * indices are merged into one read.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { IgmDataError } from '../errors';

export class Float32Records {
  constructor(
    readonly path: string,
    /** Floats per record. */
    readonly recordSize: number,
  ) {}

  /** Reads records `indices` (in that order) into a new Float32Array. */
  read(indices: readonly number[]): Float32Array {
    const out = new Float32Array(indices.length * this.recordSize);
    const bytesPer = this.recordSize * 4;
    // Synchronous positioned reads: records are small and usually in the page cache, where a
    // readSync costs a few microseconds against tens for a thread-pool round trip (measured:
    // bench/avmnist.ts batches per second).
    const fd = openSync(this.path, 'r');
    try {
      let i = 0;
      while (i < indices.length) {
        let j = i + 1;
        while (j < indices.length && indices[j] === indices[j - 1]! + 1) j++;
        const count = j - i;
        const view = new Uint8Array(out.buffer, i * bytesPer, count * bytesPer);
        const bytesRead = readSync(fd, view, 0, view.length, indices[i]! * bytesPer);
        if (bytesRead !== view.length) {
          throw new IgmDataError(
            `short read: records ${indices[i]}..${indices[j - 1]} need ${view.length} bytes, got ${bytesRead}. The cache entry is damaged; delete it to rebuild.`,
            this.path,
          );
        }
        i = j;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

/** The bytes of a Float32Array (little-endian on every platform Node supports). */
export function float32Bytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
