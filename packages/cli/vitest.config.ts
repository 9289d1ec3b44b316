import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedConfig } from '../../vitest.shared';

// The binary tests (test/bin.ts) run dist/bin.js: build it once first when it is out of date.
export default mergeConfig(
  sharedConfig,
  defineConfig({ test: { globalSetup: ['test/build-once.ts'] } }),
);
