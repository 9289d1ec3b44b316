import { expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
  type WasmTrainingKernel,
} from '../src/index';

describe('registerWasmTrainingKernels', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(() => {
    registerWasmTrainingKernels();
  });

  it('registers every kernel, says which it overrode and which it added, and is idempotent', () => {
    unregisterWasmTrainingKernels();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    const first = registerWasmTrainingKernels();
    expect(first.map((k) => k.kernelName)).toEqual([...WASM_TRAINING_KERNELS]);
    expect(Object.fromEntries(first.map((k) => [k.kernelName, k.action]))).toEqual({
      BatchMatMul: 'override',
      Conv2D: 'override',
      FusedConv2D: 'override',
      Conv2DBackpropFilter: 'added',
      Conv2DBackpropInput: 'override',
      DepthwiseConv2dNativeBackpropFilter: 'added',
      DepthwiseConv2dNativeBackpropInput: 'added',
      UnsortedSegmentSum: 'added',
      MaxPoolGrad: 'override',
      Sum: 'override',
      Mean: 'override',
      Tile: 'override',
      Identity: 'override',
      Add: 'override',
      Sub: 'override',
      Multiply: 'override',
      RealDiv: 'override',
      Cast: 'override',
      FusedBatchNorm: 'override',
      Relu: 'override',
      Step: 'override',
      _FusedMatMul: 'override',
      Slice: 'override',
      SplitV: 'override',
      GatherV2: 'override',
      IgmSgdMomentumUpdate: 'added',
      IgmBatchNormTraining: 'added',
      IgmBatchNormTrainingGrad: 'added',
      IgmSoftmaxCrossEntropy: 'added',
      IgmSoftmaxCrossEntropyGrad: 'added',
      IgmBiasActivation: 'added',
      IgmBiasActivationGrad: 'added',
    });
    const kernelBefore = tf.getKernel('BatchMatMul', 'wasm');
    expect(registerWasmTrainingKernels()).toEqual(first);
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBe(kernelBefore);
  });

  it('unregister restores the stock kernels, which still work', () => {
    registerWasmTrainingKernels();
    const restored = unregisterWasmTrainingKernels();
    expect(restored).toContain('BatchMatMul');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    const y = tf.tidy(
      () => tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()[0],
    );
    expect(y).toBe(11);
  });

  it('registers a chosen subset', () => {
    unregisterWasmTrainingKernels();
    const r = registerWasmTrainingKernels({ kernels: ['UnsortedSegmentSum'] });
    expect(r).toEqual([{ kernelName: 'UnsortedSegmentSum', action: 'added' }]);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    unregisterWasmTrainingKernels();
  });

  it('rejects unknown options and kernel names, naming them', () => {
    expect(() => registerWasmTrainingKernels({ kernel: [] } as never)).toThrow(/kernel/);
    expect(() =>
      registerWasmTrainingKernels({ kernels: ['Conv3D' as WasmTrainingKernel] }),
    ).toThrow(/"Conv3D".*WASM_TRAINING_KERNELS/);
  });
});

describe('training with the registered kernels', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    registerWasmTrainingKernels();
  });

  it('a small CNN + MLP learns a separable toy problem on wasm', () => {
    // Two classes: bright top half vs bright bottom half of an 8x8 image.
    const n = 32;
    const xs = new Float32Array(n * 64);
    const ys = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) {
      const top = i % 2 === 0;
      for (let p = 0; p < 64; p++) xs[i * 64 + p] = p < 32 === top ? 1 : 0;
      ys[i * 2 + (top ? 0 : 1)] = 1;
    }
    const x = tf.tensor4d(xs, [n, 8, 8, 1]);
    const y = tf.tensor2d(ys, [n, 2]);
    const w1 = tf.variable(
      tf.randomNormal([3, 3, 1, 4], 0, 0.3, 'float32', 1),
    ) as tf.Variable<tf.Rank.R4>;
    const w2 = tf.variable(tf.randomNormal([8 * 8 * 4, 2], 0, 0.05, 'float32', 2));
    const opt = tf.train.sgd(0.1);
    const loss = () =>
      tf.losses.softmaxCrossEntropy(
        y,
        tf.matMul(tf.reshape(tf.relu(tf.conv2d(x, w1, 1, 'same')), [n, -1]), w2),
      ) as tf.Scalar;
    const first = tf.tidy(() => loss().dataSync()[0]!);
    for (let i = 0; i < 60; i++) tf.dispose(opt.minimize(loss, true) ?? []);
    const last = tf.tidy(() => loss().dataSync()[0]!);
    expect(first).toBeGreaterThan(0.4); // ~ln 2 at a random start
    expect(last).toBeLessThan(0.1);
    tf.dispose([x, y, w1, w2]);
    opt.dispose();
  });

  it('leaks no tensors or kernel buffers and does not grow the wasm heap over 300 training steps', async () => {
    const x = tf.randomNormal([8, 12, 10, 2], 0, 1, 'float32', 3) as tf.Tensor4D;
    const ids = tf.tensor1d([0, 3, 1, 3, 2, 0, 1, 2], 'int32');
    const emb = tf.variable(tf.randomNormal([4, 5], 0, 0.1, 'float32', 4));
    const wc = tf.variable(
      tf.randomNormal([3, 3, 2, 4], 0, 0.1, 'float32', 5),
    ) as tf.Variable<tf.Rank.R4>;
    const wd = tf.variable(
      tf.randomNormal([3, 3, 4, 1], 0, 0.1, 'float32', 6),
    ) as tf.Variable<tf.Rank.R4>;
    const wf = tf.variable(tf.randomNormal([6 * 5 * 4 + 5, 3], 0, 0.1, 'float32', 7));
    const bf = tf.variable(tf.zeros([3]));
    const gamma = tf.variable(tf.ones([4]));
    const beta = tf.variable(tf.zeros([4]));
    const opt = tf.train.sgd(0.01);
    const step = () =>
      tf.dispose(
        opt.minimize(() => {
          // Strided conv (im2col), batch norm over moments, ReLU, depthwise, max pool, an
          // embedding, and a linear fused product with bias (_FusedMatMul).
          const c = tf.conv2d(x, wc, 2, 'same');
          const { mean, variance } = tf.moments(c, [0, 1, 2]);
          const h = tf.relu(tf.batchNorm(c, mean, variance, beta, gamma, 1e-3)) as tf.Tensor4D;
          const h2 = tf.maxPool(tf.depthwiseConv2d(h, wd, 1, 'same'), 2, 1, 'same');
          const feat = tf.concat([tf.reshape(h2, [8, -1]), tf.gather(emb, ids)], 1);
          return tf.mean(tf.square(tf.fused.matMul({ a: feat, b: wf, bias: bf })));
        }, true) ?? [],
      );
    const heap = () =>
      (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.byteLength;
    // numDataIds also counts buffers the kernels allocate internally.
    const dataIds = () => (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    for (let i = 0; i < 20; i++) step();
    const heapBefore = heap();
    const dataIdsBefore = dataIds();
    await expectNoTensorLeak(step, { steps: 300 });
    expect(heap()).toBe(heapBefore);
    expect(dataIds()).toBe(dataIdsBefore);
    tf.dispose([x, ids, emb, wc, wd, wf, bf, gamma, beta]);
    opt.dispose();
  });
});
