// The README example (run: pnpm --filter @igm/trainer exec tsx example.ts).

import { sgd } from '@igm/core';
import { synthetic } from '@igm/datasets';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import { jointStep, runTraining } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs';

await tf.setBackend('cpu');
const dataset = synthetic({
  signal: { audio: 0.9, visual: 0.5 },
  samples: { train: 256, validation: 64, test: 64 },
});
const model = new MultimodalModel({
  encoders: {
    audio: mlpEncoder({ inputDim: 16, units: [32], seed: 1 }),
    visual: mlpEncoder({ inputDim: 16, units: [32], seed: 2 }),
  },
  numClasses: 4,
  head: { type: 'per-modality', hidden: [] },
});
const controller = new AbortController();
process.once('SIGINT', () => controller.abort()); // Ctrl-C: stop after this step, with a checkpoint

const summary = await runTraining({
  model,
  dataset,
  step: jointStep(), // CE on the fused output (here the mean of per-modality softmaxes)
  transform: sgd({ learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4 }),
  epochs: 5,
  batchSize: 16,
  seed: 42,
  outDir: 'runs/example', // config.json, metrics.jsonl, summary.json
  checkpoint: { dir: 'runs/example/checkpoints' }, // last/ and best/, atomic
  resume: true, // continue if a previous run was interrupted
  signal: controller.signal,
  fusionRule: 'mean-softmax',
});
console.log(summary.best?.label, 'epoch', summary.best?.epoch);
console.log('test accuracy at that epoch:', summary.best?.metrics.test?.outputs);
model.dispose();
