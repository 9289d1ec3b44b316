/**
 * IgmBiasActivation / IgmBiasActivationGrad on cpu: bit for bit tf.add (+ tf.relu) and their
 * autodiff (NaN, infinities, signed zeros, a bias that cancels z exactly, rank 3), a toy with a
 * known answer, the fallback, argument errors and a leak test. The wasm kernels are tested in
 * @igm/wasm-training, the Dense layer built on them in @igm/models.
 */
import { expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  biasActivation,
  fusedBiasActivationAvailable,
  IgmArgumentError,
  IgmBiasActivation,
  IgmBiasActivationGrad,
  registerCpuBiasActivationKernels,
  unregisterBiasActivationKernels,
} from '../src';
import { kernelNamesOf } from './batch-norm-scenario';
import {
  BIAS_ACTIVATION_CASES,
  expectSameBiasActivationRecords,
  runBiasActivationCase,
} from './bias-activation-scenario';

describe('fused bias + activation on cpu', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterAll(() => {
    unregisterBiasActivationKernels('cpu');
  });

  it('registers both kernels idempotently and unregisters them', () => {
    unregisterBiasActivationKernels('cpu');
    expect(registerCpuBiasActivationKernels()).toBe(true);
    expect(registerCpuBiasActivationKernels()).toBe(false);
    expect(tf.getKernel(IgmBiasActivation, 'cpu')).toBeDefined();
    expect(tf.getKernel(IgmBiasActivationGrad, 'cpu')).toBeDefined();
    expect(unregisterBiasActivationKernels('cpu')).toBe(true);
    expect(unregisterBiasActivationKernels('cpu')).toBe(false);
    const z = { dtype: 'float32', shape: [4, 3] };
    expect(fusedBiasActivationAvailable(z, { dtype: 'float32', shape: [3] })).toBe(false);
  });

  it('runs the two kernels when registered, the composition otherwise', async () => {
    const z = tf.randomNormal([8, 5], 0, 1, 'float32', 3);
    const b = tf.randomNormal([5], 0, 1, 'float32', 4);
    const grads = () =>
      tf.grads((zi: tf.Tensor, bi: tf.Tensor) => tf.sum(biasActivation(zi, bi, 'relu')))([z, b]);
    unregisterBiasActivationKernels('cpu');
    expect(await kernelNamesOf(grads)).toEqual(expect.arrayContaining(['Add', 'Relu', 'Step']));
    registerCpuBiasActivationKernels();
    const fused = await kernelNamesOf(grads);
    expect(fused).toEqual(expect.arrayContaining([IgmBiasActivation, IgmBiasActivationGrad]));
    // (tf.sum's gradient multiplies dy by ones: no Multiply check here.)
    for (const name of ['Add', 'Relu', 'Step']) expect(fused).not.toContain(name);
    const f = { dtype: 'float32' };
    expect(fusedBiasActivationAvailable({ ...f, shape: [8, 5] }, { ...f, shape: [5] })).toBe(true);
    // A bias that does not match the last axis, rank 1 or int32: the composition decides.
    expect(fusedBiasActivationAvailable({ ...f, shape: [8, 5] }, { ...f, shape: [8] })).toBe(false);
    expect(fusedBiasActivationAvailable({ ...f, shape: [5] }, { ...f, shape: [5] })).toBe(false);
    expect(
      fusedBiasActivationAvailable({ dtype: 'int32', shape: [8, 5] }, { ...f, shape: [5] }),
    ).toBe(false);
    tf.dispose([z, b]);
  });

  for (const activation of ['linear', 'relu'] as const) {
    for (const c of BIAS_ACTIVATION_CASES) {
      it(`equals the composition bit for bit: ${activation}, ${c.name}`, () => {
        for (const seed of [1, 2]) {
          unregisterBiasActivationKernels('cpu');
          const composed = runBiasActivationCase(c, activation, seed);
          registerCpuBiasActivationKernels();
          const fused = runBiasActivationCase(c, activation, seed);
          expectSameBiasActivationRecords(fused, composed, `${activation} ${c.name} ${seed}`);
        }
      });
    }
  }

  it('gives relu(z + b), dy * [z + b > 0] and the column sums (toy with a known answer)', () => {
    registerCpuBiasActivationKernels();
    const z = tf.tensor2d([
      [1, -2, 3],
      [-1, 0.5, -4],
    ]);
    const b = tf.tensor1d([0.5, 1, 1]);
    const dy = tf.tensor2d([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(biasActivation(z, b, 'relu').arraySync()).toEqual([
      [1.5, 0, 4],
      [0, 1.5, 0],
    ]);
    const [dz, db] = tf.grads((zi: tf.Tensor, bi: tf.Tensor) =>
      tf.sum(tf.mul(dy, biasActivation(zi, bi, 'relu'))),
    )([z, b]);
    expect(dz!.arraySync()).toEqual([
      [1, 0, 3],
      [0, 5, 0],
    ]);
    expect(db!.arraySync()).toEqual([1, 5, 3]);
    tf.dispose([z, b, dy, dz!, db!]);
  });

  it('names the input and what it expected', () => {
    registerCpuBiasActivationKernels();
    const z = tf.zeros([2, 3]);
    expect(() => biasActivation(z, tf.zeros([3]), 'tanh' as never)).toThrow(IgmArgumentError);
    expect(() =>
      tf.engine().runKernel(IgmBiasActivation, { x: z, bias: tf.zeros([2]) }, {
        activation: 'relu',
      } as never),
    ).toThrow(/bias has shape \[2\] for x \[2, 3\]; expected \[3\]/);
    expect(() =>
      tf
        .engine()
        .runKernel(IgmBiasActivation, { x: tf.zeros([2, 3], 'int32'), bias: tf.zeros([3]) }),
    ).toThrow(/input "x" is int32/);
    expect(() =>
      tf.engine().runKernel(IgmBiasActivationGrad, { dy: z, out: tf.zeros([3, 2]) }, {
        activation: 'relu',
      } as never),
    ).toThrow(/out has shape \[3, 2\]; expected dy's \[2, 3\]/);
  });

  it('leaves no tensors behind across training steps', async () => {
    registerCpuBiasActivationKernels();
    const w = tf.variable(tf.randomNormal([6, 4], 0, 0.5, 'float32', 5), true, 'ba_leak_w');
    const b = tf.variable(tf.zeros([4]), true, 'ba_leak_b');
    const x = tf.randomNormal([10, 6], 0, 1, 'float32', 6);
    const opt = tf.train.sgd(0.1);
    for (const activation of ['linear', 'relu'] as const) {
      await expectNoTensorLeak(() => {
        opt.minimize(
          () => tf.sum(tf.square(biasActivation(tf.matMul(x, w), b, activation))),
          false,
          [w, b],
        );
      });
    }
    opt.dispose();
    tf.dispose([w, b, x]);
  });
});
