import { defineConfig } from 'tsup';

export default defineConfig({
  // job-child: the job process of `igm compare --jobs` and `igm worker` (see src/grid/pool.ts).
  entry: { index: 'src/index.ts', bin: 'src/bin.ts', 'job-child': 'src/grid/job-child.ts' },
  format: ['esm', 'cjs'],
  dts: { entry: { index: 'src/index.ts', bin: 'src/bin.ts' }, compilerOptions: { paths: {} } },
  // import.meta.url in the CommonJS build (the job process script is found next to the bundle).
  shims: true,
  tsconfig: 'tsconfig.build.json',
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
