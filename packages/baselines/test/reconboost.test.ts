import { sgd } from '@igm/core';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  ENSEMBLE_STAGE,
  ReconBoostModel,
  reconBoostLoss,
  reconBoostPlan,
  reconBoostStep,
} from '../src';
import { stepRunner } from './helpers';

interface Fixture {
  w1: number;
  w2: number;
  init: Record<string, number[]>;
  final: Record<string, number[]>;
  xa: number[][][];
  xv: number[][][];
  labels: number[][];
  logs: Array<{ loss: number }>;
}
const fx = loadFixture<Fixture>(new URL('./fixtures/reconboost.json', import.meta.url));

function fixtureModel(): ReconBoostModel {
  const inner = new MultimodalModel({
    encoders: {
      audio: mlpEncoder({ inputDim: 4, units: [3], name: 'a' }),
      visual: mlpEncoder({ inputDim: 5, units: [3], name: 'v' }),
    },
    numClasses: 3,
    head: { type: 'per-modality', hidden: [] },
  });
  const model = new ReconBoostModel(inner, { hidden: 4 });
  const vars = new Map(model.params().map((p) => [p.key, p.variable]));
  for (const [k, v] of Object.entries(fx.init)) vars.get(k)!.assign(tf.tensor(v));
  return model;
}

describeEachBackend('reconBoost', () => {
  it('matches the torch reference: a boosting stage then a correction stage, new optimizer each', () => {
    const model = fixtureModel();
    const runner = stepRunner(
      model,
      reconBoostStep({ w1: fx.w1, w2: fx.w2 }),
      sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4 }),
    );
    for (let s = 0; s < 4; s++) {
      if (s === 2) runner.driver.reset(); // the stage boundary: a new optimizer
      const batch = {
        inputs: { audio: tf.tensor2d(fx.xa[s]!), visual: tf.tensor2d(fx.xv[s]!) },
        labels: tf.tensor1d(fx.labels[s]!, 'int32'),
      };
      const loss = runner.run(batch, { stage: s < 2 ? 'audio' : ENSEMBLE_STAGE });
      expect(loss).toBeCloseTo(fx.logs[s]!.loss, 5);
      tf.dispose([...Object.values(batch.inputs), batch.labels]);
    }
    const vars = new Map(model.params().map((p) => [p.key, p.variable]));
    // float32 vs float64 over four steps of a tiny MLP: 1e-5.
    for (const [k, v] of Object.entries(fx.final))
      expectAllClose(vars.get(k)!, v, { atol: 1e-5, rtol: 1e-5, label: k });
    expect(runner.logs[0]!['reconboost/stage']).toBe(0);
    expect(runner.logs[2]!['reconboost/stage']).toBe(-1);
    runner.dispose();
    model.dispose();
  });

  it('loss: known answer, and the plan alternates learners with correction stages', () => {
    // C = 2, q_y = 0.5, w1 = 5, w2 = 1: weight (5 - 0.5) / 2 = 2.25; logits 0 -> -log 0.5.
    const l = reconBoostLoss(
      tf.zeros([1, 2]),
      tf.tensor2d([[0.5, 0.5]]),
      tf.tensor1d([0], 'int32'),
      5,
      1,
    );
    expect(l.dataSync()[0]).toBeCloseTo(2.25 * Math.log(2), 6);
    l.dispose();
    const plan = reconBoostPlan({
      order: ['a', 'v', 't'],
      stages: 3,
      epochsPerStage: 2,
      correctEpochs: 1,
    });
    expect(plan.stages.map((s) => s.name)).toEqual([
      'a',
      ENSEMBLE_STAGE,
      'v',
      ENSEMBLE_STAGE,
      't',
      ENSEMBLE_STAGE,
    ]);
    expect(() => reconBoostPlan({ order: ['a'], stages: 1 })).toThrow(/at least 2/);
    expect(() => reconBoostStep({ w1: -1 })).toThrow(/w1=-1/);
  });

  it('does not leak over 200 steps of either stage', async () => {
    const model = fixtureModel();
    const runner = stepRunner(model, reconBoostStep(), sgd({ learningRate: 0.01 }));
    const batch = {
      inputs: { audio: tf.tensor2d(fx.xa[0]!), visual: tf.tensor2d(fx.xv[0]!) },
      labels: tf.tensor1d(fx.labels[0]!, 'int32'),
    };
    await expectNoTensorLeak((i) =>
      runner.run(batch, { stage: i % 2 ? 'visual' : ENSEMBLE_STAGE }),
    );
    runner.dispose();
    model.dispose();
    tf.dispose([...Object.values(batch.inputs), batch.labels]);
  });
});
