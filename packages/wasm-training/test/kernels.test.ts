import { expectAllClose, tf } from '@igm/test-utils';
import { describe, it } from 'vitest';
import { expectParity, onBackend, seeded } from './parity';

const t = (shape: number[], seed: number) => tf.tensor(seeded(shape, seed), shape);

describe('BatchMatMul (wasm, override) vs cpu', () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[5, 7], [7, 3], false, false],
    [[7, 5], [7, 3], true, false],
    [[5, 7], [3, 7], false, true],
    [[7, 5], [3, 7], true, true],
    [[64, 300], [300, 40], false, false],
    [[300, 64], [300, 40], true, false], // Dense weight gradient shape
    [[64, 40], [300, 40], false, true], // Dense input gradient shape
    [[3, 5, 7], [3, 7, 4], false, false],
    [[3, 7, 5], [3, 4, 7], true, true],
  ];
  // Broadcast batch dims: tfjs-core's BatchMatMul gradient does not reduce broadcast dims (it
  // fails on every backend), so these check the forward value only.
  const broadcast: Array<[number[], number[], boolean, boolean]> = [
    [[2, 3, 5, 7], [7, 4], false, false], // batch folded into rows
    [[2, 3, 7, 5], [7, 4], true, false],
    [[2, 3, 5, 7], [4, 7], false, true],
    [[1, 5, 7], [4, 7, 6], false, false], // broadcast batch of 1 on the left
    [[4, 5, 7], [1, 6, 7], false, true],
    [[1, 7, 5], [4, 6, 7], true, true],
  ];
  for (const [sa, sb, ta, tb] of broadcast) {
    it(`${JSON.stringify(sa)} x ${JSON.stringify(sb)} transposeA=${ta} transposeB=${tb}: value (broadcast batch)`, async () => {
      await expectParity(`matMul ${sa} ${sb} ${ta} ${tb}`, () => [
        tf.matMul(t(sa, 1), t(sb, 2), ta, tb),
      ]);
    });
  }
  for (const [sa, sb, ta, tb] of cases) {
    it(`${JSON.stringify(sa)} x ${JSON.stringify(sb)} transposeA=${ta} transposeB=${tb}: value and gradients`, async () => {
      await expectParity(`matMul ${sa} ${sb} ${ta} ${tb}`, () => {
        const a = t(sa, 1);
        const b = t(sb, 2);
        const y = tf.matMul(a, b, ta, tb);
        const w = t(y.shape, 3);
        const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
          tf.sum(tf.mul(tf.matMul(p, q, ta, tb), w)),
        )([a, b]);
        return [y, ga!, gb!];
      });
    });
  }
});

describe('Conv2D gradients (wasm: Conv2DBackpropFilter added, Conv2DBackpropInput override) vs cpu', () => {
  const cases: Array<{
    x: number[];
    f: number[];
    strides: number | [number, number];
    pad:
      | 'same'
      | 'valid'
      | [[number, number], [number, number], [number, number], [number, number]];
  }> = [
    { x: [1, 6, 6, 2], f: [3, 3, 2, 3], strides: 1, pad: 'same' },
    { x: [3, 9, 7, 4], f: [3, 3, 4, 5], strides: 1, pad: 'valid' },
    { x: [2, 9, 7, 3], f: [3, 2, 3, 4], strides: [2, 1], pad: 'same' },
    { x: [2, 10, 11, 3], f: [5, 3, 3, 2], strides: 2, pad: 'valid' },
    { x: [2, 8, 9, 2], f: [1, 1, 2, 6], strides: 2, pad: 'same' },
    {
      x: [2, 7, 8, 3],
      f: [3, 3, 3, 2],
      strides: [1, 2],
      pad: [
        [0, 0],
        [2, 1],
        [0, 2],
        [0, 0],
      ],
    },
    { x: [4, 16, 12, 8], f: [3, 3, 8, 16], strides: 1, pad: 'same' },
  ];
  for (const c of cases) {
    it(`x ${JSON.stringify(c.x)} filter ${JSON.stringify(c.f)} strides ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)}`, async () => {
      await expectParity('conv2d', () => {
        const x = t(c.x, 11) as tf.Tensor4D;
        const w = t(c.f, 12) as tf.Tensor4D;
        const y = tf.conv2d(x, w, c.strides, c.pad);
        const r = t(y.shape, 13);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), r)),
        )([x, w]);
        return [y, gx!, gw!];
      });
    });
  }

  it('conv1d (stride 2, same) weight and input gradients', async () => {
    await expectParity('conv1d', () => {
      const x = t([3, 20, 4], 21) as tf.Tensor3D;
      const w = t([5, 4, 6], 22) as tf.Tensor3D;
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv1d(a as tf.Tensor3D, b as tf.Tensor3D, 2, 'same'))),
      )([x, w]);
      return [gx!, gw!];
    });
  });

  it('NCHW kernels called directly', async () => {
    await expectParity('conv2d NCHW', () => {
      const x = t([2, 3, 7, 6], 31);
      const dy = t([2, 4, 4, 3], 32);
      const w = t([3, 3, 3, 4], 33);
      const attrs = { strides: [2, 2], pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] };
      const dw = tf
        .engine()
        .runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as tf.Tensor;
      const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
        strides: [2, 2],
        pad: 'same',
        dataFormat: 'NCHW',
        inputShape: [2, 3, 7, 6],
      } as never) as tf.Tensor;
      return [dw, dx];
    });
  });
});

describe('Depthwise conv2d gradients (wasm, added) vs cpu', () => {
  const cases: Array<{
    x: number[];
    f: number[];
    strides: number;
    pad: 'same' | 'valid';
    dilations: number;
  }> = [
    { x: [2, 7, 6, 3], f: [3, 3, 3, 1], strides: 1, pad: 'same', dilations: 1 },
    { x: [2, 9, 8, 2], f: [3, 2, 2, 3], strides: 2, pad: 'valid', dilations: 1 },
  ];
  for (const c of cases) {
    it(`x ${JSON.stringify(c.x)} filter ${JSON.stringify(c.f)} strides ${c.strides} pad ${c.pad} dilations ${c.dilations}`, async () => {
      await expectParity('depthwise', () => {
        const x = t(c.x, 41) as tf.Tensor4D;
        const w = t(c.f, 42) as tf.Tensor4D;
        const y = tf.depthwiseConv2d(x, w, c.strides, c.pad, 'NHWC', c.dilations);
        const r = t(y.shape, 43);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.depthwiseConv2d(
                a as tf.Tensor4D,
                b as tf.Tensor4D,
                c.strides,
                c.pad,
                'NHWC',
                c.dilations,
              ),
              r,
            ),
          ),
        )([x, w]);
        return [y, gx!, gw!];
      });
    });
  }
});

describe('Depthwise kernels called directly, with dilations (tf.grads refuses them)', () => {
  // The cpu backend's DepthwiseConv2dNativeBackpropFilter ignores dilations, so the reference is
  // the cpu gradient of the same convolution written with an explicitly dilated filter
  // (zeros between taps, dilation 1): dW is that gradient read at the tap positions.
  const cases = [
    { x: [1, 9, 10, 2], f: [3, 3, 2, 2], strides: [1, 1], pad: 'same', dilations: [2, 2] },
    { x: [2, 11, 9, 3], f: [2, 3, 3, 1], strides: [1, 1], pad: 'valid', dilations: [2, 1] },
    { x: [2, 8, 9, 2], f: [3, 3, 2, 2], strides: [2, 2], pad: 'same', dilations: [1, 1] },
  ] as const;
  for (const c of cases) {
    it(`x ${JSON.stringify(c.x)} filter ${JSON.stringify(c.f)} strides ${c.strides} pad ${c.pad} dilations ${c.dilations}`, async () => {
      const [kh, kw, ch, mult] = c.f;
      const [dh, dw] = c.dilations;
      const eh = (kh - 1) * dh + 1;
      const ew = (kw - 1) * dw + 1;
      const wv = seeded([...c.f], 45);
      const wd = new Float32Array(eh * ew * ch * mult);
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++)
          for (let k = 0; k < ch * mult; k++)
            wd[(i * dh * ew + j * dw) * ch * mult + k] = wv[(i * kw + j) * ch * mult + k]!;
      const cpu = await onBackend('cpu', () => {
        const x = t([...c.x], 44) as tf.Tensor4D;
        const w = tf.tensor4d(wd, [eh, ew, ch, mult]);
        const y = tf.depthwiseConv2d(x, w, [...c.strides], c.pad, 'NHWC', 1);
        const dy = t(y.shape, 46);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.depthwiseConv2d(
                a as tf.Tensor4D,
                b as tf.Tensor4D,
                [...c.strides],
                c.pad,
                'NHWC',
                1,
              ),
              dy,
            ),
          ),
        )([x, w]);
        return [gw!, gx!];
      });
      const gwd = cpu[0]!;
      const dwRef = new Float32Array(wv.length);
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++)
          for (let k = 0; k < ch * mult; k++)
            dwRef[(i * kw + j) * ch * mult + k] = gwd[(i * dh * ew + j * dw) * ch * mult + k]!;
      const wasm = await onBackend('wasm', () => {
        const x = t([...c.x], 44) as tf.Tensor4D;
        const w = tf.tensor4d(wv, [...c.f]);
        const y = tf.depthwiseConv2d(x, w, [...c.strides], c.pad, 'NHWC', [...c.dilations]);
        const dy = t(y.shape, 46);
        const attrs = { strides: c.strides, pad: c.pad, dilations: c.dilations };
        const dW = tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy }, {
          ...attrs,
          filterShape: c.f,
        } as never) as tf.Tensor;
        const dX = tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, {
          ...attrs,
          inputShape: c.x,
        } as never) as tf.Tensor;
        return [dW, dX];
      });
      expectAllClose(wasm[0]!, dwRef, { atol: 1e-4, rtol: 1e-4, label: 'dW' });
      expectAllClose(wasm[1]!, cpu[1]!, { atol: 1e-4, rtol: 1e-4, label: 'dx' });
    });
  }
});

describe('UnsortedSegmentSum (wasm, added) vs cpu', () => {
  it('direct, float32 and int32, ids out of range dropped', async () => {
    await expectParity('unsortedSegmentSum', () => {
      const x = t([6, 3, 2], 51);
      const ids = tf.tensor1d([2, 0, 2, 4, 1, 0], 'int32');
      const xi = tf.tensor2d(
        [
          [1, 2],
          [3, 4],
          [5, 6],
        ],
        [3, 2],
        'int32',
      );
      return [
        tf.unsortedSegmentSum(x, ids, 5),
        tf.cast(tf.unsortedSegmentSum(xi, tf.tensor1d([1, 1, 0], 'int32'), 2), 'float32'),
      ];
    });
  });

  it('as the gradient of gather (an embedding lookup)', async () => {
    await expectParity('gather gradient', () => {
      const table = t([10, 4], 52);
      const idx = tf.tensor2d(
        [
          [1, 3, 3],
          [9, 0, 1],
        ],
        [2, 3],
        'int32',
      );
      const g = tf.grad((w: tf.Tensor) => tf.sum(tf.square(tf.gather(w, idx))))(table);
      return [g];
    });
  });
});
