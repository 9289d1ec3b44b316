/**
 * The NPY header (magic "\x93NUMPY", version, header length, and the dict's descr /
 * fortran_order / shape), parsed from the first bytes of a file. Pure: no file system, so it is
 * part of the browser build too; the file readers are in npy.ts.
 */
import { IgmDataError } from '../errors';

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
