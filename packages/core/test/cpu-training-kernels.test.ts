/** registerCpuTrainingKernels: every fused training kernel of @igm/core on cpu in one call. */
import { tf, useBackend } from '@igm/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  IgmBiasActivation,
  IgmBiasActivationGrad,
  IgmSgdMomentumUpdate,
  IgmSoftmaxCrossEntropy,
  IgmSoftmaxCrossEntropyGrad,
  registerCpuTrainingKernels,
  unregisterBiasActivationKernels,
  unregisterCpuBatchNormKernels,
  unregisterCpuSgdMomentumKernel,
  unregisterSoftmaxCrossEntropyKernels,
} from '../src';

const KERNELS = [
  IgmSgdMomentumUpdate,
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  IgmSoftmaxCrossEntropy,
  IgmSoftmaxCrossEntropyGrad,
  IgmBiasActivation,
  IgmBiasActivationGrad,
];

describe('registerCpuTrainingKernels', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('registers all seven kernels on cpu, then reports that there was nothing left to do', () => {
    unregisterCpuSgdMomentumKernel();
    unregisterCpuBatchNormKernels();
    unregisterSoftmaxCrossEntropyKernels('cpu');
    unregisterBiasActivationKernels('cpu');
    expect(KERNELS.filter((k) => tf.getKernel(k, 'cpu') !== undefined)).toEqual([]);
    expect(registerCpuTrainingKernels()).toBe(true);
    expect(KERNELS.filter((k) => tf.getKernel(k, 'cpu') === undefined)).toEqual([]);
    expect(registerCpuTrainingKernels()).toBe(false);
  });
});
