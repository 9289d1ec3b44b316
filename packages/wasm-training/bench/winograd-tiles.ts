/**
 * Winograd tiles per layer: F(2x2, 3x3) everywhere (`setWinograd4Enabled(false)`) against the
 * tile `winogradTile` picks (F(3x3, 3x3) or F(4x4, 3x3)), in one process, alternating, one
 * thread, on the 3x3 stride-1 layers whose output size makes them differ:
 *
 *   pnpm --filter @igm/wasm-training exec tsx bench/winograd-tiles.ts [--rounds 5]
 *   (or: pnpm --filter @igm/wasm-training bench:winograd)
 *
 * Cases (batch 8, 'same'): ResNet-18's last stage at 257x188 inputs (9x6, 512 -> 512), a 9x9
 * 128 -> 128 layer, and a 3x3 256 -> 256 one. For each: forward (Conv2D), input gradient
 * (Conv2DBackpropInput) and weight gradient (Conv2DBackpropFilter), the median over rounds of
 * each kernel's minimum time per call (ms), the ratio, and the largest difference between the two
 * tiles' results relative to the F(2x2) result's RMS. Writes bench/results/winograd-tiles.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { setWinograd4Enabled, winogradTile } from '../src/conv2d-forward';
import { registerWasmTrainingKernels } from '../src/index';
import { seeded } from '../test/parity';

const roundsAt = process.argv.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(process.argv[roundsAt + 1]) : 5;
if (!Number.isInteger(rounds) || rounds < 1) {
  throw new Error(`--rounds is "${process.argv[roundsAt + 1]}"; expected an integer >= 1`);
}

await tf.setBackend('wasm');
await tf.ready();
registerWasmTrainingKernels();

const layers: Array<{ name: string; h: number; w: number; c: number; calls: number }> = [
  { name: 'ResNet-18 stage 4: 9x6, 512 -> 512', h: 9, w: 6, c: 512, calls: 5 },
  { name: '9x9, 128 -> 128', h: 9, w: 9, c: 128, calls: 10 },
  { name: '3x3, 256 -> 256', h: 3, w: 3, c: 256, calls: 20 },
];
const attrs = { strides: 1, pad: 'same', dataFormat: 'NHWC', dilations: 1 } as const;
const kernels = ['forward', 'input gradient', 'weight gradient'] as const;
type Kernel = (typeof kernels)[number];

function runner(layer: (typeof layers)[number]): Record<Kernel, () => tf.Tensor> {
  const shape: [number, number, number, number] = [8, layer.h, layer.w, layer.c];
  const x = tf.tensor4d(seeded(shape, 1), shape);
  const dy = tf.tensor4d(seeded(shape, 2), shape);
  const filterShape: [number, number, number, number] = [3, 3, layer.c, layer.c];
  const w = tf.tensor4d(seeded(filterShape, 3), filterShape);
  const run = (name: string, inputs: Record<string, tf.Tensor>, extra: object) =>
    tf.engine().runKernel(name, inputs, { ...attrs, ...extra } as never) as tf.Tensor;
  return {
    forward: () => run('Conv2D', { x, filter: w }, {}),
    'input gradient': () => run('Conv2DBackpropInput', { dy, filter: w }, { inputShape: shape }),
    'weight gradient': () => run('Conv2DBackpropFilter', { x, dy }, { filterShape }),
  };
}

function minMs(f: () => tf.Tensor, calls: number): number {
  f().dispose();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    const r = f();
    r.dataSync();
    best = Math.min(best, performance.now() - t0);
    r.dispose();
  }
  return best;
}

function relativeDifference(a: Float32Array, b: Float32Array): number {
  let sq = 0;
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    sq += b[i]! * b[i]!;
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  }
  return worst / Math.sqrt(sq / b.length);
}

const load0 = loadavg()[0]!;
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const results: Record<string, unknown> = {};
for (const layer of layers) {
  const run = runner(layer);
  const picked = winogradTile(layer.h, layer.w);
  const times: Record<string, { f2: number[]; picked: number[] }> = {};
  const difference: Record<string, number> = {};
  for (const k of kernels) {
    setWinograd4Enabled(false);
    const a = run[k]();
    setWinograd4Enabled(true);
    const b = run[k]();
    difference[k] = relativeDifference(b.dataSync() as Float32Array, a.dataSync() as Float32Array);
    tf.dispose([a, b]);
  }
  for (let r = 0; r < rounds; r++) {
    for (const tile of ['f2', 'picked'] as const) {
      setWinograd4Enabled(tile === 'picked');
      for (const k of kernels) {
        times[k] ??= { f2: [], picked: [] };
        times[k]![tile].push(minMs(run[k], layer.calls));
      }
    }
  }
  setWinograd4Enabled(true);
  results[layer.name] = {
    tile: `F(${picked}x${picked}, 3x3)`,
    kernels: Object.fromEntries(
      kernels.map((k) => {
        const f2 = median(times[k]!.f2);
        const p = median(times[k]!.picked);
        return [
          k,
          {
            f2Ms: +f2.toFixed(2),
            pickedMs: +p.toFixed(2),
            ratio: +(p / f2).toFixed(3),
            maxDifferenceOverRms: +difference[k]!.toExponential(2),
          },
        ];
      }),
    ),
  };
  console.log(layer.name, JSON.stringify(results[layer.name]));
}

const out = {
  command: `pnpm --filter @igm/wasm-training exec tsx bench/winograd-tiles.ts --rounds ${rounds}`,
  date: new Date().toISOString(),
  node: process.version,
  note: 'one thread, batch 8; per kernel: the median over rounds of the minimum ms per call, F(2x2) (setWinograd4Enabled(false)) against the tile winogradTile picks, alternating in one process; maxDifferenceOverRms: largest |picked - F(2x2)| over the RMS of the F(2x2) result',
  loadAverageBefore: load0,
  loadAverageAfter: loadavg()[0]!,
  results,
};
const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'winograd-tiles.json');
mkdirSync(dirname(file), { recursive: true });
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${file}`);
