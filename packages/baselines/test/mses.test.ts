import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Callback } from '@igm/core';
import { synthetic } from '@igm/datasets';
import { mlpEncoder } from '@igm/models';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import { expect, it } from 'vitest';
import { createMethod, type MethodEnvironment, type MsesController, preset } from '../src';
import {
  fixedDataset,
  loadWeights,
  readWeights,
  type SplitData,
  smallEnvironment,
} from './small-setup';

interface Fixture {
  learningRate: number;
  momentum: number;
  weightDecay: number;
  patience: number;
  minDelta: number;
  epochs: number;
  data: Record<string, SplitData>;
  init: Record<string, number[]>;
  history: Array<{
    trainLoss: number;
    active: Record<string, number>;
    valLoss?: Record<string, number>;
    best: Record<string, number | null>;
    stopEpochs: Record<string, number | null>;
    halted: number | null;
    weights: Record<string, number[]>;
  }>;
}
const fx = loadFixture<Fixture>(new URL('./fixtures/mses.json', import.meta.url));
const MODS = ['audio', 'visual'];

function fixtureRun() {
  const dataset = fixedDataset(fx.data, 3);
  const run = createMethod(
    'mses',
    {
      epochs: fx.epochs,
      learningRate: fx.learningRate,
      momentum: fx.momentum,
      weightDecay: fx.weightDecay,
      patience: fx.patience,
      minDelta: fx.minDelta,
    },
    smallEnvironment(dataset, 3, 4),
  );
  loadWeights(run.model, fx.init);
  return { dataset, run };
}

/** Records every model weight after each epoch (after the MSES decision of that epoch). */
function weightRecorder(model: Parameters<typeof readWeights>[0]) {
  const seen: Array<Record<string, number[]>> = [];
  const cb: Callback = {
    name: 'weights',
    onEpochEnd() {
      seen.push(readWeights(model));
    },
  };
  return { cb, seen };
}

describeEachBackend('mses', () => {
  // float32 vs float64 over 7 epochs of 3 steps with BatchNorm; the stop decisions compare
  // validation losses that differ by > 1e-2 here, so they match exactly.
  it('matches the torch reference: stop epochs, restore on stop, frozen updates and BatchNorm, the global halt', async () => {
    const { dataset, run } = fixtureRun();
    const rec = weightRecorder(run.model);
    const summary = await runTraining({
      ...run.trainOptions(),
      callbacks: [...run.callbacks, rec.cb],
      dataset,
      batchSize: 4,
      progress: 'none',
    });
    const controller = run.callbacks[0] as MsesController;
    fx.history.forEach((h, e) => {
      const logs = summary.history[e]!.logs;
      expectAllClose(summary.history[e]!.trainLoss, h.trainLoss, { label: `loss e${e}` });
      for (const m of MODS) {
        expect(logs[`mses/active/${m}`], `active ${m} e${e}`).toBe(h.active[m]);
        const stoppedBefore = e > 0 ? fx.history[e - 1]!.stopEpochs[m] : null;
        if (stoppedBefore === null || stoppedBefore === undefined) {
          expect(logs[`mses/stop-epoch/${m}`]).toBeUndefined();
        } else {
          expect(logs[`mses/stop-epoch/${m}`]).toBe(stoppedBefore);
        }
        const bestBefore = e > 0 ? fx.history[e - 1]!.best[m] : null;
        if (bestBefore !== null && bestBefore !== undefined) {
          expectAllClose(logs[`mses/best/${m}`]!, bestBefore, { label: `best ${m} e${e}` });
        }
      }
      const haltedBefore = e > 0 ? fx.history[e - 1]!.halted : null;
      expect(logs['mses/halted']).toBe(haltedBefore === null ? 0 : 1);
      for (const [k, v] of Object.entries(h.weights)) {
        expectAllClose(rec.seen[e]![k]!, v, { atol: 1e-5, rtol: 1e-5, label: `${k} e${e}` });
      }
    });
    const last = fx.history[fx.history.length - 1]!;
    expect(controller.stopEpochs).toEqual(
      Object.fromEntries(
        Object.entries(last.stopEpochs).filter(([, v]) => v !== null) as Array<[string, number]>,
      ),
    );
    expect(controller.halted).toBe(last.halted !== null);
    run.dispose();
  });

  it('a stopped modality is not updated at all and its BatchNorm statistics stay fixed', async () => {
    const { dataset, run } = fixtureRun();
    const controller = run.callbacks[0] as MsesController;
    const visualStop = fx.history.findIndex((h) => h.stopEpochs['visual'] !== null);
    expect(visualStop).toBeGreaterThanOrEqual(0);
    const rec = weightRecorder(run.model);
    await runTraining({
      ...run.trainOptions(),
      callbacks: [...run.callbacks, rec.cb],
      dataset,
      batchSize: 4,
      progress: 'none',
    });
    const visualKeys = Object.keys(rec.seen[0]!).filter(
      (k) => k.startsWith('encoder/visual/') || k.startsWith('head/visual/'),
    );
    expect(visualKeys.some((k) => k.endsWith('moving_mean'))).toBe(true);
    for (let e = visualStop + 1; e < fx.epochs; e++) {
      for (const k of visualKeys)
        expect(rec.seen[e]![k], `${k} e${e}`).toEqual(rec.seen[visualStop]![k]);
    }
    expect(controller.active).not.toContain('visual');
    run.dispose();
  });

  it('toy problem: the noise modality stops first, the informative one keeps training', async () => {
    // Visual is pure noise: its held-out loss never improves for long, so with patience 2 it
    // stops early; audio carries the label and trains for longer. Known answer: visual stops
    // before audio (or audio never stops), and the fused accuracy is far above chance.
    const dataset = synthetic({
      classes: 3,
      samples: { train: 96, validation: 48, test: 48 },
      signal: { audio: 0.95, visual: 0.0 },
      seed: 4,
    });
    const env: MethodEnvironment = {
      dataset,
      numClasses: 3,
      batchSize: 16,
      seed: 2,
      encoders: () => ({
        audio: mlpEncoder({ inputDim: 16, units: [16], seed: 1, name: 'enc_audio' }),
        visual: mlpEncoder({ inputDim: 16, units: [16], seed: 2, name: 'enc_visual' }),
      }),
    };
    const run = createMethod(
      'mses',
      { epochs: 12, learningRate: 0.05, patience: 2, globalStop: false },
      env,
    );
    const summary = await runTraining({
      ...run.trainOptions(),
      dataset,
      batchSize: 16,
      progress: 'none',
    });
    const stops = (run.callbacks[0] as MsesController).stopEpochs;
    expect(stops['visual']).toBeDefined();
    expect(stops['audio'] ?? Number.POSITIVE_INFINITY).toBeGreaterThan(stops['visual']!);
    expect(summary.final?.test?.outputs['fused']?.accuracy).toBeGreaterThan(0.7);
    run.dispose();
  });

  it('saves its decisions and best weights in the checkpoint; a resumed run ends like an uninterrupted one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'igm-mses-'));
    const full = fixtureRun();
    await runTraining({
      ...full.run.trainOptions(),
      dataset: full.dataset,
      batchSize: 4,
      progress: 'none',
    });
    const expected = readWeights(full.run.model);
    full.run.dispose();
    // Stop after 3 epochs (one modality already stopped), then resume for the remaining ones.
    const first = fixtureRun();
    const abort = new AbortController();
    let epochs = 0;
    const stopper: Callback = {
      name: 'stopper',
      onEpochEnd() {
        if (++epochs === 3) abort.abort();
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
    const second = fixtureRun();
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
    const controller = second.run.callbacks[0] as MsesController;
    expect(controller.stopEpochs['visual']).toBe(fx.history[fx.epochs - 1]!.stopEpochs['visual']);
    second.run.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('three modalities run; tensors do not leak across steps and decisions', async () => {
    const dataset = synthetic({
      modalities: 3,
      classes: 3,
      samples: { train: 48, validation: 24, test: 24 },
      signal: { audio: 0.9, visual: 0.1, text: 0.6 },
    });
    const env: MethodEnvironment = {
      dataset,
      numClasses: 3,
      batchSize: 16,
      encoders: () =>
        Object.fromEntries(
          ['audio', 'visual', 'text'].map((m, i) => [
            m,
            mlpEncoder({ inputDim: 16, units: [8], seed: i, name: `enc_${m}` }),
          ]),
        ),
    };
    const run = createMethod('mses', preset('synthetic', 'mses', { epochs: 3, patience: 1 }), env);
    const summary = await runTraining({
      ...run.trainOptions(),
      dataset,
      batchSize: 16,
      progress: 'none',
    });
    expect(Object.keys(summary.history[2]!.logs)).toContain('mses/active/text');
    const controller = run.callbacks[0] as MsesController;
    await expectNoTensorLeak((i) => controller.onEpochEnd(10 + i), { steps: 3, warmup: 1 });
    const before = tf.memory().numTensors;
    await runTraining({ ...run.trainOptions(), dataset, batchSize: 16, progress: 'none' });
    expect(tf.memory().numTensors).toBe(before);
    run.dispose();
  });

  it('rejects bad options', () => {
    const env = smallEnvironment(fixedDataset(fx.data, 3), 3, 4);
    expect(() => createMethod('mses', { patience: 0 }, env)).toThrow(/patience=0/);
    expect(() => createMethod('mses', { monitor: 'f1' }, env)).toThrow(/"loss", "accuracy"/);
    expect(() => createMethod('mses', { restoreBest: 'yes' }, env)).toThrow(/restoreBest/);
  });
});
