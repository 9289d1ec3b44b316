/**
 * The main entry's stand-in for threaded.ts (Node only, in node.ts). In a browser the stock wasm
 * backend starts its threaded SIMD build (XNNPACK on a pthreadpool of Web Workers) by itself when
 * the page is cross-origin isolated (served with COOP `same-origin` and COEP `require-corp`); its
 * thread count is set with `setThreadsCount` from @tensorflow/tfjs-backend-wasm before the backend
 * starts. There is nothing for this package to start, so these two functions keep the Node
 * entry's names with browser behaviour.
 */

/**
 * Node only: throws outside Node's entry, saying what to do instead (in a browser the stock wasm
 * backend already runs threaded when the page is cross-origin isolated).
 */
export async function useThreadedWasmBackend(_options: { threads: number }): Promise<number> {
  throw new Error(
    'useThreadedWasmBackend: Node only (import it from @igm/wasm-training/node, or from @igm/wasm-training in Node). In a browser the stock wasm backend runs its threaded SIMD build by itself when the page is cross-origin isolated (COOP same-origin + COEP require-corp); set its thread count with setThreadsCount(n) from @tensorflow/tfjs-backend-wasm before tf.setBackend("wasm").',
  );
}

/** Always null outside Node's entry (useThreadedWasmBackend is Node only). */
export function threadedWasmBackend(): { threads: number } | null {
  return null;
}
