/**
 * Slice, SplitV and GatherV2 that copy only what they return. tfjs-backend-wasm 4.22's Slice
 * reads its input with `readSync`, a copy of the whole tensor into JavaScript, on every call (and
 * SplitV slices that way once per part), so taking 64 rows of a [3000, 2520] tensor cost ~30 ms;
 * its GatherV2 computes every element's address (4 ms for the same rows). Here the input is read
 * through a view of the wasm heap and copied in runs: one block when a slice is contiguous, else
 * one run of the last axis at a time; a gather copies one run of the trailing axes per index.
 * Same values (copies); strings, scalars and batched gathers go to the stock kernels.
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

/**
 * gather(x, indices, axis) for batchDims 0: for every position of the axes before `axis` and
 * every index, the run of x's trailing axes at that index. Indices out of [0, dim) are an error
 * (the stock kernel's check and message).
 */
function gatherOnHeap(
  backend: WasmBackendLike,
  x: TensorInfo,
  indices: TensorInfo,
  axis: number,
): TensorInfo {
  const info = backend_util.segment_util.collectGatherOpShapeInfo(
    x as never,
    indices as never,
    axis,
    0,
  );
  const dim = x.shape[axis]!;
  for (const index of heapView(backend, indices)) {
    util.assert(
      index <= dim - 1 && index >= 0,
      () => `GatherV2: the index value ${index} is not in [0, ${dim - 1}]`,
    );
  }
  const out = backend.makeOutput(info.outputShape, x.dtype);
  if (util.sizeFromShape(info.outputShape) === 0) return out;
  const xv = heapView(backend, x);
  const ov = heapView(backend, out);
  const iv = heapView(backend, indices);
  const { outerSize, dimSize, sliceSize } = info;
  let o = 0;
  for (let outer = 0; outer < outerSize; outer++) {
    const base = outer * dimSize * sliceSize;
    for (let k = 0; k < iv.length; k++) {
      const start = base + iv[k]! * sliceSize;
      ov.set(xv.subarray(start, start + sliceSize), o);
      o += sliceSize;
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

export function makeGatherV2(stock: KernelImpl): KernelImpl {
  return (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const batchDims = (attrs['batchDims'] as number | undefined) ?? 0;
    if (!handles(x) || batchDims !== 0 || indices.dtype !== 'int32') return stock(args);
    const axis = util.parseAxisParam(attrs['axis'] as number, x.shape)[0]!;
    return gatherOnHeap(args.backend as WasmBackendLike, x, indices, axis);
  };
}
