import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { countKernelWork, matrixProductShapeOf, productFlopsOf } from '../src/bench';

describe('productFlopsOf', () => {
  it('counts 2·m·n·k per matrix product, with transposes and a batch', () => {
    expect(productFlopsOf('BatchMatMul', { a: { shape: [2, 3] }, b: { shape: [3, 4] } })).toBe(
      2 * 2 * 4 * 3,
    );
    expect(
      productFlopsOf(
        '_FusedMatMul',
        { a: { shape: [3, 2] }, b: { shape: [4, 3] } },
        { transposeA: true, transposeB: true },
      ),
    ).toBe(2 * 2 * 4 * 3);
    expect(productFlopsOf('BatchMatMul', { a: { shape: [5, 2, 3] }, b: { shape: [3, 4] } })).toBe(
      5 * 2 * 2 * 4 * 3,
    );
  });

  it('counts a convolution and both gradients as the same direct work', () => {
    // 8x8x3 input, 3x3x3x4 filter, stride 1, 'same': 8·8 outputs x 4 channels x 27 taps.
    const forward = productFlopsOf(
      'Conv2D',
      { x: { shape: [1, 8, 8, 3] }, filter: { shape: [3, 3, 3, 4] } },
      { strides: 1, pad: 'same' },
    );
    expect(forward).toBe(2 * 64 * 4 * 27);
    const dy = { shape: [1, 8, 8, 4] };
    expect(productFlopsOf('Conv2DBackpropInput', { dy, filter: { shape: [3, 3, 3, 4] } })).toBe(
      forward,
    );
    expect(
      productFlopsOf(
        'Conv2DBackpropFilter',
        { x: { shape: [1, 8, 8, 3] }, dy },
        {
          filterShape: [3, 3, 3, 4],
        },
      ),
    ).toBe(forward);
    // 'valid' with stride 2: (8 - 3) / 2 + 1 = 3 outputs per axis.
    expect(
      productFlopsOf(
        'Conv2D',
        { x: { shape: [1, 8, 8, 3] }, filter: { shape: [3, 3, 3, 4] } },
        { strides: [2, 2], pad: 'valid' },
      ),
    ).toBe(2 * 9 * 4 * 27);
    expect(productFlopsOf('Add', { a: { shape: [100] }, b: { shape: [100] } })).toBe(0);
  });
});

describe('matrixProductShapeOf', () => {
  it('reads m, k, n and the batch through the transposes; other kernels give undefined', () => {
    expect(
      matrixProductShapeOf(
        '_FusedMatMul',
        { a: { shape: [7, 3, 2] }, b: { shape: [4, 3] } },
        { transposeA: true, transposeB: true },
      ),
    ).toEqual({
      kernel: '_FusedMatMul',
      batch: 7,
      m: 2,
      k: 3,
      n: 4,
      transposeA: true,
      transposeB: true,
    });
    expect(matrixProductShapeOf('Add', { a: { shape: [2] }, b: { shape: [2] } })).toBeUndefined();
  });

  it('counts repeated shapes once, with their calls', () => {
    const engine = tf.engine();
    const a = tf.ones([2, 3]);
    const b = tf.ones([3, 5]);
    const counter = countKernelWork(engine as never);
    for (let i = 0; i < 3; i++) tf.matMul(a, b).dispose();
    tf.matMul(b, a, true, true).dispose();
    const work = counter.stop();
    expect(work.matrixProducts.map((p) => [p.m, p.k, p.n, p.calls])).toEqual([
      [2, 3, 5, 3],
      [5, 3, 2, 1],
    ]);
    tf.dispose([a, b]);
  });
});

describe('countKernelWork', () => {
  it('sees every kernel of a dense layer training step, and restores the engine', () => {
    const engine = tf.engine();
    const original = engine.runKernel;
    const x = tf.ones([4, 3]);
    const w = tf.variable(tf.ones([3, 2]));
    const counter = countKernelWork(engine as never);
    tf.tidy(() => tf.variableGrads(() => tf.sum(tf.matMul(x, w)) as tf.Scalar, [w]));
    const work = counter.stop();
    expect(engine.runKernel).toBe(original);
    // Forward x·w (2·4·2·3) and the weight gradient xᵀ·dy (2·3·2·4); x is no variable.
    expect(work.productFlops).toBe(2 * 4 * 2 * 3 * 2);
    expect(work.byKernel['BatchMatMul']?.calls).toBe(2);
    expect(work.kernelCalls).toBeGreaterThan(2);
    // The forward product, then the gradient's: xᵀ (stored [4, 3], transposed) times dy [4, 2].
    expect(work.matrixProducts).toEqual([
      {
        kernel: 'BatchMatMul',
        batch: 1,
        m: 4,
        k: 3,
        n: 2,
        transposeA: false,
        transposeB: false,
        calls: 1,
      },
      {
        kernel: 'BatchMatMul',
        batch: 1,
        m: 3,
        k: 4,
        n: 2,
        transposeA: true,
        transposeB: false,
        calls: 1,
      },
    ]);
    tf.dispose([x, w]);
  });
});
