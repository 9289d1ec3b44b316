/**
 * The app picks the backend; the @igm libraries never do. wasm is the fast CPU backend (add
 * @igm/wasm-training's kernels for fast transposed matmuls and the conv gradients stock wasm
 * lacks); cpu is the pure-JS fallback.
 */
import { registerWasmTrainingKernels } from '@igm/wasm-training';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export type BackendName = 'wasm' | 'cpu';

export async function useBackend(name: BackendName): Promise<string> {
  if (name !== 'wasm' && name !== 'cpu') {
    throw new Error(`Unknown backend "${name}". Expected "wasm" or "cpu".`);
  }
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend "${name}" failed to start.`);
  await tf.ready();
  if (name === 'wasm') registerWasmTrainingKernels();
  return tf.getBackend();
}

/** `--tiny` and `--backend <name>` from the command line. */
export function parseArgs(argv: readonly string[]): { tiny: boolean; backend: BackendName } {
  const i = argv.indexOf('--backend');
  const backend = (i >= 0 ? argv[i + 1] : 'wasm') as BackendName;
  return { tiny: argv.includes('--tiny'), backend };
}
