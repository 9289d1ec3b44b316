/**
 * The backend switch every training app makes: the app picks the backend, the @igm libraries
 * never do.
 */
import { checkChoice, registerCpuTrainingKernels } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels } from './register';

/** The backends {@link useTrainingBackend} switches to. */
export const TRAINING_BACKENDS = ['wasm', 'cpu'] as const;
export type TrainingBackendName = (typeof TRAINING_BACKENDS)[number];

/**
 * Switches tfjs to `name`, waits until it is ready and, on wasm, registers this package's
 * training kernels (`registerWasmTrainingKernels()`: fast transposed matrix products, the
 * convolution gradients the stock wasm backend lacks, the fused SGD update and BatchNorm); on cpu,
 * @igm/core's fused SGD update, training-mode BatchNorm, softmax cross-entropy and Dense bias +
 * activation (`registerCpuTrainingKernels()`). Returns the active backend's name.
 *
 * The app imports the backends it offers (`@tensorflow/tfjs` brings cpu;
 * `import '@tensorflow/tfjs-backend-wasm'` adds wasm); this function imports none. cpu is the
 * pure-JavaScript fallback, wasm the fast CPU backend.
 */
export async function useTrainingBackend(name: TrainingBackendName): Promise<string> {
  checkChoice('useTrainingBackend', 'name', name, TRAINING_BACKENDS);
  if (!(await tf.setBackend(name))) {
    throw new Error(
      `useTrainingBackend: the tfjs backend "${name}" failed to start. Import its package first (${name === 'wasm' ? "import '@tensorflow/tfjs-backend-wasm'" : "import '@tensorflow/tfjs' or '@tensorflow/tfjs-backend-cpu'"}).`,
    );
  }
  await tf.ready();
  if (name === 'wasm') registerWasmTrainingKernels();
  else {
    registerCpuTrainingKernels();
  }
  return tf.getBackend();
}
