/**
 * Step time of `sgd({ momentum })` driven by GradientOptimizer (and by the tf.Optimizer adapter)
 * against `tf.train.momentum` on a 512-256-64-10 MLP, batch 64, wasm backend, in one process.
 *
 *   pnpm --filter @igm/core bench            (IGM_BENCH_BACKEND=cpu to switch backend)
 *
 * Prints a table, a JSON summary line, and writes bench/results/optim.json. Ratios > 1 mean
 * slower than tf.train.momentum. Each variant runs interleaved rounds; the median per-step time
 * over rounds is reported.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { collectParams, GradientOptimizer, sgd, toTfjsOptimizer } from '../src/index';

const BACKEND = process.env['IGM_BENCH_BACKEND'] ?? 'wasm';
const SIZES = [512, 256, 64, 10];
const BATCH = 64;
const STEPS = Number(process.env['IGM_BENCH_STEPS'] ?? 30);
const ROUNDS = Number(process.env['IGM_BENCH_ROUNDS'] ?? 3);
const LR = 0.01;
const MU = 0.9;

await tf.setBackend(BACKEND);
await tf.ready();

function makeWeights(tag: string): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (let i = 0; i + 1 < SIZES.length; i++) {
    const [a, b] = [SIZES[i]!, SIZES[i + 1]!];
    out[`l${i}/kernel`] = tf.variable(
      tf.randomUniform([a, b], -1 / Math.sqrt(a), 1 / Math.sqrt(a), 'float32', i),
      true,
      `${tag}/l${i}/kernel`,
    );
    out[`l${i}/bias`] = tf.variable(tf.zeros([b]), true, `${tag}/l${i}/bias`);
  }
  return out;
}

const x = tf.randomNormal([BATCH, SIZES[0]!], 0, 1, 'float32', 7);
const y = tf.oneHot(tf.randomUniform([BATCH], 0, 10, 'int32', 8), 10);

function loss(w: Record<string, tf.Variable>): tf.Scalar {
  let h: tf.Tensor = x;
  for (let i = 0; i + 1 < SIZES.length; i++) {
    h = tf.add(tf.matMul(h, w[`l${i}/kernel`]!), w[`l${i}/bias`]!);
    if (i + 2 < SIZES.length) h = tf.relu(h);
  }
  return tf.losses.softmaxCrossEntropy(y, h) as tf.Scalar;
}

type Variant = { name: string; step: () => void; dispose: () => void };

function variants(): Variant[] {
  const wa = makeWeights('baseline');
  const tfOpt = tf.train.momentum(LR, MU);
  const va = Object.values(wa);
  const wb = makeWeights('igm');
  const ours = new GradientOptimizer(sgd({ learningRate: LR, momentum: MU }), collectParams(wb));
  const wc = makeWeights('adapter');
  const adapter = toTfjsOptimizer(sgd({ learningRate: LR, momentum: MU }), {
    params: collectParams(wc),
  });
  const vc = Object.values(wc);
  return [
    {
      name: 'tf.train.momentum',
      step: () => {
        const l = tfOpt.minimize(() => loss(wa), true, va)!;
        l.dataSync();
        l.dispose();
      },
      dispose: () => {
        tfOpt.dispose();
        tf.dispose(va);
      },
    },
    {
      name: 'GradientOptimizer(sgd)',
      step: () => {
        ours.minimize(() => loss(wb));
      },
      dispose: () => {
        ours.dispose();
        tf.dispose(Object.values(wb));
      },
    },
    {
      name: 'toTfjsOptimizer(sgd)',
      step: () => {
        const l = adapter.minimize(() => loss(wc), true, vc)!;
        l.dataSync();
        l.dispose();
      },
      dispose: () => {
        adapter.dispose();
        tf.dispose(vc);
      },
    },
  ];
}

/** Update only: the same precomputed gradients applied by each optimizer (no forward/backward). */
function updateOnly(): Variant[] {
  const wa = makeWeights('u-baseline');
  const wb = makeWeights('u-igm');
  const tfOpt = tf.train.momentum(LR, MU);
  const ours = new GradientOptimizer(sgd({ learningRate: LR, momentum: MU }), collectParams(wb));
  const grads = Object.fromEntries(
    Object.entries(wa).map(([k, v]) => [k, tf.mul(tf.onesLike(v), 1e-4)]),
  );
  const tfGrads = Object.entries(wa).map(([k, v]) => ({ name: v.name, tensor: grads[k]! }));
  const ourGrads = new Map(Object.entries(grads));
  return [
    {
      name: 'update only: tf.train.momentum',
      step: () => {
        tfOpt.applyGradients(tfGrads);
        wa['l2/bias']!.dataSync();
      },
      dispose: () => {
        tfOpt.dispose();
        tf.dispose(Object.values(wa));
      },
    },
    {
      name: 'update only: GradientOptimizer(sgd)',
      step: () => {
        ours.applyGradients(ourGrads);
        wb['l2/bias']!.dataSync();
      },
      dispose: () => {
        ours.dispose();
        tf.dispose([...Object.values(wb), ...Object.values(grads)]);
      },
    },
  ];
}

const vs = [...variants(), ...updateOnly()];
for (const v of vs) for (let i = 0; i < 3; i++) v.step(); // warm-up (wasm kernels, state init)
const times = new Map<string, number[]>(vs.map((v) => [v.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const v of vs) {
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) v.step();
    times.get(v.name)!.push((performance.now() - t0) / STEPS);
  }
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
const base = median(times.get('tf.train.momentum')!);
const updateBase = median(times.get('update only: tf.train.momentum')!);
const rows = vs.map((v) => {
  const ms = median(times.get(v.name)!);
  const ref = v.name.startsWith('update only') ? updateBase : base;
  return { variant: v.name, msPerStep: +ms.toFixed(3), ratio: +(ms / ref).toFixed(3) };
});
for (const v of vs) v.dispose();
tf.dispose([x, y]);

console.log(
  `backend ${BACKEND}, MLP ${SIZES.join('-')}, batch ${BATCH}, ${ROUNDS} rounds x ${STEPS} steps (median)`,
);
console.table(rows);
const summary = {
  bench: 'optim',
  backend: BACKEND,
  mlp: SIZES,
  batch: BATCH,
  steps: STEPS,
  rounds: ROUNDS,
  results: rows,
  ratioGradientOptimizer: rows[1]!.ratio,
  ratioAdapter: rows[2]!.ratio,
  ratioUpdateOnly: rows[4]!.ratio,
  loadAverage1m: (await import('node:os')).loadavg()[0],
};
console.log(JSON.stringify(summary));
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'optim.json');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
