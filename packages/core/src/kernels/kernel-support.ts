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
