/**
 * The demo grid's arithmetic, for the demo-grid bench's floor (`--count-work`): runs the grid
 * once in this process (`igm compare ... --jobs 1 --threads 1` from dist/, wasm backend), counting
 * every tfjs kernel call and the FLOPs of the matrix products (direct count, 2·m·n·k), then
 * measures the multiply-add peak of one wasm thread (independent 128-bit FMA chains) and the CPU
 * cost of one tiny kernel call, and replays the grid's matrix products alone (every shape it
 * ran, timed for 0.15 s of CPU or its call count, times its call count: the products' share of
 * a run without the rest of the training loop; operands stay warm in cache, unlike in the run).
 * Writes the shapes with their replay seconds to <out dir>/matrix-products.json (the input of
 * tools/reference/demo/torch_products.py)
 * and prints one JSON line: { productFlops, kernelCalls, byKernel, matrixProductShapes,
 * maddPeakGflopsPerThread, productsAtPeakSeconds, dispatchMicrosecondsPerCall, dispatchSeconds,
 * productsReplaySeconds, productsFile }. Not timed: the counting wrapper slows every kernel call.
 *
 *   FSDD_DIR=... npx tsx bench/demo-grid/count-work.ts <out dir> <igm compare grid flags...>
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countKernelWork, type MatrixProductShape } from '@igm/test-utils/bench';
import { nativeKernels, runParts } from '@igm/wasm-training';
import * as tf from '@tensorflow/tfjs-core';

const [out, ...gridFlags] = process.argv.slice(2);
if (!out || gridFlags.length === 0) {
  console.error('usage: count-work.ts <out dir> <igm compare grid flags...>');
  process.exit(2);
}
// The built CLI, as the timed configurations run it (a path, so that typechecking needs no build).
const distEntry = new URL('../../dist/index.js', import.meta.url).href;
const { main } = (await import(distEntry)) as { main(argv: string[]): Promise<number> };
const counter = countKernelWork(tf.engine() as never);
const code = await main([
  'node',
  'igm',
  'compare',
  ...gridFlags,
  '--jobs',
  '1',
  '--threads',
  '1',
  '--out',
  out,
  '--overwrite',
]);
const work = counter.stop();
if (code !== 0) {
  console.error(`igm compare exited with ${code}`);
  process.exit(1);
}

// The multiply-add peak of one thread, by CPU time (best of 5 after a warm-up).
const backend = tf.backend() as never;
if (nativeKernels(backend) === null) throw new Error('the wasm kernels are not loaded');
const n = 5_000_000;
let cpu = Number.POSITIVE_INFINITY;
for (let i = 0; i < 6; i++) {
  const c0 = process.cpuUsage();
  runParts(backend, 'madd_peak_f32x4', [[n, 1]]);
  const c = process.cpuUsage(c0);
  if (i > 0) cpu = Math.min(cpu, (c.user + c.system) / 1e6);
}
// madd_peak_f32x4 runs 12 independent f32x4 multiply-add chains: 96 FLOPs per iteration.
const peak = (96 * n) / cpu / 1e9;

// What one kernel call costs besides its arithmetic: tfjs's dispatch (kernel lookup, scopes,
// tensor bookkeeping) and the disposal, timed on 4-element Adds outside any gradient tape (the
// cheapest case: on the tape, tfjs also records a node and saves inputs). CPU time per call, best
// of 5 rounds of 20,000 after a warm-up round.
const a = tf.ones([4]);
const b = tf.ones([4]);
let dispatch = Number.POSITIVE_INFINITY;
for (let round = 0; round < 6; round++) {
  const calls = 20_000;
  const c0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) tf.add(a, b).dispose();
  const c = process.cpuUsage(c0);
  if (round > 0) dispatch = Math.min(dispatch, (c.user + c.system) / calls);
}
tf.dispose([a, b]);

/**
 * CPU seconds of `calls` products of one shape: after two warm-up products, rounds of 1, 2, 4, ...
 * products until `minSeconds` of CPU time or the call count; CPU time per product x calls.
 */
function replaySeconds(p: MatrixProductShape, minSeconds: number): number {
  const lead = p.batch > 1 ? [p.batch] : [];
  const shapeA = [...lead, ...(p.transposeA ? [p.k, p.m] : [p.m, p.k])];
  const shapeB = [...lead, ...(p.transposeB ? [p.n, p.k] : [p.k, p.n])];
  const x = tf.randomUniform(shapeA, 0, 1, 'float32', 1);
  const y = tf.randomUniform(shapeB, 0, 1, 'float32', 2);
  for (let i = 0; i < 2; i++) tf.matMul(x, y, p.transposeA, p.transposeB).dispose();
  let reps = 0;
  let spent = 0;
  const c0 = process.cpuUsage();
  for (let chunk = 1; reps < p.calls && spent < minSeconds; chunk *= 2) {
    const todo = Math.min(chunk, p.calls - reps);
    for (let i = 0; i < todo; i++) tf.matMul(x, y, p.transposeA, p.transposeB).dispose();
    reps += todo;
    const c = process.cpuUsage(c0);
    spent = (c.user + c.system) / 1e6;
  }
  tf.dispose([x, y]);
  return (spent / reps) * p.calls;
}
const replayed = work.matrixProducts.map((p) => ({ ...p, oursSeconds: replaySeconds(p, 0.15) }));
const productsReplaySeconds = replayed.reduce((s, p) => s + p.oursSeconds, 0);
const productsFile = join(out, 'matrix-products.json');
writeFileSync(productsFile, `${JSON.stringify({ matrixProducts: replayed }, null, 1)}\n`);
const { matrixProducts, ...counted } = work;
console.log(
  JSON.stringify({
    ...counted,
    matrixProductShapes: matrixProducts.length,
    maddPeakGflopsPerThread: peak,
    productsAtPeakSeconds: work.productFlops / (peak * 1e9),
    dispatchMicrosecondsPerCall: dispatch,
    dispatchSeconds: (work.kernelCalls * dispatch) / 1e6,
    productsReplaySeconds,
    productsFile,
  }),
);
