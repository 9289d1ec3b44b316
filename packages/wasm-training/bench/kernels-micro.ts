/**
 * Micro-benchmark of the MaxPoolGrad and leading-axes Sum/Mean overrides on the shapes of a CNN
 * training step (16x64x64x32 -> conv3x3 64 'same', relu, 2x2 max pool, dense):
 *
 *   pnpm --filter @igm/wasm-training bench:kernels
 *
 * Each kernel runs with the package's SIMD kernels (native/kernels.c) and with its JS fallback
 * (setNativeKernelsEnabled(false)) in the same process, on one thread; reports the minimum and
 * median of the wall times, the JS/SIMD ratio, and checks that both paths give bit-identical
 * results. Prints a JSON summary line and writes bench/results/kernels-micro.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, setNativeKernelsEnabled } from '../src/index';
import { seeded } from '../test/parity';

const here = dirname(fileURLToPath(import.meta.url));

/** Uniform(-1, 1) values from the tests' seeded generator (identical inputs run to run). */
function random(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(seeded(shape, seed), shape);
}

function time(fn: () => tf.Tensor, reps: number): { min: number; median: number } {
  for (let i = 0; i < 3; i++) fn().dispose();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const y = fn();
    ts.push(performance.now() - t0);
    y.dispose();
  }
  ts.sort((a, b) => a - b);
  return { min: ts[0]!, median: ts[Math.floor(reps / 2)]! };
}

function sameBits(a: tf.Tensor, b: tf.Tensor): boolean {
  const x = new Uint32Array((a.dataSync() as Float32Array).slice().buffer);
  const y = new Uint32Array((b.dataSync() as Float32Array).slice().buffer);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

await tf.setBackend('wasm');
await tf.ready();
registerWasmTrainingKernels();

const x = random([16, 64, 64, 64], 1);
const dy = random([16, 32, 32, 64], 2);
const x32 = random([16, 64, 64, 32], 3);
const pool = () =>
  tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: x }, {
    filterSize: 2,
    strides: 2,
    pad: 'valid',
  } as never) as tf.Tensor;
const cases: Array<[string, () => tf.Tensor, number]> = [
  ['MaxPoolGrad dy[16,32,32,64] x[16,64,64,64] 2x2/2', pool, 20],
  [
    'MaxPoolGrad dy[16,32,32,64] x[16,64,64,64] 3x3/2 same',
    () =>
      tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: x }, {
        filterSize: 3,
        strides: 2,
        pad: 'same',
      } as never) as tf.Tensor,
    20,
  ],
  ['Sum [16,64,64,64] axes [0,1,2]', () => tf.sum(x, [0, 1, 2]), 30],
  ['Sum [16,64,64,32] axes [0,1,2]', () => tf.sum(x32, [0, 1, 2]), 30],
  ['Mean [16,64,64,64] axes [0,1,2]', () => tf.mean(x, [0, 1, 2]), 30],
];

const results: Record<string, unknown>[] = [];
for (const [name, fn, reps] of cases) {
  setNativeKernelsEnabled(false);
  const js = time(fn, reps);
  const jsOut = fn();
  setNativeKernelsEnabled(true);
  const simd = time(fn, reps);
  const simdOut = fn();
  const identical = sameBits(jsOut, simdOut);
  tf.dispose([jsOut, simdOut]);
  const row = {
    kernel: name,
    js_min_ms: +js.min.toFixed(2),
    js_median_ms: +js.median.toFixed(2),
    simd_min_ms: +simd.min.toFixed(2),
    simd_median_ms: +simd.median.toFixed(2),
    speedup_median: +(js.median / simd.median).toFixed(2),
    bit_identical: identical,
  };
  results.push(row);
  console.log(
    `${name.padEnd(56)} js ${js.median.toFixed(2).padStart(7)} ms  simd ${simd.median
      .toFixed(2)
      .padStart(
        6,
      )} ms  (min ${simd.min.toFixed(2)})  x${row.speedup_median}  identical=${identical}`,
  );
}
const summary = { bench: 'kernels-micro', loadavg: loadavg()[0], results };
console.log(JSON.stringify(summary));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'kernels-micro.json'), `${JSON.stringify(summary, null, 2)}\n`);
