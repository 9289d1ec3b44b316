/**
 * The small part of the tfjs wasm backend (`BackendWasm` in @tensorflow/tfjs-backend-wasm 4.22)
 * that the kernels here use: its Emscripten module (heap views, malloc), the map from a tensor's
 * dataId to its heap offset, `makeOutput` and `disposeData`. Typed structurally so the library
 * imports nothing from the backend package.
 */
import {
  type DataId,
  getKernel,
  type NamedAttrMap,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';

export interface WasmModuleLike {
  HEAPF32: Float32Array;
  HEAP32: Int32Array;
  HEAPU8: Uint8Array;
}

export interface WasmBackendLike {
  wasm: WasmModuleLike;
  dataIdMap: { get(dataId: DataId): { memoryOffset: number; id: number } | undefined };
  makeOutput(shape: number[], dtype: TensorInfo['dtype']): TensorInfo;
  disposeData(dataId: DataId, force?: boolean): boolean;
}

/** A kernel function as the engine calls it. */
export type KernelImpl = (args: {
  inputs: Record<string, TensorInfo>;
  backend: unknown;
  attrs?: NamedAttrMap;
}) => TensorInfo | TensorInfo[];

/**
 * A float32 (or int32) view of a tensor's data on the wasm heap. Take a fresh view after every
 * allocation: the heap may grow, which detaches older views.
 */
export function f32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined)
    throw new Error(`wasm-training: tensor ${String(t.dataId)} is not on the wasm backend`);
  return new Float32Array(
    backend.wasm.HEAPF32.buffer,
    data.memoryOffset,
    util.sizeFromShape(t.shape),
  );
}

export function i32(backend: WasmBackendLike, t: TensorInfo): Int32Array {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined)
    throw new Error(`wasm-training: tensor ${String(t.dataId)} is not on the wasm backend`);
  return new Int32Array(backend.wasm.HEAP32.buffer, data.memoryOffset, util.sizeFromShape(t.shape));
}

/** A zero-filled output tensor on the wasm heap (malloc does not clear memory). */
export function zeros(
  backend: WasmBackendLike,
  shape: number[],
  dtype: TensorInfo['dtype'] = 'float32',
): TensorInfo {
  const out = backend.makeOutput(shape, dtype);
  (dtype === 'int32' ? i32(backend, out) : f32(backend, out)).fill(0);
  return out;
}

export function release(backend: WasmBackendLike, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

/** A view of `t` with another shape over the same heap data (no copy, not owned). */
export function reshaped(t: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: t.dataId, shape, dtype: t.dtype };
}

/** The kernel currently registered for `name` on wasm, to call from a composed kernel. */
export function stockKernel(name: string): KernelImpl {
  const k = getKernel(name, 'wasm');
  if (k === undefined)
    throw new Error(`wasm-training: the wasm backend has no ${name} kernel to build on`);
  return k.kernelFunc as unknown as KernelImpl;
}
