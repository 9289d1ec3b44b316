import { batchWiseStep } from '@igm/alternating-trainer';
import { chain, sgd } from '@igm/core';
import { orthogonalProjection } from '@igm/flat-projection';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import { describeEachBackend, expectAllClose, loadFixture, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { createMethod } from '../src';
import { stepRunner } from './helpers';

interface Fixture {
  init: Record<string, number[]>;
  xa: number[][][];
  xv: number[][][];
  labels: number[][];
  cases: Record<
    'scalar' | 'outer',
    { final: Record<string, number[]>; P: number[][]; logs: Array<{ loss: number }> }
  >;
}
const fx = loadFixture<Fixture>(new URL('./fixtures/mla.json', import.meta.url));

describeEachBackend('mla composition', () => {
  for (const form of ['scalar', 'outer'] as const) {
    it(`matches the torch reference over two batches (OWM ${form === 'scalar' ? 'paper' : 'released-code'} form)`, () => {
      const model = new MultimodalModel({
        encoders: {
          audio: mlpEncoder({ inputDim: 5, units: [4], name: 'a' }),
          visual: mlpEncoder({ inputDim: 6, units: [4], name: 'v' }),
        },
        numClasses: 3,
        head: { type: 'shared' },
      });
      const vars = new Map(model.params().map((p) => [p.key, p.variable]));
      for (const [k, v] of Object.entries(fx.init)) vars.get(k)!.assign(tf.tensor(v));
      const owm = orthogonalProjection({
        kernelKeys: ['head/shared/dense_0/kernel'],
        denominator: form,
      });
      const runner = stepRunner(
        model,
        batchWiseStep({ order: ['audio', 'visual'] }),
        chain(owm, sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 })),
      );
      for (let b = 0; b < 2; b++) {
        const batch = {
          inputs: { audio: tf.tensor2d(fx.xa[b]!), visual: tf.tensor2d(fx.xv[b]!) },
          labels: tf.tensor1d(fx.labels[b]!, 'int32'),
        };
        const loss = runner.run(batch, { epoch: 0, batchIndex: b, batchesPerEpoch: 2 });
        const ref = fx.cases[form].logs;
        expect(loss).toBeCloseTo(ref[2 * b]!.loss + ref[2 * b + 1]!.loss, 5);
        tf.dispose([...Object.values(batch.inputs), batch.labels]);
      }
      // float32 vs float64: P is renormalised each step; 1e-5.
      for (const [k, v] of Object.entries(fx.cases[form].final))
        expectAllClose(vars.get(k)!, v, { atol: 1e-5, rtol: 1e-5, label: k });
      runner.dispose();
      model.dispose();
    });
  }

  it('the registry composes MLA from the shared head, batch-wise step and OWM (projection off: plain SGD)', () => {
    const names = ['audio', 'visual'];
    const env = {
      dataset: {
        name: 'x',
        modalities: names.map((name) => ({ name, kind: 'vector' as const, shape: [5] })),
        classNames: ['a', 'b', 'c'],
        splitSizes: { train: 8 },
        batches: () => (async function* () {})(),
      },
      numClasses: 3,
      batchSize: 4,
      encoders: () => ({
        audio: mlpEncoder({ inputDim: 5, units: [4] }),
        visual: mlpEncoder({ inputDim: 5, units: [4] }),
      }),
    };
    const on = createMethod('mla', { projection: 'code', fusionWeights: 'fixed' }, env);
    expect(on.transform.name).toContain('orthogonalProjection');
    expect(on.fusionRule).toContain('0.55');
    on.dispose();
    const off = createMethod('mla', { projection: 'off', entropyAxis: 'batch' }, env);
    expect(off.transform.name).not.toContain('orthogonalProjection');
    expect(off.fusionRule).toContain('per batch');
    off.dispose();
  });
});
