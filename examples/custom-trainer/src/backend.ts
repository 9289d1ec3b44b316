/**
 * The app picks the backend; the @igm libraries never do. wasm is the fast CPU backend
 * (`useTrainingBackend` adds @igm/wasm-training's kernels for fast transposed matmuls and the
 * conv gradients stock wasm lacks); cpu is the pure-JS fallback. Both are imported here.
 */
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

import type { TrainingBackendName } from '@igm/wasm-training';

export { useTrainingBackend as useBackend } from '@igm/wasm-training';
export type BackendName = TrainingBackendName;

/** `--tiny` and `--backend <name>` from the command line. */
export function parseArgs(argv: readonly string[]): { tiny: boolean; backend: BackendName } {
  const i = argv.indexOf('--backend');
  const backend = (i >= 0 ? argv[i + 1] : 'wasm') as BackendName;
  return { tiny: argv.includes('--tiny'), backend };
}
