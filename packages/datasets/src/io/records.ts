/**
 * Fixed-size float32 records in a flat little-endian file, read by index. A file of at most
 * `inMemoryMaxBytes` (default {@link IN_MEMORY_MAX_BYTES}, 64 MiB) is read whole at the first
 * read and served from memory after that: a shuffled batch of the AV-MNIST-style datasets would
 * otherwise cost one positioned read per sample and modality (~1 ms of CPU per batch of 64, some
 * 10 % of a quick comparison's time), for files that fit in memory many times over. Larger files
 * (CREMA-D's, Kinetics-Sounds') are never loaded whole: each batch costs a few positioned reads,
 * runs of consecutive indices merged into one. Either way the same bytes come back.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { IgmDataError } from '../errors';

/** Record files up to this size are kept in memory after their first read (see Float32Records). */
export const IN_MEMORY_MAX_BYTES = 64 * 2 ** 20;

export class Float32Records {
  /** The whole file once read (small files), null when it is read by position. */
  private whole: Float32Array | null | undefined;

  constructor(
    readonly path: string,
    /** Floats per record. */
    readonly recordSize: number,
    /** Files up to this many bytes are read whole once and kept (0: always by position). */
    readonly inMemoryMaxBytes: number = IN_MEMORY_MAX_BYTES,
  ) {}

  /** Reads records `indices` (in that order) into a new Float32Array. */
  read(indices: readonly number[]): Float32Array {
    const out = new Float32Array(indices.length * this.recordSize);
    const whole = this.inMemory();
    if (whole) {
      const size = this.recordSize;
      for (let i = 0; i < indices.length; i++) {
        const start = indices[i]! * size;
        if (start + size > whole.length) {
          const got = Math.max(0, whole.length - start) * 4;
          throw this.shortRead(indices[i]!, indices[i]!, size * 4, got);
        }
        out.set(whole.subarray(start, start + size), i * size);
      }
      return out;
    }
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
          throw this.shortRead(indices[i]!, indices[j - 1]!, view.length, bytesRead);
        }
        i = j;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }

  /**
   * The whole file as floats when it is at most `inMemoryMaxBytes` (read at the first call and
   * kept), else null. Record i is `subarray(i * recordSize, (i + 1) * recordSize)`.
   */
  inMemory(): Float32Array | null {
    if (this.whole === undefined) {
      this.whole = null;
      if (this.inMemoryMaxBytes > 0 && statSync(this.path).size <= this.inMemoryMaxBytes) {
        const bytes = readFileSync(this.path);
        // A float view needs a 4-byte aligned offset: copy the (rare) unaligned buffer.
        const aligned =
          bytes.byteOffset % 4 === 0
            ? bytes
            : new Uint8Array(
                bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
              );
        this.whole = new Float32Array(
          aligned.buffer,
          aligned.byteOffset,
          Math.floor(aligned.byteLength / 4),
        );
      }
    }
    return this.whole;
  }

  private shortRead(first: number, last: number, need: number, got: number): IgmDataError {
    return new IgmDataError(
      `short read: records ${first}..${last} need ${need} bytes, got ${got}. The cache entry is damaged; delete it to rebuild.`,
      this.path,
    );
  }
}

/** The bytes of a Float32Array (little-endian on every platform Node supports). */
export function float32Bytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
