/**
 * Slice, SplitV and GatherV2: the stock tfjs-backend-wasm kernels against this package's
 * overrides, in one process, alternating (unregister / register), one thread:
 *
 *   pnpm --filter @igm/wasm-training exec tsx bench/slice-gather.ts [--rounds 3]
 *
 * Cases: 64 rows of a [3000, 2520] tensor (a minibatch of AV-MNIST-sized audio taken from a
 * dataset held as one tensor) by slice and by gather, and a [64, 128] head input sliced and split
 * in two (what concat's gradient does). Reports the median over rounds of each case's mean time
 * per call (µs) and the ratio; writes bench/results/slice-gather.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '../src/index';
import { seeded } from '../test/parity';

const roundsAt = process.argv.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 3;
if (!Number.isInteger(rounds) || rounds < 1) {
  throw new Error(`--rounds is "${process.argv[roundsAt + 1]}"; expected an integer >= 1`);
}

await tf.setBackend('wasm');
await tf.ready();
const data = tf.tensor(seeded([3000, 2520], 1), [3000, 2520]);
const head = tf.tensor(seeded([64, 128], 2), [64, 128]);
const rows = tf.tensor1d(
  Array.from({ length: 64 }, (_, i) => (i * 37) % 3000),
  'int32',
);

const cases: Array<[string, () => void, number]> = [
  ['slice 64 rows of [3000, 2520]', () => tf.slice(data, [700, 0], [64, 2520]).dispose(), 20],
  ['gather 64 rows of [3000, 2520]', () => tf.gather(data, rows).dispose(), 50],
  ['slice columns 64..127 of [64, 128]', () => tf.slice(head, [0, 64], [64, 64]).dispose(), 2000],
  ['split [64, 128] in two', () => tf.dispose(tf.split(head, 2, 1)), 2000],
];

function usPerCall(f: () => void, calls: number): number {
  for (let i = 0; i < Math.min(10, calls); i++) f();
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) f();
  return ((performance.now() - t0) / calls) * 1000;
}

const load0 = loadavg()[0]!;
const times: Record<string, { stock: number[]; ours: number[] }> = {};
for (let r = 0; r < rounds; r++) {
  for (const variant of ['stock', 'ours'] as const) {
    if (variant === 'ours') registerWasmTrainingKernels();
    else unregisterWasmTrainingKernels();
    for (const [name, f, calls] of cases) {
      times[name] ??= { stock: [], ours: [] };
      times[name]![variant].push(usPerCall(f, calls));
    }
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const results = Object.fromEntries(
  Object.entries(times).map(([name, t]) => [
    name,
    {
      stock_us: Number(median(t.stock).toFixed(1)),
      ours_us: Number(median(t.ours).toFixed(1)),
      speedup: Number((median(t.stock) / median(t.ours)).toFixed(1)),
    },
  ]),
);
const summary = {
  command: `pnpm --filter @igm/wasm-training exec tsx bench/slice-gather.ts --rounds ${rounds}`,
  date: new Date().toISOString(),
  node: process.version,
  load_average_before: load0,
  load_average_after: loadavg()[0],
  results,
};
console.log(JSON.stringify(summary, null, 2));
const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'slice-gather.json'), `${JSON.stringify(summary, null, 2)}\n`);
process.exit(0);
