// The README example (run: pnpm --filter @igm/baselines exec tsx example.ts).

import { createMethod, methods, preset } from '@igm/baselines';
import { synthetic } from '@igm/datasets';
import { mlpEncoder } from '@igm/models';
import { runTraining } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs';

await tf.setBackend('cpu');
const dataset = synthetic({
  signal: { audio: 0.9, visual: 0.5 },
  samples: { train: 256, validation: 64, test: 64 },
});
const env = {
  dataset,
  numClasses: 4,
  batchSize: 32,
  encoders: () => ({
    audio: mlpEncoder({ inputDim: 16, units: [32], seed: 1 }),
    visual: mlpEncoder({ inputDim: 16, units: [32], seed: 2 }),
  }),
};
console.log('methods:', Object.keys(methods).join(', '));
for (const name of ['joint', 'ogm-ge', 'pmr', 'agm', 'mmpareto']) {
  // The preset's reference hyper-parameters, with overrides key by key.
  const run = createMethod(name, preset('synthetic', name, { epochs: 3 }), env);
  const summary = await runTraining({
    ...run.trainOptions(),
    dataset,
    batchSize: 32,
    seed: 0,
    progress: 'none',
  });
  const test = summary.best?.metrics.test?.outputs;
  const decided = Object.entries(summary.history.at(-1)!.logs)
    .filter(([k]) => /^(ogm|pmr|agm|mmpareto)\//.test(k))
    .map(([k, v]) => `${k}=${v.toFixed(3)}`)
    .slice(0, 3);
  console.log(
    `${name.padEnd(9)} fused ${(100 * test!['fused']!.accuracy).toFixed(1)}%  audio ${(100 * test!['audio']!.accuracy).toFixed(1)}%  visual ${(100 * test!['visual']!.accuracy).toFixed(1)}%  ${decided.join(' ')}`,
  );
  run.dispose();
}
