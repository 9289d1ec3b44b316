/**
 * The elementwise and convolution overrides against the stock wasm kernels they replace, on the
 * shapes of the benchmark models' training steps (ResNet-18 257x188 batch 8, MLP 512 batch 64):
 *
 *   pnpm --filter @igm/wasm-training bench:overrides
 *
 * One process, one thread: each case runs with the package's kernels registered, then with the
 * stock ones (unregisterWasmTrainingKernels), alternating over 4 rounds so both see the same
 * machine load; reports per case the minimum CPU time (process.cpuUsage) and wall time of either,
 * and their ratio. Writes bench/results/overrides-micro.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '../src/index';
import { seeded } from '../test/parity';

const here = dirname(fileURLToPath(import.meta.url));
const random = (shape: number[], seed: number, shift = 0): tf.Tensor =>
  tf.tensor(
    seeded(shape, seed).map((v) => v + shift),
    shape,
  );

await tf.setBackend('wasm');
await tf.ready();

// ResNet-18's first stage activations and channel vectors, the MLP's weights and activations.
const act = random([8, 129, 94, 64], 1);
const act2 = random([8, 129, 94, 64], 2);
const channel = random([64], 3);
const channel4 = random([1, 1, 1, 64], 4);
const variance = random([64], 5, 1.5);
const w512 = random([512, 512], 6);
const g512 = random([512, 512], 7);
const h64 = random([64, 512], 8);
const bias512 = random([512], 9);
const lr = tf.scalar(0.01);
const convCases: Array<[string, number[], number[], number]> = [
  ['stem 7x7/2, 1 -> 64', [8, 257, 188, 1], [7, 7, 1, 64], 2],
  ['3x3/2, 64 -> 128', [8, 65, 47, 64], [3, 3, 64, 128], 2],
  ['1x1/2, 64 -> 128', [8, 65, 47, 64], [1, 1, 64, 128], 2],
  ['3x3/2, 256 -> 512', [8, 17, 12, 256], [3, 3, 256, 512], 2],
];
const convInputs = convCases.map(([, xs, fs], i) => [random(xs, 20 + i), random(fs, 30 + i)]);

const cases: Array<[string, () => tf.Tensor]> = [
  ['Multiply [8,129,94,64] x same', () => tf.mul(act, act2)],
  ['Multiply [1,1,1,64] x [8,129,94,64]', () => tf.mul(channel4, act)],
  ['Sub [8,129,94,64] - [64]', () => tf.sub(act, channel)],
  ['RealDiv [8,129,94,64] / scalar', () => tf.div(act, lr)],
  ['FusedBatchNorm [8,129,94,64]', () => tf.batchNorm(act, channel, variance, channel, channel)],
  ['Relu [8,129,94,64]', () => tf.relu(act)],
  ['Step [8,129,94,64]', () => tf.step(act)],
  ['Cast float32 -> float32 [8,129,94,64]', () => tf.cast(act, 'float32')],
  ['Add [512,512] + [512,512] (SGD update)', () => tf.add(w512, g512)],
  ['Multiply scalar x [512,512] (SGD update)', () => tf.mul(lr, g512)],
  ['Add [64,512] + [512] (bias)', () => tf.add(h64, bias512)],
  [
    '_FusedMatMul [64,512] x [512,512] + bias, relu',
    () => tf.fused.matMul({ a: h64, b: w512, bias: bias512, activation: 'relu' }),
  ],
  ...convCases.map(([name, , , stride], i): [string, () => tf.Tensor] => [
    `Conv2D ${name}`,
    () =>
      tf.conv2d(convInputs[i]![0] as tf.Tensor4D, convInputs[i]![1] as tf.Tensor4D, stride, 'same'),
  ]),
];

type Times = { cpu: number[]; wall: number[] };
const times = new Map<string, { ours: Times; stock: Times }>();
for (const [name] of cases)
  times.set(name, { ours: { cpu: [], wall: [] }, stock: { cpu: [], wall: [] } });
for (let round = 0; round < 4; round++) {
  for (const side of ['ours', 'stock'] as const) {
    if (side === 'ours') registerWasmTrainingKernels();
    else unregisterWasmTrainingKernels();
    for (const [name, fn] of cases) {
      fn().dispose();
      for (let rep = 0; rep < 3; rep++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const y = fn();
        const wall = performance.now() - t0;
        const c = process.cpuUsage(c0);
        y.dispose();
        times.get(name)![side].cpu.push((c.user + c.system) / 1000);
        times.get(name)![side].wall.push(wall);
      }
    }
  }
}
registerWasmTrainingKernels();

const rows = cases.map(([name]) => {
  const t = times.get(name)!;
  const min = (v: number[]) => Math.min(...v);
  const row = {
    case: name,
    stock_cpu_min_ms: +min(t.stock.cpu).toFixed(3),
    ours_cpu_min_ms: +min(t.ours.cpu).toFixed(3),
    stock_wall_min_ms: +min(t.stock.wall).toFixed(3),
    ours_wall_min_ms: +min(t.ours.wall).toFixed(3),
    speedup_wall_min: +(min(t.stock.wall) / min(t.ours.wall)).toFixed(2),
  };
  console.log(
    `${name.padEnd(48)} stock ${row.stock_wall_min_ms.toFixed(3).padStart(8)} ms  ours ${row.ours_wall_min_ms
      .toFixed(3)
      .padStart(
        8,
      )} ms  x${row.speedup_wall_min}  (CPU ${row.stock_cpu_min_ms} / ${row.ours_cpu_min_ms})`,
  );
  return row;
});
const summary = {
  bench: 'overrides-micro',
  date: new Date().toISOString(),
  loadavg_1min: loadavg()[0],
  note: 'one thread; process.cpuUsage has about 1 ms resolution on some systems, so the sub-ms CPU figures are coarse',
  results: rows,
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', 'overrides-micro.json'),
  `${JSON.stringify(summary, null, 2)}\n`,
);
