/**
 * The Node entry of @igm/wasm-training (`@igm/wasm-training/node`, and `@igm/wasm-training` itself
 * in Node through the "node" export condition): the main entry with the multithreaded wasm
 * backend for Node (threaded.ts) in place of the browser's stand-in.
 */
export * from './index';
export { threadedWasmBackend, useThreadedWasmBackend } from './threaded';
