/**
 * NPY files. Whole small arrays (labels) are decoded with `npyjs`; large feature matrices are
 * read row by row with positioned reads (npyjs only parses a whole buffer, which would hold a
 * 60 MB feature file in memory), using the header parsed here: magic "\x93NUMPY", version,
 * header length, and the dict's descr / fortran_order / shape.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { parse as npyParse } from 'npyjs';
import { IgmDataError, messageOf } from '../errors';
import { readFileOrThrow } from './fs';

export interface NpyHeader {
  readonly descr: string;
  readonly fortranOrder: boolean;
  readonly shape: number[];
  readonly dataOffset: number;
  readonly itemSize: number;
}

const ITEM: Record<string, number> = {
  f4: 4,
  f8: 8,
  i4: 4,
  i8: 8,
  i2: 2,
  i1: 1,
  u1: 1,
  u2: 2,
  u4: 4,
  u8: 8,
};

export function parseNpyHeader(head: Uint8Array, file: string): NpyHeader {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (head.length < 10 || magic.some((b, i) => head[i] !== b)) {
    throw new IgmDataError(
      'not an NPY file (missing the \\x93NUMPY magic); expected a NumPy .npy array.',
      file,
    );
  }
  const major = head[6]!;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (head.length < start + headerLen) {
    throw new IgmDataError('truncated NPY header; expected a complete .npy file.', file);
  }
  const dict = new TextDecoder('latin1').decode(head.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(dict)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(dict)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(dict)?.[1];
  if (!descr || !fortran || shapeText === undefined) {
    throw new IgmDataError(
      `unreadable NPY header ${JSON.stringify(dict.trim())}; expected descr, fortran_order and shape.`,
      file,
    );
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const kind = descr.replace(/^[<>|=]/, '');
  const itemSize = ITEM[kind];
  if (!itemSize || descr.startsWith('>')) {
    throw new IgmDataError(
      `NPY dtype ${descr} is not supported; expected little-endian float32/float64 or integers.`,
      file,
    );
  }
  return {
    descr: kind,
    fortranOrder: fortran === 'True',
    shape,
    dataOffset: start + headerLen,
    itemSize,
  };
}

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

  read(indices: readonly number[]): Float32Array {
    const out = new Float32Array(indices.length * this.rowSize);
    const { itemSize, dataOffset } = this.header;
    const rowBytes = this.rowSize * itemSize;
    const buf = new Uint8Array(rowBytes);
    const fd = openSync(this.path, 'r');
    try {
      indices.forEach((r, k) => {
        if (itemSize === 4) {
          readSync(
            fd,
            new Uint8Array(out.buffer, k * rowBytes, rowBytes),
            0,
            rowBytes,
            dataOffset + r * rowBytes,
          );
        } else {
          readSync(fd, buf, 0, rowBytes, dataOffset + r * rowBytes);
          const f64 = new Float64Array(buf.buffer, 0, this.rowSize);
          out.set(f64, k * this.rowSize);
        }
      });
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
