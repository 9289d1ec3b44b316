/**
 * Helper threads for the package's own SIMD kernels on the threaded wasm backend (Node).
 *
 * The threaded build runs XNNPACK (matmul, convolution) on its pthreadpool, but every other
 * kernel, this package's included, runs on the calling thread. Kernels that split cleanly
 * (Winograd convolutions over output tiles, the conv weight gradient over output pixels, the
 * max-pool gradient over images) use the other cores through this pool: `threads - 1` worker_threads, each with its
 * own instance of the shared-memory build of native/kernels.c bound to the backend's
 * (shared) WebAssembly.Memory, so they work on the same tensors in place.
 *
 * A call hands each helper a function name and its integer arguments through a small
 * SharedArrayBuffer and wakes it with Atomics.notify; the calling thread runs part 0 itself,
 * then waits (Atomics.wait) for the helpers. No messages, no copies; about 10-50 us per call.
 * Idle helpers sleep in Atomics.wait and are unref'd, so they never keep the process alive.
 */

import {
  kernelsWasmBytes,
  type NativeKernels,
  nativeKernels,
  relaxedSimdSupported,
  relaxedSimdWanted,
  useRelaxedSimd,
} from './native';
import type { WasmBackendLike } from './wasm-backend';

/** Functions a helper thread can run (all of native/kernels.c's exports). */
export type NativeKernelName = keyof NativeKernels;

export interface NativeThreadPool {
  /** Threads a call runs on, the calling thread included. */
  readonly threads: number;
  /**
   * Runs `fn(...argsPerThread[i])` for every i: i = 0 on the calling thread, i >= 1 on helper
   * i - 1 (at most `threads` parts). Returns when all have finished; rethrows a helper's trap.
   * The parts must write disjoint memory.
   */
  run(backend: WasmBackendLike, fn: NativeKernelName, argsPerThread: number[][]): void;
  /** Stops the helpers (the pool is unusable afterwards). */
  terminate(): Promise<void>;
}

// Control block of one helper, Int32 slots.
const STATE = 0; // 0 idle, 1 work posted, 2 done, 3 exit, 4 failed
const FN = 1;
const NARGS = 2;
const BUILD = 3; // 0 plain SIMD, 1 relaxed SIMD: the build the calling thread runs
const ARGS = 4;
const MAX_ARGS = 32;

const IDLE = 0;
const POSTED = 1;
const DONE = 2;
const EXIT = 3;
const FAILED = 4;

/** The helper's program (CommonJS, started with `eval: true`; no file on disk needed). */
const HELPER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { memory, builds, names, control } = workerData;
const ctl = new Int32Array(control);
const instances = builds.map((bytes) =>
  bytes && new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports);
parentPort.postMessage('ready');
for (;;) {
  let s;
  while ((s = Atomics.load(ctl, ${STATE})) !== ${POSTED} && s !== ${EXIT}) Atomics.wait(ctl, ${STATE}, s);
  if (s === ${EXIT}) break;
  try {
    const args = Array.from(ctl.subarray(${ARGS}, ${ARGS} + ctl[${NARGS}]));
    instances[ctl[${BUILD}]][names[ctl[${FN}]]](...args);
    Atomics.store(ctl, ${STATE}, ${DONE});
  } catch (e) {
    console.error('@igm/wasm-training helper thread:', e);
    Atomics.store(ctl, ${STATE}, ${FAILED});
  }
  Atomics.notify(ctl, ${STATE});
}
`;

// Every export, by name (a Record, so the compiler flags a kernel missing here).
const EXPORTS: Record<NativeKernelName, true> = {
  add_inplace: true,
  max_pool_grad: true,
  sum_rows: true,
  transpose2d: true,
  im2col: true,
  col2im: true,
  gemm_acc: true,
  gemm_packed: true,
  gemm_packed_scratch_floats: true,
  conv2d_filter_grad: true,
  winograd_filter: true,
  conv2d_winograd: true,
  conv2d_winograd_filter_grad: true,
  winograd_filter_grad_output: true,
  binary_f32: true,
  batch_norm_f32: true,
  relu_f32: true,
  bias_act_f32: true,
  conv2d_im2col: true,
  step_f32: true,
  sgd_momentum_f32: true,
  madd_peak_f32x4: true,
  winograd4_filter: true,
  conv2d_winograd4: true,
  winograd4_filter_grad_output: true,
  winograd3_filter: true,
  conv2d_winograd3: true,
  winograd3_filter_grad_output: true,
  conv2d_input_grad_im2col: true,
  bn_moments_f32: true,
  bn_grad_sums_f32: true,
  bn_centered_sum_f32: true,
  bn_input_grad_f32: true,
};
const NAMES = Object.keys(EXPORTS) as NativeKernelName[];

/** Pools by the backend's Emscripten module (one per threaded backend). */
const pools = new WeakMap<object, NativeThreadPool>();

interface WorkerLike {
  once(event: 'message' | 'error', cb: (v: unknown) => void): void;
  off(event: 'error', cb: (v: unknown) => void): void;
  unref(): void;
  terminate(): Promise<number>;
}

/** node:worker_threads' Worker, passed in so this module imports no Node built-in. */
export type NodeWorkerConstructor = new (src: string, opts: object) => WorkerLike;

/**
 * Starts `threads - 1` helper threads for the kernels of the backend whose Emscripten module is
 * `module` and whose heap is the shared `memory`. Node only; called by useThreadedWasmBackend
 * with node:worker_threads' `Worker` (this module is also part of the browser build).
 */
export async function startNativeThreads(
  module: object,
  memory: object,
  threads: number,
  Worker: NodeWorkerConstructor,
): Promise<NativeThreadPool | null> {
  if (threads < 2 || typeof SharedArrayBuffer === 'undefined') return null;
  // Both builds, so the helpers run the one the calling thread runs (see native.ts). The
  // relaxed one only if wanted now: checking support may turn on V8's flag in Node 20.
  const hasRelaxed = relaxedSimdWanted() && relaxedSimdSupported();
  const builds = [kernelsWasmBytes(true, false), hasRelaxed ? kernelsWasmBytes(true, true) : null];
  const helpers: Array<{ worker: WorkerLike; ctl: Int32Array }> = [];
  for (let i = 1; i < threads; i++) {
    const control = new SharedArrayBuffer(4 * (ARGS + MAX_ARGS));
    const worker = new Worker(HELPER_SOURCE, {
      eval: true,
      workerData: { memory, builds, names: NAMES, control },
    });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => {
        worker.off('error', reject);
        resolve();
      });
      worker.once('error', reject);
    });
    worker.unref();
    helpers.push({ worker, ctl: new Int32Array(control) });
  }
  const pool: NativeThreadPool = {
    threads,
    run(backend, fn, argsPerThread) {
      const native = nativeKernels(backend);
      if (native === null)
        throw new Error('wasm-training: SIMD kernels unavailable on this backend');
      if (argsPerThread.length > threads) {
        throw new Error(
          `wasm-training: ${argsPerThread.length} parts for a pool of ${threads} threads`,
        );
      }
      const build = useRelaxedSimd() ? 1 : 0;
      if (build === 1 && !hasRelaxed) {
        // Relaxed SIMD enabled after the pool started without it: the calling thread does all.
        callEach(native, fn, argsPerThread);
        return;
      }
      const used = helpers.slice(0, argsPerThread.length - 1);
      used.forEach(({ ctl }, i) => {
        const args = argsPerThread[i + 1]!;
        ctl[FN] = NAMES.indexOf(fn);
        ctl[BUILD] = build;
        ctl[NARGS] = args.length;
        ctl.set(args, ARGS);
        Atomics.store(ctl, STATE, POSTED);
        Atomics.notify(ctl, STATE);
      });
      let ownError: unknown;
      try {
        (native[fn] as (...a: number[]) => void)(...argsPerThread[0]!);
      } catch (e) {
        ownError = e;
      }
      let failed = -1;
      used.forEach(({ ctl }, i) => {
        for (let s = Atomics.load(ctl, STATE); s === POSTED; s = Atomics.load(ctl, STATE))
          Atomics.wait(ctl, STATE, s);
        if (Atomics.load(ctl, STATE) === FAILED) failed = i + 1;
        Atomics.store(ctl, STATE, IDLE);
      });
      if (ownError !== undefined) throw ownError;
      if (failed >= 0) {
        throw new Error(`wasm-training: helper thread ${failed} failed in ${fn} (see stderr)`);
      }
    },
    async terminate() {
      for (const { worker, ctl } of helpers) {
        Atomics.store(ctl, STATE, EXIT);
        Atomics.notify(ctl, STATE);
        await worker.terminate();
      }
      helpers.length = 0;
      pools.delete(module);
    },
  };
  pools.set(module, pool);
  return pool;
}

let threadsDisabled = false;

/** Turns the helper threads off (false) or back on (true); for tests and benchmarks. */
export function setNativeThreadsEnabled(enabled: boolean): void {
  threadsDisabled = !enabled;
}

/** The helper-thread pool of this backend, or null (single-threaded backend or no SIMD kernels). */
export function nativeThreads(backend: WasmBackendLike): NativeThreadPool | null {
  if (threadsDisabled) return null;
  return pools.get(backend.wasm as unknown as object) ?? null;
}

/**
 * Runs `fn(...part)` for every part: over the helper threads when the backend has them and there
 * is more than one part, else one after another on the calling thread. The parts must write
 * disjoint memory. Callers split their work with `splitRange(n, nativeThreads(b)?.threads ?? 1)`.
 */
export function runParts(backend: WasmBackendLike, fn: NativeKernelName, parts: number[][]): void {
  const pool = nativeThreads(backend);
  if (pool && parts.length > 1) {
    pool.run(backend, fn, parts);
    return;
  }
  const native = nativeKernels(backend);
  if (native === null) throw new Error('wasm-training: SIMD kernels unavailable on this backend');
  callEach(native, fn, parts);
}

/** `fn(...part)` for every part, one after another on the calling thread. */
function callEach(native: NativeKernels, fn: NativeKernelName, parts: number[][]): void {
  for (const part of parts) (native[fn] as (...a: number[]) => void)(...part);
}

/** Splits [0, total) into at most `parts` contiguous ranges of whole `unit`s (e.g. images). */
export function splitRange(total: number, parts: number, unit = 1): Array<[number, number]> {
  const units = Math.ceil(total / unit);
  const n = Math.max(1, Math.min(parts, units));
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const a = Math.min(total, Math.floor((units * i) / n) * unit);
    const b = Math.min(total, Math.floor((units * (i + 1)) / n) * unit);
    if (b > a) out.push([a, b]);
  }
  return out;
}
