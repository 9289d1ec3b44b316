/**
 * The fused SGD update (IgmSgdMomentumUpdate) against the op chain it replaces, on training steps
 * shaped like the demo grid's (`igm compare --dataset av-mnist-imbalanced --preset quick`):
 *
 *   demo-mlp   the quick preset's encoders: audio [40, 63, 1] and image [40, 40, 1], each
 *              flatten -> Dense(64) -> ReLU, concatenated -> Dense(10); batch 64
 *   demo-cnn   the small CNN encoders of the paper preset on the same inputs (conv3x3 32 ->
 *              BatchNorm -> ReLU -> 2x2 pool, conv3x3 64 -> BatchNorm -> ReLU -> 2x2 pool,
 *              global average pool), concatenated -> Dense(10); batch 64
 *
 * Each model trains with `sgd({ learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4 })` of
 * @igm/core driven by GradientOptimizer.minimize (forward, backward, update), and separately
 * "update only": applyGradients with fixed gradients (the optimizer's share of a step). One
 * process, one wasm thread: every round runs each case fused (all of this package's kernels) and
 * right after or before as the op chain (the same kernels but IgmSgdMomentumUpdate), alternating
 * which goes first, so both see the same machine load. Reports per case the median over rounds of the per-step
 * process CPU time and wall time, and op chain / fused ratios (> 1: the fused kernel is faster).
 *
 *   pnpm --filter @igm/wasm-training bench:sgd-update [--rounds 7]
 *     [--min-steps 3] [--min-ms 300]   (each measurement: at least this many steps and ms)
 *     [--models demo-mlp,demo-cnn] [--backend wasm|cpu]
 *
 * --backend cpu: registerCpuSgdMomentumKernel against the op chain on the cpu backend (the CNN
 * takes seconds per step there; `--models demo-mlp` keeps it short).
 *
 * Writes bench/results/sgd-update[-cpu].json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  collectParams,
  GradientOptimizer,
  IgmSgdMomentumUpdate,
  registerCpuSgdMomentumKernel,
  sgd,
  unregisterCpuSgdMomentumKernel,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
} from '../src/index';

const here = dirname(fileURLToPath(import.meta.url));

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
function positiveInteger(name: string, fallback: string): number {
  const v = Number(flag(name, fallback));
  if (!Number.isInteger(v) || v < 1) {
    throw new Error(`--${name} is "${flag(name, fallback)}"; expected a positive integer`);
  }
  return v;
}
const ROUNDS = positiveInteger('rounds', '7');
const MIN_STEPS = positiveInteger('min-steps', '3');
const MIN_MS = positiveInteger('min-ms', '300');
const MODELS = flag('models', 'demo-mlp,demo-cnn').split(',');
for (const m of MODELS) {
  if (m !== 'demo-mlp' && m !== 'demo-cnn') {
    throw new Error(`--models contains "${m}"; expected demo-mlp and/or demo-cnn`);
  }
}
const BACKEND = flag('backend', 'wasm');
if (BACKEND !== 'wasm' && BACKEND !== 'cpu') {
  throw new Error(`--backend is "${BACKEND}"; expected wasm or cpu`);
}
const BATCH = 64;
const AUDIO: [number, number, number] = [40, 63, 1];
const IMAGE: [number, number, number] = [40, 40, 1];

await tf.setBackend(BACKEND);
await tf.ready();
const loadBefore = loadavg()[0];

/** Fused (true) or op chain (false) on the active backend. */
function useFused(fused: boolean): void {
  if (BACKEND === 'cpu') {
    if (fused) registerCpuSgdMomentumKernel();
    else unregisterCpuSgdMomentumKernel();
    return;
  }
  unregisterWasmTrainingKernels();
  registerWasmTrainingKernels({
    kernels: fused
      ? WASM_TRAINING_KERNELS
      : WASM_TRAINING_KERNELS.filter((k) => k !== IgmSgdMomentumUpdate),
  });
}

function denseEncoder(input: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  const flat = tf.layers.flatten({ name: `${name}_flatten` }).apply(input) as tf.SymbolicTensor;
  return tf.layers
    .dense({ units: 64, activation: 'relu', name: `${name}_fc` })
    .apply(flat) as tf.SymbolicTensor;
}

function cnnEncoder(input: tf.SymbolicTensor, name: string): tf.SymbolicTensor {
  let x = input;
  [32, 64].forEach((filters, i) => {
    x = tf.layers
      .conv2d({ filters, kernelSize: 3, padding: 'same', useBias: false, name: `${name}_conv${i}` })
      .apply(x) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: `${name}_bn${i}` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  });
  return tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
}

function demoModel(encoder: typeof denseEncoder): tf.LayersModel {
  const audio = tf.input({ shape: AUDIO, name: 'audio' });
  const image = tf.input({ shape: IMAGE, name: 'image' });
  const joint = tf.layers
    .concatenate()
    .apply([encoder(audio, 'audio'), encoder(image, 'image')]) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 10, name: 'head' }).apply(joint) as tf.SymbolicTensor;
  return tf.model({ inputs: [audio, image], outputs: logits });
}

interface Case {
  name: string;
  params: number;
  tensors: number;
  /** One step; returns nothing, leaves no tensors. */
  step: () => void;
}

function cases(name: string, model: tf.LayersModel): Case[] {
  const xa = tf.randomNormal([BATCH, ...AUDIO], 0, 1, 'float32', 1);
  const xi = tf.randomNormal([BATCH, ...IMAGE], 0, 1, 'float32', 2);
  const labels = tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 3), 10);
  const params = collectParams(model);
  const optimizer = () =>
    new GradientOptimizer(sgd({ learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4 }), params);
  const train = optimizer();
  const loss = () =>
    tf.losses.softmaxCrossEntropy(labels, model.apply([xa, xi], { training: true }) as tf.Tensor);
  const update = optimizer();
  const grads = new Map(
    [...params.values()].map((p, i) => [
      p.key,
      tf.randomNormal(p.variable.shape, 0, 1e-3, 'float32', 10 + i),
    ]),
  );
  const size = [...params.values()].reduce((a, p) => a + p.variable.size, 0);
  return [
    {
      name: `${name} training step`,
      params: size,
      tensors: params.size,
      step: () => void train.minimize(loss),
    },
    {
      name: `${name} update only`,
      params: size,
      tensors: params.size,
      step: () => {
        update.applyGradients(grads);
        // Wait for the work as the training step does (its loss read-back).
        [...params.values()][0]!.variable.dataSync();
      },
    },
  ];
}

const all = MODELS.flatMap((m) =>
  cases(m, demoModel(m === 'demo-mlp' ? denseEncoder : cnnEncoder)),
);

const times = new Map(
  all.map((c) => [
    c.name,
    {
      fused: [] as number[],
      ops: [] as number[],
      fusedWall: [] as number[],
      opsWall: [] as number[],
    },
  ]),
);
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? [true, false] : [false, true];
  for (const c of all) {
    for (const fused of order) {
      useFused(fused);
      for (let i = 0; i < 2; i++) c.step();
      // At least MIN_STEPS steps and MIN_MS of wall time per measurement.
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let steps = 0;
      while (steps < MIN_STEPS || performance.now() - t0 < MIN_MS) {
        c.step();
        steps++;
      }
      const wall = (performance.now() - t0) / steps;
      const used = process.cpuUsage(c0);
      const cpu = (used.user + used.system) / 1000 / steps;
      process.stderr.write(
        `round ${round + 1}/${ROUNDS} ${fused ? 'fused' : 'op chain'} ${c.name}: ${cpu.toFixed(2)} ms CPU per step (${steps} steps)\n`,
      );
      const t = times.get(c.name)!;
      (fused ? t.fused : t.ops).push(cpu);
      (fused ? t.fusedWall : t.opsWall).push(wall);
    }
  }
}
useFused(true);

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const rows = all.map((c) => {
  const t = times.get(c.name)!;
  const row = {
    case: c.name,
    parameterTensors: c.tensors,
    parameters: c.params,
    opChainCpuMs: +median(t.ops).toFixed(3),
    fusedCpuMs: +median(t.fused).toFixed(3),
    ratioCpu: +(median(t.ops) / median(t.fused)).toFixed(3),
    opChainWallMs: +median(t.opsWall).toFixed(3),
    fusedWallMs: +median(t.fusedWall).toFixed(3),
    ratioWall: +(median(t.opsWall) / median(t.fusedWall)).toFixed(3),
  };
  console.log(
    `${c.name.padEnd(26)} op chain ${row.opChainCpuMs.toFixed(2).padStart(7)} ms  fused ${row.fusedCpuMs
      .toFixed(2)
      .padStart(
        7,
      )} ms  x${row.ratioCpu.toFixed(2)} CPU  (wall ${row.opChainWallMs.toFixed(2)} / ${row.fusedWallMs.toFixed(2)}, x${row.ratioWall.toFixed(2)})`,
  );
  return row;
});
const summary = {
  bench: 'sgd-update',
  backend: BACKEND,
  date: new Date().toISOString(),
  node: process.version,
  rounds: ROUNDS,
  minStepsPerMeasurement: MIN_STEPS,
  minMsPerMeasurement: MIN_MS,
  batch: BATCH,
  loadavg1min: { before: loadBefore, after: loadavg()[0] },
  note: 'per-step medians over rounds of process CPU time and wall time; ratio = op chain / fused (> 1: fused is faster). One wasm thread.',
  results: rows,
};
console.log(
  JSON.stringify({
    bench: summary.bench,
    backend: BACKEND,
    results: rows.map((r) => [r.case, r.ratioCpu, r.ratioWall]),
  }),
);
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', BACKEND === 'cpu' ? 'sgd-update-cpu.json' : 'sgd-update.json'),
  `${JSON.stringify(summary, null, 2)}\n`,
);
