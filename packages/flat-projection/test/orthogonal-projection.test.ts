import { chain, createRng, GradientOptimizer, type Param, type StepContext, sgd } from '@igm/core';
import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { mlaAlpha, orthogonalProjection } from '../src';
import { fixture } from './fixture';

function context(
  stage: string,
  batchIndex: number,
  batchesPerEpoch: number,
  outputs: Record<string, tf.Tensor>,
  logs: Record<string, number> = {},
): StepContext {
  return {
    step: 0,
    epoch: 0,
    batchIndex,
    batchesPerEpoch,
    stage,
    params: new Map(),
    outputs,
    labels: tf.scalar(0),
    rng: createRng(0),
    log: (name, v) => {
      logs[name] = typeof v === 'number' ? v : v.dataSync()[0]!;
    },
  };
}

function headParams(d: number, c: number): Param[] {
  return [
    {
      key: 'fc_out/kernel',
      group: 'head/shared',
      variable: tf.variable(tf.randomNormal([d, c], 0, 0.1, 'float32', 1)),
    },
    { key: 'fc_out/bias', group: 'head/shared', variable: tf.variable(tf.zeros([c])) },
  ];
}

describeEachBackend('orthogonalProjection (MLA / OWM)', () => {
  for (const run of fixture.owm) {
    it(`matches the torch reference: denominator ${run.denominator}, normalize ${run.normalize}`, () => {
      const params = new Map(headParams(6, 3).map((p) => [p.key, p]));
      const owm = orthogonalProjection({
        kernelKeys: ['fc_out/kernel'],
        denominator: run.denominator,
        normalize: run.normalize,
      });
      const state = owm.init(params);
      for (const step of run.steps) {
        tf.tidy(() => {
          const logs: Record<string, number> = {};
          const outputs = {
            [`features/${step.modality}`]: tf.tensor2d(
              run.features[step.modality]![step.batchIndex]!,
            ),
          };
          const g = tf.tensor2d(step.grad);
          const bias = tf.ones([3]);
          const out = owm.update(
            new Map([
              ['fc_out/kernel', g],
              ['fc_out/bias', bias],
            ]),
            state,
            context(step.modality, step.batchIndex, run.batchesPerEpoch, outputs, logs),
          );
          // float32 recursion over <= 5 steps on O(1) entries: 1e-5 absolute.
          expectAllClose(state.p, step.P, { atol: 1e-5, label: 'P' });
          expectAllClose(out.get('fc_out/kernel')!, step.projected, { atol: 1e-5, label: 'G' });
          expect(out.get('fc_out/bias')).toBe(bias);
          expect(logs['owm/alpha']).toBeCloseTo(step.alpha, 12);
          if (step.skipped) expect(out.get('fc_out/kernel')).toBe(g);
          else expect(logs['owm/pNorm']).toBeGreaterThan(0);
        });
      }
      for (const { variable } of owm.state(state)) variable.dispose();
      for (const p of params.values()) p.variable.dispose();
    });
  }

  it('toy: with alpha = 0 and no normalisation, P projects onto the complement of the features', () => {
    const params = new Map(headParams(4, 2).map((p) => [p.key, p]));
    const owm = orthogonalProjection({ kernelKeys: ['fc_out/kernel'], alpha: 0, normalize: false });
    const state = owm.init(params);
    const feats = {
      'features/audio': tf.tensor2d([
        [1, 1, 0, 0],
        [1, 3, 0, 0],
      ]),
    }; // mean r = (1, 2, 0, 0)
    const g = tf.ones([4, 2]);
    owm.update(new Map([['fc_out/kernel', g]]), state, context('audio', 0, 1, feats)); // skipped
    const out = owm.update(new Map([['fc_out/kernel', g]]), state, context('audio', 0, 1, feats));
    // P = I - r^T r / |r|^2: P r^T = 0, so the projected gradient is orthogonal to r.
    const r = [1, 2, 0, 0];
    const expectedP = [0, 1, 2, 3].map((i) =>
      [0, 1, 2, 3].map((j) => (i === j ? 1 : 0) - (r[i]! * r[j]!) / 5),
    );
    expectAllClose(state.p, expectedP, { atol: 1e-6 });
    expectAllClose(tf.matMul(tf.tensor2d([r]), out.get('fc_out/kernel')!), [[0, 0]], {
      atol: 1e-5,
    });
    for (const { variable } of owm.state(state)) variable.dispose();
    for (const p of params.values()) p.variable.dispose();
  });

  it('default alpha is 0.1^(1 + batchIndex / batchesPerEpoch) and needs batchesPerEpoch', () => {
    expect(mlaAlpha({ step: 0, epoch: 0, batchIndex: 0, batchesPerEpoch: 10 })).toBeCloseTo(
      0.1,
      15,
    );
    expect(mlaAlpha({ step: 0, epoch: 0, batchIndex: 5, batchesPerEpoch: 10 })).toBeCloseTo(
      0.1 ** 1.5,
      15,
    );
    expect(() => mlaAlpha({ step: 0, epoch: 0, batchIndex: 5 })).toThrow(/batchesPerEpoch/);
    expect(() => orthogonalProjection({ kernelKeys: [] })).toThrow(/non-empty list/);
    expect(() =>
      orthogonalProjection({ kernelKeys: ['k'], denominator: 'inner' as never }),
    ).toThrow(/"inner"/);
    expect(() => orthogonalProjection({ kernelKeys: ['k'], alpha: -1 })).toThrow(/alpha=-1/);
    const params = new Map(headParams(4, 2).map((p) => [p.key, p]));
    expect(() => orthogonalProjection({ kernelKeys: ['nope'] }).init(params)).toThrow(
      /"nope" is not among/,
    );
    const owm = orthogonalProjection({ kernelKeys: ['fc_out/kernel'] });
    const state = owm.init(params);
    owm.update(new Map(), state, context('audio', 0, 2, {}));
    expect(() => owm.update(new Map(), state, context('audio', 0, 2, {}))).toThrow(
      /no output "features\/audio"/,
    );
    for (const { variable } of owm.state(state)) variable.dispose();
    for (const p of params.values()) p.variable.dispose();
  });

  it('does not leak tensors over 200 alternating modality steps', async () => {
    const params = headParams(16, 4);
    const [w, b] = [params[0]!.variable, params[1]!.variable];
    const opt = new GradientOptimizer(
      chain(
        orthogonalProjection({ kernelKeys: ['fc_out/kernel'] }),
        sgd({ learningRate: 0.01, momentum: 0.9 }),
      ),
      params,
    );
    const feats = {
      audio: tf.randomNormal([8, 16], 0, 1, 'float32', 2),
      visual: tf.randomNormal([8, 16], 0, 1, 'float32', 3),
    };
    await expectNoTensorLeak((i) => {
      const m = i % 2 === 0 ? 'audio' : 'visual';
      opt.minimize(
        () => {
          const f = feats[m];
          return {
            loss: tf.mean(tf.square(tf.add(tf.matMul(f, w), b))),
            outputs: { [`features/${m}`]: tf.clone(f) },
          };
        },
        { stage: m, batchIndex: Math.floor(i / 2) % 5, batchesPerEpoch: 5 },
      );
    });
    expect(opt.lastLogs['owm/pNorm']).toBeGreaterThan(0);
    tf.dispose([feats.audio, feats.visual]);
    opt.dispose();
    for (const p of params) p.variable.dispose();
  });
});
