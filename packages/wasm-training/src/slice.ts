/**
 * Slice and SplitV that copy only the slice. tfjs-backend-wasm 4.22's Slice reads its input with
 * `readSync`, a copy of the whole tensor into JavaScript, on every call (and SplitV slices that
 * way once per part), so taking 64 rows of a [3000, 2520] tensor cost 14 ms. Here the input is
 * read through a view of the wasm heap: one block copy when the slice is contiguous, else one copy
 * per run of the last axis. Same values (a copy); strings and scalars go to the stock kernels.
 */
import {
  backend_util,
  type NamedAttrMap,
  slice_util,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import type { KernelImpl, WasmBackendLike } from './wasm-backend';

type HeapArray = Float32Array | Int32Array | Uint8Array;

/** A view of `t`'s data on the heap in its own element type (float32, int32, bool as bytes). */
function heapView(backend: WasmBackendLike, t: TensorInfo): HeapArray {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined)
    throw new Error(`wasm-training: tensor ${String(t.dataId)} is not on the wasm backend`);
  const n = util.sizeFromShape(t.shape);
  const buffer = backend.wasm.HEAPU8.buffer;
  if (t.dtype === 'int32') return new Int32Array(buffer, data.memoryOffset, n);
  if (t.dtype === 'bool') return new Uint8Array(buffer, data.memoryOffset, n);
  return new Float32Array(buffer, data.memoryOffset, n);
}

/** x[begin : begin + size] (size entries of -1: to the end) as a new tensor on the heap. */
function sliceOnHeap(
  backend: WasmBackendLike,
  x: TensorInfo,
  begin: number | number[],
  size: number | number[] | undefined,
): TensorInfo {
  const [b, s] = slice_util.parseSliceParams(x as never, begin, size) as [number[], number[]];
  const out = backend.makeOutput(s, x.dtype);
  const total = util.sizeFromShape(s);
  if (total === 0) return out;
  // Views after makeOutput: an allocation may grow the heap and detach older views.
  const xv = heapView(backend, x);
  const ov = heapView(backend, out);
  const strides = util.computeStrides(x.shape);
  if (slice_util.isSliceContinous(x.shape, b, s)) {
    const offset = slice_util.computeFlatOffset(b, strides);
    ov.set(xv.subarray(offset, offset + total));
    return out;
  }
  const rank = x.shape.length;
  const run = s[rank - 1]!;
  const index = new Array<number>(rank - 1).fill(0); // position in the slice's leading axes
  for (let o = 0; o < total; o += run) {
    let offset = b[rank - 1]!;
    for (let d = 0; d < rank - 1; d++) offset += (b[d]! + index[d]!) * strides[d]!;
    ov.set(xv.subarray(offset, offset + run), o);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d]! < s[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

function handles(x: TensorInfo): boolean {
  return x.dtype !== 'string' && x.dtype !== 'complex64' && x.shape.length > 0;
}

export function makeSlice(stock: KernelImpl): KernelImpl {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (!handles(x)) return stock(args);
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    return sliceOnHeap(
      args.backend as WasmBackendLike,
      x,
      attrs['begin'] as number | number[],
      attrs['size'] as number | number[] | undefined,
    );
  };
}

/** SplitV as the stock kernel computes it (parts along `axis`), each part one heap slice. */
export function makeSplitV(stock: KernelImpl): KernelImpl {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (!handles(x)) return stock(args);
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const axis = util.parseAxisParam(attrs['axis'] as number, x.shape)[0]!;
    const sizes = backend_util.prepareSplitSize(
      x as never,
      attrs['numOrSizeSplits'] as number | number[],
      axis,
    );
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((part) => {
      const size = [...x.shape];
      size[axis] = part;
      const out = sliceOnHeap(args.backend as WasmBackendLike, x, [...begin], size);
      begin[axis]! += part;
      return out;
    });
  };
}
