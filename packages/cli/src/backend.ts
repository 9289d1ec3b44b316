/**
 * Backend choice for the CLI and examples (docs/architecture.md#backends). Libraries never pick
 * a backend; the application does, here:
 *
 *   auto: @tensorflow/tfjs-node-gpu -> @tensorflow/tfjs-node -> wasm (+ @igm/wasm-training
 *         kernels) -> cpu, printing what runs and why.
 *
 * On wasm, `threads` above 1 starts @igm/wasm-training's threaded build.
 *
 * tfjs-node(-gpu) download libtensorflow while installing, so they are optional: the user adds
 * them on a machine with internet (and CUDA for -gpu). A requested backend that is not installed
 * is an error that gives the install command.
 */
import { type MultimodalDataset, registerCpuTrainingKernels } from '@igm/core';
import { StreamingDataset } from '@igm/datasets/node';
import * as tf from '@tensorflow/tfjs';
import type { ComputeBackend } from './jobs';

export type BackendRequest = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'cuda';
export const BACKEND_REQUESTS: readonly BackendRequest[] = [
  'auto',
  'wasm',
  'cpu',
  'tensorflow',
  'cuda',
];

export interface BackendChoice {
  /** The tfjs backend name now active ('tensorflow', 'wasm', 'cpu'). */
  readonly backend: string;
  /** What was loaded, e.g. '@tensorflow/tfjs-node-gpu' or 'wasm + @igm/wasm-training'. */
  readonly label: string;
  /** Why this one: the attempts that failed, in order. */
  readonly reasons: readonly string[];
  /** Kernels @igm/wasm-training registered (wasm only). */
  readonly kernels?: readonly string[];
  /** Threads the wasm backend runs on (wasm only). */
  readonly threads?: number;
  /** Threads asked for that this backend does not use (--threads above 1 on cpu or tfjs-node). */
  readonly unusedThreads?: number;
}

export interface SelectBackendOptions {
  /**
   * Threads for the wasm backend (default 1): above 1, @igm/wasm-training's threaded build,
   * where XNNPACK and the package's kernels split work over that many threads. 'auto' takes
   * every core (os.availableParallelism). The tensorflow backends manage their own threads.
   */
  threads?: number | 'auto';
}

export class BackendUnavailableError extends Error {
  override name = 'BackendUnavailableError';
}

/** Imports a module by specifier (tests pass one where the tfjs-node packages are missing). */
export type Importer = (specifier: string) => Promise<unknown>;
const defaultImporter: Importer = (s) => import(s);

/** The tfjs-node backends `--backend auto` tries, in order, before wasm and cpu. */
const AUTO_NODE_ORDER = ['cuda', 'tensorflow'] as const;

const NODE_PACKAGES: Record<'tensorflow' | 'cuda', { pkg: string; install: string }> = {
  cuda: {
    pkg: '@tensorflow/tfjs-node-gpu',
    install:
      'pnpm add @tensorflow/tfjs-node-gpu@4.22.0  (needs CUDA 11.2+/cuDNN 8 and internet while installing)',
  },
  tensorflow: {
    pkg: '@tensorflow/tfjs-node',
    install: 'pnpm add @tensorflow/tfjs-node@4.22.0  (downloads libtensorflow while installing)',
  },
};

function describeFailure(e: unknown): string {
  const err = e as { code?: string; message?: string };
  if (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND')
    return 'not installed';
  return (err?.message ?? String(e)).split('\n')[0]!;
}

async function tryNode(kind: 'tensorflow' | 'cuda', importer: Importer): Promise<BackendChoice> {
  const { pkg } = NODE_PACKAGES[kind];
  await importer(pkg);
  if (!(await tf.setBackend('tensorflow')))
    throw new Error(`${pkg} loaded but the "tensorflow" backend did not start`);
  await tf.ready();
  return { backend: 'tensorflow', label: pkg, reasons: [] };
}

interface WasmTrainingModule {
  registerWasmTrainingKernels?: () => Array<{ kernelName: string }>;
  relaxedSimdSupported?: () => boolean;
  useThreadedWasmBackend?: (o: { threads: number }) => Promise<number>;
}

async function tryWasm(
  importer: Importer,
  reasons: string[],
  threads: number,
): Promise<BackendChoice> {
  await importer('@tensorflow/tfjs-backend-wasm');
  let running = 1;
  let mod: WasmTrainingModule | undefined;
  if (threads > 1) {
    // The threaded build (XNNPACK and @igm/wasm-training's kernels on every thread) replaces
    // the 'wasm' backend before any tensor exists; if it cannot start, one thread it is.
    try {
      mod = (await importer('@igm/wasm-training')) as WasmTrainingModule;
      if (!mod.useThreadedWasmBackend) throw new Error('this version has no threaded backend');
      running = await mod.useThreadedWasmBackend({ threads });
    } catch (e) {
      reasons.push(`${threads} wasm threads: ${describeFailure(e)} (running on one)`);
    }
  }
  if (running === 1 && !(await tf.setBackend('wasm')))
    throw new Error('the wasm backend did not start');
  await tf.ready();
  const onThreads = running > 1 ? `, ${running} threads` : '';
  try {
    mod ??= (await importer('@igm/wasm-training')) as WasmTrainingModule;
    const kernels = mod.registerWasmTrainingKernels?.().map((k) => k.kernelName);
    // Relaxed SIMD: fused multiply-adds in the package's matrix products (~1.5x XNNPACK's).
    const relaxed = mod.relaxedSimdSupported?.() ? ' (relaxed SIMD)' : '';
    return {
      backend: 'wasm',
      label: `wasm + @igm/wasm-training kernels${relaxed}${onThreads}`,
      reasons,
      threads: running,
      ...(kernels ? { kernels } : {}),
    };
  } catch (e) {
    reasons.push(`@igm/wasm-training: ${describeFailure(e)} (convnets cannot train on stock wasm)`);
    return {
      backend: 'wasm',
      label: `wasm (stock kernels${onThreads})`,
      reasons,
      threads: running,
    };
  }
}

/**
 * Activates the requested backend; see the module doc for the order `auto` tries. Threads above
 * 1 on a backend other than wasm are recorded in `unusedThreads` (describeBackendChoice says so).
 */
export async function selectBackend(
  request: BackendRequest,
  importer: Importer = defaultImporter,
  options: SelectBackendOptions = {},
): Promise<BackendChoice> {
  const threads = await resolveThreads(options.threads ?? 1);
  const choice = await activateBackend(request, importer, threads);
  return choice.backend !== 'wasm' && threads > 1 ? { ...choice, unusedThreads: threads } : choice;
}

async function activateBackend(
  request: BackendRequest,
  importer: Importer,
  threads: number,
): Promise<BackendChoice> {
  if (!BACKEND_REQUESTS.includes(request)) {
    throw new BackendUnavailableError(
      `Unknown backend "${String(request)}". Expected one of ${BACKEND_REQUESTS.join(', ')}.`,
    );
  }
  if (request === 'cuda' || request === 'tensorflow') {
    try {
      return await tryNode(request, importer);
    } catch (e) {
      const { pkg, install } = NODE_PACKAGES[request];
      throw new BackendUnavailableError(
        `--backend ${request} needs ${pkg}, which is ${describeFailure(e)}. Install it with: ${install}. ` +
          'Or use --backend auto to fall back to wasm/cpu.',
      );
    }
  }
  if (request === 'wasm') return tryWasm(importer, [], threads);
  if (request === 'cpu') return startCpu([]);
  const reasons: string[] = [];
  for (const kind of AUTO_NODE_ORDER) {
    try {
      const choice = await tryNode(kind, importer);
      return { ...choice, reasons };
    } catch (e) {
      reasons.push(`${NODE_PACKAGES[kind].pkg}: ${describeFailure(e)}`);
    }
  }
  try {
    return await tryWasm(importer, reasons, threads);
  } catch (e) {
    reasons.push(`@tensorflow/tfjs-backend-wasm: ${describeFailure(e)}`);
  }
  return startCpu(reasons);
}

/**
 * The cpu backend, with @igm/core's fused SGD update (one pass per parameter, the op chain's
 * bits), fused training-mode BatchNorm (two kernels per layer, tf.moments + tf.batchNorm's bits)
 * fused softmax cross-entropy (two kernels per loss) and Dense layers' fused bias + ReLU (two per
 * layer), each with the composition's bits.
 */
async function startCpu(reasons: string[]): Promise<BackendChoice> {
  await tf.setBackend('cpu');
  await tf.ready();
  registerCpuTrainingKernels();
  return { backend: 'cpu', label: 'cpu (pure JavaScript)', reasons };
}

/**
 * What `request` computes on, for `--jobs auto`, without starting wasm or cpu: `auto` imports the
 * tfjs-node packages in selectBackend's order (the first that loads is the one selectBackend
 * takes; importing it starts its backend, which a single-process comparison then uses), and is
 * wasm when neither loads and @tensorflow/tfjs-backend-wasm imports, else cpu.
 */
export async function computeBackendOf(
  request: BackendRequest,
  importer: Importer = defaultImporter,
): Promise<ComputeBackend> {
  if (request === 'cuda' || request === 'tensorflow' || request === 'wasm' || request === 'cpu')
    return request;
  if (request !== 'auto') {
    throw new BackendUnavailableError(
      `Unknown backend "${String(request)}". Expected one of ${BACKEND_REQUESTS.join(', ')}.`,
    );
  }
  for (const kind of AUTO_NODE_ORDER) {
    try {
      await importer(NODE_PACKAGES[kind].pkg);
      return kind;
    } catch {
      // not installed or does not load: selectBackend goes on to the next one too
    }
  }
  try {
    await importer('@tensorflow/tfjs-backend-wasm');
    return 'wasm';
  } catch {
    return 'cpu';
  }
}

async function resolveThreads(threads: number | 'auto'): Promise<number> {
  if (threads === 'auto') {
    const os = await import('node:os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
    throw new BackendUnavailableError(
      `threads is ${String(threads)}; expected an integer from 1 to 64 or "auto".`,
    );
  }
  return threads;
}

/**
 * Whether the chosen backend takes a minibatch's rows from a dataset-sized tensor faster than the
 * host copies them into a new array: wasm with @igm/wasm-training's GatherV2 (64 rows of both
 * AV-MNIST-style modalities, [3000, 2520] and [3000, 1600], ~0.1-0.2 ms against ~0.25-0.5 ms by
 * host copy and upload). Not the stock wasm kernel (~6 ms for the same rows) nor cpu (~14 ms).
 */
export function gathersBatchesFast(choice: BackendChoice): boolean {
  return choice.backend === 'wasm' && (choice.kernels ?? []).includes('GatherV2');
}

/**
 * Has a dataset whose samples are in memory gather its batches on the backend where
 * `gathersBatchesFast` (StreamingDataset.keepSamplesOnBackend: the same batches, less host
 * work per batch), and read them on the host elsewhere. Returns whether batches are gathered.
 */
export function placeDatasetSamples(dataset: MultimodalDataset, choice: BackendChoice): boolean {
  if (!(dataset instanceof StreamingDataset)) return false;
  return dataset.keepSamplesOnBackend(gathersBatchesFast(choice));
}

export function describeBackendChoice(choice: BackendChoice): string {
  const why = choice.reasons.length ? ` (skipped: ${choice.reasons.join('; ')})` : '';
  const unused = choice.unusedThreads
    ? `\n--threads ${choice.unusedThreads}: not used on ${choice.label}; --threads sets the wasm backend's threads (${choice.backend === 'cpu' ? 'the cpu backend runs on one' : 'tfjs-node manages its own'})`
    : '';
  return `backend: ${choice.label}${why}${unused}`;
}
