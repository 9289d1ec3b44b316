/**
 * Overrides for stock wasm kernels that copy or transpose more than training needs.
 *
 * - Identity: the stock kernel copies the tensor; here the output shares the input's heap data
 *   (reference counted, as the cpu backend does). Optimizers and tidy() call it for every
 *   variable every step.
 * - Sum over leading axes (the bias gradient of every Dense/Conv layer: sum over batch, height,
 *   width): the stock kernel transposes the whole tensor so the axes become innermost; here rows
 *   are added into a float64 accumulator (the cpu backend also sums in float64; bit-identical).
 *   float32 runs in the SIMD kernel `sum_rows` (native/kernels.c), int32 and the fallback in JS.
 * - Mean over leading axes (BatchNorm's batch statistics): as Sum, divided by the count.
 * - Tile: block copies in place in the output instead of an element loop (BatchNorm's gradient
 *   tiles channel vectors).
 * - MaxPoolGrad: the stock kernel takes ~160 ms for a 16x64x64x64 2x2 pool gradient here; this
 *   recomputes each window's first maximum (the cpu backend's rule: strict >, from -Infinity)
 *   and adds dy there: ~3.5 ms in the SIMD kernel `max_pool_grad` (4 channels per compare),
 *   ~30 ms in the JS fallback loop, with bit-identical results.
 */
import {
  backend_util,
  type DataId,
  Identity,
  MaxPoolGrad,
  Mean,
  type NamedAttrMap,
  Sum,
  type TensorInfo,
  Tile,
  util,
} from '@tensorflow/tfjs-core';
import { nativeKernels, ptr } from './native';
import { nativeThreads, runParts, splitRange } from './native-threads';
import { f32, i32, type KernelImpl, release, type WasmBackendLike, zeros } from './wasm-backend';

type RefCounted = WasmBackendLike & { incRef(dataId: DataId): void };

export function makeIdentity(stock: KernelImpl): KernelImpl {
  return (args) => {
    const x = args.inputs['x']!;
    if (x.dtype === 'string') return stock(args);
    (args.backend as RefCounted).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/** Sum (or Mean, with `mean`) over leading axes; other reductions go to the stock kernel. */
export function makeSum(stock: KernelImpl, mean = false): KernelImpl {
  return (args) => {
    const x = args.inputs['x']!;
    const attrs = args.attrs as NamedAttrMap;
    const backend = args.backend as WasmBackendLike;
    const rank = x.shape.length;
    const axes = util
      .parseAxisParam(attrs['axis'] as number | number[], x.shape)
      .sort((p, q) => p - q);
    const leading = axes.length > 0 && axes.length < rank && axes.every((a, i) => a === i);
    if (!leading || (x.dtype !== 'float32' && x.dtype !== 'int32')) return stock(args);
    if (mean && x.dtype !== 'float32') return stock(args);
    const rows = util.sizeFromShape(x.shape.slice(0, axes.length));
    const cols = util.sizeFromShape(x.shape.slice(axes.length));
    let outShape = x.shape.slice(axes.length);
    if (attrs['keepDims']) outShape = backend_util.expandShapeToKeepDim(outShape, axes);
    const out = backend.makeOutput(outShape, x.dtype);
    const native = x.dtype === 'float32' ? nativeKernels(backend) : null;
    if (native) {
      // float64 accumulators as heap scratch (the module has no memory of its own).
      const acc = backend.makeOutput([2 * cols], 'float32');
      native.sum_rows(ptr(backend, x), ptr(backend, acc), ptr(backend, out), rows, cols, +mean);
      release(backend, acc);
      return out;
    }
    const acc = new Float64Array(cols);
    const xv = x.dtype === 'int32' ? i32(backend, x) : f32(backend, x);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) acc[c]! += xv[o + c]!;
    }
    if (mean) for (let c = 0; c < cols; c++) acc[c] = acc[c]! / rows;
    (x.dtype === 'int32' ? i32(backend, out) : f32(backend, out)).set(acc);
    return out;
  };
}

function heapView(backend: WasmBackendLike, t: TensorInfo): Float32Array | Int32Array | Uint8Array {
  if (t.dtype === 'float32') return f32(backend, t);
  if (t.dtype === 'int32') return i32(backend, t);
  const data = backend.dataIdMap.get(t.dataId)!;
  return new Uint8Array(backend.wasm.HEAPU8.buffer, data.memoryOffset, util.sizeFromShape(t.shape));
}

/**
 * Tile in place in the output, with no intermediate arrays: x goes into the output's first tile,
 * then each axis k from the innermost out is repeated by block copies (copyWithin, a memmove):
 * the block [i_0 .. i_{k-1}, 0:shape[k], ...] of the first tile (already complete below k) is
 * copied reps[k] - 1 times along axis k. Every output element is written once. BatchNorm's
 * gradient tiles per-channel vectors to the full activation shape, which the stock kernel does
 * element by element (8x129x94x64: ~14 ms in the earlier JS version with temporaries, 0.8 ms here).
 */
export function makeTile(stock: KernelImpl): KernelImpl {
  return (args) => {
    const x = args.inputs['x']!;
    if (x.dtype === 'string' || x.dtype === 'complex64') return stock(args);
    const backend = args.backend as WasmBackendLike;
    const reps = (args.attrs as NamedAttrMap)['reps'] as number[];
    const shape = x.shape;
    const rank = shape.length;
    const outShape = shape.map((d, i) => d * reps[i]!);
    const out = backend.makeOutput(outShape, x.dtype);
    if (util.sizeFromShape(outShape) === 0) return out;
    if (rank === 0) {
      heapView(backend, out).set(heapView(backend, x) as never);
      return out;
    }
    const src = heapView(backend, x);
    const dst = heapView(backend, out);
    const outStride = util.computeStrides(outShape).concat(1);
    // Output offset of the first-tile position whose row-major index over shape[0..k) is i.
    const firstTileOffset = (i: number, k: number): number => {
      let off = 0;
      for (let j = k - 1; j >= 0; j--) {
        off += (i % shape[j]!) * outStride[j]!;
        i = Math.floor(i / shape[j]!);
      }
      return off;
    };
    // The first tile: each row of x (its last axis) into place.
    const rowLen = shape[rank - 1]!;
    const rows = util.sizeFromShape(shape.slice(0, -1));
    for (let r = 0; r < rows; r++) {
      dst.set(src.subarray(r * rowLen, (r + 1) * rowLen) as never, firstTileOffset(r, rank - 1));
    }
    // Repeat along each axis, innermost first, inside the first tile of the axes before it.
    for (let k = rank - 1; k >= 0; k--) {
      const rep = reps[k]!;
      if (rep === 1) continue;
      const block = shape[k]! * outStride[k]!;
      const outer = util.sizeFromShape(shape.slice(0, k));
      for (let o = 0; o < outer; o++) {
        const base = firstTileOffset(o, k);
        for (let c = 1; c < rep; c++) dst.copyWithin(base + c * block, base, base + block);
      }
    }
    return out;
  };
}

export const maxPoolGrad: KernelImpl = ({ inputs, backend: be, attrs = {} }) => {
  const backend = be as WasmBackendLike;
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const info = backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs['filterSize'] as number | [number, number],
    attrs['strides'] as number | [number, number],
    1,
    attrs['pad'] as 'valid' | 'same' | number,
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
  );
  const { batchSize, inHeight, inWidth, inChannels: ch, outHeight, outWidth } = info;
  const { strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const { top, left } = info.padInfo;
  const native = nativeKernels(backend);
  if (native) {
    const dx = backend.makeOutput(input.shape, 'float32');
    // Images are independent (disjoint dx), so helper threads, if any, take whole images.
    const inImage = inHeight * inWidth * ch;
    const outImage = outHeight * outWidth * ch;
    const parts = splitRange(batchSize, nativeThreads(backend)?.threads ?? 1).map(([b0, b1]) => [
      ptr(backend, input) + 4 * b0 * inImage,
      ptr(backend, dy) + 4 * b0 * outImage,
      ptr(backend, dx) + 4 * b0 * inImage,
      b1 - b0,
      inHeight,
      inWidth,
      ch,
      outHeight,
      outWidth,
      filterHeight,
      filterWidth,
      strideHeight,
      strideWidth,
      top,
      left,
    ]);
    runParts(backend, 'max_pool_grad', parts);
    return dx;
  }
  const dx = zeros(backend, input.shape);
  const dxv = f32(backend, dx);
  const xv = f32(backend, input);
  const dyv = f32(backend, dy);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const h0 = oh * strideHeight - top;
      const hs = Math.max(0, h0);
      const he = Math.min(inHeight, h0 + filterHeight);
      for (let ow = 0; ow < outWidth; ow++) {
        const w0 = ow * strideWidth - left;
        const ws = Math.max(0, w0);
        const we = Math.min(inWidth, w0 + filterWidth);
        const dyBase = ((b * outHeight + oh) * outWidth + ow) * ch;
        for (let c = 0; c < ch; c++) {
          let best = Number.NEGATIVE_INFINITY;
          let where = -1;
          for (let h = hs; h < he; h++) {
            for (let w = ws; w < we; w++) {
              const i = ((b * inHeight + h) * inWidth + w) * ch + c;
              const v = xv[i]!;
              if (v > best) {
                best = v;
                where = i;
              }
            }
          }
          if (where >= 0) dxv[where]! += dyv[dyBase + c]!;
        }
      }
    }
  }
  return dx;
};

export { Identity, MaxPoolGrad, Mean, Sum, Tile };
