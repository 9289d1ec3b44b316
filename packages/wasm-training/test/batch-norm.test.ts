/**
 * IgmBatchNormTraining / IgmBatchNormTrainingGrad on wasm: the SIMD kernels (relaxed and plain
 * builds) and the JS fallback against the composition tf.moments + tf.batchNorm and its autodiff
 * on the same backend with this package's other kernels, bit for bit (values, gradients, running
 * statistics, several steps). The threaded backend is covered in batch-norm-threaded.test.ts.
 */
import { IgmBatchNormTraining, IgmBatchNormTrainingGrad } from '@igm/core';
import { expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchNormTraining } from '../../core/src';
import {
  BN_SHAPES,
  expectSameBnRecords,
  kernelNamesOf,
  runBatchNormScenario,
  withoutPreActivation,
} from '../../core/test/batch-norm-scenario';
import {
  nativeKernels,
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
} from '../src/index';
import { useFusedBatchNorm } from './fused-batch-norm';
import { NATIVE_MODES, restoreNativeDefaults, setNativeMode } from './native-modes';

describe('fused training BatchNorm on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    useFusedBatchNorm('wasm', true);
  });
  afterAll(() => {
    restoreNativeDefaults();
    useFusedBatchNorm('wasm', true);
  });

  it('is registered as two added kernels, exported by the SIMD module', async () => {
    expect(tf.getKernel(IgmBatchNormTraining, 'wasm')).toBeDefined();
    expect(tf.getKernel(IgmBatchNormTrainingGrad, 'wasm')).toBeDefined();
    const native = nativeKernels(tf.backend() as never);
    expect(typeof native?.bn_grad_sums_f32).toBe('function');
    const x = tf.randomNormal([2, 4, 4, 6], 0, 1, 'float32', 2);
    const g = tf.ones([6]) as tf.Tensor1D;
    const b = tf.zeros([6]) as tf.Tensor1D;
    const names = await kernelNamesOf(() =>
      tf.grads((xi: tf.Tensor) => tf.sum(batchNormTraining(xi, g, b, 1e-5).y))([x]),
    );
    expect(names).toContain(IgmBatchNormTraining);
    expect(names).toContain(IgmBatchNormTrainingGrad);
    expect(names).not.toContain('Mean');
    expect(names).not.toContain('Tile');
    const fusedRelu = await kernelNamesOf(() =>
      tf.grads((xi: tf.Tensor) =>
        tf.sum(batchNormTraining(xi, g, b, 1e-5, { activation: 'relu' }).y),
      )([x]),
    );
    expect(fusedRelu).toContain(IgmBatchNormTrainingGrad);
    for (const name of ['Relu', 'Step', 'FusedBatchNorm']) expect(fusedRelu).not.toContain(name);
    const r = tf.randomNormal([2, 4, 4, 6], 0, 1, 'float32', 3);
    const fusedResidual = await kernelNamesOf(() =>
      tf.grads((xi: tf.Tensor, ri: tf.Tensor) =>
        tf.sum(batchNormTraining(xi, g, b, 1e-5, { activation: 'relu', residual: ri }).y),
      )([x, r]),
    );
    expect(fusedResidual).toContain(IgmBatchNormTrainingGrad);
    // (tf.sum's gradient multiplies dy by ones: no Multiply check here.)
    for (const name of ['Add', 'Relu', 'Step', 'FusedBatchNorm'])
      expect(fusedResidual).not.toContain(name);
    tf.dispose([x, g, b, r]);
  });

  for (const mode of NATIVE_MODES) {
    describe(mode.name, () => {
      beforeAll(() => setNativeMode(mode));
      afterAll(restoreNativeDefaults);

      it.each(BN_SHAPES.map((s) => [s.join('x'), s] as const))(
        'equals the composition bit for bit over 3 steps, x %s',
        (_, shape) => {
          expect(nativeKernels(tf.backend() as never) !== null).toBe(mode.native);
          useFusedBatchNorm('wasm', false);
          const composed = runBatchNormScenario(shape, 21 + shape.length);
          useFusedBatchNorm('wasm', true);
          const fused = runBatchNormScenario(shape, 21 + shape.length);
          expectSameBnRecords(fused, composed, `${mode.name} ${shape.join('x')}`);
        },
      );

      it.each(BN_SHAPES.map((s) => [s.join('x'), s] as const))(
        'with a fused ReLU equals the composition + tf.relu bit for bit over 3 steps, x %s',
        (_, shape) => {
          for (const nearZero of [false, true]) {
            const seed = 21 + shape.length;
            useFusedBatchNorm('wasm', false);
            const composed = runBatchNormScenario(shape, seed, 3, 1e-5, { nearZero });
            const option = runBatchNormScenario(shape, seed, 3, 1e-5, { nearZero, fuseRelu: true });
            useFusedBatchNorm('wasm', true);
            const fused = runBatchNormScenario(shape, seed, 3, 1e-5, { nearZero, fuseRelu: true });
            const label = `${mode.name} relu ${shape.join('x')}${nearZero ? ' near zero' : ''}`;
            expectSameBnRecords(fused, withoutPreActivation(composed), label);
            expectSameBnRecords(option, withoutPreActivation(composed), `${label} (option)`);
          }
        },
      );

      it.each(BN_SHAPES.map((s) => [s.join('x'), s] as const))(
        'with a fused residual and ReLU equals the composition + tf.add + tf.relu bit for bit over 3 steps, x %s',
        (_, shape) => {
          for (const nearZero of [false, true]) {
            const seed = 21 + shape.length;
            const run = (fuseRelu: boolean) =>
              runBatchNormScenario(shape, seed, 3, 1e-5, { nearZero, fuseRelu, residual: true });
            useFusedBatchNorm('wasm', false);
            const composed = run(false);
            const option = run(true);
            useFusedBatchNorm('wasm', true);
            const fused = run(true);
            const label = `${mode.name} residual ${shape.join('x')}${nearZero ? ' near zero' : ''}`;
            expectSameBnRecords(fused, withoutPreActivation(composed), label);
            expectSameBnRecords(option, withoutPreActivation(composed), `${label} (option)`);
          }
        },
      );

      it('with a fused ReLU and the stock FusedBatchNorm registered: y from it, then relu in place', () => {
        // A kernel subset without this package's FusedBatchNorm: the forward cannot use the
        // one-pass batch_norm_f32 + relu and takes the registered kernel's y.
        const shape = [4, 9, 8, 16];
        const register = (fused: boolean) => {
          unregisterWasmTrainingKernels();
          registerWasmTrainingKernels({
            kernels: WASM_TRAINING_KERNELS.filter(
              (k) =>
                k !== 'FusedBatchNorm' &&
                (fused || (k !== IgmBatchNormTraining && k !== IgmBatchNormTrainingGrad)),
            ),
          });
        };
        try {
          register(false);
          const composed = runBatchNormScenario(shape, 5, 2, 1e-5, { nearZero: true });
          const composedResidual = runBatchNormScenario(shape, 5, 2, 1e-5, {
            nearZero: true,
            residual: true,
          });
          register(true);
          const fused = runBatchNormScenario(shape, 5, 2, 1e-5, { nearZero: true, fuseRelu: true });
          expectSameBnRecords(
            fused,
            withoutPreActivation(composed),
            `${mode.name} stock FusedBatchNorm`,
          );
          // With a residual: the registered Add on that y, then relu in place.
          const fusedResidual = runBatchNormScenario(shape, 5, 2, 1e-5, {
            nearZero: true,
            fuseRelu: true,
            residual: true,
          });
          expectSameBnRecords(
            fusedResidual,
            withoutPreActivation(composedResidual),
            `${mode.name} stock FusedBatchNorm, residual`,
          );
        } finally {
          useFusedBatchNorm('wasm', true);
        }
      });

      it('leaks no tensors and no heap buffers over training steps', async () => {
        useFusedBatchNorm('wasm', true);
        const x = tf.randomNormal([4, 6, 6, 10], 0, 1, 'float32', 5);
        const g = tf.variable(tf.ones([10]));
        const b = tf.variable(tf.zeros([10]));
        const opt = tf.train.sgd(0.1);
        const backend = tf.backend() as never as { numDataIds(): number };
        for (const activation of ['none', 'relu'] as const) {
          const step = () =>
            opt.minimize(() =>
              tf.sum(
                tf.square(
                  batchNormTraining(
                    x,
                    g as unknown as tf.Tensor1D,
                    b as unknown as tf.Tensor1D,
                    1e-5,
                    { activation },
                  ).y,
                ),
              ),
            );
          step();
          const ids = backend.numDataIds();
          await expectNoTensorLeak(step, { steps: 20 });
          expect(backend.numDataIds(), activation).toBe(ids);
        }
        tf.dispose([x, g, b]);
      });
    });
  }
});
