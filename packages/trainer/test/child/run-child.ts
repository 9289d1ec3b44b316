/**
 * A small cpu training run in its own process, for the kill-and-resume test.
 * Usage: node --import tsx test/child/run-child.ts <outDir> <checkpointDir> <resume 0|1> <delayMs>
 */
import * as tf from '@tensorflow/tfjs';
import { jointStep, runTraining } from '../../src/node';
import { gaussianData, MemoryDataset, momentumDescend, TinyModel } from '../doubles';

const [outDir, ckptDir, resume, delay] = process.argv.slice(2);
await tf.setBackend('cpu');
await tf.ready();
const dataset = new MemoryDataset(gaussianData({ n: 160, seed: 3 }));
const model = new TinyModel({ modalities: { strong: 6, weak: 6 }, numClasses: 3, seed: 5 });
const delayMs = Number(delay ?? 0);
await runTraining({
  model,
  dataset,
  step: jointStep(),
  transform: momentumDescend(0.05, 0.9),
  epochs: 6,
  batchSize: 8,
  seed: 11,
  outDir: outDir!,
  checkpoint: { dir: ckptDir!, every: 1 },
  resume: resume === '1',
  progress: 'lines',
  callbacks: [
    {
      name: 'slow',
      onBatchEnd: () => (delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs)) : undefined),
    },
  ],
});
model.dispose();
