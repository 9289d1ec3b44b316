import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Callback } from '@igm/core';
import { describeEachBackend, loadFixture } from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import { expect, it } from 'vitest';
import { createMethod } from '../src';
import {
  fixedDataset,
  loadWeights,
  readWeights,
  type SplitData,
  smallEnvironment,
} from './small-setup';

interface Data {
  data: Record<string, SplitData>;
  init: Record<string, number[]>;
}
const ogr = loadFixture<{ paper: Data }>(new URL('./fixtures/ogr-gb.json', import.meta.url)).paper;
const mslr = loadFixture<{ dynamic: Data }>(
  new URL('./fixtures/mslr.json', import.meta.url),
).dynamic;
const mses = loadFixture<Data>(new URL('./fixtures/mses.json', import.meta.url));

const cases: Array<{
  method: string;
  fixture: Data;
  options: Record<string, unknown>;
  stopAt: number;
}> = [
  // Stopped after epoch 2's first step: the resumed run must not re-estimate (epoch 2 started
  // with an estimation) and must continue with the saved blend weights.
  {
    method: 'ogr-gb',
    fixture: ogr,
    options: { superEpoch: 2, epochs: 4, learningRate: 0.1, lrStepSize: 2, lrGamma: 0.5 },
    stopAt: 2,
  },
  // Stopped after 3 epochs (the visual modality stopped at epoch 1): the stop decisions, the
  // best-weight copies (checkpointed variables) and the inference-mode encoders must come back.
  {
    method: 'mses',
    fixture: mses,
    options: { epochs: 7, learningRate: 0.2, patience: 1 },
    stopAt: 3,
  },
  // Stopped in stage 2 after a dynamic update: stage 1 must not run again, and the learning-rate
  // ratios and accuracy buffers must come back from the checkpoint.
  {
    method: 'mslr',
    fixture: mslr,
    options: {
      strategy: 'dynamic',
      history: 2,
      unimodalEpochs: 2,
      unimodalLearningRates: [0.01, 0.05, 0.25],
      epochs: 6,
    },
    stopAt: 3,
  },
];

describeEachBackend('resume of methods with side state', () => {
  for (const c of cases) {
    it(`${c.method}: a run stopped and resumed from its checkpoint ends with the weights of an uninterrupted run`, async () => {
      const make = () => {
        const dataset = fixedDataset(c.fixture.data, 3);
        const run = createMethod(c.method, c.options, smallEnvironment(dataset, 3, 4));
        loadWeights(run.model, c.fixture.init);
        return { dataset, run };
      };
      const full = make();
      const reference = await runTraining({
        ...full.run.trainOptions(),
        dataset: full.dataset,
        batchSize: 4,
        progress: 'none',
      });
      const expected = readWeights(full.run.model);
      full.run.dispose();

      const dir = mkdtempSync(join(tmpdir(), `igm-${c.method}-`));
      const first = make();
      const abort = new AbortController();
      let ended = 0;
      const stopper: Callback = {
        name: 'stopper',
        onEpochEnd() {
          if (++ended === c.stopAt) abort.abort();
        },
      };
      const partial = await runTraining({
        ...first.run.trainOptions(),
        callbacks: [...first.run.callbacks, stopper],
        dataset: first.dataset,
        batchSize: 4,
        progress: 'none',
        checkpoint: { dir },
        signal: abort.signal,
      });
      expect(partial.status).toBe('aborted');
      first.run.dispose();

      const second = make();
      const resumed = await runTraining({
        ...second.run.trainOptions(),
        dataset: second.dataset,
        batchSize: 4,
        progress: 'none',
        checkpoint: { dir },
        resume: true,
      });
      expect(resumed.status).toBe('completed');
      const got = readWeights(second.run.model);
      for (const [k, v] of Object.entries(expected)) expect(got[k], k).toEqual(v);
      const strip = (logs: Record<string, number>) =>
        Object.fromEntries(Object.entries(logs).filter(([k]) => !k.endsWith('seconds')));
      expect(resumed.history.map((h) => strip(h.logs))).toEqual(
        reference.history.map((h) => strip(h.logs)),
      );
      second.run.dispose();
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
