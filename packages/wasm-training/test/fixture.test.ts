/**
 * Parity with an independent float64 PyTorch reference
 * (tools/reference/wasm-training/conv_grads.py -> test/fixtures/conv-grads.json).
 */
import { expectAllClose, loadFixture, tf, useBackend } from '@igm/test-utils';
import { beforeAll, describe, it } from 'vitest';
import { registerWasmTrainingKernels } from '../src/index';

interface ConvCase {
  x: number[];
  xShape: number[];
  w: number[];
  wShape: number[];
  r: number[];
  y: number[];
  yShape: number[];
  dx: number[];
  dw: number[];
  strides: [number, number];
  pad: number;
}
interface Fixture {
  stride21_valid: ConvCase;
  stride1_pad1: ConvCase;
  matmul_tt: { a: number[]; b: number[]; r: number[]; y: number[]; da: number[]; db: number[] };
}

const fx = loadFixture<Fixture>(new URL('./fixtures/conv-grads.json', import.meta.url));
// float32 kernels vs a float64 reference, inputs O(1), sums of <= ~60 terms: 1e-4 abs + rel.
const tol = { atol: 1e-4, rtol: 1e-4 };

describe('wasm kernels vs the PyTorch float64 reference', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    registerWasmTrainingKernels();
  });

  for (const name of ['stride21_valid', 'stride1_pad1'] as const) {
    it(`conv2d ${name}: output, input gradient, filter gradient`, () => {
      const c = fx[name];
      const pad =
        c.pad === 0
          ? 'valid'
          : ([
              [0, 0],
              [c.pad, c.pad],
              [c.pad, c.pad],
              [0, 0],
            ] as [[number, number], [number, number], [number, number], [number, number]]);
      const [y, dx, dw] = tf.tidy(() => {
        const x = tf.tensor4d(c.x, c.xShape as [number, number, number, number]);
        const w = tf.tensor4d(c.w, c.wShape as [number, number, number, number]);
        const r = tf.tensor(c.r, c.yShape);
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, pad);
        const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), r)))([
          x,
          w,
        ]);
        return [f(x, w), gx!, gw!];
      });
      expectAllClose(y!, c.y, { ...tol, label: 'y' });
      expectAllClose(dx!, c.dx, { ...tol, label: 'dx' });
      expectAllClose(dw!, c.dw, { ...tol, label: 'dw' });
      tf.dispose([y!, dx!, dw!]);
    });
  }

  it('matmul with both operands transposed: value and gradients', () => {
    const m = fx.matmul_tt;
    const [y, da, db] = tf.tidy(() => {
      const a = tf.tensor2d(m.a, [7, 5]);
      const b = tf.tensor2d(m.b, [3, 7]);
      const r = tf.tensor2d(m.r, [5, 3]);
      const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
        tf.sum(tf.mul(tf.matMul(p, q, true, true), r)),
      )([a, b]);
      return [tf.matMul(a, b, true, true), ga!, gb!];
    });
    expectAllClose(y!, m.y, { ...tol, label: 'y' });
    expectAllClose(da!, m.da, { ...tol, label: 'da' });
    expectAllClose(db!, m.db, { ...tol, label: 'db' });
    tf.dispose([y!, da!, db!]);
  });
});
