import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, useThreadedWasmBackend } from '../src/index';
import { cnn, mlp, trainingStep } from './models';

const threads = Number(process.argv[2] ?? 1);
const which = process.argv[3] ?? 'cnn';
if (threads > 1) await useThreadedWasmBackend({ threads });
else {
  await tf.setBackend('wasm');
  await tf.ready();
}
registerWasmTrainingKernels();
const model = which === 'cnn' ? cnn() : mlp();
const step = which === 'cnn' ? trainingStep(model, 16, 10) : trainingStep(model, 64, 10);
for (let i = 0; i < 3; i++) step();
const t0 = performance.now();
for (let i = 0; i < 5; i++) step();
console.log('step ms', (performance.now() - t0) / 5);
const prof = await tf.profile(() => step());
const agg = new Map<string, { ms: number; n: number }>();
for (const k of prof.kernels) {
  const key = k.name + ' ' + JSON.stringify(k.inputShapes);
  const e = agg.get(key) ?? { ms: 0, n: 0 };
  e.ms += k.kernelTimeMs as number;
  e.n++;
  agg.set(key, e);
}
const rows = [...agg.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20);
for (const [k, v] of rows) console.log(v.ms.toFixed(1).padStart(8), v.n, k);
process.exit(0);
