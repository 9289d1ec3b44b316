/**
 * Conv2D weight-gradient micro-benchmark on the threaded wasm backend: helper threads on vs off,
 * for the CNN benchmark's second layer (16x64x64x32 -> 64, 3x3, 'same').
 *   pnpm --filter @igm/wasm-training exec tsx bench/conv-grad-micro.ts [threads]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  registerWasmTrainingKernels,
  setNativeThreadsEnabled,
  useThreadedWasmBackend,
} from '../src/node';

const threads = Number(process.argv[2] ?? 2);
await useThreadedWasmBackend({ threads });
registerWasmTrainingKernels();
const x = tf.randomNormal([16, 64, 64, 32]) as tf.Tensor4D;
const dy = tf.randomNormal([16, 64, 64, 64]) as tf.Tensor4D;
const run = () =>
  tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
    strides: 1,
    pad: 'same',
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
    filterShape: [3, 3, 32, 64],
  } as never) as tf.Tensor;
function time(): number {
  const ms: number[] = [];
  for (let i = 0; i < 12; i++) {
    const t0 = performance.now();
    const r = run();
    r.dataSync();
    ms.push(performance.now() - t0);
    r.dispose();
  }
  return ms.sort((a, b) => a - b)[3]!;
}
const results: Record<string, number> = {};
for (const on of [false, true, false, true]) {
  setNativeThreadsEnabled(on);
  results[on ? 'helpers_on_ms' : 'helpers_off_ms'] = time();
}
setNativeThreadsEnabled(true);
const a = run().dataSync();
setNativeThreadsEnabled(false);
const b = run().dataSync();
let maxDiff = 0;
for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
console.log(JSON.stringify({ threads, ...results, max_abs_diff_on_vs_off: maxDiff }));
process.exit(0);
