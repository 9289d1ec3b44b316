/**
 * Test helpers shared with @igm/models' tests: a pair of fused kernels (training BatchNorm,
 * softmax cross-entropy, a Dense layer's bias + activation) on (true) or off (false) for a
 * backend, everything else unchanged (on wasm, all of this package's other kernels stay
 * registered, so the composition runs on the same kernels as before).
 */
import {
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  IgmBiasActivation,
  IgmBiasActivationGrad,
  IgmSoftmaxCrossEntropy,
  IgmSoftmaxCrossEntropyGrad,
  registerCpuBatchNormKernels,
  registerCpuBiasActivationKernels,
  registerCpuSoftmaxCrossEntropyKernels,
  unregisterBiasActivationKernels,
  unregisterCpuBatchNormKernels,
  unregisterSoftmaxCrossEntropyKernels,
} from '@igm/core';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
} from '../src/index';

interface FusedPair {
  kernels: readonly string[];
  registerCpu(): void;
  unregisterCpu(): void;
}

function useFused(pair: FusedPair, backend: 'cpu' | 'wasm', fused: boolean): void {
  if (backend === 'cpu') {
    if (fused) pair.registerCpu();
    else pair.unregisterCpu();
    return;
  }
  unregisterWasmTrainingKernels();
  registerWasmTrainingKernels({
    kernels: fused
      ? WASM_TRAINING_KERNELS
      : WASM_TRAINING_KERNELS.filter((k) => !pair.kernels.includes(k)),
  });
}

const BATCH_NORM: FusedPair = {
  kernels: [IgmBatchNormTraining, IgmBatchNormTrainingGrad],
  registerCpu: registerCpuBatchNormKernels,
  unregisterCpu: unregisterCpuBatchNormKernels,
};
const CROSS_ENTROPY: FusedPair = {
  kernels: [IgmSoftmaxCrossEntropy, IgmSoftmaxCrossEntropyGrad],
  registerCpu: registerCpuSoftmaxCrossEntropyKernels,
  unregisterCpu: () => unregisterSoftmaxCrossEntropyKernels('cpu'),
};
const BIAS_ACTIVATION: FusedPair = {
  kernels: [IgmBiasActivation, IgmBiasActivationGrad],
  registerCpu: registerCpuBiasActivationKernels,
  unregisterCpu: () => unregisterBiasActivationKernels('cpu'),
};

/** The fused training BatchNorm kernels on or off. */
export function useFusedBatchNorm(backend: 'cpu' | 'wasm', fused: boolean): void {
  useFused(BATCH_NORM, backend, fused);
}

/** The fused softmax cross-entropy kernels on or off. */
export function useFusedCrossEntropy(backend: 'cpu' | 'wasm', fused: boolean): void {
  useFused(CROSS_ENTROPY, backend, fused);
}

/** The fused bias + activation kernels of Dense layers on or off. */
export function useFusedBiasActivation(backend: 'cpu' | 'wasm', fused: boolean): void {
  useFused(BIAS_ACTIVATION, backend, fused);
}
