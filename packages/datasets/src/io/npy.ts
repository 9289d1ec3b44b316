/**
 * NPY files (Node). Whole small arrays (labels) are decoded with `npyjs`; large feature matrices
 * are read row by row with positioned reads (npyjs only parses a whole buffer, which would hold
 * a 60 MB feature file in memory), using the header parsed by npy-header.ts.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { parse as npyParse } from 'npyjs';
import { IgmDataError, messageOf } from '../errors';
import { readFileOrThrow } from './fs';
import { type NpyHeader, parseNpyHeader } from './npy-header';

export { type NpyHeader, parseNpyHeader } from './npy-header';

/** Rows of a 2-D (or N-D, rows = first axis) NPY array, read on demand as float32. */
export class NpyRows {
  readonly header: NpyHeader;
  readonly rows: number;
  readonly rowSize: number;

  constructor(readonly path: string) {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new IgmDataError(
        `${code === 'ENOENT' ? 'file not found' : messageOf(error)}; expected a feature file (.npy).`,
        path,
        {
          cause: error,
        },
      );
    }
    try {
      const head = new Uint8Array(4096);
      const n = readSync(fd, head, 0, head.length, 0);
      this.header = parseNpyHeader(head.subarray(0, n), path);
    } finally {
      closeSync(fd);
    }
    const { shape, itemSize, dataOffset, fortranOrder, descr } = this.header;
    if (fortranOrder)
      throw new IgmDataError(
        'NPY array is in Fortran order; expected C order (np.ascontiguousarray).',
        path,
      );
    if (descr !== 'f4' && descr !== 'f8') {
      throw new IgmDataError(`NPY dtype ${descr}; expected float32 (or float64) features.`, path);
    }
    this.rows = shape[0] ?? 1;
    this.rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
    const expected = dataOffset + this.rows * this.rowSize * itemSize;
    const actual = statSync(path).size;
    if (actual < expected) {
      throw new IgmDataError(
        `truncated NPY: shape (${shape.join(', ')}) needs ${expected} bytes, the file has ${actual}.`,
        path,
      );
    }
  }

  /** Reads rows `indices` in that order; runs of consecutive rows are one read. */
  read(indices: readonly number[]): Float32Array {
    const out = new Float32Array(indices.length * this.rowSize);
    const { itemSize, dataOffset } = this.header;
    const rowBytes = this.rowSize * itemSize;
    const fd = openSync(this.path, 'r');
    try {
      let i = 0;
      while (i < indices.length) {
        let j = i + 1;
        while (j < indices.length && indices[j] === indices[j - 1]! + 1) j++;
        const bytes = (j - i) * rowBytes;
        const position = dataOffset + indices[i]! * rowBytes;
        if (itemSize === 4) {
          readSync(fd, new Uint8Array(out.buffer, i * rowBytes, bytes), 0, bytes, position);
        } else {
          const buf = new Uint8Array(bytes);
          readSync(fd, buf, 0, bytes, position);
          out.set(new Float64Array(buf.buffer, 0, (j - i) * this.rowSize), i * this.rowSize);
        }
        i = j;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

/** A whole small array (e.g. labels) decoded with npyjs, as numbers. */
export async function loadNpyArray(
  path: string,
  what: string,
): Promise<{ data: number[]; shape: number[] }> {
  const bytes = await readFileOrThrow(path, what);
  parseNpyHeader(bytes.subarray(0, Math.min(bytes.length, 4096)), path);
  try {
    const arr = npyParse(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
    );
    const data = Array.from(arr.data as unknown as ArrayLike<number | bigint>, (v) => Number(v));
    const expected = arr.shape.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new Error(
        `shape (${arr.shape.join(', ')}) needs ${expected} values, found ${data.length}`,
      );
    }
    return { data, shape: arr.shape };
  } catch (error) {
    throw new IgmDataError(`unreadable NPY (${messageOf(error)}); expected ${what}.`, path, {
      cause: error,
    });
  }
}
