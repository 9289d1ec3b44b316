/**
 * What the JavaScript kernels of @igm/core share: the part of tfjs' KernelBackend they use (typed
 * here: core imports no backend), their argument shape, reading inputs, writing float32 outputs,
 * and registering a fused op's two kernels (forward and gradient) on a named backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { IgmArgumentError } from '../errors';

/** The part of tfjs' KernelBackend the JavaScript kernels use. */
export interface ReadWriteBackend {
  readSync(dataId: tf.DataId): unknown;
  write(values: Float32Array, shape: number[], dtype: tf.DataType): tf.DataId;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
}

/** A kernel function's argument as the engine passes it. */
export type KernelArgs = {
  inputs: Record<string, tf.TensorInfo | undefined>;
  backend: unknown;
  attrs?: Record<string, unknown>;
};

/** A new float32 tensor on `backend` holding `values`. */
export function float32Output(
  backend: ReadWriteBackend,
  values: Float32Array,
  shape: number[],
): tf.TensorInfo {
  return { dataId: backend.write(values, shape, 'float32'), shape, dtype: 'float32' };
}

/** Input `name` of a kernel call, which must be present (and of `dtype` when given). */
export function kernelInput(
  where: string,
  name: string,
  t: tf.TensorInfo | undefined,
  dtype?: tf.DataType,
): tf.TensorInfo {
  if (t === undefined) throw new IgmArgumentError(`${where}: input "${name}" is missing.`);
  if (dtype !== undefined && t.dtype !== dtype) {
    throw new IgmArgumentError(
      `${where}: input "${name}" is ${t.dtype} of shape [${t.shape.join(', ')}]; expected ${dtype}.`,
    );
  }
  return t;
}

/**
 * Runs the kernel `name` registered for `backendName` directly on `backend` (no engine, no tape,
 * so the result is exactly that kernel's) and returns its first output. `where` names the fused
 * kernel that needs it, for the error when the backend has no such kernel.
 */
export function callBackendKernel(
  where: string,
  backendName: string,
  backend: unknown,
  name: string,
  inputs: Record<string, tf.TensorInfo>,
  attrs: Record<string, unknown> = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(name, backendName);
  if (kernel === undefined) {
    throw new IgmArgumentError(
      `${where}: the backend "${backendName}" has no ${name} kernel, which ${where} calls.`,
    );
  }
  const out = kernel.kernelFunc({
    inputs: inputs as never,
    backend: backend as never,
    attrs: attrs as tf.NamedAttrMap,
  });
  return (Array.isArray(out) ? out[0] : out) as tf.TensorInfo;
}

/** Registers `forward` and `backward` under `names` on `backendName` unless the first is there. */
export function registerKernelPair(
  names: readonly [string, string],
  backendName: string,
  forward: unknown,
  backward: unknown,
): boolean {
  if (tf.getKernel(names[0], backendName) !== undefined) return false;
  tf.registerKernel({ kernelName: names[0], backendName, kernelFunc: forward as tf.KernelFunc });
  tf.registerKernel({ kernelName: names[1], backendName, kernelFunc: backward as tf.KernelFunc });
  return true;
}

/**
 * Throws unless the gradient kernel `names[1]` is registered on the active backend: called by a
 * fused op's registered gradient before it runs that kernel, so that a backend switched between
 * the forward and the backward pass is named. `cpuRegistration` is the call that registers the
 * pair on cpu (e.g. `registerCpuBatchNormKernels()`).
 */
export function requireGradientKernel(
  names: readonly [string, string],
  cpuRegistration: string,
): void {
  const backend = tf.getBackend();
  if (tf.getKernel(names[1], backend) !== undefined) return;
  throw new IgmArgumentError(
    `${names[0]}: its gradient kernel ${names[1]} is not registered on the backend "${backend}" (was the backend switched between the forward and the backward pass?). Register it (${cpuRegistration} on cpu, registerWasmTrainingKernels() on wasm) or switch backends only between steps.`,
  );
}

/** Removes both kernels from `backendName`; returns whether there were any. */
export function unregisterKernelPair(
  names: readonly [string, string],
  backendName: string,
): boolean {
  let had = false;
  for (const name of names) {
    if (tf.getKernel(name, backendName) !== undefined) {
      tf.unregisterKernel(name, backendName);
      had = true;
    }
  }
  return had;
}
