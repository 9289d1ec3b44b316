/**
 * UnsortedSegmentSum for the wasm backend (missing from the stock backend; it is the gradient
 * of tf.gather, so embeddings cannot train without it).
 *
 *   out[s, ...] = sum over i with segmentIds[i] = s of x[i, ...]   (ids outside [0, n) dropped)
 */
import { type TensorInfo, UnsortedSegmentSum, util } from '@tensorflow/tfjs-core';
import { f32, i32, type KernelImpl, type WasmBackendLike, zeros } from './wasm-backend';

export const unsortedSegmentSum: KernelImpl = ({ inputs, backend: be, attrs = {} }) => {
  const backend = be as WasmBackendLike;
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = attrs['numSegments'] as number;
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(
      `UnsortedSegmentSum on wasm supports float32 and int32 x, got dtype ${x.dtype}`,
    );
  }
  const idsRank = segmentIds.shape.length;
  const inner = util.sizeFromShape(x.shape.slice(idsRank));
  const nIds = util.sizeFromShape(segmentIds.shape);
  const outShape = [numSegments, ...x.shape.slice(idsRank)];
  const out = zeros(backend, outShape, x.dtype);
  const ids =
    segmentIds.dtype === 'int32'
      ? i32(backend, segmentIds)
      : Int32Array.from(f32(backend, segmentIds));
  const xv = x.dtype === 'int32' ? i32(backend, x) : f32(backend, x);
  const ov = x.dtype === 'int32' ? i32(backend, out) : f32(backend, out);
  for (let i = 0; i < nIds; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) ov[dst + j]! += xv[src + j]!;
  }
  return out;
};

export { UnsortedSegmentSum };
