/**
 * Bench: a training step of this package's encoders (bench/encoder-steps.ts: smallCnn on 28x28
 * AV-MNIST images, batch 64; ResNet-18 on 257x188 CREMA-D spectrograms, batch 8; Dense head,
 * softmax cross-entropy, SGD) on the wasm backend with all of @igm/wasm-training's kernels,
 * against PyTorch on the same architectures (tools/reference/wasm-training/torch_step.py
 * `--only`, /usr/bin/python3), both on one thread and in the same command:
 *
 *   pnpm --filter @igm/models exec tsx bench/encoder-step.ts [--models smallCnn,resnet18]
 *     [--steps 5] [--rounds 3] [--threads 1]
 *
 * PyTorch needs an optimised BLAS for its dense products (put OpenBLAS's libblas.so.3 first on
 * LD_LIBRARY_PATH; the result records which library ran and warns about the reference BLAS).
 * `--threads 2` runs ours on the threaded wasm backend (PyTorch stays on one thread). Each round
 * times ours (minimum wall time per step over `--steps` steps after two warm-up steps), then
 * PyTorch (the same), so both see the same machine load; reports every round's minima and ratio
 * and the median ratio, and where our step's time goes (tf.profile of one more step: kernel
 * calls, the 16 kernels that take longest); writes bench/results/encoder-step-<threads>t.json.
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
  profileStep,
} from './encoder-steps';

const names = encoderModelNames(benchArg('models', 'smallCnn,resnet18'));
const steps = positiveIntegerArg('steps', 5);
const threads = positiveIntegerArg('threads', 1);
const roundCount = positiveIntegerArg('rounds', 3);

const here = dirname(fileURLToPath(import.meta.url));
const load0 = loadavg()[0]!;

if (threads > 1) await useThreadedWasmBackend({ threads });
else {
  await tf.setBackend('wasm');
  await tf.ready();
}
registerWasmTrainingKernels();

/** Ours: min and median wall ms per step of each model, after two warm-up steps. */
function timeOurs(): Record<string, { min: number; median: number }> {
  const out: Record<string, { min: number; median: number }> = {};
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
    out[name] = {
      min: Number(Math.min(...times).toFixed(1)),
      median: Number(median(times).toFixed(1)),
    };
  }
  return out;
}

const torchScript = join(here, '../../../tools/reference/wasm-training/torch_step.py');
const torchNames = names.map((n) => ENCODER_MODELS[n].torchName);
type TorchRun = Record<string, unknown> & { torch: string; blas: { kind: string } };
/** PyTorch, one thread, in a subprocess: the same models. */
function timeTorch(): TorchRun {
  const run = JSON.parse(
    execFileSync('/usr/bin/python3', [torchScript, '1', '--only', torchNames.join(',')], {
      encoding: 'utf8',
    }),
  ) as TorchRun;
  if (run.blas.kind === 'reference') {
    console.warn(
      'PyTorch ran its dense products on the reference BLAS (~30x slower than OpenBLAS): not a fair comparison. Put OpenBLAS first on LD_LIBRARY_PATH.',
    );
  }
  return run;
}

// Rounds alternate ours and PyTorch, so both see the same machine; the summary's ratio is the
// median over rounds of each round's ratio of minima.
const rounds: Array<Record<string, { ours: number; torch: number; ratio: number }>> = [];
let torchInfo: TorchRun | undefined;
for (let r = 0; r < roundCount; r++) {
  const ours = timeOurs();
  const torch = timeTorch();
  torchInfo = torch;
  const round: Record<string, { ours: number; torch: number; ratio: number }> = {};
  for (const name of names) {
    const t = torch[ENCODER_MODELS[name].torchName] as { wall_min: number };
    round[name] = {
      ours: ours[name]!.min,
      torch: Number(t.wall_min.toFixed(1)),
      ratio: Number((ours[name]!.min / t.wall_min).toFixed(3)),
    };
  }
  rounds.push(round);
  console.log(`round ${r + 1}: ${JSON.stringify(round)}`);
}
const results: Record<string, unknown> = {};
for (const name of names) {
  const of = (k: 'ours' | 'torch' | 'ratio') => rounds.map((round) => round[name]![k]);
  // Where our step's time goes: tf.profile of one more step (after a warm-up step).
  const { step, dispose } = makeEncoderStep(name);
  step();
  const profile = await profileStep(step, 16);
  dispose();
  results[name] = {
    ours_min_ms_per_round: of('ours'),
    torch_1_thread_min_ms_per_round: of('torch'),
    ratio_per_round: of('ratio'),
    ratio_median: Number(median(of('ratio')).toFixed(3)),
    ours_profile: profile,
  };
}
const summary = {
  command: `pnpm --filter @igm/models exec tsx bench/encoder-step.ts --models ${names.join(',')} --steps ${steps} --rounds ${roundCount} --threads ${threads}`,
  date: new Date().toISOString(),
  node: process.version,
  torch: torchInfo!.torch,
  torch_blas: torchInfo!.blas.kind,
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
