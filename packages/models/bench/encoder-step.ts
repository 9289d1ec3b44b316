/**
 * Bench: a training step of this package's encoders (bench/encoder-steps.ts: smallCnn on 28x28
 * AV-MNIST images, batch 64; ResNet-18 on 257x188 CREMA-D spectrograms, batch 8; Dense head,
 * softmax cross-entropy, SGD) on the wasm backend with all of @igm/wasm-training's kernels,
 * against PyTorch on the same architectures (tools/reference/wasm-training/torch_step.py
 * `--only`, /usr/bin/python3), both on one thread and in the same command:
 *
 *   pnpm --filter @igm/models exec tsx bench/encoder-step.ts [--models smallCnn,resnet18]
 *     [--steps 5] [--threads 1]
 *
 * PyTorch needs an optimised BLAS for its dense products (put OpenBLAS's libblas.so.3 first on
 * LD_LIBRARY_PATH; the result records which library ran and warns about the reference BLAS).
 * `--threads 2` runs ours on the threaded wasm backend (PyTorch stays on one thread). Reports the
 * minimum and median wall time per step after two warm-up steps and the ratio ours / PyTorch of
 * the minima; writes bench/results/encoder-step-<threads>t.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerWasmTrainingKernels, useThreadedWasmBackend } from '@igm/wasm-training';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  benchArg,
  ENCODER_MODELS,
  encoderModelNames,
  makeEncoderStep,
  median,
  positiveIntegerArg,
} from './encoder-steps';

const names = encoderModelNames(benchArg('models', 'smallCnn,resnet18'));
const steps = positiveIntegerArg('steps', 5);
const threads = positiveIntegerArg('threads', 1);

const here = dirname(fileURLToPath(import.meta.url));
const load0 = loadavg()[0]!;

if (threads > 1) await useThreadedWasmBackend({ threads });
else {
  await tf.setBackend('wasm');
  await tf.ready();
}
registerWasmTrainingKernels();

const ours: Record<string, { min: number; median: number }> = {};
for (const name of names) {
  const { step, dispose } = makeEncoderStep(name);
  step();
  step();
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  dispose();
  ours[name] = {
    min: Number(Math.min(...times).toFixed(1)),
    median: Number(median(times).toFixed(1)),
  };
  console.log(`ours ${name}: ${JSON.stringify(ours[name])}`);
}

const torchScript = join(here, '../../../tools/reference/wasm-training/torch_step.py');
const torchNames = names.map((n) => ENCODER_MODELS[n].torchName);
const torch = JSON.parse(
  execFileSync('/usr/bin/python3', [torchScript, '1', '--only', torchNames.join(',')], {
    encoding: 'utf8',
  }),
) as Record<string, unknown> & { blas: { kind: string; files: string[] } };
if (torch.blas.kind === 'reference') {
  console.warn(
    'PyTorch ran its dense products on the reference BLAS (~30x slower than OpenBLAS): not a fair comparison. Put OpenBLAS first on LD_LIBRARY_PATH.',
  );
}

const results: Record<string, unknown> = {};
for (const name of names) {
  const t = torch[ENCODER_MODELS[name].torchName] as { wall_min: number; wall_median: number };
  results[name] = {
    ours_ms: ours[name],
    torch_1_thread_ms: {
      min: Number(t.wall_min.toFixed(1)),
      median: Number(t.wall_median.toFixed(1)),
    },
    ratio_ours_over_torch: Number((ours[name]!.min / t.wall_min).toFixed(3)),
  };
}
const summary = {
  command: `pnpm --filter @igm/models exec tsx bench/encoder-step.ts --models ${names.join(',')} --steps ${steps} --threads ${threads}`,
  date: new Date().toISOString(),
  node: process.version,
  torch: torch['torch'],
  torch_blas: torch.blas.kind,
  ours: `wasm backend, @igm/wasm-training kernels, ${threads} thread(s)`,
  load_average_before: load0,
  load_average_after: loadavg()[0],
  results,
};
console.log(JSON.stringify(summary));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', `encoder-step-${threads}t.json`),
  `${JSON.stringify(summary, null, 2)}\n`,
);
process.exit(0);
