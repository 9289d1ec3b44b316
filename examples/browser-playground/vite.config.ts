import { defineConfig } from 'vite';
import { browserAliases, workspaceRoot } from './workspace.ts';

/**
 * Threaded wasm (SharedArrayBuffer) needs a cross-origin isolated page: both servers (dev and
 * preview) send COOP same-origin and COEP require-corp. @igm/* resolve to the workspace sources
 * through their browser export condition, so the page needs no prior build of the libraries.
 */
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  resolve: { alias: browserAliases() },
  server: { headers: isolation, fs: { allow: [workspaceRoot] } },
  preview: { headers: isolation },
  worker: { format: 'es' },
  optimizeDeps: {
    // Everything the page and its worker import, found up front: a dependency discovered late
    // would make the dev server reload the page mid-run.
    entries: ['index.html', 'src/worker.ts'],
    include: [
      '@tensorflow/tfjs',
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-layers',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-backend-webgpu',
      '@igm/datasets > fft.js',
      '@igm/datasets > wavefile',
      '@igm/datasets > jpeg-js',
    ],
  },
  build: { target: 'es2022', chunkSizeWarningLimit: 4000 },
});
