/**
 * The packed GEMM on the products of an MLP training step (the demo's AV-MNIST-style encoders,
 * batch 64: 2520- and 1600-wide inputs, 256/64 hidden units, 10 classes; the input layers'
 * forward at IGM's batch of 12) and on 1024^3:
 *
 *   pnpm --filter @igm/wasm-training bench:gemm [--baseline <kernels-relaxed.wasm>] [--rounds R]
 *
 * Each product runs as tfjs runs it (forward x W; a Dense layer's gradients dW = x^T dy and
 * dx = dy W^T through tf.matMul's transpose flags) on one thread of the wasm backend with the
 * relaxed-SIMD build, two ways: through tf.matMul (engine overhead included) and as a direct call
 * of the kernels' `gemm_packed` on the same operands (the kernel alone). With --baseline, a
 * second build of native/kernels.c (e.g. the committed kernels-relaxed.wasm of an older commit)
 * is instantiated on the same heap and its `gemm_packed` timed in alternation with this build's
 * (R rounds, best of each), and its products compared bit for bit with this build's.
 * Each sample repeats the product until it has done >= 2^24 multiply-adds; the best sample of
 * all rounds counts (GFLOP/s = 2 M K N / time). Prints a table and a JSON summary line and writes
 * bench/results/gemm-shapes.json.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { nativeKernels, nativeKernelsAreRelaxed, registerWasmTrainingKernels } from '../src/index';
import { type NativeKernels, ptr } from '../src/native';
import type { WasmBackendLike } from '../src/wasm-backend';
import { seeded } from '../test/parity';

const here = dirname(fileURLToPath(import.meta.url));

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  if (i < 0) return undefined;
  const value = process.argv[i + 1];
  if (value === undefined || value.startsWith('--'))
    throw new Error(`bench:gemm: ${name} needs a value`);
  return value;
}

const baselinePath = option('--baseline');
const rounds = Number(option('--rounds') ?? 7);
if (!Number.isInteger(rounds) || rounds < 1)
  throw new Error(`bench:gemm: --rounds must be a positive integer, got ${option('--rounds')}`);

interface Case {
  name: string;
  /** Shapes of the two operands as stored (before the transposes). */
  a: [number, number];
  b: [number, number];
  transposeA: boolean;
  transposeB: boolean;
}

const dense = (inputs: number, units: number, label: string): Case[] => [
  {
    name: `${label} forward`,
    a: [64, inputs],
    b: [inputs, units],
    transposeA: false,
    transposeB: false,
  },
  {
    name: `${label} dW = x^T dy`,
    a: [64, inputs],
    b: [64, units],
    transposeA: true,
    transposeB: false,
  },
  {
    name: `${label} dx = dy W^T`,
    a: [64, units],
    b: [inputs, units],
    transposeA: false,
    transposeB: true,
  },
];
const cases: Case[] = [
  // Input layers: their dx is never needed (the data is no variable).
  ...dense(2520, 64, 'dense 2520->64').slice(0, 2),
  ...dense(1600, 64, 'dense 1600->64').slice(0, 2),
  ...dense(64, 256, 'dense 64->256'),
  ...dense(256, 64, 'dense 256->64'),
  ...dense(64, 10, 'dense 64->10'),
  // IGM's batch of 12 (its CREMA-D recipe, the quick preset): few rows, B read in place.
  {
    name: 'batch 12: dense 2520->64 forward',
    a: [12, 2520],
    b: [2520, 64],
    transposeA: false,
    transposeB: false,
  },
  {
    name: 'batch 12: dense 1600->64 forward',
    a: [12, 1600],
    b: [1600, 64],
    transposeA: false,
    transposeB: false,
  },
  {
    name: 'batch 12: dense 128->10 forward',
    a: [12, 128],
    b: [128, 10],
    transposeA: false,
    transposeB: false,
  },
  {
    name: '[256x256] x [256x64]',
    a: [256, 256],
    b: [256, 64],
    transposeA: false,
    transposeB: false,
  },
  { name: '1024^3', a: [1024, 1024], b: [1024, 1024], transposeA: false, transposeB: false },
];

await tf.setBackend('wasm');
await tf.ready();
registerWasmTrainingKernels();
/** The slice of the WebAssembly JS API used here (the package's tsconfig has no DOM lib). */
const wasmApi = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: unknown };
    };
  }
).WebAssembly;
const backend = tf.backend() as unknown as WasmBackendLike & {
  wasm: { asm?: { memory?: object } };
};
const current = nativeKernels(backend);
if (current === null || !nativeKernelsAreRelaxed(backend))
  throw new Error('bench:gemm: needs the relaxed-SIMD build of the kernels (Node 20.16+)');
let baseline: NativeKernels | undefined;
if (baselinePath !== undefined) {
  const memory = backend.wasm.asm?.memory;
  if (memory === undefined) throw new Error('bench:gemm: the wasm backend exports no memory');
  const module = new wasmApi.Module(readFileSync(baselinePath));
  baseline = new wasmApi.Instance(module, { env: { memory } }).exports as unknown as NativeKernels;
  if (typeof baseline.gemm_packed !== 'function')
    throw new Error(`bench:gemm: ${baselinePath} exports no gemm_packed`);
}

/** Best time (ms) of one call of `fn`, over samples of `reps` calls each. */
function best(fn: () => void, reps: number, samples: number): number {
  let min = Number.POSITIVE_INFINITY;
  for (let s = 0; s < samples; s++) {
    const t0 = performance.now();
    for (let r = 0; r < reps; r++) fn();
    min = Math.min(min, (performance.now() - t0) / reps);
  }
  return min;
}

function bits(t: tf.Tensor): Uint32Array {
  return new Uint32Array((t.dataSync() as Float32Array).slice().buffer);
}

/** One thread's multiply-add peak (12 independent F32X4_MADD chains), best of 5, GFLOP/s. */
const peakIterations = 1 << 22;
const peakMs = best(() => current.madd_peak_f32x4(peakIterations, 1), 1, 5);
const peakGflops = +((96 * peakIterations) / peakMs / 1e6).toFixed(1);
console.log(`madd_peak_f32x4: ${peakGflops} GFLOP/s on one thread`);

const rows: Record<string, unknown>[] = [];
for (const [index, c] of cases.entries()) {
  const [m, k] = c.transposeA ? [c.a[1], c.a[0]] : c.a;
  const n = c.transposeB ? c.b[0] : c.b[1];
  const macs = m * k * n;
  const reps = Math.max(1, Math.ceil(2 ** 24 / macs));
  const a = tf.tensor(seeded(c.a, 2 * index + 1), c.a);
  const b = tf.tensor(seeded(c.b, 2 * index + 2), c.b);
  const viaTf = () => tf.matMul(a, b, c.transposeA, c.transposeB).dispose();

  // Direct calls on one thread, with the arguments batch-mat-mul.ts passes.
  const out = tf.zeros([m, n]);
  // Each build states its own scratch size; the larger serves both.
  const scratchFloats = Math.max(
    current.gemm_packed_scratch_floats(n),
    baseline?.gemm_packed_scratch_floats(n) ?? 0,
  );
  const scratch = tf.zeros([scratchFloats]);
  const [sAm, sAk] = c.transposeA ? [1, c.a[1]] : [c.a[1], 1];
  const [sBk, sBn] = c.transposeB ? [1, c.b[1]] : [c.b[1], 1];
  const args = () => [
    ...[ptr(backend, a), sAm, sAk, 0, ptr(backend, b), sBk, sBn, 0],
    ...[ptr(backend, out), n, m * n, m, k, 0, 1, 0, n, ptr(backend, scratch)],
  ];
  const direct = (kernels: NativeKernels) => {
    const x = args();
    return () => kernels.gemm_packed(...x);
  };

  let tfMs = Number.POSITIVE_INFINITY;
  let ownMs = Number.POSITIVE_INFINITY;
  let baseMs = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    tfMs = Math.min(tfMs, best(viaTf, reps, 1));
    ownMs = Math.min(ownMs, best(direct(current), reps, 1));
    if (baseline !== undefined) baseMs = Math.min(baseMs, best(direct(baseline), reps, 1));
  }

  // Bit-for-bit: tf.matMul against this build's direct call (and the baseline's).
  const y = tf.matMul(a, b, c.transposeA, c.transposeB);
  const yBits = bits(y);
  direct(current)();
  const ownIdentical = bits(out).every((v, i) => v === yBits[i]);
  let baseIdentical: boolean | undefined;
  if (baseline !== undefined) {
    direct(baseline)();
    baseIdentical = bits(out).every((v, i) => v === yBits[i]);
  }
  tf.dispose([a, b, y, out, scratch]);

  const gflops = (ms: number) => +((2 * macs) / ms / 1e6).toFixed(1);
  const row: Record<string, unknown> = {
    product: c.name,
    m,
    k,
    n,
    transpose_a: c.transposeA,
    transpose_b: c.transposeB,
    tf_matmul_gflops: gflops(tfMs),
    kernel_gflops: gflops(ownMs),
    kernel_ms: +ownMs.toFixed(4),
    tf_matches_kernel: ownIdentical,
  };
  if (baseline !== undefined) {
    row.baseline_kernel_gflops = gflops(baseMs);
    row.baseline_kernel_ms = +baseMs.toFixed(4);
    row.speedup = +(baseMs / ownMs).toFixed(3);
    row.baseline_bit_identical = baseIdentical;
  }
  rows.push(row);
  const shape = `${m}x${k}x${n}${c.transposeA ? ' tA' : ''}${c.transposeB ? ' tB' : ''}`;
  console.log(
    `${c.name.padEnd(24)} ${shape.padEnd(18)} tf.matMul ${String(gflops(tfMs)).padStart(5)}  kernel ${String(
      gflops(ownMs),
    ).padStart(5)} GFLOP/s` +
      (baseline !== undefined
        ? `  baseline ${String(gflops(baseMs)).padStart(5)}  x${(baseMs / ownMs).toFixed(3)}  identical=${baseIdentical}`
        : ''),
  );
}
const summary = {
  bench: 'gemm-shapes',
  rounds,
  baseline: baselinePath ?? null,
  loadavg: loadavg()[0],
  madd_peak_gflops: peakGflops,
  results: rows,
};
console.log(JSON.stringify(summary));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'gemm-shapes.json'), `${JSON.stringify(summary, null, 2)}\n`);
