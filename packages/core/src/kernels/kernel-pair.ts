/**
 * Registration of a fused op's two kernels (forward and gradient) on a named backend, shared by
 * the fused kernels of this folder that serve any backend through the KernelBackend interface.
 */
import * as tf from '@tensorflow/tfjs-core';

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
