import type { Callback } from '@igm/core';
import { MultimodalModel } from '@igm/models';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import { expect, it } from 'vitest';
import { createMethod, groupParamKeys, MsesController, modalityParamKeys, preset } from '../src';
import {
  fixedDataset,
  loadWeights,
  readWeights,
  type SplitData,
  smallEnvironment,
  syntheticEnvironment,
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
    const env = syntheticEnvironment({
      signal: { audio: 0.95, visual: 0.0 },
      samples: { train: 96, validation: 48, test: 48 },
      dataSeed: 4,
      seed: 2,
    });
    const dataset = env.dataset;
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

  it('three modalities run; tensors do not leak across steps and decisions', async () => {
    const env = syntheticEnvironment({
      signal: { audio: 0.9, visual: 0.1, text: 0.6 },
      samples: { train: 48, validation: 24, test: 24 },
      width: 8,
    });
    const dataset = env.dataset;
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

  it('a parameter selection that matches nothing is an error naming it and the model groups', () => {
    const env = smallEnvironment(fixedDataset(fx.data, 3), 3, 4);
    const model = new MultimodalModel({
      encoders: env.encoders(),
      numClasses: 3,
      head: { type: 'per-modality', hidden: [] },
    });
    expect(() => groupParamKeys('test', model, 'fusion')).toThrow(
      /the selection "fusion" matches no parameter. The model's parameter groups: encoder\/audio, encoder\/visual, head\/audio, head\/visual/,
    );
    expect(() => modalityParamKeys('test', model, 'text')).toThrow(
      /"encoder\/text" \+ "head\/text" matches no parameter/,
    );
    // MSES on a model that is not a MultitaskModel says what it needs.
    expect(
      () => new MsesController({ model: model as never, dataset: env.dataset, batchSize: 4 }),
    ).toThrow(/MultitaskModel/);
    model.dispose();
  });
});
