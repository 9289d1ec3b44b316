/**
 * Every fused training kernel @igm/core implements, registered on the tfjs `cpu` backend at once:
 * what an app (or `useTrainingBackend('cpu')` of @igm/wasm-training, or the igm CLI) calls when it
 * trains on cpu, so that a new fused op is added here once instead of at every call site.
 */
import { registerCpuSgdMomentumKernel } from '../transforms/sgd-momentum-kernel';
import { registerCpuBatchNormKernels } from './batch-norm';
import { registerCpuBiasActivationKernels } from './bias-activation';
import { registerCpuSoftmaxCrossEntropyKernels } from './softmax-cross-entropy';

/**
 * Registers on cpu the fused SGD update, training-mode BatchNorm, softmax cross-entropy and Dense
 * bias + activation kernels (`registerCpuSgdMomentumKernel()`, `registerCpuBatchNormKernels()`,
 * `registerCpuSoftmaxCrossEntropyKernels()`, `registerCpuBiasActivationKernels()`); each gives the
 * bits of the op composition it replaces. Idempotent; returns whether any registered now.
 */
export function registerCpuTrainingKernels(): boolean {
  const registered = [
    registerCpuSgdMomentumKernel(),
    registerCpuBatchNormKernels(),
    registerCpuSoftmaxCrossEntropyKernels(),
    registerCpuBiasActivationKernels(),
  ];
  return registered.some(Boolean);
}
