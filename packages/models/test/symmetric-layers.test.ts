/**
 * SymmetricMaxPool2D: PyTorch's -inf padding without a padded copy (values and gradients equal to
 * padding with -inf then pooling 'valid', bit for bit, ties included).
 *
 * SymmetricConv2D: the same function as zero-padding then a 'valid' tfjs-layers Conv2D (the
 * encoders' former construction), without the padded copy, and without the input gradient an
 * encoder's first layer does not need. Gradients w.r.t. the kernel and the input against that
 * construction on cpu (stock tfjs-backend-wasm has no Conv2DBackpropFilter; the wasm kernels are
 * covered by wasm-training.test.ts through resnet18).
 */
import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { countKernelWork } from '@igm/test-utils/bench';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '@igm/wasm-training';
import { describe, expect, it } from 'vitest';
import { resnet18, SymmetricConv2D, SymmetricMaxPool2D } from '../src/index';

function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/** The former construction: ZeroPadding2D(p) then a bias-free 'valid' Conv2D with `kernel`. */
function paddedConv(x: tf.Tensor4D, kernel: tf.Tensor4D, strides: number, p: number): tf.Tensor {
  const padded =
    p > 0
      ? tf.pad(x, [
          [0, 0],
          [p, p],
          [p, p],
          [0, 0],
        ])
      : x;
  return tf.conv2d(padded as tf.Tensor4D, kernel, strides, 'valid');
}

describeEachBackend('SymmetricConv2D', (backend) => {
  // [kernel, strides, padding] of ResNet-18's convolutions, plus an odd size and stride 3.
  const cases: Array<[number, number, number]> = [
    [7, 2, 3],
    [3, 1, 1],
    [3, 2, 1],
    [1, 2, 0],
    [3, 3, 2],
  ];
  for (const [k, s, p] of cases) {
    it(`kernel ${k}, stride ${s}, padding ${p}: output (shape and values) as pad + valid conv`, () => {
      const layer = new SymmetricConv2D({ filters: 5, kernelSize: k, strides: s, padding: p });
      const x = seeded([2, 13, 10, 3], k * 10 + s) as tf.Tensor4D;
      const y = layer.apply(x) as tf.Tensor;
      const values = seeded([k, k, 3, 5], 7);
      layer.setWeights([values]);
      values.dispose();
      const got = layer.apply(x) as tf.Tensor;
      const want = paddedConv(x, layer.getWeights()[0] as tf.Tensor4D, s, p);
      expect(got.shape).toEqual(want.shape);
      expect(layer.computeOutputShape([null, 13, 10, 3])).toEqual([null, ...want.shape.slice(1)]);
      // Same products summed in the same order on cpu; the wasm kernels may tile differently.
      expectAllClose(got, want, { atol: 1e-5, rtol: 1e-5, label: `k${k} s${s} p${p}` });
      tf.dispose([x, y, got, want]);
    });
  }

  if (backend === 'cpu') {
    it('gradients w.r.t. kernel and input as pad + valid conv', () => {
      const layer = new SymmetricConv2D({ filters: 4, kernelSize: 3, strides: 2, padding: 1 });
      const x = seeded([2, 9, 8, 3], 3) as tf.Tensor4D;
      layer.apply(x);
      const values = seeded([3, 3, 3, 4], 9);
      layer.setWeights([values]);
      values.dispose();
      const kernel = layer.getWeights()[0]!;
      const r = seeded(layer.computeOutputShape([2, 9, 8, 3]) as number[], 4);
      const lossOurs = (xx: tf.Tensor, w: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.conv2d(xx as tf.Tensor4D, w as tf.Tensor4D, 2, [
              [0, 0],
              [1, 1],
              [1, 1],
              [0, 0],
            ]),
            r,
          ),
        );
      const lossRef = (xx: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.mul(paddedConv(xx as tf.Tensor4D, w as tf.Tensor4D, 2, 1), r));
      const [gx, gw] = tf.grads(lossOurs)([x, kernel]);
      const [rx, rw] = tf.grads(lossRef)([x, kernel]);
      expectAllClose(gx!, rx!, { atol: 1e-5, rtol: 1e-5, label: 'dx' });
      expectAllClose(gw!, rw!, { atol: 1e-5, rtol: 1e-5, label: 'dkernel' });
      // and the layer's own call gives the same loss
      const viaLayer = tf.sum(tf.mul(layer.apply(x) as tf.Tensor, r));
      expectAllClose(viaLayer, lossRef(x, kernel), { atol: 1e-4, rtol: 1e-5, label: 'loss' });
      tf.dispose([x, r, gx!, gw!, rx!, rw!, viaLayer]);
    });
  }

  it('an encoder computes no input gradient for its first convolution; no tensor leak', async () => {
    // Conv gradients on wasm need @igm/wasm-training's kernels.
    if (backend === 'wasm') registerWasmTrainingKernels();
    try {
      await firstLayerWithoutInputGradient();
    } finally {
      if (backend === 'wasm') unregisterWasmTrainingKernels();
    }
  });
});

/** 20 convolutions in resnet18: the input gradient of every one but the first (the stem's). */
async function firstLayerWithoutInputGradient(): Promise<void> {
  const model = resnet18({ inChannels: 1, inputShape: [21, 19], widths: [4, 4, 8, 8], seed: 1 });
  const x = seeded([2, 21, 19, 1], 5);
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = () =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
        variables,
      );
      return Object.keys(grads).length;
    });
  const counter = countKernelWork(tf.engine() as never);
  step();
  const work = counter.stop();
  const calls = (name: string) => work.byKernel[name]?.calls ?? 0;
  expect(calls('Conv2DBackpropFilter')).toBe(20);
  expect(calls('Conv2DBackpropInput')).toBe(19);
  expect(calls('FusedConv2D')).toBe(0);
  await expectNoTensorLeak(step, { steps: 3 });
  x.dispose();
}

describeEachBackend('SymmetricMaxPool2D', (backend) => {
  it('values and gradients equal -inf padding then a valid max-pool, bit for bit', () => {
    if (backend === 'wasm') registerWasmTrainingKernels();
    try {
      // Rounded to quarters, so windows have tied maxima; negative, so -inf padding matters.
      const x = tf.tidy(() => tf.sub(tf.div(tf.round(tf.mul(seeded([2, 9, 8, 3], 11), 8)), 4), 1));
      for (const [k, s, p] of [
        [3, 2, 1],
        [2, 2, 0],
        [3, 1, 1],
        [5, 2, 2],
      ] as const) {
        const layer = new SymmetricMaxPool2D({ poolSize: k, strides: s, padding: p });
        const reference = (xx: tf.Tensor) =>
          tf.maxPool(
            tf.pad(
              xx as tf.Tensor4D,
              [
                [0, 0],
                [p, p],
                [p, p],
                [0, 0],
              ],
              Number.NEGATIVE_INFINITY,
            ),
            k,
            s,
            'valid',
          );
        const ours = (xx: tf.Tensor) => layer.apply(xx) as tf.Tensor;
        const r = seeded(reference(x).shape, 12);
        const [y, yRef] = [ours(x), reference(x)];
        const [g] = tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(ours(xx), r)))([x]);
        const [gRef] = tf.grads((xx: tf.Tensor) => tf.sum(tf.mul(reference(xx), r)))([x]);
        const label = `pool ${k}, stride ${s}, padding ${p}`;
        expect(y.shape, label).toEqual(yRef.shape);
        expect(Array.from(y.dataSync()), label).toEqual(Array.from(yRef.dataSync()));
        expect(Array.from(g!.dataSync()), label).toEqual(Array.from(gRef!.dataSync()));
        tf.dispose([r, y, yRef, g!, gRef!]);
      }
      x.dispose();
    } finally {
      if (backend === 'wasm') unregisterWasmTrainingKernels();
    }
  });
});

describe('SymmetricConv2D configuration', () => {
  it('round-trips through getConfig and tf.serialization', () => {
    const layer = new SymmetricConv2D({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      padding: 1,
      name: 'c',
    });
    const config = layer.getConfig();
    expect(config).toMatchObject({ filters: 8, kernelSize: 3, strides: 2, padding: 1, name: 'c' });
    const cls = tf.serialization.SerializationMap.getMap().classNameMap[SymmetricConv2D.className];
    expect(cls).toBeDefined();
  });

  it('rejects bad arguments and inputs, naming them', () => {
    expect(() => new SymmetricConv2D({ filters: 0, kernelSize: 3 })).toThrow(/filters/);
    expect(() => new SymmetricConv2D({ filters: 2, kernelSize: 3, padding: -1 })).toThrow(
      /padding/,
    );
    const layer = new SymmetricConv2D({ filters: 2, kernelSize: 3, name: 'stem' });
    expect(() => layer.apply(tf.zeros([2, 5]))).toThrow(/stem.*\[batch, height, width, channels\]/);
  });
});
