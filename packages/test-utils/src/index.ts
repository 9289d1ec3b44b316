/**
 * Test helpers shared by the @igm packages.
 *
 * - `describeEachBackend` runs a suite once per backend (cpu and wasm by default; set
 *   `IGM_TEST_BACKENDS=cpu` to restrict), so every package is tested on both.
 * - `expectNoTensorLeak` checks that `tf.memory().numTensors` is flat across repeated steps.
 * - `loadFixture` reads a JSON parity fixture produced by a script under tools/reference/.
 * - `expectAllClose` compares tensors or arrays with an absolute + relative tolerance and
 *   reports the worst element.
 * - `exitedPid` gives the pid of a process that has exited (leftover-cleanup tests).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect } from 'vitest';

export { exitedPid } from './process';
export { tf };

export type BackendName = 'cpu' | 'wasm';

export function testBackends(): BackendName[] {
  const raw = process.env['IGM_TEST_BACKENDS'];
  if (!raw) return ['cpu', 'wasm'];
  const names = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names) {
    if (n !== 'cpu' && n !== 'wasm') {
      throw new Error(`IGM_TEST_BACKENDS contains "${n}"; expected a comma list of cpu, wasm`);
    }
  }
  return names as BackendName[];
}

/** Switches tfjs to `backend` and waits until it is ready. */
export async function useBackend(backend: BackendName): Promise<void> {
  const ok = await tf.setBackend(backend);
  if (!ok) throw new Error(`tfjs backend "${backend}" failed to initialise`);
  await tf.ready();
}

/** Runs `body` as one `describe` block per backend, switching the backend before the block. */
export function describeEachBackend(name: string, body: (backend: BackendName) => void): void {
  for (const backend of testBackends()) {
    describe(`${name} [${backend}]`, () => {
      beforeAll(async () => {
        await useBackend(backend);
      });
      body(backend);
    });
  }
}

/**
 * Runs `step` `warmup` times, records `tf.memory().numTensors`, runs it `steps` more times and
 * asserts the count did not change. `step` may be async (it is awaited).
 */
export async function expectNoTensorLeak(
  step: (i: number) => unknown,
  { steps = 200, warmup = 2 }: { steps?: number; warmup?: number } = {},
): Promise<void> {
  for (let i = 0; i < warmup; i++) await step(i);
  const before = tf.memory().numTensors;
  for (let i = 0; i < steps; i++) await step(warmup + i);
  const after = tf.memory().numTensors;
  expect(after, `numTensors grew from ${before} to ${after} over ${steps} steps`).toBe(before);
}

export function loadFixture<T = unknown>(url: URL | string): T {
  return JSON.parse(readFileSync(url, 'utf8')) as T;
}

type Numeric = tf.Tensor | number | ArrayLike<number> | number[][] | number[][][] | number[][][][];

function flatten(x: Numeric): Float64Array {
  if (x instanceof tf.Tensor) return Float64Array.from(x.dataSync());
  if (typeof x === 'number') return Float64Array.of(x);
  const out: number[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'number') out.push(v);
    else if (Array.isArray(v) || ArrayBuffer.isView(v)) {
      const arr = v as ArrayLike<unknown>;
      for (let i = 0; i < arr.length; i++) walk(arr[i]);
    } else throw new Error(`expectAllClose: unsupported element ${String(v)}`);
  };
  walk(x);
  return Float64Array.from(out);
}

/** |a - b| <= atol + rtol * |b| elementwise; the failure message names the worst index. */
export function expectAllClose(
  actual: Numeric,
  expected: Numeric,
  { atol = 1e-5, rtol = 0, label = 'value' }: { atol?: number; rtol?: number; label?: string } = {},
): void {
  const a = flatten(actual);
  const b = flatten(expected);
  expect(a.length, `${label}: length`).toBe(b.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < a.length; i++) {
    const excess = Math.abs(a[i]! - b[i]!) - (atol + rtol * Math.abs(b[i]!));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(
      `${label}: element ${worst} is ${a[worst]} but expected ${b[worst]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}
