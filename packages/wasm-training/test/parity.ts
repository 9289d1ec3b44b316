/**
 * Runs the same computation on the cpu backend and on wasm with this package's kernels and
 * compares. Inputs are generated from a seeded normal so both backends see identical values.
 */
import { expectAllClose, tf, useBackend } from '@igm/test-utils';
import { registerWasmTrainingKernels } from '../src/index';

export function seeded(shape: number[], seed: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32 -> uniform(-1, 1)
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 0xffffffff) * 2 - 1;
  }
  return out;
}

/** Evaluates `f` on each backend and returns the flat results. */
export async function onBackend(
  backend: 'cpu' | 'wasm',
  f: () => tf.Tensor[],
): Promise<Float32Array[]> {
  await useBackend(backend);
  if (backend === 'wasm') registerWasmTrainingKernels();
  const outs = tf.tidy(f);
  const data = outs.map((t) => t.dataSync() as Float32Array);
  tf.dispose(outs);
  return data;
}

/**
 * float32 results whose summation order differs: |a - b| <= atol + rtol |b| with atol 1e-4,
 * rtol 1e-4 (inputs are O(1), sums run over at most a few thousand terms, so the float32 rounding
 * difference stays around 1e-6 .. 1e-5 relative; cpu vs wasm measured at <= 2e-5).
 */
export async function expectParity(
  label: string,
  f: () => tf.Tensor[],
  tol = { atol: 1e-4, rtol: 1e-4 },
): Promise<void> {
  const cpu = await onBackend('cpu', f);
  const wasm = await onBackend('wasm', f);
  for (let i = 0; i < cpu.length; i++) {
    expectAllClose(wasm[i]!, cpu[i]!, { ...tol, label: `${label} output ${i}` });
  }
}
