import { sgd } from '@igm/core';
import { type HeadSpec, MultimodalModel, mlpEncoder } from '@igm/models';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { jointStep } from '@igm/trainer';
import { expect, it } from 'vitest';
import { unimodalSumStep } from '../src';
import { stepRunner } from './helpers';

interface Case {
  init: Record<string, number[]>;
  final: Record<string, number[]>;
  logs: Array<{ loss: number }>;
}
interface Fixture {
  xa: number[][][];
  xv: number[][][];
  labels: number[][];
  cases: Record<'concat' | 'sum' | 'unimodal', Case>;
}
const fx = loadFixture<Fixture>(new URL('./fixtures/joint-unimodal.json', import.meta.url));

const heads: Record<string, HeadSpec> = {
  concat: { type: 'concat' },
  sum: { type: 'sum' },
  unimodal: { type: 'per-modality', hidden: [] },
};

describeEachBackend('joint and unimodal', () => {
  for (const kind of ['concat', 'sum', 'unimodal'] as const) {
    it(`${kind === 'unimodal' ? 'unimodal' : `joint (${kind})`} matches the torch reference over two SGD steps`, () => {
      const model = new MultimodalModel({
        encoders: {
          audio: mlpEncoder({ inputDim: 5, units: [4], name: 'a' }),
          visual: mlpEncoder({ inputDim: 6, units: [4], name: 'v' }),
        },
        numClasses: 3,
        head: heads[kind]!,
      });
      const vars = new Map(model.params().map((p) => [p.key, p.variable]));
      for (const [k, v] of Object.entries(fx.cases[kind].init)) vars.get(k)!.assign(tf.tensor(v));
      const step = kind === 'unimodal' ? unimodalSumStep() : jointStep();
      const runner = stepRunner(
        model,
        step,
        sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 }),
      );
      for (let b = 0; b < 2; b++) {
        const batch = {
          inputs: { audio: tf.tensor2d(fx.xa[b]!), visual: tf.tensor2d(fx.xv[b]!) },
          labels: tf.tensor1d(fx.labels[b]!, 'int32'),
        };
        expect(runner.run(batch)).toBeCloseTo(fx.cases[kind].logs[b]!.loss, 5);
        tf.dispose([...Object.values(batch.inputs), batch.labels]);
      }
      // float32 vs float64, two steps: 1e-5.
      for (const [k, v] of Object.entries(fx.cases[kind].final))
        expectAllClose(vars.get(k)!, v, { atol: 1e-5, rtol: 1e-5, label: k });
      runner.dispose();
      model.dispose();
    });
  }
});

describeEachBackend('unimodal step leak', () => {
  it('does not leak tensors over 200 steps', async () => {
    const model = new MultimodalModel({
      encoders: {
        audio: mlpEncoder({ inputDim: 5, units: [4], name: 'a' }),
        visual: mlpEncoder({ inputDim: 6, units: [4], name: 'v' }),
      },
      numClasses: 3,
      head: { type: 'per-modality', hidden: [] },
    });
    const runner = stepRunner(model, unimodalSumStep(), sgd({ learningRate: 0.01, momentum: 0.9 }));
    const batch = {
      inputs: { audio: tf.tensor2d(fx.xa[0]!), visual: tf.tensor2d(fx.xv[0]!) },
      labels: tf.tensor1d(fx.labels[0]!, 'int32'),
    };
    await expectNoTensorLeak(() => runner.run(batch));
    runner.dispose();
    model.dispose();
    tf.dispose([...Object.values(batch.inputs), batch.labels]);
  });
});
