// The README example (run: pnpm --filter @igm/alternating-trainer exec tsx example.ts).

import { runBatchWise, runStageWise } from '@igm/alternating-trainer';
import { sgd } from '@igm/core';
import { synthetic } from '@igm/datasets';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import * as tf from '@tensorflow/tfjs';

await tf.setBackend('cpu');
const dataset = synthetic({
  signal: { audio: 0.9, visual: 0.6 },
  samples: { train: 256, validation: 64, test: 64 },
});
const encoders = () => ({
  audio: mlpEncoder({ inputDim: 16, units: [32], seed: 1 }),
  visual: mlpEncoder({ inputDim: 16, units: [32], seed: 2 }),
});

// Stage-wise (IGM's loop): audio for 2 epochs, visual for 3, audio for 2; best reloaded and
// optimizer reset at each boundary; beforeStage is where IGM builds T (see @igm/igm).
const perModality = new MultimodalModel({ encoders: encoders(), numClasses: 4 });
const stageWise = await runStageWise({
  model: perModality,
  dataset,
  order: ['audio', 'visual'],
  epochList: [2, 3, 2],
  transform: sgd({ learningRate: 0.05, momentum: 0.9 }),
  batchSize: 16,
  progress: 'none',
  beforeStage: (b) =>
    console.log(`stage ${b.stageIndex}: ${b.modality}, previous ${b.previousModality}`),
});
console.log('stage-wise test accuracy', stageWise.final?.test?.outputs.fused?.accuracy);

// Batch-wise (MLA's loop): one step per modality per batch on a shared head.
const shared = new MultimodalModel({
  encoders: encoders(),
  numClasses: 4,
  head: { type: 'shared' },
});
const batchWise = await runBatchWise({
  model: shared,
  dataset,
  order: ['audio', 'visual'],
  epochs: 5,
  transform: sgd({ learningRate: 0.05, momentum: 0.9 }),
  batchSize: 16,
  progress: 'none',
});
console.log('batch-wise test accuracy', batchWise.final?.test?.outputs.fused?.accuracy);
perModality.dispose();
shared.dispose();
