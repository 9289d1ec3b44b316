/**
 * IgmBiasActivation / IgmBiasActivationGrad on wasm: the SIMD passes (relaxed and plain builds)
 * and, without the SIMD module, @igm/core's generic kernels, against the composition tf.add
 * (+ tf.relu) and its autodiff on the same backend with this package's other kernels, bit for bit
 * (NaN, infinities, signed zeros, exact cancellations, rank 3). The threaded backend is covered in
 * bias-activation-threaded.test.ts; the cpu kernels in @igm/core.
 */
import { IgmBiasActivation, IgmBiasActivationGrad } from '@igm/core';
import { expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { biasActivation } from '../../core/src';
import { kernelNamesOf } from '../../core/test/batch-norm-scenario';
import {
  BIAS_ACTIVATION_CASES,
  expectSameBiasActivationRecords,
  runBiasActivationCase,
} from '../../core/test/bias-activation-scenario';
import { useFusedBiasActivation } from './fused-batch-norm';
import { NATIVE_MODES, restoreNativeDefaults, setNativeMode } from './native-modes';

describe('fused bias + activation on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    useFusedBiasActivation('wasm', true);
  });
  afterAll(() => {
    restoreNativeDefaults();
    useFusedBiasActivation('wasm', true);
  });

  it('is registered and replaces Add, Relu and their gradients', async () => {
    expect(tf.getKernel(IgmBiasActivation, 'wasm')).toBeDefined();
    expect(tf.getKernel(IgmBiasActivationGrad, 'wasm')).toBeDefined();
    const z = tf.randomNormal([16, 8], 0, 1, 'float32', 4);
    const b = tf.randomNormal([8], 0, 1, 'float32', 5);
    const names = await kernelNamesOf(() =>
      tf.grads((zi: tf.Tensor, bi: tf.Tensor) => tf.sum(biasActivation(zi, bi, 'relu')))([z, b]),
    );
    expect(names).toEqual(expect.arrayContaining([IgmBiasActivation, IgmBiasActivationGrad]));
    for (const name of ['Add', 'Relu', 'Step']) expect(names).not.toContain(name);
    tf.dispose([z, b]);
  });

  for (const mode of NATIVE_MODES) {
    describe(mode.name, () => {
      beforeAll(() => setNativeMode(mode));
      afterAll(restoreNativeDefaults);

      for (const activation of ['linear', 'relu'] as const) {
        it.each(BIAS_ACTIVATION_CASES.map((c) => [c.name, c] as const))(
          `equals the composition bit for bit: ${activation}, %s`,
          (_, c) => {
            for (const seed of [1, 2]) {
              useFusedBiasActivation('wasm', false);
              const composed = runBiasActivationCase(c, activation, seed);
              useFusedBiasActivation('wasm', true);
              const fused = runBiasActivationCase(c, activation, seed);
              expectSameBiasActivationRecords(fused, composed, `${activation} ${c.name} ${seed}`);
            }
          },
        );
      }

      it('leaves no tensors or heap bytes behind across training steps', async () => {
        const w = tf.variable(
          tf.randomNormal([6, 4], 0, 0.5, 'float32', 5),
          true,
          `ba_w_${mode.name}`,
        );
        const b = tf.variable(tf.zeros([4]), true, `ba_b_${mode.name}`);
        const x = tf.randomNormal([10, 6], 0, 1, 'float32', 6);
        const opt = tf.train.sgd(0.1);
        for (const activation of ['linear', 'relu'] as const) {
          const step = () =>
            opt.minimize(
              () => tf.sum(tf.square(biasActivation(tf.matMul(x, w), b, activation))),
              false,
              [w, b],
            );
          step();
          const bytes = tf.memory().numBytes;
          await expectNoTensorLeak(step, { steps: 50 });
          expect(tf.memory().numBytes).toBe(bytes);
        }
        opt.dispose();
        tf.dispose([w, b, x]);
      });
    });
  }
});
