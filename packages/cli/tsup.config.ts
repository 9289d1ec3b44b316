import { packageConfig } from '../../tsup.shared';

export default packageConfig({
  // job-child: the job process of `igm compare --jobs` and `igm worker` (see src/grid/pool.ts).
  entry: { index: 'src/index.ts', bin: 'src/bin.ts', 'job-child': 'src/grid/job-child.ts' },
  dts: { entry: { index: 'src/index.ts', bin: 'src/bin.ts' }, compilerOptions: { paths: {} } },
  // import.meta.url in the CommonJS build (the job process script is found next to the bundle).
  shims: true,
});
