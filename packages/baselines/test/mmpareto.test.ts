import { type Grads, type StepContext, sgd } from '@igm/core';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { expect, it } from 'vitest';
import { minNormWeight, mmParetoCombine, mmParetoStep, withAuxiliaryHeads } from '../src';
import { disposeParams, makeParams, stepRunner } from './helpers';

interface Fixture {
  init: Record<string, number[]>;
  xa: number[][];
  xv: number[][];
  labels: number[][];
  params: Record<string, number[]>;
  logs: Array<Record<string, number>>;
}
const fx = loadFixture<Fixture>(new URL('./fixtures/mmpareto.json', import.meta.url));
const groupOf = (k: string) =>
  k
    .split('/')
    .slice(0, 2)
    .join('/')
    .replace(/^fusion\/.*/, 'fusion');

describeEachBackend('mmPareto', () => {
  it('matches the torch reference over two SGD steps (agreeing and conflicting gradients)', () => {
    const params = makeParams(fx.init, groupOf);
    const P = (k: string) => params.get(k)!.variable;
    const opt = sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const state = opt.init(params);
    const xa = tf.tensor2d(fx.xa);
    const xv = tf.tensor2d(fx.xv);
    fx.labels.forEach((y, step) => {
      const labels = tf.oneHot(tf.tensor1d(y, 'int32'), 3);
      tf.tidy(() => {
        const forward = () => {
          const a = tf.relu(tf.add(tf.matMul(xa, P('encoder/audio/w')), P('encoder/audio/b')));
          const v = tf.relu(tf.add(tf.matMul(xv, P('encoder/visual/w')), P('encoder/visual/b')));
          const ce = (z: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, z) as tf.Scalar;
          return {
            mm: ce(tf.add(tf.matMul(tf.concat([a, v], 1), P('fusion/w')), P('fusion/b'))),
            a: ce(tf.add(tf.matMul(a, P('head/audio/w')), P('head/audio/b'))),
            v: ce(tf.add(tf.matMul(v, P('head/visual/w')), P('head/visual/b'))),
          };
        };
        const vars = [...params.values()].map((p) => p.variable);
        const named = (g: Record<string, tf.Tensor>): Grads =>
          new Map(
            [...params]
              .filter(([, p]) => g[p.variable.name])
              .map(([k, p]) => [k, g[p.variable.name]!]),
          );
        const total = tf.variableGrads(() => {
          const l = forward();
          return tf.addN([l.mm, l.a, l.v]) as tf.Scalar;
        }, vars);
        expect(total.value.dataSync()[0]).toBeCloseTo(fx.logs[step]!['loss']!, 5);
        const mm = tf.variableGrads(
          () => forward().mm,
          vars.filter((v) => v.name.startsWith('encoder')),
        );
        const { grads, decision } = mmParetoCombine(named(total.grads), named(mm.grads), params);
        for (const m of ['audio', 'visual']) {
          expect(decision.cosine[m]).toBeCloseTo(fx.logs[step]![`cos_${m}`]!, 5);
          expect(decision.weight[m]).toBeCloseTo(fx.logs[step]![`weight_${m}`]!, 4);
        }
        const ctx = {
          step,
          epoch: 0,
          batchIndex: step,
          params,
          outputs: {},
          labels,
          log: () => {},
        } as unknown as StepContext;
        const updates = opt.update(grads, state, ctx);
        for (const [k, u] of updates)
          params.get(k)!.variable.assign(tf.add(params.get(k)!.variable, u));
      });
      labels.dispose();
    });
    // float32 vs float64 over two steps: 1e-5.
    for (const [k, v] of Object.entries(fx.params))
      expectAllClose(P(k), v, { atol: 1e-5, rtol: 1e-5, label: k });
    for (const { variable } of opt.state(state)) variable.dispose();
    disposeParams(params);
    tf.dispose([xa, xv]);
  });

  it('min-norm weight of two vectors: known answers', () => {
    // g1 = (1, 0), g2 = (-1, 1): c = (v22 - v12) / (v11 + v22 - 2 v12) = (2 + 1) / (1 + 2 + 2) = 0.6
    expect(minNormWeight(1, -1, 2)).toBeCloseTo(0.6, 12);
    // c g1 + (1 - c) g2 = (0.2, 0.4) is orthogonal to g1 - g2: the min-norm point.
    expect(minNormWeight(1, 2, 5)).toBe(0.999);
    expect(minNormWeight(5, 2, 1)).toBe(0.001);
  });

  it('runs as a trainer step on a MultimodalModel with auxiliary heads (3 modalities), without leaks', async () => {
    const enc = (d: number, seed: number) => mlpEncoder({ inputDim: d, units: [6], seed });
    const model = withAuxiliaryHeads(
      new MultimodalModel({
        encoders: { a: enc(4, 1), b: enc(3, 2), c: enc(5, 3) },
        numClasses: 3,
        head: { type: 'concat' },
      }),
      { seed: 4 },
    );
    const runner = stepRunner(model, mmParetoStep(), sgd({ learningRate: 0.05, momentum: 0.9 }));
    const batch = {
      inputs: {
        a: tf.randomNormal([8, 4], 0, 1, 'float32', 1),
        b: tf.randomNormal([8, 3], 0, 1, 'float32', 2),
        c: tf.randomNormal([8, 5], 0, 1, 'float32', 3),
      },
      labels: tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'),
    };
    const first = runner.run(batch);
    for (const m of ['a', 'b', 'c']) {
      expect(runner.logs[0]![`mmpareto/cos/${m}`]).toBeGreaterThanOrEqual(-1);
      expect(runner.logs[0]![`mmpareto/weight/${m}`]).toBeGreaterThan(0);
    }
    await expectNoTensorLeak(() => runner.run(batch));
    expect(runner.run(batch)).toBeLessThan(first);
    runner.dispose();
    model.dispose();
    tf.dispose([...Object.values(batch.inputs), batch.labels]);
  });

  it('rejects bad options', () => {
    expect(() => mmParetoStep({ gamma: -1 })).toThrow(/gamma=-1/);
    expect(() => mmParetoStep({ gama: 1 } as never)).toThrow(/gama/);
  });
});
