/**
 * @igm/wasm-training: fast and missing training kernels for the TensorFlow.js wasm backend.
 *
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import '@tensorflow/tfjs-backend-wasm';
 * import { registerWasmTrainingKernels } from '@igm/wasm-training';
 * await tf.setBackend('wasm');
 * registerWasmTrainingKernels(); // [{ kernelName: 'BatchMatMul', action: 'override' }, ...]
 * ```
 *
 * This entry imports no Node built-in (browsers, workers, any bundler's default condition). In
 * Node, the "node" export condition (and `@igm/wasm-training/node`) resolves to node.ts, whose
 * `useThreadedWasmBackend` starts the multithreaded backend; here it throws, saying that in a
 * browser the stock backend runs threaded by itself on a cross-origin isolated page.
 */
export { planMatMul } from './batch-mat-mul';
export { type ConvGeometry, chunkPixels, col2im, im2col } from './conv2d';
export { setWinograd4Enabled, winogradTile } from './conv2d-forward';
export {
  nativeKernels,
  nativeKernelsAreRelaxed,
  relaxedSimdSupported,
  setNativeKernelsEnabled,
  setRelaxedSimdEnabled,
} from './native';
export {
  type NativeThreadPool,
  nativeThreads,
  runParts,
  setNativeThreadsEnabled,
  splitRange,
} from './native-threads';
export {
  type RegisteredKernel,
  type RegisterWasmTrainingOptions,
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
  type WasmTrainingKernel,
} from './register';
export { threadedWasmBackend, useThreadedWasmBackend } from './threaded.browser';
export {
  TRAINING_BACKENDS,
  type TrainingBackendName,
  useTrainingBackend,
} from './training-backend';
export { transposeInto } from './transpose';
