/**
 * IgmSoftmaxCrossEntropy / IgmSoftmaxCrossEntropyGrad on cpu: bit for bit the composition
 * -mean(sum(oneHot(y) * logSoftmax(z), -1)) and its autodiff (NaN and infinite logits, labels
 * outside [0, C), dy other than 1), PyTorch's cross_entropy within a stated tolerance, a toy with a
 * known answer, the fallbacks, argument errors and a leak test. The wasm kernels are tested in
 * @igm/wasm-training.
 */
import { expectAllClose, expectNoTensorLeak, loadFixture, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fusedSoftmaxCrossEntropyAvailable,
  IgmArgumentError,
  IgmSoftmaxCrossEntropy,
  IgmSoftmaxCrossEntropyGrad,
  registerCpuSoftmaxCrossEntropyKernels,
  softmaxCrossEntropy,
  unregisterSoftmaxCrossEntropyKernels,
} from '../src';
import { kernelNamesOf } from './batch-norm-scenario';
import {
  CROSS_ENTROPY_CASES,
  expectSameCrossEntropyRecords,
  runCrossEntropyCase,
} from './softmax-cross-entropy-scenario';

interface TorchCase {
  batch: number;
  classes: number;
  dy: number;
  logits: number[];
  labels: number[];
  loss: number;
  dLogits: number[];
}
const torch = loadFixture<{ cases: TorchCase[] }>(
  new URL('./fixtures/softmax-cross-entropy.json', import.meta.url),
);

const lossAndGrad = (z: tf.Tensor2D, y: tf.Tensor1D, dy = 1) => {
  const v = tf.variable(z, true, `ce_${Math.random()}`);
  const { value, grads } = tf.variableGrads(
    () => tf.mul(softmaxCrossEntropy(v, y), dy) as tf.Scalar,
    [v],
  );
  const out = { loss: value.dataSync()[0]!, dLogits: Array.from(grads[v.name]!.dataSync()) };
  tf.dispose([value, grads[v.name]!, v]);
  return out;
};

describe('fused softmax cross-entropy on cpu', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterAll(() => {
    unregisterSoftmaxCrossEntropyKernels('cpu');
  });

  it('registers both kernels idempotently and unregisters them', () => {
    unregisterSoftmaxCrossEntropyKernels('cpu');
    expect(registerCpuSoftmaxCrossEntropyKernels()).toBe(true);
    expect(registerCpuSoftmaxCrossEntropyKernels()).toBe(false);
    expect(tf.getKernel(IgmSoftmaxCrossEntropy, 'cpu')).toBeDefined();
    expect(tf.getKernel(IgmSoftmaxCrossEntropyGrad, 'cpu')).toBeDefined();
    expect(unregisterSoftmaxCrossEntropyKernels('cpu')).toBe(true);
    expect(unregisterSoftmaxCrossEntropyKernels('cpu')).toBe(false);
    const z = { dtype: 'float32', shape: [4, 3] };
    expect(fusedSoftmaxCrossEntropyAvailable(z, { dtype: 'int32', shape: [4] })).toBe(false);
  });

  it('runs the two kernels when registered, the composition otherwise', async () => {
    const z = tf.randomNormal([8, 5], 0, 1, 'float32', 3) as tf.Tensor2D;
    const y = tf.tensor1d([0, 1, 2, 3, 4, 0, 1, 2], 'int32');
    const loss = () => tf.grads((zi: tf.Tensor) => softmaxCrossEntropy(zi, y))([z]);
    unregisterSoftmaxCrossEntropyKernels('cpu');
    const composed = await kernelNamesOf(loss);
    expect(composed).toEqual(expect.arrayContaining(['OneHot', 'Max', 'Exp', 'Log', 'Mean']));
    registerCpuSoftmaxCrossEntropyKernels();
    const fused = await kernelNamesOf(loss);
    expect(fused).toEqual(
      expect.arrayContaining([IgmSoftmaxCrossEntropy, IgmSoftmaxCrossEntropyGrad]),
    );
    // Only the engine's copies of the saved tensors (Identity) besides the two kernels.
    expect(fused.filter((k) => k !== 'Identity').sort()).toEqual([
      IgmSoftmaxCrossEntropy,
      IgmSoftmaxCrossEntropyGrad,
    ]);
    // Float labels, one class or rank-3 logits: not for the kernels (the composition decides).
    const f32 = { dtype: 'float32', shape: [8] };
    expect(fusedSoftmaxCrossEntropyAvailable(z, f32)).toBe(false);
    expect(fusedSoftmaxCrossEntropyAvailable({ dtype: 'float32', shape: [8, 1] }, y)).toBe(false);
    expect(fusedSoftmaxCrossEntropyAvailable({ dtype: 'float32', shape: [8, 2, 2] }, y)).toBe(
      false,
    );
    expect(fusedSoftmaxCrossEntropyAvailable(z, y)).toBe(true);
    tf.dispose([z, y]);
  });

  for (const c of CROSS_ENTROPY_CASES) {
    it(`equals the composition bit for bit: ${c.name}`, () => {
      for (const seed of [1, 2, 3]) {
        unregisterSoftmaxCrossEntropyKernels('cpu');
        const composed = runCrossEntropyCase(c, seed);
        registerCpuSoftmaxCrossEntropyKernels();
        const fused = runCrossEntropyCase(c, seed);
        expectSameCrossEntropyRecords(fused, composed, `${c.name} seed ${seed}`);
      }
    });
  }

  it('matches PyTorch cross_entropy (loss and gradient)', () => {
    // Both sides are dy * loss. PyTorch sums in another order and has its own exp/log: both sides are float32 results
    // within a few units in the last place of the exact value. The loss (<= ~70 here) is
    // compared relatively (2e-6, ~16 ulp), the gradient entries (|dz| <= |dy| / B) absolutely
    // against 2e-7 * |dy| (values near 1/B carry ~1e-8 rounding; near-one-hot rows at logit
    // scale 30 cancel 1 - p in float32, the largest source, ~1e-7).
    registerCpuSoftmaxCrossEntropyKernels();
    for (const t of torch.cases) {
      const z = tf.tensor2d(t.logits, [t.batch, t.classes]);
      const y = tf.tensor1d(t.labels, 'int32');
      const ours = lossAndGrad(z, y, t.dy);
      const label = `B=${t.batch} C=${t.classes}`;
      expectAllClose(ours.loss, t.loss * t.dy, { rtol: 2e-6, atol: 1e-7, label: `${label} loss` });
      expectAllClose(ours.dLogits, t.dLogits, {
        atol: 2e-7 * Math.abs(t.dy),
        label: `${label} dLogits`,
      });
      tf.dispose([z, y]);
    }
  });

  it('gives log C and (1/C - onehot) / B on equal logits (toy with a known answer)', () => {
    registerCpuSoftmaxCrossEntropyKernels();
    const B = 4;
    const C = 5;
    const z = tf.fill([B, C], 2.5) as tf.Tensor2D;
    const y = tf.tensor1d([0, 3, 4, 1], 'int32');
    const { loss, dLogits } = lossAndGrad(z, y);
    expect(loss).toBeCloseTo(Math.log(C), 6);
    const expected = [0, 3, 4, 1].flatMap((label) =>
      Array.from({ length: C }, (_, j) => (1 / C - (j === label ? 1 : 0)) / B),
    );
    expectAllClose(dLogits, expected, { atol: 1e-7, label: 'dLogits' });
    tf.dispose([z, y]);
  });

  it('keeps the composition for float labels and reports one class as it does', () => {
    registerCpuSoftmaxCrossEntropyKernels();
    const z = tf.randomNormal([6, 3], 0, 1, 'float32', 9) as tf.Tensor2D;
    const yi = tf.tensor1d([0, 1, 2, 2, 1, 0], 'int32');
    const yf = tf.tensor1d([0, 1, 2, 2, 1, 0], 'float32');
    const viaInt = lossAndGrad(z, yi);
    const viaFloat = lossAndGrad(z, yf);
    expectSameCrossEntropyRecords(viaFloat, viaInt, 'float labels');
    const one = tf.zeros([3, 1]);
    expect(() => softmaxCrossEntropy(one, tf.tensor1d([0, 0, 0], 'int32'))).toThrow(/depth/);
    expect(() => softmaxCrossEntropy(tf.zeros([3]), yi)).toThrow(IgmArgumentError);
    expect(() => softmaxCrossEntropy(z, tf.zeros([5], 'int32'))).toThrow(/labels of shape \[5\]/);
    tf.dispose([z, yi, yf, one]);
  });

  it('names the input and what it expected when the kernels are called wrongly', () => {
    registerCpuSoftmaxCrossEntropyKernels();
    const z = tf.zeros([2, 3]);
    expect(() =>
      tf.engine().runKernel(IgmSoftmaxCrossEntropy, { logits: z, labels: tf.zeros([2]) }),
    ).toThrow(/labels are float32 of shape \[2\]; expected int32 \[2\]/);
    expect(() =>
      tf.engine().runKernel(IgmSoftmaxCrossEntropy, {
        logits: tf.zeros([2, 3], 'int32'),
        labels: tf.zeros([2], 'int32'),
      }),
    ).toThrow(/logits are int32/);
    expect(() => tf.engine().runKernel(IgmSoftmaxCrossEntropy, { logits: z })).toThrow(
      /input "labels" is missing/,
    );
    expect(() =>
      tf.engine().runKernel(IgmSoftmaxCrossEntropyGrad, {
        dy: tf.zeros([2]),
        logp: z,
        labels: tf.zeros([2], 'int32'),
      }),
    ).toThrow(/dy is float32 of shape \[2\]; expected a float32 scalar/);
  });

  it('leaves no tensors behind across training steps', async () => {
    registerCpuSoftmaxCrossEntropyKernels();
    const w = tf.variable(tf.randomNormal([6, 4], 0, 0.1, 'float32', 5), true, 'ce_leak_w');
    const x = tf.randomNormal([10, 6], 0, 1, 'float32', 6);
    const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 0, 1], 'int32');
    const opt = tf.train.sgd(0.1);
    await expectNoTensorLeak(() => {
      opt.minimize(() => softmaxCrossEntropy(tf.matMul(x, w) as tf.Tensor2D, y), false, [w]);
    });
    // The composition path (kernels removed) leaks nothing either.
    unregisterSoftmaxCrossEntropyKernels('cpu');
    await expectNoTensorLeak(() => {
      opt.minimize(() => softmaxCrossEntropy(tf.matMul(x, w) as tf.Tensor2D, y), false, [w]);
    });
    opt.dispose();
    tf.dispose([w, x, y]);
  });
});
