import {
  IgmArgumentError,
  IgmBatchNormTraining,
  IgmSgdMomentumUpdate,
  unregisterCpuBatchNormKernels,
  unregisterCpuSgdMomentumKernel,
} from '@igm/core';
import { tf } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import {
  type TrainingBackendName,
  unregisterWasmTrainingKernels,
  useTrainingBackend,
} from '../src';

describe('useTrainingBackend', () => {
  it('switches to cpu, and to wasm with the training kernels registered', async () => {
    unregisterCpuSgdMomentumKernel();
    unregisterCpuBatchNormKernels();
    expect(await useTrainingBackend('cpu')).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.getKernel(IgmSgdMomentumUpdate, 'cpu')).toBeDefined();
    expect(tf.getKernel(IgmBatchNormTraining, 'cpu')).toBeDefined();
    unregisterWasmTrainingKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(await useTrainingBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    expect(tf.getKernel(IgmSgdMomentumUpdate, 'wasm')).toBeDefined();
    expect(tf.getKernel(IgmBatchNormTraining, 'wasm')).toBeDefined();
    // A training step runs on it: the gradient of a 3x3 convolution.
    const x = tf.ones([1, 5, 5, 2]) as tf.Tensor4D;
    const dw = tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(x, w as tf.Tensor4D, 1, 'same')))(
      tf.ones([3, 3, 2, 1]),
    );
    expect(dw.shape).toEqual([3, 3, 2, 1]);
    tf.dispose([x, dw]);
  });

  it('rejects an unknown backend name', async () => {
    await expect(useTrainingBackend('webgl' as TrainingBackendName)).rejects.toThrow(
      IgmArgumentError,
    );
    await expect(useTrainingBackend('gpu' as TrainingBackendName)).rejects.toThrow(
      /received name="gpu". Expected one of "wasm", "cpu"/,
    );
  });
});
