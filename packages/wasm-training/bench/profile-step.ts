/**
 * Where a training step's time goes: per-kernel times (tf.profile) of one step of a benchmark
 * model, on the wasm backend with this package's kernels.
 *
 *   pnpm --filter @igm/wasm-training exec tsx bench/profile-step.ts [threads] [mlp|cnn|resnet18]
 *     [--without Kernel1,Kernel2]   (register every kernel but these, for A/B runs)
 *
 * Prints the mean step time over 5 steps, the 20 most expensive kernels (ms, calls, input
 * shapes) and the totals by kernel name, then one JSON line; writes bench/results/profile-<model>-<threads>t.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  registerWasmTrainingKernels,
  useThreadedWasmBackend,
  WASM_TRAINING_KERNELS,
} from '../src/node';
import { cnn, mlp, resnet18, trainingStep } from './models';

const MODELS = {
  mlp: { build: mlp, batch: 64, classes: 10 },
  cnn: { build: cnn, batch: 16, classes: 10 },
  resnet18: { build: resnet18, batch: 8, classes: 6 },
} as const;

const threads = Number(process.argv[2] ?? 1);
const which = (process.argv[3] ?? 'cnn') as keyof typeof MODELS;
if (!Number.isInteger(threads) || threads < 1) {
  throw new Error(`threads is "${process.argv[2]}"; expected a positive integer`);
}
if (!(which in MODELS)) {
  throw new Error(`model is "${which}"; expected one of ${Object.keys(MODELS).join(', ')}`);
}
if (threads > 1) await useThreadedWasmBackend({ threads });
else {
  await tf.setBackend('wasm');
  await tf.ready();
}
const withoutAt = process.argv.indexOf('--without');
const without = withoutAt >= 0 ? (process.argv[withoutAt + 1] ?? '').split(',') : [];
registerWasmTrainingKernels({
  kernels: WASM_TRAINING_KERNELS.filter((k) => !without.includes(k)),
});
const { build, batch, classes } = MODELS[which];
const step = trainingStep(build(), batch, classes);
for (let i = 0; i < 3; i++) step();
const t0 = performance.now();
for (let i = 0; i < 5; i++) step();
const stepMs = (performance.now() - t0) / 5;
console.log(`${which}, ${threads} thread(s): ${stepMs.toFixed(1)} ms per step`);
const prof = await tf.profile(() => step());
const byKernel = new Map<string, { ms: number; calls: number }>();
for (const k of prof.kernels) {
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const e = byKernel.get(key) ?? { ms: 0, calls: 0 };
  e.ms += k.kernelTimeMs as number;
  e.calls++;
  byKernel.set(key, e);
}
const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20);
for (const [k, v] of top) console.log(v.ms.toFixed(1).padStart(8), String(v.calls).padStart(3), k);
// Totals by kernel name (every shape), to see what the rest of the step is made of. tfjs
// profiles ops and the kernels inside them (fusedConv2d__op around FusedConv2D), so skip "__op".
const byName = new Map<string, { ms: number; calls: number }>();
for (const k of prof.kernels) {
  if (k.name.endsWith('__op')) continue;
  const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += k.kernelTimeMs as number;
  e.calls++;
  byName.set(k.name, e);
}
const names = [...byName.entries()].sort((a, b) => b[1].ms - a[1].ms);
console.log('by kernel name:');
for (const [k, v] of names.slice(0, 15))
  console.log(v.ms.toFixed(1).padStart(8), String(v.calls).padStart(4), k);
const summary = {
  model: which,
  threads,
  without,
  step_ms: stepMs,
  kernels: top.map(([kernel, v]) => ({ kernel, ...v })),
  by_name: names.map(([kernel, v]) => ({ kernel, ...v })),
};
console.log(JSON.stringify(summary));
const out = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(out, { recursive: true });
writeFileSync(
  join(out, `profile-${which}-${threads}t.json`),
  `${JSON.stringify(summary, null, 2)}\n`,
);
// The threaded backend's workers are unref'd, but exit at once rather than wait for them.
process.exit(0);
