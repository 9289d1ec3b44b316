/**
 * Test helper shared with @igm/models' tests: the fused training BatchNorm kernels on (true) or
 * off (false) for a backend, everything else unchanged (on wasm, all of this package's other
 * kernels stay registered, so the composition runs on the same kernels as before).
 */
import {
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  registerCpuBatchNormKernels,
  unregisterCpuBatchNormKernels,
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
