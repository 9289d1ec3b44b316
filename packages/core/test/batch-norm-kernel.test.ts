/**
 * IgmBatchNormTraining / IgmBatchNormTrainingGrad on cpu: bit for bit the composition
 * tf.moments + tf.batchNorm and its autodiff (values, gradients, running statistics, several
 * steps), a toy with a known answer, argument checks and a leak test. The PyTorch parity and the
 * model-level runs are in @igm/models; the wasm kernels are tested in @igm/wasm-training.
 */
import { expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  batchNormTraining,
  fusedBatchNormAvailable,
  IgmArgumentError,
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  registerCpuBatchNormKernels,
  unregisterCpuBatchNormKernels,
} from '../src';
import {
  BN_SHAPES,
  expectSameBnRecords,
  kernelNamesOf,
  runBatchNormScenario,
  withoutPreActivation,
} from './batch-norm-scenario';

describe('fused training BatchNorm on cpu', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterAll(() => {
    unregisterCpuBatchNormKernels();
  });

  it('registers both kernels idempotently and unregisters them', () => {
    unregisterCpuBatchNormKernels();
    expect(registerCpuBatchNormKernels()).toBe(true);
    expect(registerCpuBatchNormKernels()).toBe(false);
    expect(tf.getKernel(IgmBatchNormTraining, 'cpu')).toBeDefined();
    expect(tf.getKernel(IgmBatchNormTrainingGrad, 'cpu')).toBeDefined();
    expect(unregisterCpuBatchNormKernels()).toBe(true);
    expect(unregisterCpuBatchNormKernels()).toBe(false);
    expect(fusedBatchNormAvailable(tf.zeros([2, 3]), tf.zeros([3]), tf.zeros([3]))).toBe(false);
  });

  it('runs the two kernels when registered, the composition otherwise', async () => {
    const x = tf.randomNormal([4, 3, 3, 5], 0, 1, 'float32', 1);
    const g = tf.ones([5]) as tf.Tensor1D;
    const b = tf.zeros([5]) as tf.Tensor1D;
    const loss = () =>
      tf.grads((xi: tf.Tensor) => tf.sum(batchNormTraining(xi, g, b, 1e-5).y))([x]);
    unregisterCpuBatchNormKernels();
    const composed = await kernelNamesOf(loss);
    expect(composed).toContain('FusedBatchNorm');
    registerCpuBatchNormKernels();
    const fused = await kernelNamesOf(loss);
    expect(fused).toContain(IgmBatchNormTraining);
    expect(fused).toContain(IgmBatchNormTrainingGrad);
    expect(fused).not.toContain('FusedBatchNorm');
    expect(fused).not.toContain('Mean');
    const c3 = { dtype: 'float32', shape: [3] };
    expect(fusedBatchNormAvailable({ dtype: 'float32', shape: [2, 3] }, c3, c3)).toBe(true);
    expect(fusedBatchNormAvailable({ dtype: 'int32', shape: [2, 3] }, c3, c3)).toBe(false);
    expect(fusedBatchNormAvailable({ dtype: 'float32', shape: [3] }, c3, c3)).toBe(false);
    // A scale of another shape (broadcast by tf.batchNorm) takes the composition.
    expect(
      fusedBatchNormAvailable(
        { dtype: 'float32', shape: [2, 3] },
        { dtype: 'float32', shape: [1] },
        c3,
      ),
    ).toBe(false);
    tf.dispose([x, g, b]);
  });

  it.each(BN_SHAPES.map((s) => [s.join('x'), s] as const))(
    'equals the composition bit for bit over 3 steps, x %s',
    (_, shape) => {
      unregisterCpuBatchNormKernels();
      const composed = runBatchNormScenario(shape, 11 + shape.length);
      registerCpuBatchNormKernels();
      const fused = runBatchNormScenario(shape, 11 + shape.length);
      expectSameBnRecords(fused, composed, `cpu ${shape.join('x')}`);
    },
  );

  it.each(BN_SHAPES.map((s) => [s.join('x'), s] as const))(
    'with a fused ReLU equals the composition + tf.relu bit for bit over 3 steps, x %s',
    (_, shape) => {
      for (const nearZero of [false, true]) {
        unregisterCpuBatchNormKernels();
        const composed = runBatchNormScenario(shape, 11 + shape.length, 3, 1e-5, { nearZero });
        // The option on the composition path: tf.relu after tf.batchNorm.
        const composedOption = runBatchNormScenario(shape, 11 + shape.length, 3, 1e-5, {
          nearZero,
          fuseRelu: true,
        });
        registerCpuBatchNormKernels();
        const fused = runBatchNormScenario(shape, 11 + shape.length, 3, 1e-5, {
          nearZero,
          fuseRelu: true,
        });
        const label = `cpu relu ${shape.join('x')}${nearZero ? ' near zero' : ''}`;
        expectSameBnRecords(fused, withoutPreActivation(composed), label);
        expectSameBnRecords(composedOption, withoutPreActivation(composed), `${label} (option)`);
      }
    },
  );

  it.each(BN_SHAPES.map((s) => [s.join('x'), s] as const))(
    'with a fused residual sum and ReLU equals the composition + tf.add + tf.relu bit for bit over 3 steps, x %s',
    (_, shape) => {
      for (const nearZero of [false, true]) {
        const run = (fuseRelu: boolean) =>
          runBatchNormScenario(shape, 11 + shape.length, 3, 1e-5, {
            nearZero,
            fuseRelu,
            residual: true,
          });
        unregisterCpuBatchNormKernels();
        const composed = run(false);
        const composedOption = run(true); // the options on the composition path
        registerCpuBatchNormKernels();
        const fused = run(true);
        const separate = run(false); // the kernels without the options, then tf.add + tf.relu
        const label = `cpu residual relu ${shape.join('x')}${nearZero ? ' near zero' : ''}`;
        expectSameBnRecords(fused, withoutPreActivation(composed), label);
        expectSameBnRecords(composedOption, withoutPreActivation(composed), `${label} (option)`);
        expectSameBnRecords(separate, composed, `${label} (separate)`);
      }
    },
  );

  it('a fused residual runs one kernel each way and no Add, Relu, Step or Multiply', async () => {
    registerCpuBatchNormKernels();
    const x = tf.randomNormal([4, 3, 3, 5], 0, 1, 'float32', 1);
    const r = tf.randomNormal([4, 3, 3, 5], 0, 1, 'float32', 2);
    const g = tf.ones([5]) as tf.Tensor1D;
    const b = tf.zeros([5]) as tf.Tensor1D;
    const names = await kernelNamesOf(() =>
      tf.grads(
        (xi: tf.Tensor, ri: tf.Tensor) =>
          batchNormTraining(xi, g, b, 1e-5, { activation: 'relu', residual: ri }).y,
      )([x, r]),
    );
    expect(names.filter((n) => n.startsWith('IgmBatchNorm'))).toEqual([
      IgmBatchNormTraining,
      IgmBatchNormTrainingGrad,
    ]);
    for (const k of ['Add', 'Relu', 'Step', 'Multiply']) expect(names).not.toContain(k);
    // Without an activation the residual's gradient is dy.
    const [, dr] = tf.grads((xi: tf.Tensor, ri: tf.Tensor) =>
      tf.mul(batchNormTraining(xi, g, b, 1e-5, { residual: ri }).y, 3),
    )([x, r]);
    expect(Array.from(dr!.dataSync())).toEqual(new Array(dr!.size).fill(3));
    tf.dispose([x, r, g, b, dr!]);
  });

  it('fuses the ReLU: out is +0 for y = -0, dy (*) 0 keeps the sign of dy, NaN stays NaN', async () => {
    registerCpuBatchNormKernels();
    // Channel 0 constant with gamma < 0 and beta = -0: y = -0 + (0 * gamma) / s = -0, out = +0.
    // Channel 1: x in {-1, 1}, y = -1 / 1 (about); channel 2 holds a NaN (mean, var, y all NaN).
    const x = tf.tensor2d([
      [2, -1, 1],
      [2, 1, Number.NaN],
      [2, -1, 3],
      [2, 1, 4],
    ]);
    const gamma = tf.tensor1d([-1, 1, 1]);
    const beta = tf.tensor1d([-0, 0, 0]);
    const dy = tf.tensor2d([
      [-3, -2, 1],
      [5, -4, 1],
      [-1, 6, 1],
      [2, 7, 1],
    ]);
    const run = () =>
      tf.tidy(() => {
        const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
          tf.sum(
            tf.mul(
              batchNormTraining(xi, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5, {
                activation: 'relu',
              }).y,
              dy,
            ),
          );
        const out = batchNormTraining(x, gamma, beta, 1e-5, { activation: 'relu' }).y;
        return [out, ...tf.grads(f)([x, gamma, beta])].map((t) => t.dataSync() as Float32Array);
      });
    const fused = run();
    expect(Object.is(fused[0]![0], 0)).toBe(true);
    expect(Array.from(fused[0]!.filter((_, i) => i % 3 === 1))).toEqual(
      [0, 1, 0, 1].map((v) => (v === 0 ? 0 : expect.closeTo(1, 4))),
    );
    expect(Number.isNaN(fused[0]![2])).toBe(true);
    // Channel 0: dy (*) step(+0) = dy (*) 0, so -3 (*) 0 = -0 feeds the sums; dOffset = 0.
    expect(fused[3]![0]).toBe(0);
    unregisterCpuBatchNormKernels();
    const composed = tf.tidy(() => {
      const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => {
        const axes = [0];
        const { mean, variance } = tf.moments(xi, axes);
        return tf.sum(tf.mul(tf.relu(tf.batchNorm(xi, mean, variance, bi, gi, 1e-5)), dy));
      };
      const { mean, variance } = tf.moments(x, [0]);
      const out = tf.relu(tf.batchNorm(x, mean, variance, beta, gamma, 1e-5));
      return [out, ...tf.grads(f)([x, gamma, beta])].map((t) => t.dataSync() as Float32Array);
    });
    expectSameBnRecords(
      [{ out: fused[0]!, dx: fused[1]!, dgamma: fused[2]!, dbeta: fused[3]! }],
      [{ out: composed[0]!, dx: composed[1]!, dgamma: composed[2]!, dbeta: composed[3]! }],
      'cpu relu special values',
      true,
    );
    registerCpuBatchNormKernels();
    const names = await kernelNamesOf(() =>
      tf.grads((xi: tf.Tensor) =>
        tf.sum(tf.mul(batchNormTraining(xi, gamma, beta, 1e-5, { activation: 'relu' }).y, dy)),
      )([x]),
    );
    expect(names).toContain(IgmBatchNormTrainingGrad);
    for (const name of ['Relu', 'Step', 'FusedBatchNorm']) expect(names).not.toContain(name);
    tf.dispose([x, gamma, beta, dy]);
  });

  it('equals the composition with another epsilon and large offsets (cancellation)', () => {
    const shape = [5, 4, 4, 6];
    const run = () => {
      // Values around 1000 with spread ~1: the variance comes from large cancelling terms.
      return tf.tidy(() => {
        const x = tf.add(tf.randomNormal(shape, 0, 1, 'float32', 3), 1000);
        const g = tf.tensor1d([1, -2, 0.5, 3, 1, 0.25]);
        const b = tf.tensor1d([0, 1, -1, 2, 0, 0.5]);
        const w = tf.randomNormal(shape, 0, 1, 'float32', 4);
        const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
          tf.sum(
            tf.mul(tf.relu(batchNormTraining(xi, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-3).y), w),
          );
        return tf
          .grads(f)([x, g, b])
          .map((t) => t.dataSync() as Float32Array);
      });
    };
    unregisterCpuBatchNormKernels();
    const composed = run();
    registerCpuBatchNormKernels();
    const fused = run();
    expectSameBnRecords(
      [{ dx: fused[0]!, dgamma: fused[1]!, dbeta: fused[2]! }],
      [{ dx: composed[0]!, dgamma: composed[1]!, dbeta: composed[2]! }],
      'cpu, eps 1e-3, offset 1000',
    );
  });

  it('gives y = beta, var = 0 and the closed-form gradients for an input constant per channel', () => {
    registerCpuBatchNormKernels();
    // 16 positions per channel (a power of 2: the sums below are exact in float32).
    const channels = [3, -1.5, 0.25];
    const shape = [4, 2, 2, 3];
    const size = 48;
    const x = tf.tensor(
      Array.from({ length: size }, (_, i) => channels[i % 3]!),
      shape,
    );
    const gamma = tf.tensor1d([2, 0.5, -1]);
    const beta = tf.tensor1d([0.1, -0.2, 0.3]);
    const { y, mean, variance } = batchNormTraining(x, gamma, beta, 1e-5);
    expect(Array.from(mean.dataSync())).toEqual(channels.map(Math.fround));
    expect(Array.from(variance.dataSync())).toEqual([0, 0, 0]);
    const yv = y.dataSync();
    for (let i = 0; i < size; i++) expect(yv[i]).toBe(Math.fround([0.1, -0.2, 0.3][i % 3]!));
    const gradsOf = (w: tf.Tensor) =>
      tf.grads((xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) =>
        tf.sum(tf.mul(batchNormTraining(xi, gi as tf.Tensor1D, bi as tf.Tensor1D, 1e-5).y, w)),
      )([x, gamma, beta]);
    // Loss sum(y): dy = 1, so dx = gamma r (dy - mean(dy)) = 0 exactly, dgamma = 0, dbeta = 16.
    const ones = tf.ones(shape);
    const [dx1, dg1, db1] = gradsOf(ones);
    for (const v of dx1!.dataSync()) expect(Math.abs(v)).toBe(0);
    expect(Array.from(dg1!.dataSync())).toEqual([0, 0, 0]);
    expect(Array.from(db1!.dataSync())).toEqual([16, 16, 16]);
    // Loss sum(w * y): dx = gamma / sqrt(eps) * (w - mean_c(w)) (x - mean = 0 drops the variance
    // term), dgamma = 0, dbeta = sum_c(w); within float32 rounding of r = 1/sqrt(1e-5) ~ 316.
    const wv = Float32Array.from({ length: size }, (_, i) => ((i * 7) % 11) / 10 - 0.5);
    const w = tf.tensor(wv, shape);
    const [dx, dgamma, dbeta] = gradsOf(w);
    const mw = [0, 1, 2].map((c) => {
      let s = 0;
      for (let i = c; i < size; i += 3) s += wv[i]!;
      return s;
    });
    const g = [2, 0.5, -1];
    const dxv = dx!.dataSync();
    for (let i = 0; i < size; i++) {
      const c = i % 3;
      const want = (g[c]! / Math.sqrt(1e-5)) * (wv[i]! - mw[c]! / 16);
      expect(Math.abs(dxv[i]! - want)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(want)));
    }
    expect(Array.from(dgamma!.dataSync())).toEqual([0, 0, 0]);
    dbeta!.dataSync().forEach((v, c) => {
      expect(v).toBeCloseTo(mw[c]!, 5);
    });
    tf.dispose([
      x,
      gamma,
      beta,
      y,
      mean,
      variance,
      ones,
      w,
      dx1!,
      dg1!,
      db1!,
      dx!,
      dgamma!,
      dbeta!,
    ]);
  });

  it('keeps tensor counts flat across training steps', async () => {
    registerCpuBatchNormKernels();
    const x = tf.randomNormal([4, 5, 5, 6], 0, 1, 'float32', 5);
    const g = tf.variable(tf.ones([6]));
    const b = tf.variable(tf.zeros([6]));
    const opt = tf.train.sgd(0.1);
    for (const activation of ['none', 'relu'] as const) {
      await expectNoTensorLeak(() => {
        opt.minimize(() =>
          tf.sum(
            tf.square(
              batchNormTraining(x, g as unknown as tf.Tensor1D, b as unknown as tf.Tensor1D, 1e-5, {
                activation,
              }).y,
            ),
          ),
        );
      });
    }
    unregisterCpuBatchNormKernels();
    // The composition path with the option (tf.relu after tf.batchNorm) leaks nothing either.
    await expectNoTensorLeak(() => {
      opt.minimize(() =>
        tf.sum(
          batchNormTraining(x, g as unknown as tf.Tensor1D, b as unknown as tf.Tensor1D, 1e-5, {
            activation: 'relu',
          }).y,
        ),
      );
    });
    registerCpuBatchNormKernels();
    tf.dispose([x, g, b]);
  });

  it('rejects bad inputs with errors naming them', () => {
    registerCpuBatchNormKernels();
    const run = (inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>) =>
      tf.engine().runKernel(IgmBatchNormTraining, inputs, attrs as tf.NamedAttrMap);
    const x = tf.zeros([2, 3]);
    const c3 = tf.zeros([3]);
    expect(() => run({ x, scale: tf.zeros([4]), offset: c3 }, { varianceEpsilon: 1e-5 })).toThrow(
      /input scale has shape \[4\]; expected \[3\]/,
    );
    expect(() => run({ x, scale: c3, offset: c3 }, { varianceEpsilon: 0 })).toThrow(
      IgmArgumentError,
    );
    expect(() =>
      run({ x: tf.zeros([3]), scale: c3, offset: c3 }, { varianceEpsilon: 1e-5 }),
    ).toThrow(/expected rank 2 or more/);
    expect(() =>
      tf
        .engine()
        .runKernel(
          IgmBatchNormTrainingGrad,
          { dy: tf.zeros([2, 4]), x, scale: c3, mean: c3, variance: c3 },
          { varianceEpsilon: 1e-5 } as unknown as tf.NamedAttrMap,
        ),
    ).toThrow(/input dy has shape \[2, 4\]; expected x's shape \[2, 3\]/);
    expect(() => batchNormTraining(x, c3 as tf.Tensor1D, c3 as tf.Tensor1D, -1)).toThrow(
      /varianceEpsilon=-1/,
    );
    expect(() =>
      run({ x, scale: c3, offset: c3 }, { varianceEpsilon: 1e-5, activation: 'sigmoid' }),
    ).toThrow(/attribute activation="sigmoid". Expected one of "none", "relu"/);
    expect(() =>
      batchNormTraining(x, c3 as tf.Tensor1D, c3 as tf.Tensor1D, 1e-5, {
        activation: 'gelu' as 'relu',
      }),
    ).toThrow(/activation="gelu"/);
    expect(() =>
      tf
        .engine()
        .runKernel(IgmBatchNormTrainingGrad, { dy: x, x, scale: c3, mean: c3, variance: c3 }, {
          varianceEpsilon: 1e-5,
          activation: 'relu',
        } as unknown as tf.NamedAttrMap),
    ).toThrow(/input out \(the forward's output\) is missing/);
    expect(() =>
      tf
        .engine()
        .runKernel(
          IgmBatchNormTrainingGrad,
          { dy: x, x, scale: c3, mean: c3, variance: c3, out: tf.zeros([3, 2]) },
          { varianceEpsilon: 1e-5, activation: 'relu' } as unknown as tf.NamedAttrMap,
        ),
    ).toThrow(/input out has shape \[3, 2\]; expected x's shape \[2, 3\]/);
    // The residual: present exactly with the attribute, x's shape, a boolean attribute.
    expect(() =>
      run({ x, scale: c3, offset: c3 }, { varianceEpsilon: 1e-5, residual: true }),
    ).toThrow(/the input residual is missing/);
    expect(() => run({ x, scale: c3, offset: c3, residual: x }, { varianceEpsilon: 1e-5 })).toThrow(
      /got an input residual but the attribute residual is not true/,
    );
    expect(() =>
      run(
        { x, scale: c3, offset: c3, residual: tf.zeros([3, 2]) },
        { varianceEpsilon: 1e-5, residual: true },
      ),
    ).toThrow(/input residual has shape \[3, 2\]; expected x's shape \[2, 3\]/);
    expect(() =>
      run({ x, scale: c3, offset: c3, residual: x }, { varianceEpsilon: 1e-5, residual: 'yes' }),
    ).toThrow(/attribute residual is "yes"; expected true or false/);
    expect(() =>
      batchNormTraining(x, c3 as tf.Tensor1D, c3 as tf.Tensor1D, 1e-5, {
        residual: tf.zeros([2, 4]),
      }),
    ).toThrow(/option residual has shape \[2, 4\]; expected x's shape \[2, 3\]/);
  });
});
