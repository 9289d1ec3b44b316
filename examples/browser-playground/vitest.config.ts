import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared.ts';

// The tests start Chromium and a Vite server themselves; they run one file at a time so that
// the page's training does not compete with the bundling test for the CPU.
export default mergeConfig(
  sharedConfig,
  defineConfig({ test: { fileParallelism: false, include: ['test/**/*.test.ts'] } }),
);
