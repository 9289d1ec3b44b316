// The README's OGR-GB / MSES / MSLR example (run: pnpm --filter @igm/baselines exec tsx example-side.ts).

import { createMethod, preset } from '@igm/baselines';
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
const runs = [
  createMethod('ogr-gb', preset('synthetic', 'ogr-gb', { superEpoch: 2, epochs: 4 }), env),
  createMethod('mses', preset('synthetic', 'mses', { patience: 2, epochs: 8 }), env),
  createMethod(
    'mslr',
    {
      strategy: 'dynamic',
      history: 2,
      unimodalEpochs: 4,
      unimodalLearningRates: [0.003, 0.01, 0.03],
      epochs: 8,
    },
    env,
  ),
];
const shown = /^(ogr-gb\/weight|mses\/active|mslr\/(audio|visual)\/lr)/;
for (const run of runs) {
  const summary = await runTraining({
    ...run.trainOptions(),
    dataset,
    batchSize: 32,
    seed: 0,
    progress: 'none',
  });
  const test = summary.best?.metrics.test?.outputs;
  console.log(
    `${run.method}: fused ${(100 * test!['fused']!.accuracy).toFixed(1)}%  audio ${(100 * test!['audio']!.accuracy).toFixed(1)}%  visual ${(100 * test!['visual']!.accuracy).toFixed(1)}%`,
  );
  for (const h of summary.history) {
    const decided = Object.entries(h.logs)
      .filter(([k]) => shown.test(k))
      .map(([k, v]) => `${k.split('/').slice(1).join('/')}=${Number(v.toFixed(4))}`);
    console.log(`  epoch ${h.epoch}: ${decided.join(' ')}`);
  }
  run.dispose();
}
