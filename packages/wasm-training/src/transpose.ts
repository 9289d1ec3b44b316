/**
 * Cache-blocked 2-D transposes on the wasm heap: the SIMD kernel (native/kernels.c, 4x4
 * shuffles in 32x32 tiles) when it could be instantiated, else a blocked JS loop. The stock wasm
 * Transpose kernel strides through its input (~17 ms for 1024 x 1024 here).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { nativeKernels, ptr } from './native';
import { f32, type WasmBackendLike } from './wasm-backend';

const BLOCK = 32;

/** dst[c * rows + r] = src[r * cols + c] for `batch` stacked rows x cols matrices. */
export function transposeInto(
  src: Float32Array,
  dst: Float32Array,
  rows: number,
  cols: number,
  batch = 1,
  srcOffset = 0,
  dstOffset = 0,
): void {
  const size = rows * cols;
  for (let b = 0; b < batch; b++) {
    const so = srcOffset + b * size;
    const d0 = dstOffset + b * size;
    if (rows === 1 || cols === 1) {
      dst.set(src.subarray(so, so + size), d0);
      continue;
    }
    for (let r0 = 0; r0 < rows; r0 += BLOCK) {
      const r1 = Math.min(r0 + BLOCK, rows);
      for (let c0 = 0; c0 < cols; c0 += BLOCK) {
        const c1 = Math.min(c0 + BLOCK, cols);
        for (let r = r0; r < r1; r++) {
          let s = so + r * cols + c0;
          let d = d0 + c0 * rows + r;
          for (let c = c0; c < c1; c++) {
            dst[d] = src[s++]!;
            d += rows;
          }
        }
      }
    }
  }
}

/** A new [..., cols, rows] tensor holding the last-two-axes transpose of `t` ([..., rows, cols]). */
export function transposeLast2(backend: WasmBackendLike, t: TensorInfo): TensorInfo {
  const rank = t.shape.length;
  const rows = t.shape[rank - 2]!;
  const cols = t.shape[rank - 1]!;
  const batch = t.shape.slice(0, -2).reduce((p, d) => p * d, 1);
  const outShape = [...t.shape.slice(0, -2), cols, rows];
  const out = backend.makeOutput(outShape, 'float32');
  transposeOnHeap(backend, t, 0, out, rows, cols, batch);
  return out;
}

/**
 * Transposes `batch` rows x cols matrices starting `srcElem` floats into `src`, into `dst`
 * starting `dstElem` floats in: with the SIMD kernel when available, else the JS loop.
 */
export function transposeOnHeap(
  backend: WasmBackendLike,
  src: TensorInfo,
  srcElem: number,
  dst: TensorInfo,
  rows: number,
  cols: number,
  batch = 1,
  dstElem = 0,
): void {
  const native = nativeKernels(backend);
  if (native) {
    native.transpose2d(
      ptr(backend, src) + 4 * srcElem,
      ptr(backend, dst) + 4 * dstElem,
      rows,
      cols,
      batch,
    );
  } else {
    transposeInto(f32(backend, src), f32(backend, dst), rows, cols, batch, srcElem, dstElem);
  }
}
