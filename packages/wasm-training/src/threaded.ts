/**
 * Multithreaded wasm backend for Node (the Node entry, node.ts; the main entry has
 * threaded.browser.ts in its place).
 *
 * @tensorflow/tfjs-backend-wasm ships a threaded SIMD build (XNNPACK on a pthreadpool), but in
 * Node it never starts: the backend only enables it when `WASM_HAS_MULTITHREAD_SUPPORT` is true
 * and then starts Emscripten's workers from blob: URLs, which Node's worker_threads refuse
 * (ERR_WORKER_PATH). Even started, its thread pool is sized from os.cpus().length / 2 (it
 * assumes two hyperthreads per core), so on a 2-core machine it gets one thread.
 *
 * `useThreadedWasmBackend` writes the worker script and the module source to a temporary
 * folder, starts the threaded build with workers from those file paths, sizes its pool to
 * `threads`, and registers it as the 'wasm' backend. Kernels registered for 'wasm' (stock and
 * this package's) run on it unchanged; XNNPACK's matmul and convolution use all threads, and so
 * do this package's kernels that split cleanly (native-threads.ts: `threads - 1` helper threads
 * on the same shared heap). The remaining kernels stay single-threaded.
 */
import { checkNumber } from '@igm/core';
import { engine, registerBackend, removeBackend, setBackend } from '@tensorflow/tfjs-core';
import { type NodeWorkerConstructor, startNativeThreads } from './native-threads';

interface WasmPackage {
  BackendWasm: new (module: unknown) => object;
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

type Factory = ((config: Record<string, unknown>) => Promise<EmscriptenModule>) & {
  default?: Factory;
};

interface EmscriptenModule {
  cwrap(name: string, ret: string | null, args: string[]): (...a: number[]) => number;
  tfjs?: Record<string, unknown>;
  PThread?: {
    unusedWorkers: Array<{ unref?: () => void }>;
    runningWorkers: Array<{ unref?: () => void }>;
  };
}

let active: { threads: number } | null = null;

/**
 * Replaces the 'wasm' backend with the multithreaded SIMD build running `threads` threads
 * (Node only) and makes it the active backend. Returns the thread count the backend reports.
 * Call it before creating tensors on wasm: the previous wasm backend and its tensors are
 * disposed. Register the kernels (registerWasmTrainingKernels) before or after; both work.
 */
export async function useThreadedWasmBackend({ threads }: { threads: number }): Promise<number> {
  checkNumber('useThreadedWasmBackend', 'threads', threads, { min: 1, max: 64, integer: true });
  if (typeof process === 'undefined' || !process.versions?.node) {
    throw new Error(
      'useThreadedWasmBackend: Node only; in browsers the stock wasm backend already starts its threaded build (with cross-origin isolation)',
    );
  }
  // Node built-ins are imported here, not at the top, so bundling the package for a browser
  // does not pull them in.
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const { tmpdir } = await import('node:os');
  const { dirname, join } = await import('node:path');
  const { Worker } = await import('node:worker_threads');
  const require = createRequire(import.meta.url);
  const wasmPkg = require('@tensorflow/tfjs-backend-wasm') as WasmPackage;
  const pkgDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const factoryModule = require(
    join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js'),
  ) as Factory;
  const factory = factoryModule.default ?? factoryModule;
  const { wasmWorkerContents } = require(
    join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js'),
  ) as {
    wasmWorkerContents: string;
  };
  const dir = mkdtempSync(join(tmpdir(), 'igm-wasm-threads-'));
  const workerPath = join(dir, 'worker.cjs');
  const mainPath = join(dir, 'main.cjs');
  // The same escaping the backend applies before making its Blob.
  writeFileSync(workerPath, wasmWorkerContents.replace(/\n/g, '\\n'));
  writeFileSync(mainPath, `var WasmBackendModuleThreadedSimd = ${factory.toString()}`);

  // The C side sizes its pthreadpool from emscripten_num_logical_cores() / 2, which Node answers
  // with os.cpus().length: report 2 * threads while the module starts.
  const os = require('node:os') as { cpus: () => unknown[] };
  const realCpus = os.cpus;
  os.cpus = () => Array.from({ length: 2 * threads }, () => realCpus()[0]);
  let module: EmscriptenModule;
  try {
    module = await factory({
      locateFile: (path: string, prefix: string) => {
        if (path.endsWith('.worker.js')) return workerPath;
        if (path.endsWith('.wasm'))
          return join(pkgDir, 'wasm-out/tfjs-backend-wasm-threaded-simd.wasm');
        return prefix + path;
      },
      mainScriptUrlOrBlob: mainPath,
    });
  } finally {
    os.cpus = realCpus;
  }
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  wasmPkg.setThreadsCount(threads);
  // Let a pending initialisation of the stock wasm backend finish first; otherwise it completes
  // later and leaves the engine waiting on a backend that is no longer registered.
  await engine().ready();
  // (Not findBackend('wasm'): that would start initialising the stock backend.)
  if (engine().registryFactory['wasm'] !== undefined) removeBackend('wasm');
  registerBackend('wasm', () => new wasmPkg.BackendWasm(module) as never, 2);
  if (!(await setBackend('wasm')))
    throw new Error('useThreadedWasmBackend: the threaded wasm backend failed to start');
  // The pool's workers (started while the backend initialised) must not keep the process alive.
  unrefWorkers(module);
  active = { threads: wasmPkg.getThreadsCount() };
  // Helper threads for this package's own kernels, on the same shared heap.
  const memory = (module as { wasmMemory?: object }).wasmMemory;
  if (memory !== undefined)
    await startNativeThreads(module, memory, active.threads, Worker as NodeWorkerConstructor);
  return active.threads;
}

function unrefWorkers(module: EmscriptenModule): void {
  for (const w of [
    ...(module.PThread?.unusedWorkers ?? []),
    ...(module.PThread?.runningWorkers ?? []),
  ])
    w.unref?.();
}

/** The thread count of the backend started by useThreadedWasmBackend, or null if none. */
export function threadedWasmBackend(): { threads: number } | null {
  return active;
}
