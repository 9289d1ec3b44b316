/**
 * setRelaxedSimdEnabled(false) before the first kernel: the products run on the plain build and
 * V8's relaxed-SIMD flag stays off; enabling it later turns the flag on (Node 20.16+). Prints
 * one JSON line.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  nativeKernelsAreRelaxed,
  registerWasmTrainingKernels,
  setRelaxedSimdEnabled,
  useThreadedWasmBackend,
} from '../../src/node';

// A module with one f32x4.relaxed_madd: valid only while the engine accepts relaxed SIMD.
const probe = new Uint8Array([
  0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 8, 1, 0x60, 3, 0x7b, 0x7b, 0x7b, 1, 0x7b, 3, 2, 1, 0, 10, 13,
  1, 11, 0, 0x20, 0, 0x20, 1, 0x20, 2, 0xfd, 0x85, 0x02, 0x0b,
]);
const wasm = (globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } })
  .WebAssembly;
const engineAccepts = () => wasm.validate(probe);
const product = () => {
  const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
  const b = tf.tensor2d([1, 0, 0, 1, 1, 1], [3, 2]);
  return Array.from(tf.matMul(a, b).dataSync());
};
// 160^3 multiply-adds: large enough to be split over the threads.
const big = () => {
  const x = tf.tensor2d(
    Array.from({ length: 160 * 160 }, (_, i) => Math.sin(i)),
    [160, 160],
  );
  return tf.matMul(x, x).dataSync();
};
const maxDiff = (p: ArrayLike<number>, q: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < p.length; i++) d = Math.max(d, Math.abs(p[i]! - q[i]!));
  return d;
};

const before = engineAccepts();
setRelaxedSimdEnabled(false);
await useThreadedWasmBackend({ threads: 2 });
registerWasmTrainingKernels();
const bigPlain = big();
const plain = {
  product: product(),
  relaxed: nativeKernelsAreRelaxed(tf.backend() as never),
  engineAccepts: engineAccepts(),
};
setRelaxedSimdEnabled(true);
// The pool started without the relaxed build: the calling thread runs every part.
const bigRelaxed = big();
const relaxed = {
  product: product(),
  relaxed: nativeKernelsAreRelaxed(tf.backend() as never),
  engineAccepts: engineAccepts(),
};
console.log(JSON.stringify({ before, plain, relaxed, bigMaxDiff: maxDiff(bigPlain, bigRelaxed) }));
