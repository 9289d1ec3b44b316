/**
 * Test helpers shared with @igm/models' tests: the fused training BatchNorm (or softmax
 * cross-entropy) kernels on (true) or off (false) for a backend, everything else unchanged (on wasm, all of this package's other
 * kernels stay registered, so the composition runs on the same kernels as before).
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

export function useFusedBatchNorm(backend: 'cpu' | 'wasm', fused: boolean): void {
  if (backend === 'cpu') {
    if (fused) registerCpuBatchNormKernels();
    else unregisterCpuBatchNormKernels();
    return;
  }
  unregisterWasmTrainingKernels();
  registerWasmTrainingKernels({
    kernels: fused
      ? WASM_TRAINING_KERNELS
      : WASM_TRAINING_KERNELS.filter(
          (k) => k !== IgmBatchNormTraining && k !== IgmBatchNormTrainingGrad,
        ),
  });
}

/** The same switch for the fused softmax cross-entropy kernels. */
export function useFusedCrossEntropy(backend: 'cpu' | 'wasm', fused: boolean): void {
  if (backend === 'cpu') {
    if (fused) registerCpuSoftmaxCrossEntropyKernels();
    else unregisterSoftmaxCrossEntropyKernels('cpu');
    return;
  }
  unregisterWasmTrainingKernels();
  registerWasmTrainingKernels({
    kernels: fused
      ? WASM_TRAINING_KERNELS
      : WASM_TRAINING_KERNELS.filter(
          (k) => k !== IgmSoftmaxCrossEntropy && k !== IgmSoftmaxCrossEntropyGrad,
        ),
  });
}

/** The same switch for the fused bias + activation kernels of Dense layers. */
export function useFusedBiasActivation(backend: 'cpu' | 'wasm', fused: boolean): void {
  if (backend === 'cpu') {
    if (fused) registerCpuBiasActivationKernels();
    else unregisterBiasActivationKernels('cpu');
    return;
  }
  unregisterWasmTrainingKernels();
  registerWasmTrainingKernels({
    kernels: fused
      ? WASM_TRAINING_KERNELS
      : WASM_TRAINING_KERNELS.filter((k) => k !== IgmBiasActivation && k !== IgmBiasActivationGrad),
  });
}
