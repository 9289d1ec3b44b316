import { expectAllClose, tf } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planBinary } from '../src/binary';
import { setWinograd4Enabled, winogradTile } from '../src/conv2d-forward';
import {
  nativeKernels,
  relaxedSimdSupported,
  setNativeKernelsEnabled,
  setRelaxedSimdEnabled,
} from '../src/index';
import { ptr } from '../src/native';
import type { WasmBackendLike } from '../src/wasm-backend';
import { NATIVE_MODES, restoreNativeDefaults, setNativeMode } from './native-modes';
import { expectParity, onBackend, seeded } from './parity';

/** The two SIMD builds (relaxed, plain); the JS fallback has no native functions to call. */
const SIMD_MODES = NATIVE_MODES.filter((m) => m.native);

const t = (shape: number[], seed: number) => tf.tensor(seeded(shape, seed), shape);

// 'relaxed': the packed GEMM of the relaxed-SIMD build (the default where it runs); 'simd': the
// plain build, where products go to XNNPACK through transposes.
describe.each(['relaxed', 'simd'] as const)(
  'BatchMatMul (wasm, override, %s build) vs cpu',
  (build) => {
    beforeAll(() => setRelaxedSimdEnabled(build === 'relaxed'));
    afterAll(() => setRelaxedSimdEnabled(true));
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
      // Past one packed block: 245 rows > 240, 300 = 256 + 44 steps of k, 13 columns (an edge panel).
      [[245, 300], [300, 13], false, false],
      [[300, 245], [13, 300], true, true],
      [[2, 9, 517], [2, 517, 33], false, false],
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
  },
);

describe.each(['simd', 'js'] as const)(
  'Conv2D gradients with the %s data-movement kernels (wasm: Conv2DBackpropFilter added, Conv2DBackpropInput override) vs cpu',
  (mode) => {
    beforeAll(() => setNativeKernelsEnabled(mode === 'simd'));
    afterAll(() => setNativeKernelsEnabled(true));

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
      // stride 1: the input gradient runs as a convolution with the flipped filter; an even
      // filter makes 'same' padding asymmetric, and a pad wider than the filter falls back
      { x: [2, 7, 8, 3], f: [2, 4, 3, 5], strides: 1, pad: 'same' },
      {
        x: [1, 5, 6, 2],
        f: [2, 2, 2, 3],
        strides: 1,
        pad: [
          [0, 0],
          [3, 0],
          [0, 2],
          [0, 0],
        ],
      },
      // 3200 output pixels x 288 = 8 im2col chunks of the SIMD filter gradient, 12 = 8 + 4 columns
      { x: [2, 40, 40, 32], f: [3, 3, 32, 12], strides: 1, pad: 'same' },
      // dW over 2^17 floats: the packed weight-gradient product; 300 pixels = chunks of 256 + 44
      { x: [1, 20, 15, 120], f: [3, 3, 120, 125], strides: 1, pad: 'same' },
      // ... strided, 203 = 25 panels of 8 + 3 columns
      { x: [2, 15, 13, 72], f: [3, 3, 72, 203], strides: 2, pad: 'same' },
    ];
    for (const c of cases) {
      // 3x3 stride-1 layers with >= 8 channels run by Winograd (F(4x4) or F(3x3) where they apply):
      // compared at its tolerance (expectWinogradParity, below).
      const winograd =
        mode === 'simd' &&
        c.f[0] === 3 &&
        c.f[1] === 3 &&
        c.strides === 1 &&
        c.f[2]! >= 8 &&
        c.f[3]! >= 8;
      it(`x ${JSON.stringify(c.x)} filter ${JSON.stringify(c.f)} strides ${JSON.stringify(c.strides)} pad ${JSON.stringify(c.pad)}`, async () => {
        await expectWinogradParity(winograd ? 'F(4x4) and F(3x3)' : 'none', () => {
          const x = t(c.x, 11) as tf.Tensor4D;
          const w = t(c.f, 12) as tf.Tensor4D;
          const y = tf.conv2d(x, w, c.strides, c.pad);
          const r = t(y.shape, 13);
          const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad), r)),
          )([x, w]);
          return [y, gx!, gw!];
        });
        // The cpu backend's reference takes tens of seconds for the wide cases; more on a busy
        // machine (a run at load average 44 passed 120 s).
      }, 600_000);
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

    it('empty batch: zero weight gradient, empty input gradient', async () => {
      await expectParity('conv2d empty batch', () => {
        const x = tf.zeros([0, 5, 5, 2]);
        const dy = tf.zeros([0, 5, 5, 3]);
        const w = t([3, 3, 2, 3], 34);
        const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC' };
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
          ...attrs,
          filterShape: [3, 3, 2, 3],
        } as never) as tf.Tensor;
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, {
          ...attrs,
          inputShape: [0, 5, 5, 2],
        } as never) as tf.Tensor;
        return [dw, tf.reshape(dx, [-1])];
      });
    });

    it('NCHW kernels called directly', async () => {
      await expectParity('conv2d NCHW', () => {
        const x = t([2, 3, 7, 6], 31);
        const dy = t([2, 4, 4, 3], 32);
        const w = t([3, 3, 3, 4], 33);
        const attrs = {
          strides: [2, 2],
          pad: 'same',
          dataFormat: 'NCHW',
          filterShape: [3, 3, 3, 4],
        };
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
  },
);

/**
 * F(2x2, 3x3): the package's parity tolerance. F(4x4, 3x3), F(3x3, 3x3) and their transposes
 * round in proportion to the output's scale (transforms with entries up to 8 and 1/24): up to ~6e-5
 * (forward) and ~2e-4 (weight gradients over 65536 pixels) of the output RMS, so each output is
 * compared with atol 2e-4 x max(1, RMS of the cpu result) and rtol 1e-4 (the test outputs are
 * sums of 72 to 3330 products of O(1) terms over at most a few hundred pixels, RMS 2 to 20).
 */
async function expectWinogradParity(tile: string, f: () => tf.Tensor[]): Promise<void> {
  if (tile !== 'F(4x4) and F(3x3)') return expectParity('winograd', f);
  const cpu = await onBackend('cpu', f);
  const wasm = await onBackend('wasm', f);
  for (let i = 0; i < cpu.length; i++) {
    const rms = Math.sqrt(cpu[i]!.reduce((a, v) => a + v * v, 0) / Math.max(1, cpu[i]!.length));
    expectAllClose(wasm[i]!, cpu[i]!, {
      atol: 2e-4 * Math.max(1, rms),
      rtol: 1e-4,
      label: `winograd F(4x4) output ${i} (RMS ${rms.toFixed(2)})`,
    });
  }
}

describe.each(['F(4x4) and F(3x3)', 'F(2x2, 3x3)'] as const)(
  'Conv2D / FusedConv2D 3x3 stride 1 by Winograd %s where it applies, and its gradients (wasm) vs cpu',
  (tile) => {
    beforeAll(() => setWinograd4Enabled(tile === 'F(4x4) and F(3x3)'));
    afterAll(() => setWinograd4Enabled(true));
    const cases: Array<{
      x: number[];
      f: number[];
      pad:
        | 'same'
        | 'valid'
        | [[number, number], [number, number], [number, number], [number, number]];
      activation: 'linear' | 'relu' | 'elu';
      bias: boolean;
    }> = [
      // odd output sizes: edge tiles with one row/column of outputs (F(4x4, 3x3): 1-3 of 4)
      { x: [2, 9, 7, 8], f: [3, 3, 8, 8], pad: 'same', activation: 'relu', bias: true },
      // 9x6 and 3x3 outputs: F(3x3, 3x3), whose tiles cover them exactly (ResNet-18's last stage)
      { x: [2, 9, 6, 16], f: [3, 3, 16, 12], pad: 'same', activation: 'relu', bias: true },
      { x: [1, 5, 5, 70], f: [3, 3, 70, 66], pad: 'valid', activation: 'linear', bias: true },
      // F(3x3, 3x3) with packed forward and weight-gradient products and channel tails
      { x: [2, 9, 6, 130], f: [3, 3, 130, 132], pad: 'same', activation: 'linear', bias: true },
      // F(3x3, 3x3) over more tiles than one chunk (180 tiles of 9x9 outputs)
      { x: [20, 9, 9, 16], f: [3, 3, 16, 24], pad: 'same', activation: 'relu', bias: true },
      // channels that are not multiples of 4 (scalar tails of the transforms and products)
      { x: [3, 8, 10, 9], f: [3, 3, 9, 10], pad: 'valid', activation: 'linear', bias: false },
      {
        x: [1, 7, 8, 12],
        f: [3, 3, 12, 16],
        pad: [
          [0, 0],
          [2, 0],
          [1, 2],
          [0, 0],
        ],
        activation: 'linear',
        bias: true,
      },
      // more tiles than one chunk
      { x: [4, 30, 26, 16], f: [3, 3, 16, 24], pad: 'same', activation: 'relu', bias: true },
      // 64 x 64 channels: the forward products are packed, 306 tiles = two chunks (the second short)
      { x: [2, 34, 18, 64], f: [3, 3, 64, 64], pad: 'same', activation: 'relu', bias: true },
      // 370 x 370 channels (>= 256 x 256): the weight gradient's products are packed too
      { x: [1, 7, 6, 370], f: [3, 3, 370, 370], pad: 'valid', activation: 'linear', bias: false },
      // not Winograd: elu, and fewer than 8 input channels, go to the stock kernel
      { x: [2, 6, 6, 8], f: [3, 3, 8, 8], pad: 'same', activation: 'elu', bias: true },
      { x: [2, 6, 6, 3], f: [3, 3, 3, 8], pad: 'same', activation: 'relu', bias: false },
    ];
    it('takes the tile with the fewest products counting edge tiles (F(4x4) only a fifth under F(2x2))', () => {
      const wide = tile === 'F(4x4) and F(3x3)';
      // products per image, F(2x2) / F(3x3) / F(4x4): 12672 / 8800 / 7344
      expect(winogradTile(65, 47)).toBe(wide ? 4 : 2);
      expect(winogradTile(17, 12)).toBe(wide ? 4 : 2); // 864 / 600 / 540
      expect(winogradTile(9, 7)).toBe(wide ? 4 : 2); // 320 / 225 / 216
      expect(winogradTile(9, 6)).toBe(wide ? 3 : 2); // 240 / 150 / 216
      expect(winogradTile(9, 9)).toBe(wide ? 3 : 2); // 400 / 225 / 324
      expect(winogradTile(3, 3)).toBe(wide ? 3 : 2); // 64 / 25 / 36
      expect(winogradTile(5, 4)).toBe(wide ? 4 : 2); // 96 / 100 / 72
      expect(winogradTile(2, 2)).toBe(2); // 16 / 25 / 36
    });

    for (const c of cases) {
      it(`x ${JSON.stringify(c.x)} filter ${JSON.stringify(c.f)} pad ${JSON.stringify(c.pad)} ${c.activation}${c.bias ? ' + bias' : ''}, and gradients`, async () => {
        await expectWinogradParity(tile, () => {
          const x = t(c.x, 81) as tf.Tensor4D;
          const w = t(c.f, 82) as tf.Tensor4D;
          const b = c.bias ? t([c.f[3]!], 83) : undefined;
          const conv = (a: tf.Tensor, k: tf.Tensor) =>
            tf.fused.conv2d({
              x: a as tf.Tensor4D,
              filter: k as tf.Tensor4D,
              strides: 1,
              pad: c.pad,
              bias: b,
              activation: c.activation,
            });
          const plain = tf.conv2d(x, w, 1, c.pad);
          const y = conv(x, w);
          const r = t(y.shape, 84);
          // Input gradient: a stride-1 convolution with the flipped filter, so Winograd too; the
          // weight gradient: Winograd F(3x3, 2x2), F(3x3, 3x3) or F(3x3, 4x4) over the same tiles.
          const [gx, gw] = tf.grads((a: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(conv(a, k), r)))([
            x,
            w,
          ]);
          return [plain, y, gx!, gw!];
        });
        // The cpu backend's reference takes tens of seconds for the wide cases (see above).
      }, 600_000);
    }
  },
);

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

/** Bit patterns of float32 results, so NaN, -0 and every rounding difference count. */
function bits(outs: Float32Array[]): Uint32Array[] {
  return outs.map((o) => new Uint32Array(Float32Array.from(o).buffer));
}

/** `f` on wasm with the SIMD kernels and with the JS loops: the results must agree bit for bit. */
async function expectSimdEqualsJs(f: () => tf.Tensor[]): Promise<void> {
  setNativeKernelsEnabled(false);
  const js = await onBackend('wasm', f);
  setNativeKernelsEnabled(true);
  const simd = await onBackend('wasm', f);
  expect(bits(simd)).toEqual(bits(js));
}

/** Seeded values rounded to {-2, ..., 2}: many ties inside every pool window. */
const ties = (shape: number[], seed: number) =>
  tf.tensor(
    seeded(shape, seed).map((v) => Math.round(v * 2)),
    shape,
  );

const pools: Array<{
  x: number[];
  size: number | [number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | number;
  values?: 'ties';
}> = [
  { x: [2, 8, 8, 3], size: 2, strides: 2, pad: 'valid' }, // exact tiling, channels < 4
  { x: [2, 8, 6, 8], size: 2, strides: 2, pad: 'valid' }, // exact tiling, SIMD lanes only
  { x: [2, 9, 7, 4], size: 3, strides: 2, pad: 'same' }, // overlapping windows
  { x: [3, 9, 11, 6], size: 3, strides: 2, pad: 'same' }, // overlapping, 6 channels, non-square
  { x: [3, 9, 11, 7], size: 3, strides: 2, pad: 'same', values: 'ties' },
  { x: [2, 8, 8, 5], size: 2, strides: 2, pad: 'valid', values: 'ties' },
  { x: [1, 10, 11, 2], size: [3, 2], strides: [1, 2], pad: 'valid' },
  { x: [2, 7, 10, 5], size: 2, strides: 2, pad: 'same' }, // padding on the bottom/right
  { x: [2, 6, 9, 4], size: 2, strides: 3, pad: 'valid' }, // gaps: pixels in no window
  { x: [1, 6, 5, 9], size: 3, strides: 1, pad: 1, values: 'ties' }, // explicit padding
];

describe.each(['simd', 'js'] as const)(
  'MaxPoolGrad, Sum and Mean with the %s kernels (wasm, overrides) vs cpu',
  (mode) => {
    beforeAll(() => setNativeKernelsEnabled(mode === 'simd'));
    afterAll(() => setNativeKernelsEnabled(true));

    for (const c of pools) {
      it(`max pool gradient x ${JSON.stringify(c.x)} size ${c.size} strides ${c.strides} pad ${c.pad}${c.values ? ' (ties)' : ''}`, async () => {
        await expectParity('maxPool', () => {
          const x = (c.values ? ties(c.x, 61) : t(c.x, 61)) as tf.Tensor4D;
          const y = tf.maxPool(x, c.size, c.strides, c.pad);
          const r = t(y.shape, 62);
          const g = tf.grad((a: tf.Tensor) =>
            tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.size, c.strides, c.pad), r)),
          )(x);
          return [y, g];
        });
      });
    }

    it('max pool gradient with ties goes to the first maximum', async () => {
      await expectParity('maxPool ties', () => {
        const x = tf.tensor4d([1, 1, 1, 1, 2, 0, 2, 2], [1, 2, 4, 1]);
        return [tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid')))(x)];
      });
      // The same on 4 + 1 channels (SIMD lanes and the scalar tail), 3x3 stride 2 'same'.
      const grad = await onBackend('wasm', () => {
        const x = tf.tensor4d(new Float32Array(2 * 3 * 3 * 5).fill(7), [2, 3, 3, 5]);
        return [tf.grad((a: tf.Tensor) => tf.sum(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same')))(x)];
      });
      // Windows at (0,0) [rows 0-1, cols 0-1] and (0,1) [rows 0-1, cols 1-2], (1,0), (1,1):
      // the first maximum of each is its top-left pixel.
      const expected = new Float32Array(2 * 9 * 5);
      for (const b of [0, 1])
        for (const pixel of [0, 1, 3, 4])
          expected.fill(1, (b * 9 + pixel) * 5, (b * 9 + pixel + 1) * 5);
      expect(Array.from(grad[0]!)).toEqual(Array.from(expected));
    });

    it('max pool gradient with -Infinity and NaN: all -Infinity/NaN windows get none', async () => {
      const v = seeded([2, 6, 6, 6], 81);
      for (let i = 0; i < v.length; i++) {
        if (i % 7 === 0) v[i] = Number.NaN;
        else if (i % 5 === 0) v[i] = Number.NEGATIVE_INFINITY;
      }
      // The first image's top-left 2x2 block: -Infinity and NaN only.
      for (const p of [0, 1, 6, 7])
        for (let ch = 0; ch < 6; ch++)
          v[p * 6 + ch] = p % 2 ? Number.NaN : Number.NEGATIVE_INFINITY;
      const f = (size: number, strides: number, pad: 'same' | 'valid') => () => {
        const x = tf.tensor4d(v, [2, 6, 6, 6]);
        const y = tf.maxPool(x, size, strides, pad);
        const r = t(y.shape, 82);
        return [
          tf.grad((a: tf.Tensor) =>
            tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, size, strides, pad), r)),
          )(x),
        ];
      };
      for (const [size, strides, pad] of [
        [2, 2, 'valid'],
        [3, 2, 'same'],
      ] as const) {
        await expectParity('maxPool -Infinity/NaN', f(size, strides, pad));
        const g = await onBackend('wasm', f(size, strides, pad));
        if (size === 2)
          for (const p of [0, 1, 6, 7])
            for (let ch = 0; ch < 6; ch++) expect(g[0]![p * 6 + ch]).toBe(0);
      }
    });

    it('sum over leading axes (keepDims both ways), over other axes, and int32', async () => {
      await expectParity('sum', () => {
        const x = t([4, 5, 6, 3], 63);
        const xi = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], 'int32');
        return [
          tf.sum(x, [0, 1, 2]),
          tf.sum(x, [1, 0], true),
          tf.sum(x, 0),
          tf.sum(x, [1, 3]),
          tf.sum(x),
          tf.cast(tf.sum(xi, 0), 'float32'),
        ];
      });
    });

    it('sum over leading axes accumulates in float64, equal to the cpu backend bit for bit', async () => {
      // 3000 rows of values ~1e3 + noise: a float32 running sum loses the low bits (checked below),
      // a float64 one, rounded once to float32, is what the cpu backend computes.
      const shapes = [
        [3000, 37],
        [10, 20, 15, 21], // 21 columns: 16-wide block, a 4-wide block and one scalar column
        [3, 1500, 64],
      ];
      const f = () =>
        shapes.flatMap((shape, k) => {
          const x = tf.add(tf.mul(t(shape, 90 + k), 1000), 1000.37);
          const lead = shape.length === 4 ? [0, 1, 2] : shape.length === 3 ? [0, 1] : [0];
          return [tf.sum(x, lead), tf.sum(x, lead, true)];
        });
      const cpu = await onBackend('cpu', f);
      const wasm = await onBackend('wasm', f);
      expect(bits(wasm)).toEqual(bits(cpu));
      const x = seeded([3000, 37], 90).map((v) => Math.fround(Math.fround(v * 1000) + 1000.37));
      let differs = 0;
      for (let c = 0; c < 37; c++) {
        let acc32 = 0;
        for (let r = 0; r < 3000; r++) acc32 = Math.fround(acc32 + x[r * 37 + c]!);
        if (acc32 !== cpu[0]![c]) differs++;
      }
      expect(differs).toBeGreaterThan(10);
    });

    it('mean over leading axes and others', async () => {
      await expectParity('mean', () => {
        const x = t([4, 5, 6, 3], 65);
        return [
          tf.mean(x, [0, 1, 2]),
          tf.mean(x, [0, 1], true),
          tf.mean(x, [2, 3]),
          tf.mean(x),
          tf.mean(t([3000, 21], 66), 0),
        ];
      });
    });

    it('sum and mean of empty tensors over leading axes', async () => {
      await expectParity('empty', () => {
        const rowsEmpty = tf.zeros([0, 3]);
        const colsEmpty = tf.zeros([4, 0]);
        return [
          tf.sum(rowsEmpty, 0),
          tf.sum(colsEmpty, 0),
          tf.mean(colsEmpty, 0),
          tf.sum(tf.zeros([2, 0, 5]), [0, 1], true),
        ];
      });
    });
  },
);

describe('MaxPoolGrad, Sum and Mean: SIMD kernels equal the JS loops bit for bit', () => {
  for (const c of pools) {
    it(`max pool gradient x ${JSON.stringify(c.x)} size ${c.size} strides ${c.strides} pad ${c.pad}${c.values ? ' (ties)' : ''}`, async () => {
      await expectSimdEqualsJs(() => {
        const x = (c.values ? ties(c.x, 71) : t(c.x, 71)) as tf.Tensor4D;
        const dy = t(tf.maxPool(x, c.size, c.strides, c.pad).shape, 72);
        // Called directly so dy may hold -0 (maxPool's own gradient path would too).
        const dyz = tf.where(tf.less(tf.abs(dy), 0.2), tf.mul(tf.abs(dy), -0), dy);
        return [
          tf.engine().runKernel('MaxPoolGrad', { dy: dyz, input: x, output: x }, {
            filterSize: c.size,
            strides: c.strides,
            pad: c.pad,
          } as never) as tf.Tensor,
        ];
      });
    });
  }

  it('max pool gradient with -Infinity, NaN and Infinity inputs', async () => {
    const v = seeded([3, 7, 9, 6], 83);
    for (let i = 0; i < v.length; i++) {
      if (i % 7 === 0) v[i] = Number.NaN;
      else if (i % 5 === 0) v[i] = Number.NEGATIVE_INFINITY;
      else if (i % 11 === 0) v[i] = Number.POSITIVE_INFINITY;
    }
    for (const [size, strides, pad] of [
      [2, 2, 'valid'],
      [3, 2, 'same'],
      [2, 1, 'same'],
    ] as const) {
      await expectSimdEqualsJs(() => {
        const x = tf.tensor4d(v, [3, 7, 9, 6]);
        const dy = t(tf.maxPool(x, size, strides, pad).shape, 84);
        return [
          tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: x }, {
            filterSize: size,
            strides,
            pad,
          } as never) as tf.Tensor,
        ];
      });
    }
  });

  it('sum and mean over leading axes, keepDims, with NaN and Infinity', async () => {
    await expectSimdEqualsJs(() => {
      const v = seeded([50, 7, 23], 85).map((z, i) =>
        i % 97 === 0 ? Number.NaN : i % 89 === 0 ? Number.POSITIVE_INFINITY : z * 1e4 + 3.3,
      );
      const x = tf.tensor3d(v, [50, 7, 23]);
      const big = tf.add(tf.mul(t([4000, 19], 86), 100), 50.1);
      return [
        tf.sum(x, 0),
        tf.sum(x, [0, 1], true),
        tf.mean(x, [0, 1]),
        tf.mean(x, 0, true),
        tf.sum(big, 0),
        tf.mean(big, 0),
        tf.mean(tf.zeros([0, 3]), 0), // 0 / 0: NaN on both paths
      ];
    });
  });
});

describe('Tile, batch norm, Identity (wasm, overrides) vs cpu', () => {
  it('tile: channel vectors to activations, every axis, int32 and bool', async () => {
    await expectParity('tile', () => {
      const v = t([1, 1, 1, 5], 66);
      const m = t([2, 3, 4], 67);
      const i = tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32');
      const b = tf.tensor1d([true, false, true], 'bool');
      return [
        tf.tile(v, [2, 3, 4, 1]),
        tf.tile(m, [3, 1, 2]),
        tf.tile(m, [1, 2, 1]),
        tf.tile(t([2, 3, 1, 2, 3], 68), [2, 1, 3, 2, 2]),
        tf.tile(t([4], 69), [3]),
        tf.tile(t([3, 2], 70), [1, 1]),
        tf.cast(tf.tile(i, [2, 3]), 'float32'),
        tf.cast(tf.tile(b, [2]), 'float32'),
      ];
    });
  });

  it('batch norm forward and gradients (uses Mean, Tile, Sum)', async () => {
    await expectParity('batchNorm', () => {
      const x = t([4, 6, 5, 3], 68);
      const scale = t([3], 69);
      const offset = t([3], 70);
      const f = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        return tf.sum(tf.square(tf.batchNorm(a, mean, variance, o, s, 1e-3)));
      };
      const [gx, gs, go] = tf.grads(f)([x, scale, offset]);
      return [gx!, gs!, go!];
    });
  });

  it('identity shares data and survives disposing the source', async () => {
    await expectParity('identity', () => {
      const x = t([3, 4], 64);
      const y = tf.clone(x);
      x.dispose();
      return [tf.add(y, 1)];
    });
  });
});

describe('SIMD kernels', () => {
  it('instantiate on the wasm backend memory', async () => {
    await onBackend('wasm', () => []);
    expect(nativeKernels(tf.backend() as never)).not.toBeNull();
  });

  it('gemm_acc adds A B and A^T B to C like a float64 reference (tiles, edges, k blocks)', async () => {
    await onBackend('wasm', () => []);
    const backend = tf.backend() as never as WasmBackendLike;
    const gemm = nativeKernels(backend)!;
    // M x N x K: 8x8 and 4x4 tiles, scalar edges in m and n, several k blocks of 128.
    for (const [M, N, K] of [
      [4, 8, 1],
      [7, 13, 5],
      [12, 20, 300],
      [3, 3, 129],
      [33, 64, 257],
    ] as const) {
      for (const transposed of [false, true]) {
        const a = t(transposed ? [K, M] : [M, K], M * 7 + K);
        const b = t([K, N], N * 5 + K);
        const c = t([M, N], M + N);
        const [av, bv, c0] = [a.dataSync(), b.dataSync(), c.dataSync().slice()];
        const [sAm, sAk] = transposed ? [1, M] : [K, 1];
        gemm.gemm_acc(ptr(backend, a), sAm, sAk, ptr(backend, b), N, ptr(backend, c), N, M, N, K);
        const want = new Float64Array(M * N);
        for (let m = 0; m < M; m++)
          for (let n = 0; n < N; n++) {
            let s = c0[m * N + n]!;
            for (let k = 0; k < K; k++) s += av[m * sAm + k * sAk]! * bv[k * N + n]!;
            want[m * N + n] = s;
          }
        // float32 sums over K <= 300 terms of O(1) products: error ~ K * 6e-8 * |terms| << 1e-4.
        expectAllClose(c.dataSync(), want, {
          atol: 1e-4,
          rtol: 1e-5,
          label: `gemm_acc ${M}x${N}x${K}${transposed ? ' A^T' : ''}`,
        });
        tf.dispose([a, b, c]);
      }
    }
  });

  it.each(SIMD_MODES)(
    'gemm_packed ($name): op(A) op(B) by batches and column shares like a float64 reference',
    async (mode) => {
      await onBackend('wasm', () => []);
      setNativeMode(mode);
      try {
        const backend = tf.backend() as never as WasmBackendLike;
        const native = nativeKernels(backend)!;
        // batch, M x N x K: 4 x 8 tiles, row/column edges, k blocks of 256, row blocks of 240,
        // a share of the columns (n0, n1), a broadcast A (stride 0), and K = 0 (C zeroed).
        const cases = [
          { batch: 1, M: 4, N: 8, K: 1, n0: 0, n1: 8, broadcastA: false },
          { batch: 2, M: 7, N: 13, K: 5, n0: 0, n1: 13, broadcastA: false },
          { batch: 1, M: 245, N: 21, K: 300, n0: 8, n1: 21, broadcastA: false },
          { batch: 3, M: 9, N: 16, K: 513, n0: 0, n1: 16, broadcastA: true },
          { batch: 2, M: 5, N: 6, K: 0, n0: 0, n1: 6, broadcastA: false },
        ];
        for (const { batch, M, N, K, n0, n1, broadcastA } of cases) {
          for (const [ta, tb] of [
            [false, false],
            [true, false],
            [false, true],
            [true, true],
          ] as const) {
            const batchA = broadcastA ? 1 : batch;
            const a = t([batchA, ta ? K : M, ta ? M : K], M * 7 + K + 1);
            const b = t([batch, tb ? N : K, tb ? K : N], N * 5 + K + 2);
            const c = t([batch, M, N], 3); // garbage in C: overwritten inside the share only
            const scratch = tf.zeros([native.gemm_packed_scratch_floats(n1 - n0)]);
            const [av, bv, c0] = [a.dataSync(), b.dataSync(), c.dataSync().slice()];
            const [sAm, sAk] = ta ? [1, M] : [K, 1];
            const [sBk, sBn] = tb ? [1, K] : [N, 1];
            const [strideA, strideB] = [broadcastA ? 0 : M * K, K * N];
            native.gemm_packed(
              ...[ptr(backend, a), sAm, sAk, strideA, ptr(backend, b), sBk, sBn, strideB],
              ...[ptr(backend, c), N, M * N, M, K, 0, batch, n0, n1, ptr(backend, scratch)],
            );
            const want = Float64Array.from(c0);
            for (let i = 0; i < batch; i++)
              for (let m = 0; m < M; m++)
                for (let n = n0; n < n1; n++) {
                  let s = 0;
                  for (let k = 0; k < K; k++)
                    s +=
                      av[i * strideA + m * sAm + k * sAk]! * bv[i * strideB + k * sBk + n * sBn]!;
                  want[(i * M + m) * N + n] = s;
                }
            // float32 sums over K <= 513 terms of O(1) products, rounded once (FMA) or twice per
            // term: error ~ K * 6e-8 * sqrt(K) << 1e-4.
            expectAllClose(c.dataSync(), want, {
              atol: 1e-4,
              rtol: 1e-5,
              label: `gemm_packed ${batch}x${M}x${N}x${K} [${n0}, ${n1}) ta=${ta} tb=${tb}`,
            });
            tf.dispose([a, b, c, scratch]);
          }
        }
      } finally {
        restoreNativeDefaults();
      }
    },
  );

  it.each(SIMD_MODES)(
    'gemm_packed ($name): up to 16 rows read B in place, bit for bit the rows of a packed product',
    async (mode) => {
      await onBackend('wasm', () => []);
      setNativeMode(mode);
      try {
        const backend = tf.backend() as never as WasmBackendLike;
        const native = nativeKernels(backend)!;
        // K = 300: two k blocks (the second accumulates); N = 21: two full panels and a partial
        // one (packed); a column share [8, 21); M = 16 (the largest direct case), 13 (a partial
        // row tile) and 1.
        const [K, N, big] = [300, 21, 40];
        const a = t([big, K], 91);
        const b = t([K, N], 92);
        const whole = tf.zeros([big, N]);
        const scratch = tf.zeros([native.gemm_packed_scratch_floats(N)]);
        const run = (rows: number, c: tf.Tensor, n0: number) =>
          native.gemm_packed(
            ...[ptr(backend, a), K, 1, 0, ptr(backend, b), N, 1, 0],
            ...[ptr(backend, c), N, rows * N, rows, K, 0, 1, n0, N, ptr(backend, scratch)],
          );
        run(big, whole, 0); // 40 rows: B packed
        const packed = new Uint32Array(whole.dataSync().slice().buffer);
        for (const [rows, n0] of [
          [16, 0],
          [13, 0],
          [1, 0],
          [16, 8],
        ] as const) {
          const c = tf.zeros([rows, N]);
          run(rows, c, n0);
          const got = new Uint32Array(c.dataSync().slice().buffer);
          for (let m = 0; m < rows; m++)
            for (let n = n0; n < N; n++)
              expect(got[m * N + n], `rows ${rows} [${n0}, ${N}): C[${m}, ${n}]`).toBe(
                packed[m * N + n],
              );
          c.dispose();
        }
        tf.dispose([a, b, whole, scratch]);
      } finally {
        restoreNativeDefaults();
      }
    },
  );

  it.each(SIMD_MODES)(
    'Winograd filter transforms ($name): blocked SIMD and scalar remainder equal the float32 formula bit for bit',
    async (mode) => {
      await onBackend('wasm', () => []);
      setNativeMode(mode);
      try {
        const backend = tf.backend() as never as WasmBackendLike;
        const native = nativeKernels(backend)!;
        const f = Math.fround;
        // The scalar loops' operations, each rounded to float32 (a float64 result of float32
        // operands rounded once to float32 is the float32 operation's result for + - * /).
        const g2 = (a: number, b: number, c: number) => [
          a,
          f(0.5 * f(f(a + b) + c)),
          f(0.5 * f(f(a - b) + c)),
          c,
        ];
        const g4 = (a: number, b: number, c: number) => {
          const [a24, b12, c6] = [f(a / 24), f(b / 12), f(c / 6)];
          return [
            f(a / 4),
            f(-f(f(a + b) + c) / 6),
            f(-f(f(a - b) + c) / 6),
            f(f(a24 + b12) + c6),
            f(f(a24 - b12) + c6),
            c,
          ];
        };
        // F(3x3, 3x3): halves by a multiplication, sixths by a division, 2 g1 as g1 + g1.
        const g3 = (a: number, b: number, c: number) => {
          const s = f(a + c);
          return [
            f(0.5 * a),
            f(0.5 * f(s + b)),
            f(f(s - b) / 6),
            f(f(f(a + f(b + b)) + f(4 * c)) / 6),
            c,
          ];
        };
        // Planes: all blocks of 16 (64 x 64, aliasing in the cache), blocks + remainder
        // (9 x 7 = 63), remainder only (3 x 1), 25 blocks (20 x 20).
        for (const [inC, outC] of [
          [64, 64],
          [9, 7],
          [3, 1],
          [20, 20],
        ] as const) {
          const plane = inC * outC;
          // Values over many binades, so rounding differs between orders of operations.
          const w = tf.tidy(() =>
            tf.mul(t([3, 3, inC, outC], plane + 11), tf.exp(tf.mul(t([3, 3, inC, outC], 5), 8))),
          );
          const wv = w.dataSync();
          for (const [name, transform, size] of [
            ['winograd_filter', g2, 4],
            ['winograd4_filter', g4, 6],
            ['winograd3_filter', g3, 5],
          ] as const) {
            const u = tf.zeros([size * size, inC, outC]);
            native[name](ptr(backend, w), ptr(backend, u), inC, outC);
            const got = u.dataSync();
            const want = new Float32Array(size * size * plane);
            for (let e = 0; e < plane; e++) {
              const at = (kh: number, kw: number) => wv[(kh * 3 + kw) * plane + e]!;
              const columns = [0, 1, 2].map((kw) => transform(at(0, kw), at(1, kw), at(2, kw)));
              for (let i = 0; i < size; i++) {
                const row = transform(columns[0]![i]!, columns[1]![i]!, columns[2]![i]!);
                for (let j = 0; j < size; j++) want[(i * size + j) * plane + e] = row[j]!;
              }
            }
            const bits = (a: Float32Array) => new Uint32Array(a.slice().buffer);
            const [gb, wb] = [bits(got as Float32Array), bits(want)];
            const first = gb.findIndex((v, i) => v !== wb[i]);
            expect(first, `${name} ${inC}x${outC}: first differing element`).toBe(-1);
            u.dispose();
          }
          w.dispose();
        }
      } finally {
        restoreNativeDefaults();
      }
    },
  );

  it('runs the relaxed-SIMD build on this Node (>= 20.16 turns on the V8 flag)', () => {
    const proc = process as unknown as { getBuiltinModule?: unknown };
    if (proc.getBuiltinModule === undefined) return; // Node < 20.16: plain build only
    expect(relaxedSimdSupported()).toBe(true);
  });

  it('transpose odd shapes like the JS loop (SIMD tiles and edges)', async () => {
    const shapes: Array<[number, number]> = [
      [1, 7],
      [5, 3],
      [37, 70],
      [64, 33],
    ];
    for (const [rows, cols] of shapes) {
      await expectParity(`transpose ${rows}x${cols}`, () => {
        const a = t([2, rows, cols], 71);
        return [tf.matMul(a, t([2, rows, 3], 72), true, false)];
      });
    }
  });
});

describe('Add, Sub, Multiply, RealDiv, Cast, FusedBatchNorm (wasm, overrides) vs cpu', () => {
  // Every read mode of binary_f32 (full, last-axes vector, one value per row, scalar), both
  // operand orders, odd sizes (SIMD tails), and broadcasts it leaves to the stock kernel.
  const shapes: Array<[number[], number[]]> = [
    [
      [3, 5, 7],
      [3, 5, 7],
    ],
    [[3, 5, 7], [7]],
    [
      [1, 1, 7],
      [3, 5, 7],
    ],
    [
      [3, 5, 7],
      [5, 7],
    ],
    [
      [4, 9],
      [4, 1],
    ],
    [
      [4, 1],
      [4, 9],
    ],
    [
      [3, 5, 1],
      [3, 5, 7],
    ],
    [[2, 3, 4, 5], [1]],
    [[], [2, 3, 4, 5]],
    [[1, 1], [1]],
    [[13], [13]],
    [
      [3, 1, 7],
      [3, 5, 7],
    ], // a middle axis broadcast: stock
    [
      [1, 5, 1],
      [3, 5, 7],
    ], // stock
  ];
  it('plans each broadcast as a rows x cols grid with one read mode per operand', () => {
    expect(planBinary([3, 5, 7], [3, 5, 7], [3, 5, 7])).toEqual({
      rows: 1,
      cols: 105,
      modeA: 0,
      modeB: 0,
    });
    expect(planBinary([], [3, 5], [3, 5])).toEqual({ rows: 1, cols: 15, modeA: 3, modeB: 0 });
    expect(planBinary([3, 5, 7], [7], [3, 5, 7])).toEqual({
      rows: 15,
      cols: 7,
      modeA: 0,
      modeB: 1,
    });
    expect(planBinary([1, 1, 1, 64], [8, 4, 4, 64], [8, 4, 4, 64])).toEqual({
      rows: 128,
      cols: 64,
      modeA: 1,
      modeB: 0,
    });
    expect(planBinary([3, 5, 7], [5, 7], [3, 5, 7])).toEqual({
      rows: 3,
      cols: 35,
      modeA: 0,
      modeB: 1,
    });
    expect(planBinary([4, 1], [4, 9], [4, 9])).toEqual({ rows: 4, cols: 9, modeA: 2, modeB: 0 });
    expect(planBinary([3, 1, 7], [3, 5, 7], [3, 5, 7])).toBeNull();
    expect(planBinary([1, 5, 1], [3, 5, 7], [3, 5, 7])).toBeNull();
  });

  for (const [sa, sb] of shapes) {
    it(`a ${JSON.stringify(sa)} op b ${JSON.stringify(sb)}: values and gradients of add, sub, mul, div`, async () => {
      await expectParity(`binary ${sa} ${sb}`, () => {
        const a = t(sa, 71);
        // Divisors kept away from 0: 1.5 + uniform(-1, 1).
        const b = tf.add(t(sb, 72), 1.5);
        const f = (x: tf.Tensor, y: tf.Tensor) =>
          tf.sum(
            tf.mul(
              tf.add(tf.sub(tf.mul(x, y), tf.div(x, y)), tf.add(x, y)),
              t(tf.broadcastTo(x, tf.broadcast_util.assertAndGetBroadcastShape(sa, sb)).shape, 73),
            ),
          );
        const [ga, gb] = tf.grads(f)([a, b]);
        return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b), ga!, gb!];
      });
    });
  }

  it('large tensors (split over threads where there are helpers): equal to cpu bit for bit', async () => {
    const f = () => {
      const a = t([300, 1000], 74);
      const b = tf.add(t([1000], 75), 2);
      const c = t([300, 1000], 76);
      return [tf.div(a, b), tf.mul(a, c), tf.sub(c, tf.scalar(0.25)), tf.add(b, a)];
    };
    const cpu = await onBackend('cpu', f);
    const wasm = await onBackend('wasm', f);
    // +, -, * of float32 are exact in the cpu backend's float64 before rounding, so equal; / too
    // except in rare double-rounding cases (none in these inputs).
    for (let i = 0; i < cpu.length; i++) expect(wasm[i]).toEqual(cpu[i]);
  });

  it('NaN, Infinity, division by zero and signed zeros as in the cpu backend', async () => {
    const f = () => {
      const a = tf.tensor1d([Number.NaN, 1, -1, 0, -0, Number.POSITIVE_INFINITY, 3, 5, 0]);
      const b = tf.tensor1d([1, 0, 0, 0, 1, Number.POSITIVE_INFINITY, -0, 2, -0]);
      return [tf.div(a, b), tf.mul(a, b), tf.sub(a, b), tf.add(a, b), tf.div(a, tf.scalar(0))];
    };
    const cpu = await onBackend('cpu', f);
    const wasm = await onBackend('wasm', f);
    for (let i = 0; i < cpu.length; i++) {
      expect(Array.from(wasm[i]!).map((v) => (Object.is(v, -0) ? '-0' : String(v)))).toEqual(
        Array.from(cpu[i]!).map((v) => (Object.is(v, -0) ? '-0' : String(v))),
      );
    }
  });

  it('int32 arithmetic and float32/int32 casts (stock paths) still agree', async () => {
    await expectParity('int32 and casts', () => {
      const i = tf.tensor2d([1, 2, 3, 4, -5, 6], [2, 3], 'int32');
      const j = tf.tensor1d([2, -3, 4], 'int32');
      const x = t([2, 3], 77);
      return [
        tf.cast(tf.add(i, j), 'float32'),
        tf.cast(tf.mul(i, j), 'float32'),
        tf.cast(tf.sub(i, j), 'float32'),
        tf.cast(tf.cast(tf.mul(x, 10), 'int32'), 'float32'),
        tf.cast(x, 'float32'),
        tf.cast(tf.cast(i, 'int32'), 'float32'),
      ];
    });
  });

  it('cast to the same dtype shares the data; disposing either side keeps the other', async () => {
    await expectParity('cast share', () => {
      const x = t([3, 4], 78);
      const y = tf.cast(x, 'float32');
      x.dispose();
      const i = tf.tensor1d([1, 2, 3], 'int32');
      const j = tf.cast(i, 'int32');
      i.dispose();
      return [tf.add(y, 1), tf.cast(j, 'float32')];
    });
  });

  it('batch norm forward with vectors and scalars of any rank, no offset or scale, and gradients', async () => {
    await expectParity('fused batch norm', () => {
      const x = t([2, 3, 4, 5], 79);
      const mean = t([5], 80);
      const variance = tf.add(tf.abs(t([5], 81)), 0.1);
      const offset = t([5], 82);
      const scale = t([5], 83);
      const mean4 = tf.reshape(mean, [1, 1, 1, 5]);
      const variance4 = tf.reshape(variance, [1, 1, 1, 5]);
      const f = (a: tf.Tensor, s: tf.Tensor, o: tf.Tensor) =>
        tf.sum(tf.square(tf.batchNorm(a, mean, variance, o, s, 1e-3)));
      const [gx, gs, go] = tf.grads(f)([x, scale, offset]);
      return [
        tf.batchNorm(x, mean, variance, offset, scale, 1e-3),
        tf.batchNorm(x, mean4, variance4, undefined, undefined, 1e-5),
        tf.batchNorm(x, tf.scalar(0.3), tf.scalar(2), tf.scalar(-1), tf.scalar(1.5), 0.01),
        tf.batchNorm(t([7, 3], 84), t([3], 85), tf.add(tf.abs(t([3], 86)), 0.5)),
        gx!,
        gs!,
        go!,
      ];
    });
  });
});

describe.each(['relaxed', 'simd'] as const)(
  '_FusedMatMul and Relu (wasm, overrides, %s build) vs cpu',
  (build) => {
    beforeAll(() => setRelaxedSimdEnabled(build === 'relaxed'));
    afterAll(() => setRelaxedSimdEnabled(true));
    const cases: Array<{
      a: number[];
      b: number[];
      ta: boolean;
      tb: boolean;
      bias: number[] | null;
      activation: 'linear' | 'relu' | 'elu';
    }> = [
      { a: [5, 7], b: [7, 3], ta: false, tb: false, bias: [3], activation: 'relu' },
      { a: [7, 5], b: [3, 7], ta: true, tb: true, bias: [3], activation: 'linear' },
      { a: [64, 40], b: [40, 13], ta: false, tb: false, bias: null, activation: 'relu' },
      { a: [2, 9, 17], b: [2, 17, 6], ta: false, tb: false, bias: [6], activation: 'relu' },
      { a: [9, 17], b: [6, 17], ta: false, tb: true, bias: [1], activation: 'relu' },
      { a: [9, 17], b: [17, 6], ta: false, tb: false, bias: null, activation: 'linear' },
      // elu: the stock kernel
      { a: [4, 6], b: [6, 5], ta: false, tb: false, bias: [5], activation: 'elu' },
    ];
    for (const c of cases) {
      it(`${JSON.stringify(c.a)} x ${JSON.stringify(c.b)} ta=${c.ta} tb=${c.tb} bias ${JSON.stringify(c.bias)} ${c.activation}: value, and gradients of the linear form`, async () => {
        await expectParity('fused matMul', () => {
          const a = t(c.a, 91);
          const b = t(c.b, 92);
          const bias = c.bias ? t(c.bias, 93) : undefined;
          const f = (x: tf.Tensor, y: tf.Tensor) =>
            tf.fused.matMul({
              a: x,
              b: y,
              transposeA: c.ta,
              transposeB: c.tb,
              bias,
              activation: c.activation,
            });
          const y = f(a, b);
          const r = t(y.shape, 94);
          // tfjs-core fuses only outside gradient recording or with a linear activation.
          const [ga, gb] = tf.grads((x: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(f(x, z), r)))([
            a,
            b,
          ]);
          return [y, ga!, gb!];
        });
      });
    }

    it('relu (NaN to NaN, -0 to 0) and step (NaN to NaN) like the cpu backend, large tensors split', async () => {
      const f = () => {
        const special = tf.tensor1d([Number.NaN, -0, 0, -1, 2, Number.NEGATIVE_INFINITY, 3, -4, 5]);
        const big = t([300, 1001], 95);
        return [
          tf.relu(special),
          tf.relu(big),
          tf.relu(t([3, 5], 96)),
          tf.step(special),
          tf.step(special, 0.25),
          tf.step(big),
          // ReLU's gradient: dy * step(x)
          tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.relu(x), t([3, 5], 97))))(t([3, 5], 96)),
        ];
      };
      const cpu = await onBackend('cpu', f);
      const wasm = await onBackend('wasm', f);
      for (let i = 0; i < cpu.length; i++) {
        expect(Array.from(wasm[i]!).map((v) => (Object.is(v, -0) ? '-0' : String(v)))).toEqual(
          Array.from(cpu[i]!).map((v) => (Object.is(v, -0) ? '-0' : String(v))),
        );
      }
    });
  },
);

describe.each(['relaxed', 'simd'] as const)(
  'Conv2D / FusedConv2D by im2col + the packed product (strided, 1x1, other sizes; %s build) vs cpu',
  (build) => {
    beforeAll(() => setRelaxedSimdEnabled(build === 'relaxed'));
    afterAll(() => setRelaxedSimdEnabled(true));
    const cases: Array<{
      x: number[];
      f: number[];
      strides: number;
      pad: 'same' | 'valid';
      dilations?: number;
      activation: 'linear' | 'relu';
      bias: boolean;
    }> = [
      // 1x1 stride 1, no padding: the rows of x multiplied directly
      {
        x: [2, 5, 7, 12],
        f: [1, 1, 12, 10],
        strides: 1,
        pad: 'valid',
        activation: 'relu',
        bias: true,
      },
      // 1x1 stride 2 (ResNet's projection shortcut), 3x3 stride 2, odd sizes
      {
        x: [2, 9, 7, 8],
        f: [1, 1, 8, 16],
        strides: 2,
        pad: 'same',
        activation: 'linear',
        bias: false,
      },
      {
        x: [2, 9, 8, 9],
        f: [3, 3, 9, 13],
        strides: 2,
        pad: 'same',
        activation: 'relu',
        bias: true,
      },
      // 7x7 stride 2 on one channel (ResNet's stem); 600 output pixels: chunks of 256 + edge
      {
        x: [3, 28, 25, 1],
        f: [7, 7, 1, 6],
        strides: 2,
        pad: 'same',
        activation: 'linear',
        bias: true,
      },
      // dilated 3x3, 'valid'; 5x3 filter with 3 input channels (Winograd needs >= 8)
      {
        x: [1, 11, 10, 4],
        f: [3, 3, 4, 5],
        strides: 1,
        pad: 'valid',
        dilations: 2,
        activation: 'relu',
        bias: false,
      },
      {
        x: [2, 8, 9, 3],
        f: [5, 3, 3, 7],
        strides: 1,
        pad: 'same',
        activation: 'linear',
        bias: true,
      },
    ];
    for (const c of cases) {
      it(`x ${JSON.stringify(c.x)} filter ${JSON.stringify(c.f)} strides ${c.strides} ${c.pad}${c.dilations ? ` dilations ${c.dilations}` : ''} ${c.activation}${c.bias ? ' + bias' : ''}, and gradients (undilated)`, async () => {
        await expectParity('im2col conv', () => {
          const x = t(c.x, 101) as tf.Tensor4D;
          const w = t(c.f, 102) as tf.Tensor4D;
          const b = c.bias ? t([c.f[3]!], 103) : undefined;
          const conv = (a: tf.Tensor, k: tf.Tensor) =>
            tf.fused.conv2d({
              x: a as tf.Tensor4D,
              filter: k as tf.Tensor4D,
              strides: c.strides,
              pad: c.pad,
              dilations: c.dilations ?? 1,
              bias: b,
              activation: c.activation,
            });
          const plain = tf.conv2d(x, w, c.strides, c.pad, 'NHWC', c.dilations ?? 1);
          const y = conv(x, w);
          // tfjs-core has no gradient for dilated convolutions: values only there.
          if (c.dilations) return [plain, y];
          const r = t(y.shape, 104);
          const [gx, gw] = tf.grads((a: tf.Tensor, k: tf.Tensor) => tf.sum(tf.mul(conv(a, k), r)))([
            x,
            w,
          ]);
          return [plain, y, gx!, gw!];
        });
      });
    }
  },
);
