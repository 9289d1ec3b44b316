// The README example (run: pnpm --filter @igm/igm exec tsx example.ts).

import { runStageWise } from '@igm/alternating-trainer';
import { chain, sgd, stepLR } from '@igm/core';
import { synthetic } from '@igm/datasets';
import { flatProjection } from '@igm/flat-projection';
import { igm, rebuildFlatProjection } from '@igm/igm';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import { sam } from '@igm/sam';
import * as tf from '@tensorflow/tfjs';

await tf.setBackend('cpu');
const dataset = synthetic({
  signal: { audio: 0.9, visual: 0.6 },
  samples: { train: 256, validation: 64, test: 64 },
});
const makeModel = () =>
  new MultimodalModel({
    encoders: {
      audio: mlpEncoder({ inputDim: 16, units: [32], seed: 1 }),
      visual: mlpEncoder({ inputDim: 16, units: [32], seed: 2 }),
    },
    numClasses: 4,
    head: { type: 'per-modality', hidden: [{ units: 32, activation: 'relu' }, { units: 16 }] },
  });

// 1. IGM in one call.
const model = makeModel();
const summary = await igm({ variant: 'paper', epochList: [2, 2, 2, 2], learningRate: 0.05 }).train({
  model,
  dataset,
  batchSize: 16,
  seed: 42,
  progress: 'none',
});
console.log('igm():', summary.best?.label, summary.best?.metrics.test?.outputs.fused?.accuracy);

// 2. The same composition spelled out: alternating trainer + chain(sam, flatProjection, sgd).
const model2 = makeModel();
const order = ['audio', 'visual'];
const explicit = await runStageWise({
  model: model2,
  dataset,
  order,
  epochList: [2, 2, 2, 2],
  transform: chain(
    sam({ rho: 0.05 }),
    flatProjection({ layers: order.flatMap((m) => model2.headLayers(m)), order, tau: 0.4 }),
    sgd({
      learningRate: stepLR({ initial: 0.05, stepSize: 40, stepBeforeEpoch: true }),
      momentum: 0.9,
      weightDecay: 1e-4,
    }),
  ),
  beforeStage: (boundary) => rebuildFlatProjection(boundary), // T from the modality just trained
  batchSize: 16,
  seed: 42,
  progress: 'none',
});
console.log(
  'explicit:',
  explicit.best?.label,
  explicit.best?.metrics.test?.outputs.fused?.accuracy,
);
model.dispose();
model2.dispose();
