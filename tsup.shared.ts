import { defineConfig, type Options } from 'tsup';

/**
 * The build of every published package: ESM + CJS + type declarations from `src/index.ts`
 * (declarations resolve workspace packages through node_modules, not the source `paths`).
 * A package passes only what differs, e.g. `packageConfig({ entry: [...], shims: true })`.
 */
export function packageConfig(overrides: Options = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: { compilerOptions: { paths: {} } },
    tsconfig: 'tsconfig.build.json',
    sourcemap: true,
    clean: true,
    target: 'es2022',
    ...overrides,
  });
}
