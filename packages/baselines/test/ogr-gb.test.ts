import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import { describe, expect, it } from 'vitest';
import {
  createMethod,
  type OgrGbController,
  ogrGbBlendWeights,
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
  variant: 'paper' | 'balance-benchmark';
  epochs: number;
  superEpoch: number;
  learningRate: number;
  momentum: number;
  weightDecay: number;
  lrStepSize: number;
  lrGamma: number;
  data: Record<string, SplitData>;
  init: Record<string, number[]>;
  history: Array<{
    weights: Record<string, number>;
    gain?: Record<string, number>;
    overfit?: Record<string, number>;
    kept?: boolean;
    trainLoss: number;
    lr: number;
  }>;
  final: Record<string, number[]>;
}
const fx = loadFixture<{ paper: Scenario; balanceBenchmark: Scenario }>(
  new URL('./fixtures/ogr-gb.json', import.meta.url),
);
const BRANCHES = ['audio', 'visual', 'fused'];

async function runScenario(s: Scenario) {
  const dataset = fixedDataset(s.data, 3);
  const run = createMethod(
    'ogr-gb',
    {
      variant: s.variant,
      superEpoch: s.superEpoch,
      epochs: s.epochs,
      learningRate: s.learningRate,
      momentum: s.momentum,
      weightDecay: s.weightDecay,
      lrStepSize: s.lrStepSize,
      lrGamma: s.lrGamma,
    },
    smallEnvironment(dataset, 3, 4),
  );
  loadWeights(run.model, s.init);
  const summary = await runTraining({
    ...run.trainOptions(),
    dataset,
    batchSize: 4,
    progress: 'none',
  });
  return { run, summary };
}

describeEachBackend('ogr-gb', () => {
  // float32 vs float64 over 4 epochs and 2 estimations (each 3 branches x 2 scratch epochs):
  // 1e-5 on blend weights, epoch losses and parameters. dG and dO are differences of losses:
  // means (about 1) in the paper variant, 1e-5; sums over batches (about 3) in the
  // BalanceBenchmark variant, so 3e-5 there (1e-5 relative to the sums they subtract).
  for (const key of ['paper', 'balanceBenchmark'] as const) {
    it(`matches the torch reference (${key}): blend weights, gains and overfitting per estimation, epoch losses, final weights`, async () => {
      const s = fx[key];
      const atol = key === 'paper' ? 1e-5 : 3e-5;
      const { run, summary } = await runScenario(s);
      expect(summary.history).toHaveLength(s.epochs);
      s.history.forEach((h, e) => {
        const logs = summary.history[e]!.logs;
        for (const k of BRANCHES) {
          expect(logs[`ogr-gb/weight/${k}`], `weight ${k} epoch ${e}`).toBeCloseTo(
            h.weights[k]!,
            5,
          );
          if (h.gain) {
            expectAllClose(logs[`ogr-gb/gain/${k}`]!, h.gain[k]!, {
              atol,
              label: `gain ${k} e${e}`,
            });
            expectAllClose(logs[`ogr-gb/overfit/${k}`]!, h.overfit![k]!, {
              atol,
              label: `overfit ${k} e${e}`,
            });
            expect(logs[`ogr-gb/sign/${k}`]).toBe(Math.sign(h.gain[k]!));
          } else {
            expect(logs[`ogr-gb/gain/${k}`]).toBeUndefined();
          }
        }
        if (h.gain) expect(logs['ogr-gb/kept']).toBe(h.kept ? 1 : 0);
        expectAllClose(summary.history[e]!.trainLoss, h.trainLoss, { label: `loss e${e}` });
      });
      const final = readWeights(run.model);
      for (const [k, v] of Object.entries(s.final)) {
        expectAllClose(final[k]!, v, { atol: 1e-5, rtol: 1e-5, label: k });
      }
      const controller = run.callbacks[0] as OgrGbController;
      expect(controller.estimates).toBe(Math.ceil(s.epochs / s.superEpoch));
      run.dispose();
    });
  }

  it('an estimation leaves the model, its BatchNorm statistics and the run optimizer untouched', async () => {
    const s = fx.paper;
    const dataset = fixedDataset(s.data, 3);
    const run = createMethod(
      'ogr-gb',
      { superEpoch: 2, epochs: 2, learningRate: 0.1 },
      smallEnvironment(dataset, 3, 4),
    );
    loadWeights(run.model, s.init);
    const before = readWeights(run.model);
    const tensors = tf.memory().numTensors;
    const controller = run.callbacks[0] as OgrGbController;
    const estimate = await controller.estimate(0);
    expect(readWeights(run.model)).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(Object.values(estimate.weights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(estimate.seconds).toBeGreaterThan(0);
    run.dispose();
  });

  it('blend weights: known answers, the sign of the gain, kept weights and the clamp', () => {
    const stat = (t0: number, v0: number, t1: number, v1: number) => ({
      trainBefore: t0,
      valBefore: v0,
      trainAfter: t1,
      valAfter: v1,
    });
    // a: dG = 0.5, dO = (0.6 - 0.2) - (1.1 - 1.0) = 0.3 -> 0.5 / 0.09
    // b: dG = 0.2, dO = (0.8 - 0.4) - (1.0 - 1.0) = 0.4 -> 0.2 / 0.16
    const r = ogrGbBlendWeights(
      { a: stat(1.0, 1.1, 0.2, 0.6), b: stat(1.0, 1.0, 0.4, 0.8) },
      { a: 0.5, b: 0.5 },
      { variant: 'paper', epsilon: 0 },
    );
    const wa = 0.5 / 0.09;
    const wb = 0.2 / 0.16;
    expect(r.weights['a']).toBeCloseTo(wa / (wa + wb), 12);
    expect(r.weights['b']).toBeCloseTo(wb / (wa + wb), 12);
    expect(r.kept).toBe(false);
    // Negative gains: paper keeps the previous weights; BalanceBenchmark takes |dG|.
    const bad = { a: stat(1, 1, 0.5, 1.2), b: stat(1, 1, 0.5, 1.1) };
    expect(ogrGbBlendWeights(bad, { a: 0.3, b: 0.7 }, { variant: 'paper' }).weights).toEqual({
      a: 0.3,
      b: 0.7,
    });
    const bb = ogrGbBlendWeights(bad, { a: 0.3, b: 0.7 }, { variant: 'balance-benchmark' });
    expect(bb.kept).toBe(false);
    expect(bb.gain['a']).toBeCloseTo(-0.2, 12);
    // dO = 0 with epsilon 1e-8 is clamped to maxWeight.
    const flat = ogrGbBlendWeights(
      { a: stat(1, 1, 0.5, 0.5), b: stat(1, 1, 0.6, 0.8) },
      { a: 0.5, b: 0.5 },
      { variant: 'paper', maxWeight: 1000 },
    );
    expect(flat.raw['a']).toBe(1000);
  });

  it('toy problem: the informative modality gets the larger unimodal weight and the run learns', async () => {
    // Audio carries the label, visual is noise: the visual branch cannot generalise, so its
    // held-out loss barely falls (small dG) while it overfits; audio's falls. Known answer:
    // w_audio > w_visual, and the fused accuracy beats chance by a wide margin.
    const env = syntheticEnvironment({
      signal: { audio: 0.95, visual: 0.0 },
      samples: { train: 96, validation: 48, test: 48 },
      dataSeed: 3,
      seed: 1,
    });
    const dataset = env.dataset;
    const run = createMethod(
      'ogr-gb',
      { superEpoch: 3, epochs: 6, learningRate: 0.05, weightDecay: 0 },
      env,
    );
    const summary = await runTraining({
      ...run.trainOptions(),
      dataset,
      batchSize: 16,
      progress: 'none',
    });
    for (const e of [0, 3]) {
      const logs = summary.history[e]!.logs;
      expect(logs['ogr-gb/weight/audio']!).toBeGreaterThan(logs['ogr-gb/weight/visual']!);
    }
    expect(summary.final?.test?.outputs['fused']?.accuracy).toBeGreaterThan(0.7);
    run.dispose();
  });

  it('three modalities: four branches, weights summing to 1', async () => {
    const env = syntheticEnvironment({
      signal: { audio: 0.9, visual: 0.4, text: 0.6 },
      samples: { train: 48, validation: 24, test: 24 },
      width: 8,
    });
    const dataset = env.dataset;
    const run = createMethod('ogr-gb', preset('synthetic', 'ogr-gb', { epochs: 2 }), env);
    const summary = await runTraining({
      ...run.trainOptions(),
      dataset,
      batchSize: 16,
      progress: 'none',
    });
    const logs = summary.history[0]!.logs;
    const ws = ['audio', 'visual', 'text', 'fused'].map((k) => logs[`ogr-gb/weight/${k}`]!);
    expect(ws.every((w) => w > 0)).toBe(true);
    expect(ws.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    run.dispose();
  });

  it('does not leak tensors over repeated training steps and estimations', async () => {
    const s = fx.paper;
    const dataset = fixedDataset(s.data, 3);
    const run = createMethod(
      'ogr-gb',
      { superEpoch: 1, epochs: 1, learningRate: 0.05 },
      smallEnvironment(dataset, 3, 4),
    );
    loadWeights(run.model, s.init);
    const controller = run.callbacks[0] as OgrGbController;
    await expectNoTensorLeak(() => controller.estimate(0), { steps: 3, warmup: 1 });
    const out = await runTraining({
      ...run.trainOptions(),
      dataset,
      batchSize: 4,
      progress: 'none',
    });
    expect(out.status).toBe('completed');
    const before = tf.memory().numTensors;
    await runTraining({ ...run.trainOptions(), dataset, batchSize: 4, progress: 'none' });
    expect(tf.memory().numTensors).toBe(before);
    run.dispose();
  });

  it('rejects bad options with the valid values', () => {
    const dataset = fixedDataset(fx.paper.data, 3);
    const env = smallEnvironment(dataset, 3, 4);
    expect(() => createMethod('ogr-gb', { variant: 'bb' }, env)).toThrow(
      /"paper", "balance-benchmark"/,
    );
    expect(() =>
      createMethod('ogr-gb', { variant: 'balance-benchmark', superEpoch: 1 }, env),
    ).toThrow(/superEpoch=1/);
    expect(() => createMethod('ogr-gb', { superEpoch: 0 }, env)).toThrow(/superEpoch=0/);
    const { validation: _, ...noValidation } = fx.paper.data;
    const env2 = smallEnvironment(fixedDataset(noValidation, 3), 3, 4);
    for (const method of ['ogr-gb', 'mses', 'mslr']) {
      expect(() => createMethod(method, {}, env2), method).toThrow(/has no validation split/);
    }
  });
});

describe('ogr-gb budget', () => {
  const AV = ['audio', 'visual'];
  it('a single run; scaling the epochs scales the super-epoch (same number of estimations)', () => {
    expect(planBudget('ogr-gb', preset('cremad', 'ogr-gb'), AV)).toEqual({
      epochs: 100,
      perModality: { audio: 100, visual: 100 },
    });
    expect(scaleBudget('ogr-gb', preset('cremad', 'ogr-gb'), 20, AV)).toMatchObject({
      epochs: 20,
      superEpoch: 2,
    });
    expect(scaleBudget('ogr-gb', preset('synthetic', 'ogr-gb'), 24, AV)).toMatchObject({
      epochs: 24,
      superEpoch: 6,
    });
    expect(scaleBudget('ogr-gb', preset('cremad', 'ogr-gb'), 3, AV)['superEpoch']).toBe(1);
    expect(
      scaleBudget('ogr-gb', { variant: 'balance-benchmark', superEpoch: 10, epochs: 100 }, 3, AV)[
        'superEpoch'
      ],
    ).toBe(2);
  });
});
