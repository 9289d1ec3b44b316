import { type Callback, createRng, toParamMap } from '@igm/core';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { runTraining, TransformDriver } from '@igm/trainer';
import { describe, expect, it } from 'vitest';
import {
  createMethod,
  type MslrController,
  perModalityOptimizer,
  planBudget,
  preset,
  scaleBudget,
} from '../src';
import {
  fixedDataset,
  loadWeights,
  readWeights,
  type SplitData,
  smallEnvironment,
  syntheticEnvironment,
} from './small-setup';

interface Scenario {
  strategy: 'keep' | 'dynamic';
  momentum: number;
  weightDecay: number;
  grid: number[];
  unimodalEpochs: number;
  epochs: number;
  history_length: number;
  data: Record<string, SplitData>;
  init: Record<string, number[]>;
  stage1: Record<
    string,
    { learningRate: number; valAccuracy: number; trial: number; epoch: number }
  >;
  stage1Trials: Record<string, number[]>;
  afterStage1: Record<string, number[]>;
  history: Array<{
    lr: Record<string, number>;
    trainLoss: number;
    valAccuracy: Record<string, number>;
  }>;
  final: Record<string, number[]>;
}
const fx = loadFixture<Record<'dynamic' | 'keep', Scenario>>(
  new URL('./fixtures/mslr.json', import.meta.url),
);
const MODS = ['audio', 'visual'];

function fixtureRun(s: Scenario) {
  const dataset = fixedDataset(s.data, 3);
  const run = createMethod(
    'mslr',
    {
      strategy: s.strategy,
      history: s.history_length,
      unimodalEpochs: s.unimodalEpochs,
      unimodalLearningRates: s.grid,
      epochs: s.epochs,
      momentum: s.momentum,
      weightDecay: s.weightDecay,
    },
    smallEnvironment(dataset, 3, 4),
  );
  loadWeights(run.model, s.init);
  return { dataset, run };
}

describeEachBackend('mslr', () => {
  // float32 vs float64: stage 1 (3 trials x 2 epochs x 6 steps) and 6 stage-2 epochs. The
  // accuracies that choose lambda_m and drive the dynamic ratios are counts over 12 samples and
  // match exactly; learning rates, losses and weights to 1e-5.
  for (const key of ['dynamic', 'keep'] as const) {
    it(`matches the torch reference (${key}): stage-1 choices and weights, per-modality learning rates per epoch, final weights`, async () => {
      const s = fx[key];
      const { dataset, run } = fixtureRun(s);
      const controller = run.callbacks[0] as MslrController;
      let afterStage1: Record<string, number[]> | null = null;
      const probe: Callback = {
        name: 'probe',
        onBatchBegin(batch) {
          if (afterStage1 === null && batch === 0) afterStage1 = readWeights(run.model);
        },
      };
      const summary = await runTraining({
        ...run.trainOptions(),
        callbacks: [...run.callbacks, probe],
        dataset,
        batchSize: 4,
        progress: 'none',
      });
      for (const m of MODS) {
        const c = controller.stage1.chosen[m]!;
        expect(c.learningRate, `lambda ${m}`).toBe(s.stage1[m]!.learningRate);
        expect(c.trial).toBe(s.stage1[m]!.trial);
        expect(c.epoch).toBe(s.stage1[m]!.epoch);
        expect(c.valAccuracy).toBeCloseTo(s.stage1[m]!.valAccuracy, 6);
        expectAllClose(controller.stage1.trials[m]!, s.stage1Trials[m]!, { atol: 1e-6 });
      }
      expect(controller.stage1.epochs).toBe(s.grid.length * s.unimodalEpochs);
      for (const [k, v] of Object.entries(s.afterStage1)) {
        expectAllClose(afterStage1![k]!, v, { atol: 1e-5, rtol: 1e-5, label: `stage 1 ${k}` });
      }
      s.history.forEach((h, e) => {
        const logs = summary.history[e]!.logs;
        for (const m of MODS) {
          expectAllClose(logs[`mslr/${m}/lr`]!, h.lr[m]!, {
            atol: 1e-9,
            rtol: 1e-6,
            label: `lr ${m} e${e}`,
          });
          expect(logs[`mslr/stage1/${m}/val-accuracy`]).toBeCloseTo(s.stage1[m]!.valAccuracy, 6);
          expect(summary.history[e]!.metrics.validation!.outputs[m]!.accuracy).toBeCloseTo(
            h.valAccuracy[m]!,
            6,
          );
        }
        expectAllClose(summary.history[e]!.trainLoss, h.trainLoss, { label: `loss e${e}` });
      });
      const final = readWeights(run.model);
      for (const [k, v] of Object.entries(s.final)) {
        expectAllClose(final[k]!, v, { atol: 1e-5, rtol: 1e-5, label: k });
      }
      run.dispose();
    });
  }

  it('per-group learning rates are set on the optimizer, not by scaling gradients', () => {
    // Two parameters with the same gradient in two modality groups at lr 0.1 and 0.01: plain
    // SGD (no momentum/decay) moves them by exactly -0.1 g and -0.01 g.
    const params = toParamMap([
      { key: 'a', variable: tf.variable(tf.tensor1d([1, 2])), group: 'encoder/audio' },
      { key: 'v', variable: tf.variable(tf.tensor1d([1, 2])), group: 'head/visual' },
    ]);
    const t = perModalityOptimizer(
      ['audio', 'visual'],
      {
        optimizer: 'sgd',
        momentum: 0,
        weightDecay: 0,
        beta2: 0.999,
        lrStepSize: null,
        lrGamma: 0.1,
      },
      (m) => (m === 'audio' ? 0.1 : 0.01),
    );
    const logs: Record<string, number> = {};
    const driver = new TransformDriver(t, params, createRng(0), (n, v) => {
      logs[n] = v;
    });
    tf.tidy(() => {
      driver.apply(
        new Map([
          ['a', tf.tensor1d([1, 1])],
          ['v', tf.tensor1d([1, 1])],
        ]),
        { epoch: 0, batchIndex: 0, batchesPerEpoch: 1, labels: tf.tensor1d([0]) },
        {},
        undefined,
      );
    });
    expectAllClose(params.get('a')!.variable, [0.9, 1.9], { atol: 1e-7 });
    expectAllClose(params.get('v')!.variable, [0.99, 1.99], { atol: 1e-7 });
    expect(logs).toEqual({ 'mslr/audio/lr': 0.1, 'mslr/visual/lr': 0.01 });
    driver.dispose();
    for (const p of params.values()) p.variable.dispose();
    expect(() =>
      perModalityOptimizer(
        ['audio'],
        {
          optimizer: 'sgd',
          momentum: 0,
          weightDecay: 0,
          beta2: 0.999,
          lrStepSize: null,
          lrGamma: 0.1,
        },
        () => 0.1,
      ).init(toParamMap([{ key: 'f', variable: tf.variable(tf.scalar(0)), group: 'fusion' }])),
    ).toThrow(/"f" \(group "fusion"\) belongs to no modality group/);
  });

  it('toy problem: stage 1 picks the grid value that learns, stage 2 keeps it', async () => {
    // A learning rate of 1e-6 cannot move the weights in a few epochs, 0.05 can: stage 1 must
    // choose 0.05 for the informative modality, and the run must beat chance clearly.
    const env = syntheticEnvironment({
      signal: { audio: 0.95, visual: 0.5 },
      samples: { train: 96, validation: 48, test: 48 },
      dataSeed: 5,
      seed: 3,
    });
    const dataset = env.dataset;
    const run = createMethod(
      'mslr',
      {
        strategy: 'keep',
        unimodalEpochs: 4,
        unimodalLearningRates: [1e-6, 0.05],
        epochs: 3,
        weightDecay: 0,
      },
      env,
    );
    const summary = await runTraining({
      ...run.trainOptions(),
      dataset,
      batchSize: 16,
      progress: 'none',
    });
    const controller = run.callbacks[0] as MslrController;
    expect(controller.lambda['audio']).toBe(0.05);
    expect(summary.history[0]!.logs['mslr/audio/lr']).toBeCloseTo(0.05, 10);
    expect(summary.final?.test?.outputs['fused']?.accuracy).toBeGreaterThan(0.7);
    run.dispose();
  });

  it('three modalities, per-modality grids, resume state; no tensor leaks', async () => {
    const env = syntheticEnvironment({
      signal: { audio: 0.9, visual: 0.4, text: 0.6 },
      samples: { train: 48, validation: 24, test: 24 },
      width: 8,
    });
    const dataset = env.dataset;
    const run = createMethod(
      'mslr',
      preset('synthetic', 'mslr', {
        epochs: 2,
        unimodalEpochs: 1,
        unimodalLearningRates: { audio: [0.01], visual: [0.01, 0.03], text: [0.003, 0.01, 0.03] },
      }),
      env,
    );
    const controller = run.callbacks[0] as MslrController;
    const before = tf.memory().numTensors;
    const summary = await runTraining({
      ...run.trainOptions(),
      dataset,
      batchSize: 16,
      progress: 'none',
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(controller.stage1.epochs).toBe(3);
    expect(Object.keys(summary.history[1]!.logs)).toContain('mslr/text/lr');
    // The controller state round-trips (what a resumed run restores).
    const state = controller.getState();
    controller.setState(JSON.parse(JSON.stringify(state)));
    expect(controller.getState()).toEqual(state);
    await expectNoTensorLeak((i) => controller.onEpochEnd(i), { steps: 3, warmup: 1 });
    run.dispose();
  });

  it('rejects bad options, names the unverified strategy', () => {
    const env = smallEnvironment(fixedDataset(fx.keep.data, 3), 3, 4);
    expect(() => createMethod('mslr', { strategy: 'smooth' }, env)).toThrow(
      /"smooth" is not implemented/,
    );
    expect(() => createMethod('mslr', { strategy: 'fast' }, env)).toThrow(/"keep", "dynamic"/);
    expect(() => createMethod('mslr', { unimodalLearningRates: [] }, env)).toThrow(
      /non-empty list/,
    );
    expect(() =>
      createMethod('mslr', { unimodalLearningRates: { audio: [0.1], video: [0.1] } }, env),
    ).toThrow(/video/);
    expect(() =>
      createMethod('mslr', { unimodalEpochs: 0, unimodalLearningRates: [0.1, 0.2] }, env),
    ).toThrow(/exactly one learning rate/);
  });
});

describe('mslr budget', () => {
  const AV = ['audio', 'visual'];
  it('both stages count per modality; scaling keeps their ratio; no search stays without one', () => {
    expect(planBudget('mslr', preset('cremad', 'mslr'), AV)).toEqual({
      epochs: 100,
      perModality: { audio: 200, visual: 200 },
    });
    expect(scaleBudget('mslr', preset('cremad', 'mslr'), 20, AV)).toMatchObject({
      epochs: 10,
      unimodalEpochs: 10,
    });
    expect(scaleBudget('mslr', preset('synthetic', 'mslr'), 10, AV)).toMatchObject({
      epochs: 7,
      unimodalEpochs: 3,
    });
    expect(scaleBudget('mslr', preset('synthetic', 'mslr'), 1, AV)).toMatchObject({
      epochs: 1,
      unimodalEpochs: 1,
    });
    expect(
      scaleBudget('mslr', { unimodalEpochs: 0, epochs: 5, unimodalLearningRates: [0.1] }, 8, AV),
    ).toMatchObject({ epochs: 8, unimodalEpochs: 0 });
  });
});
