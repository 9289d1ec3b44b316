/**
 * @igm/wasm-training, browser build (the package's default export condition; Node resolves the
 * "node" condition to index.ts). The same names as the Node entry, with threaded.browser.ts in
 * place of the Node-only threaded backend, so nothing here imports a Node built-in. The kernels
 * and their SIMD modules are identical; in a browser they run on the calling thread.
 *
 * ```ts
 * import * as tf from '@tensorflow/tfjs';
 * import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
 * import { registerWasmTrainingKernels } from '@igm/wasm-training';
 * setWasmPaths('/wasm/'); // where the app serves the backend's .wasm files
 * await tf.setBackend('wasm');
 * registerWasmTrainingKernels();
 * ```
 *
 * Keep this list equal to index.ts's (test/entries.test.ts checks it).
 */
export { planMatMul } from './batch-mat-mul';
export { type ConvGeometry, chunkPixels, col2im, im2col } from './conv2d';
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
export { transposeInto } from './transpose';
