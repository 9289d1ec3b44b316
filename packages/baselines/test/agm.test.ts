import { chain, sgd } from '@igm/core';
import { BatchNorm, MultimodalModel } from '@igm/models';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect, it } from 'vitest';
import {
  AgmController,
  AgmModel,
  agmClip,
  agmCoefficients,
  agmScaledOutput,
  agmStep,
  checkAgmWindow,
  createMethod,
} from '../src';
import { stepRunner } from './helpers';

interface Fixture {
  alpha: number;
  cap?: number;
  xt?: number[][][];
  init: Record<string, number[]>;
  final: Record<string, number[]>;
  xa: number[][][];
  xv: number[][][];
  labels: number[][];
  logs: Array<Record<string, number | boolean>>;
}
const fx = loadFixture<Fixture>(new URL('./fixtures/agm.json', import.meta.url));
const fx3 = loadFixture<Fixture>(new URL('./fixtures/agm-3.json', import.meta.url));

function encoder(dIn: number, name: string): tfl.LayersModel {
  const input = tfl.input({ shape: [dIn] });
  const h = tfl.layers.dense({ units: 3, name: 'fc' }).apply(input) as tfl.SymbolicTensor;
  const b = new BatchNorm({ name: 'bn' }).apply(h) as tfl.SymbolicTensor;
  const r = tfl.layers
    .activation({ activation: 'relu', name: 'relu' })
    .apply(b) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: r, name });
}

function fixtureModel(f: Fixture = fx): AgmModel {
  const encoders: Record<string, tfl.LayersModel> = {
    audio: encoder(4, 'enc_a'),
    visual: encoder(5, 'enc_v'),
  };
  if (f.xt) encoders['text'] = encoder(3, 'enc_t');
  const inner = new MultimodalModel({ encoders, numClasses: 3, head: { type: 'concat' } });
  const vars = new Map(
    [...inner.params(), ...inner.nonTrainable()].map((p) => [p.key, p.variable]),
  );
  for (const [k, v] of Object.entries(f.init)) vars.get(k)!.assign(tf.tensor(v));
  return new AgmModel(inner);
}

describeEachBackend('agm', () => {
  it('matches the torch reference over two steps (zeroed passes in inference mode, customGrad scaling, clip)', () => {
    const model = fixtureModel();
    const controller = new AgmController({ alpha: fx.alpha, modalities: ['audio', 'visual'] });
    const runner = stepRunner(
      model,
      agmStep(controller),
      chain(agmClip(), sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 })),
    );
    for (let s = 0; s < 2; s++) {
      const batch = {
        inputs: { audio: tf.tensor2d(fx.xa[s]!), visual: tf.tensor2d(fx.xv[s]!) },
        labels: tf.tensor1d(fx.labels[s]!, 'int32'),
      };
      const loss = runner.run(batch, { epoch: 0, batchIndex: s, batchesPerEpoch: 2 });
      const ref = fx.logs[s]!;
      expect(loss).toBeCloseTo(ref['loss'] as number, 5);
      for (const m of ['audio', 'visual']) {
        expect(runner.logs[s]![`agm/score/${m}`]).toBeCloseTo(ref[`score_${m}`] as number, 5);
        expect(runner.logs[s]![`agm/scale/${m}`]).toBeCloseTo(ref[`scale_${m}`] as number, 4);
        expect(runner.logs[s]![`agm/running/${m}`]).toBeCloseTo(ref[`running_${m}`] as number, 5);
      }
      expect(runner.logs[s]!['agm/clipped']).toBe(ref['clipped'] ? 1 : 0);
      tf.dispose([...Object.values(batch.inputs), batch.labels]);
    }
    const vars = new Map(
      [...model.params(), ...model.nonTrainable()].map((p) => [p.key, p.variable]),
    );
    // float32 vs float64 over two steps (BN, exp of scores): 1e-5 relative + absolute.
    for (const [k, v] of Object.entries(fx.final))
      expectAllClose(vars.get(k)!, v, { atol: 1e-5, rtol: 1e-5, label: k });
    runner.dispose();
    model.dispose();
  });

  it("three modalities: matches the torch reference written in the authors' three-modality form (cap 7)", () => {
    const model = fixtureModel(fx3);
    const mods = ['audio', 'visual', 'text'];
    const controller = new AgmController({ alpha: fx3.alpha, cap: fx3.cap!, modalities: mods });
    const runner = stepRunner(
      model,
      agmStep(controller),
      chain(agmClip(), sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 })),
    );
    for (let s = 0; s < 2; s++) {
      const batch = {
        inputs: {
          audio: tf.tensor2d(fx3.xa[s]!),
          visual: tf.tensor2d(fx3.xv[s]!),
          text: tf.tensor2d(fx3.xt![s]!),
        },
        labels: tf.tensor1d(fx3.labels[s]!, 'int32'),
      };
      const loss = runner.run(batch, { epoch: 0, batchIndex: s, batchesPerEpoch: 2 });
      const ref = fx3.logs[s]!;
      expect(loss).toBeCloseTo(ref['loss'] as number, 5);
      for (const m of mods) {
        expect(runner.logs[s]![`agm/score/${m}`]).toBeCloseTo(ref[`score_${m}`] as number, 5);
        expect(runner.logs[s]![`agm/scale/${m}`]).toBeCloseTo(ref[`scale_${m}`] as number, 4);
        expect(runner.logs[s]![`agm/running/${m}`]).toBeCloseTo(ref[`running_${m}`] as number, 5);
      }
      expect(runner.logs[s]!['agm/clipped']).toBe(ref['clipped'] ? 1 : 0);
      tf.dispose([...Object.values(batch.inputs), batch.labels]);
    }
    const vars = new Map(
      [...model.params(), ...model.nonTrainable()].map((p) => [p.key, p.variable]),
    );
    for (const [k, v] of Object.entries(fx3.final))
      expectAllClose(vars.get(k)!, v, { atol: 1e-5, rtol: 1e-5, label: k });
    runner.dispose();
    model.dispose();
  });

  it('coefficients: the Shapley form gives the two-modality halves and the three-modality thirds and sixths; sum_m m_m = total', () => {
    // Subsets as bit masks over (a, v): 1 = {a} = f(a, 0), 2 = {v}, 3 = total.
    expect(agmCoefficients(2)).toEqual([
      [0.5, -0.5, 0.5],
      [-0.5, 0.5, 0.5],
    ]);
    // Three modalities (a, v, t): m_a = (total - v({v,t}) + v({a}))/3 + (v({a,v}) - v({v}) + v({a,t}) - v({t}))/6.
    const [ca] = agmCoefficients(3);
    const third = 1 / 3;
    const sixth = 1 / 6;
    const expected = [third, -sixth, sixth, -sixth, sixth, -third, third];
    ca!.forEach((c, i) => {
      expect(c).toBeCloseTo(expected[i]!, 14);
    });
    // Efficiency: the coefficients of each v(T) add to 0 over modalities, except total's (1).
    for (const M of [2, 3, 4]) {
      const c = agmCoefficients(M);
      const sums = c[0]!.map((_, i) => c.reduce((s, row) => s + row[i]!, 0));
      sums.forEach((s, i) => {
        expect(s).toBeCloseTo(i === sums.length - 1 ? 1 : 0, 12);
      });
    }
  });

  it('window: counted as the reference code (epochs from 1, inclusive), so 0-20 modulates 20 epochs', () => {
    // The reference loop runs epochs 1..E and modulates when modulation_starts <= epoch <= modulation_ends.
    const modulated = (window: { start?: number; end?: number }, epochs: number) => {
      const c = new AgmController({ alpha: 1, modalities: ['a', 'v'], window });
      return Array.from({ length: epochs }, (_, e) => e).filter((e) => c.modulates(e));
    };
    expect(modulated({ start: 0, end: 20 }, 100)).toHaveLength(20);
    expect(modulated({ start: 0, end: 20 }, 100)).toEqual(Array.from({ length: 20 }, (_, e) => e));
    expect(modulated({ start: 5, end: 7 }, 100)).toEqual([4, 5, 6]);
    expect(modulated({ start: 10 }, 12)).toEqual([9, 10, 11]);
    expect(checkAgmWindow('w', undefined)).toEqual({ first: 0, last: Infinity });
    expect(() => checkAgmWindow('w', { start: 0, end: 0 })).toThrow(/modulates no epoch.*from 1/);
    expect(() => checkAgmWindow('w', { start: 5, end: 4 })).toThrow(/modulates no epoch/);
    expect(() => checkAgmWindow('w', { start: -1, end: 4 })).toThrow(/window.start=-1/);
    expect(() => checkAgmWindow('w', { start: 1, end: 2.5 })).toThrow(/window.end=2.5/);
    expect(() => checkAgmWindow('w', { begin: 1 })).toThrow(/begin/);
    expect(() => checkAgmWindow('w', [0, 20])).toThrow(/window=\[0,20\]/);
  });

  it('customGrad: forward is total; gradients split as (s_a+s_v)/2, (s_a-s_v)/2, (s_v-s_a)/2', () => {
    const t = tf.tensor2d([[1, 2]]);
    const oa = tf.tensor2d([[3, 4]]);
    const ov = tf.tensor2d([[5, 6]]);
    const g = tf.grads((a, b, c) => tf.sum(agmScaledOutput(a, b, c, 3, 1)));
    const [gt, ga, gv] = g([t, oa, ov]);
    expectAllClose(agmScaledOutput(t, oa, ov, 3, 1), [[1, 2]]);
    expectAllClose(gt!, [[2, 2]]);
    expectAllClose(ga!, [[1, 1]]);
    expectAllClose(gv!, [[-1, -1]]);
    tf.dispose([t, oa, ov, gt!, ga!, gv!]);
  });

  it('controller: known decisions, window, running means across epochs, state round trip', () => {
    // Window { 0, 1 }: the first epoch only (run epoch 0), as the reference code counts epochs from 1.
    const c = new AgmController({ alpha: 1, modalities: ['a', 'v'], window: { start: 0, end: 1 } });
    // Step 1: S = 0, sc_a = 1, sc_v = 2: r_a = e, rbar_a = 1 -> c_a = exp(1 - e); c_v = exp(1 - 1/e).
    const s1 = c.observe({ a: 1, v: 2 }, { epoch: 0, batchIndex: 0, batchesPerEpoch: 2 });
    expect(s1['a']).toBeCloseTo(Math.exp(1 - Math.E), 12);
    expect(s1['v']).toBeCloseTo(Math.exp(1 - 1 / Math.E), 12);
    c.observe({ a: 3, v: 2 }, { epoch: 0, batchIndex: 1, batchesPerEpoch: 2 });
    expect(c.running['a']).toBeCloseTo(2, 12);
    const saved = c.getState();
    // Epoch 1 is outside the window: the scales stay; the running mean continues (t = 3).
    const s3 = c.observe({ a: 4, v: 4 }, { epoch: 1, batchIndex: 0, batchesPerEpoch: 2 });
    expect(s3).toEqual(saved.scales);
    expect(c.running['a']).toBeCloseTo(8 / 3, 12);
    const d = new AgmController({ alpha: 1, modalities: ['a', 'v'] });
    d.setState(saved);
    expect(d.getState()).toEqual(saved);
  });

  it('clip: untouched below the threshold, global norm 1 above it', () => {
    const p = (key: string, group: string, shape: number[]) => ({
      key,
      group,
      variable: tf.variable(tf.zeros(shape)),
    });
    const params = new Map([
      ['f', p('f', 'fusion', [1, 2])],
      ['e', p('e', 'encoder/a', [2])],
    ]);
    const clip = agmClip();
    const logs: Record<string, number> = {};
    const ctx = {
      log: (n: string, v: number) => {
        logs[n] = v;
      },
    } as never;
    const small = new Map<string, tf.Tensor>([
      ['f', tf.tensor2d([[0.5, 0.5]])],
      ['e', tf.tensor1d([3, 4])],
    ]);
    expect(clip.update(small, clip.init(params), ctx)).toBe(small);
    expect(logs['agm/clipped']).toBe(0);
    const big = new Map<string, tf.Tensor>([
      ['f', tf.tensor2d([[2, 0]])],
      ['e', tf.tensor1d([0, 0])],
    ]);
    const out = clip.update(big, null, ctx);
    expectAllClose(out.get('f')!, [[1, 0]], { atol: 1e-6 });
    expect(logs['agm/clipped']).toBe(1);
    tf.dispose([
      ...small.values(),
      ...big.values(),
      ...out.values(),
      ...[...params.values()].map((q) => q.variable),
    ]);
  });

  it('rejects one modality and bad options, and does not leak over 200 steps (two and three modalities)', async () => {
    expect(() => new AgmController({ alpha: 1, modalities: ['a'] })).toThrow(/at least 2/);
    expect(() => new AgmController({ alpha: -1, modalities: ['a', 'b'] })).toThrow(/alpha=-1/);
    const dataset = { modalities: [{ name: 'a' }, { name: 'b' }] } as never;
    const env = { dataset, numClasses: 3, batchSize: 4, encoders: () => ({}) } as never;
    expect(() => createMethod('agm', { clip: { max: 1 } }, env)).toThrow(/"max"/);
    expect(() => createMethod('agm', { window: { start: 3, end: 2 } }, env)).toThrow(
      /modulates no epoch/,
    );
    const model = fixtureModel();
    const controller = new AgmController({ alpha: 1, modalities: ['audio', 'visual'] });
    const runner = stepRunner(
      model,
      agmStep(controller),
      chain(agmClip(), sgd({ learningRate: 0.01 })),
    );
    const batch = {
      inputs: { audio: tf.tensor2d(fx.xa[0]!), visual: tf.tensor2d(fx.xv[0]!) },
      labels: tf.tensor1d(fx.labels[0]!, 'int32'),
    };
    await expectNoTensorLeak((i) =>
      runner.run(batch, { epoch: 0, batchIndex: i, batchesPerEpoch: 1000 }),
    );
    runner.dispose();
    model.dispose();
    tf.dispose([...Object.values(batch.inputs), batch.labels]);
    const model3 = fixtureModel(fx3);
    const runner3 = stepRunner(
      model3,
      agmStep(new AgmController({ alpha: 1, modalities: ['audio', 'visual', 'text'] })),
      chain(agmClip(), sgd({ learningRate: 0.01 })),
    );
    const batch3 = {
      inputs: {
        audio: tf.tensor2d(fx3.xa[0]!),
        visual: tf.tensor2d(fx3.xv[0]!),
        text: tf.tensor2d(fx3.xt![0]!),
      },
      labels: tf.tensor1d(fx3.labels[0]!, 'int32'),
    };
    await expectNoTensorLeak((i) =>
      runner3.run(batch3, { epoch: 0, batchIndex: i, batchesPerEpoch: 1000 }),
    );
    runner3.dispose();
    model3.dispose();
    tf.dispose([...Object.values(batch3.inputs), batch3.labels]);
  });
});
