/**
 * Bench: training steps of this package's encoders with and without the fused training-mode
 * BatchNorm kernels (@igm/core's IgmBatchNormTraining / IgmBatchNormTrainingGrad), in one
 * process, A/B interleaved so both see the same machine load.
 *
 *   pnpm --filter @igm/models exec tsx bench/batch-norm-step.ts [--backend wasm|cpu]
 *     [--models smallCnn,resnet18] [--rounds 3] [--steps 3]
 *
 * Models: bench/encoder-steps.ts (each encoder with a Dense head, softmax cross-entropy,
 * momentum SGD).
 * On wasm all of @igm/wasm-training's kernels are registered, the fused pair or not; on cpu the
 * fused SGD update always and the fused BatchNorm or not. Reports per model the median wall time
 * per step of each variant over `rounds` x `steps` steps, their ratio, the kernel calls per step,
 * and for each variant the time per kernel name of one profiled step (the ten largest).
 * Writes bench/results/batch-norm-step-<backend>.json (the wasm backend on one thread). Timings are noisy when other jobs share
 * the cores; the ratio within one run is what counts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  registerCpuBatchNormKernels,
  registerCpuSgdMomentumKernel,
  unregisterCpuBatchNormKernels,
} from '@igm/core';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
} from '@igm/wasm-training';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  benchArg,
  encoderModelNames,
  makeEncoderStep,
  median,
  positiveIntegerArg,
  profileStep,
} from './encoder-steps';

const backend = benchArg('backend', 'wasm');
if (backend !== 'wasm' && backend !== 'cpu') {
  throw new Error(`--backend is "${backend}"; expected wasm or cpu`);
}
const rounds = positiveIntegerArg('rounds', 3);
const steps = positiveIntegerArg('steps', 3);

const names = encoderModelNames(benchArg('models', 'smallCnn,resnet18'));

await tf.setBackend(backend);
await tf.ready();
registerCpuSgdMomentumKernel();

function useFused(fused: boolean): void {
  if (backend === 'cpu') {
    if (fused) registerCpuBatchNormKernels();
    else unregisterCpuBatchNormKernels();
    return;
  }
  unregisterWasmTrainingKernels();
  registerWasmTrainingKernels({
    kernels: fused
      ? WASM_TRAINING_KERNELS
      : WASM_TRAINING_KERNELS.filter(
          (k) => k !== IgmBatchNormTraining && k !== IgmBatchNormTrainingGrad,
        ),
  });
}

const load0 = loadavg()[0]!;
const results: Record<string, unknown> = {};
for (const name of names) {
  const variants = {
    fused: makeEncoderStep(name, { momentum: true }),
    composition: makeEncoderStep(name, { momentum: true }),
  };
  const times: Record<keyof typeof variants, number[]> = { fused: [], composition: [] };
  for (const v of ['fused', 'composition'] as const) {
    useFused(v === 'fused');
    variants[v].step(); // warm-up (kernel setup, first allocations)
  }
  for (let r = 0; r < rounds; r++) {
    for (const v of ['fused', 'composition'] as const) {
      useFused(v === 'fused');
      for (let s = 0; s < steps; s++) {
        const t0 = performance.now();
        variants[v].step();
        times[v].push(performance.now() - t0);
      }
    }
  }
  const out: Record<string, unknown> = {};
  for (const v of ['fused', 'composition'] as const) {
    useFused(v === 'fused');
    out[v] = {
      step_ms_median: Number(median(times[v]).toFixed(1)),
      step_ms_min: Number(Math.min(...times[v]).toFixed(1)),
      ...(await profileStep(variants[v].step)),
    };
    variants[v].dispose();
  }
  out['ratio_fused_over_composition'] = Number(
    (median(times.fused) / median(times.composition)).toFixed(3),
  );
  results[name] = out;
  console.log(name, JSON.stringify(out));
}
const summary = {
  date: new Date().toISOString(),
  node: process.version,
  backend,
  rounds,
  steps,
  load_average_before: load0,
  load_average_after: loadavg()[0],
  results,
};
const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', `batch-norm-step-${backend}.json`),
  `${JSON.stringify(summary, null, 2)}\n`,
);
console.log(JSON.stringify({ backend, load_average_before: load0 }));
