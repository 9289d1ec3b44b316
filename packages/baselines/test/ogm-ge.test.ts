import type { Grads, StepContext } from '@igm/core';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { expect, it } from 'vitest';
import { ogmCoefficients, ogmGe, ogmGeOptimizer, unbiasedStd } from '../src';
import { disposeParams, makeParams, TestDriver, trainingKernels } from './helpers';

interface Case {
  alpha: number;
  noise: boolean;
  window_end: number;
  params: Record<string, number[]>;
  logs: Array<Record<string, number>>;
}
interface Fixture {
  shapes: { feat: number };
  xa: number[];
  xv: number[];
  labels: number[][];
  init: Record<string, number[]>;
  draws: Array<Record<string, number[]>>;
  cases: Record<string, Case>;
}
const fx = loadFixture<Fixture>(new URL('./fixtures/ogm-ge.json', import.meta.url));

const groupOf = (k: string) =>
  k.startsWith('audio') ? 'encoder/audio' : k.startsWith('visual') ? 'encoder/visual' : 'fusion';

describeEachBackend('ogmGe', (backend) => {
  it('matches the torch reference over two steps (GE, plain OGM, window)', () => {
    trainingKernels(backend);
    for (const [name, c] of Object.entries(fx.cases)) {
      const params = makeParams(fx.init, groupOf);
      const xa = tf.tensor(fx.xa);
      const xv = tf.tensor(fx.xv);
      const draws = fx.draws.map((d) =>
        Object.fromEntries(Object.entries(d).map(([k, v]) => [k, tf.tensor(v)])),
      );
      // One step per epoch in the fixture: step s runs in epoch s.
      const transform = ogmGeOptimizer({
        alpha: c.alpha,
        noise: c.noise,
        window: { start: 0, end: c.window_end },
        learningRate: 0.1,
        momentum: 0.9,
        weightDecay: 1e-4,
        modalities: ['audio', 'visual'],
        normalDraws: (key, _shape, ctx: StepContext) => tf.clone(draws[ctx.epoch]![key]!),
      });
      const opt = new TestDriver(transform, params);
      const logs = opt.logs;
      const P = (k: string) => params.get(k)!.variable;
      const encode = (x: tf.Tensor, w: tf.Variable, b: tf.Variable) =>
        tf.mean(
          tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'), b)),
          [1, 2],
        );
      fx.labels.forEach((y, step) => {
        const labels = tf.tensor1d(y, 'int32');
        const loss = opt.minimize(
          () => {
            const a = encode(xa, P('audio/conv'), P('audio/bias'));
            const v = encode(xv, P('visual/conv'), P('visual/bias'));
            const W = P('fusion/weight');
            const b = P('fusion/bias');
            const f = fx.shapes.feat;
            const out = tf.add(tf.matMul(tf.concat([a, v], 1), W), b);
            const half = tf.div(b, 2);
            const outputs = {
              'logits/audio': tf.add(tf.matMul(a, tf.slice(W, [0, 0], [f, -1])), half),
              'logits/visual': tf.add(tf.matMul(v, tf.slice(W, [f, 0], [f, -1])), half),
            };
            const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 3), out) as tf.Scalar;
            return { loss, outputs };
          },
          { labels, epoch: step, batchIndex: 0, batchesPerEpoch: 1 },
        );
        labels.dispose();
        const ref = c.logs[step]!;
        expect(loss).toBeCloseTo(ref['loss']!, 5);
        expect(logs[step]!['ogm/ratio']).toBeCloseTo(ref['ratio']!, 4);
        expect(logs[step]!['ogm/coef/audio']).toBeCloseTo(ref['coef_audio']!, 5);
        expect(logs[step]!['ogm/coef/visual']).toBeCloseTo(ref['coef_visual']!, 5);
        expect(logs[step]!['ogm/score/audio']).toBeCloseTo(ref['s_audio']!, 5);
      });
      // float32 vs float64 reference over two steps of a tiny conv model: 1e-5.
      for (const [k, v] of Object.entries(c.params))
        expectAllClose(P(k), v, { atol: 1e-5, rtol: 1e-5, label: `${name} ${k}` });
      opt.dispose();
      disposeParams(params);
      tf.dispose([xa, xv, ...draws.flatMap((d) => Object.values(d))]);
    }
  });

  it('coefficient: 1 - tanh(alpha rho) on the dominant modality only (known values)', () => {
    // alpha 0.1: rho = 2 -> 1 - tanh(0.2) = 0.8026; the weaker keeps 1.
    const d = ogmCoefficients(['audio', 'visual'], { audio: 10, visual: 5 }, 0.1);
    expect(d.coefficients['audio']).toBeCloseTo(1 - Math.tanh(0.2), 12);
    expect(d.coefficients['visual']).toBe(1);
    // A tie modulates the first modality (rho_v = 1 is not > 1), as the code.
    const tie = ogmCoefficients(['audio', 'visual'], { audio: 3, visual: 3 }, 0.5);
    expect(tie.coefficients['audio']).toBeCloseTo(1 - Math.tanh(0.5), 12);
    // Three modalities: one-versus-others ratio.
    const three = ogmCoefficients(['a', 'b', 'c'], { a: 6, b: 2, c: 2 }, 0.1);
    expect(three.ratios['a']).toBeCloseTo(3, 12);
    expect(three.coefficients['a']).toBeCloseTo(1 - Math.tanh(0.3), 12);
    expect(three.coefficients['b']).toBe(1);
  });

  it('touches only 4-D encoder gradients by default; tensors: "encoder" selects all encoder tensors', () => {
    const params = makeParams(
      { 'a/k': [[[[1, 2]]]], 'a/b': [1, 1], 'v/k': [[[[1, 2]]]], 'f/w': [[1], [1]] },
      (k) =>
        k.startsWith('a') ? 'encoder/audio' : k.startsWith('v') ? 'encoder/visual' : 'fusion',
    );
    const grads: Grads = new Map([...params].map(([k, p]) => [k, tf.onesLike(p.variable)]));
    const outputs = {
      'logits/audio': tf.tensor2d([
        [5, 0],
        [5, 0],
      ]),
      'logits/visual': tf.tensor2d([
        [0, 0],
        [0, 0],
      ]),
    };
    const labels = tf.tensor1d([0, 0], 'int32');
    const ctxFor = (): StepContext => ({
      step: 0,
      epoch: 0,
      batchIndex: 0,
      params,
      outputs,
      labels,
      rng: { nextSeed: () => 1 } as never,
      log: () => {},
    });
    for (const tensors of ['conv', 'encoder'] as const) {
      const t = ogmGe({ alpha: 1, noise: false, tensors });
      const out = t.update(grads, t.init(params), ctxFor());
      const kA = 1 - Math.tanh((1 * (2 * (Math.exp(5) / (1 + Math.exp(5))))) / 1);
      expectAllClose(out.get('a/k')!, [[[[kA, kA]]]], { atol: 1e-6 });
      expectAllClose(out.get('v/k')!, [[[[1, 1]]]]);
      expectAllClose(out.get('f/w')!, [[1], [1]]);
      expectAllClose(out.get('a/b')!, tensors === 'conv' ? [1, 1] : [kA, kA], { atol: 1e-6 });
      for (const [k, g] of out) if (g !== grads.get(k)) g.dispose();
    }
    tf.dispose([...grads.values(), ...Object.values(outputs), labels]);
    disposeParams(params);
  });

  it("a selection that matches nothing is an error: tensors 'conv' on dense encoders", () => {
    const dense = makeParams(
      { 'a/w': [[1, 2]], 'a/b': [1], 'v/w': [[1, 2]], 'v/b': [1], 'f/w': [[1], [1]] },
      (k) =>
        k.startsWith('a') ? 'encoder/audio' : k.startsWith('v') ? 'encoder/visual' : 'fusion',
    );
    expect(() => ogmGe({ alpha: 1 }).init(dense)).toThrow(
      /ogmGe: tensors: 'conv' \(the rank-4 conv kernels of group encoder\/audio\) selects no parameter, so the method would change nothing\. The model's parameter groups: encoder\/audio: 2 tensors, ranks 2 x1, 1 x1 \(e\.g\. a\/w\); encoder\/visual: 2 tensors, ranks 2 x1, 1 x1 \(e\.g\. v\/w\); fusion: 1 tensor, rank 2 x1 \(e\.g\. f\/w\)\. For encoders without convolutions \(e\.g\. mlpEncoder\) pass tensors: 'encoder'\./,
    );
    expect(ogmGe({ alpha: 1, tensors: 'encoder' }).init(dense)).toBeNull();
    // One conv encoder and one dense one: the dense modality would silently go unmodulated.
    const mixed = makeParams({ 'a/k': [[[[1, 2]]]], 'v/w': [[1, 2]], 'f/w': [[1], [1]] }, (k) =>
      k.startsWith('a') ? 'encoder/audio' : k.startsWith('v') ? 'encoder/visual' : 'fusion',
    );
    expect(() => ogmGe({ alpha: 1 }).init(mixed)).toThrow(
      /rank-4 conv kernels of group encoder\/visual\) selects no parameter/,
    );
    disposeParams(dense);
    disposeParams(mixed);
  });

  it('GE noise has the unbiased std of the unscaled gradient', () => {
    const g = tf.tensor1d([1, 2, 3, 4]);
    expect(unbiasedStd(g).dataSync()[0]).toBeCloseTo(Math.sqrt(5 / 3), 5);
    g.dispose();
  });

  it('rejects bad options and a single modality', () => {
    expect(() => ogmGe({ alpha: -1 })).toThrow(/alpha=-1/);
    expect(() => ogmGe({ alpha: 1, tensors: 'all' as never })).toThrow(/"conv", "encoder"/);
    expect(() => ogmGe({ alpha: 1, window: { start: 5, end: 2 } })).toThrow(/window/);
    expect(() => ogmGe({ alpha: 1, alhpa: 2 } as never)).toThrow(/alhpa/);
    const params = makeParams({ 'a/k': [1] }, () => 'encoder/audio');
    expect(() => ogmGe({ alpha: 1 }).init(params)).toThrow(/at least 2/);
    disposeParams(params);
  });

  it('does not leak tensors over 200 steps', async () => {
    const params = makeParams({ 'a/k': [[[[0.1, 0.2]]]], 'v/k': [[[[0.3, 0.1]]]] }, (k) =>
      k.startsWith('a') ? 'encoder/audio' : 'encoder/visual',
    );
    const opt = new TestDriver(chainOf(), params);
    const x = tf.tensor2d([
      [1, 2],
      [3, 1],
    ]);
    const labels = tf.tensor1d([0, 1], 'int32');
    await expectNoTensorLeak(() =>
      opt.minimize(
        () => {
          const la = tf.mul(x, tf.reshape(params.get('a/k')!.variable, [1, 2]));
          const lv = tf.mul(x, tf.reshape(params.get('v/k')!.variable, [1, 2]));
          const loss = tf.losses.softmaxCrossEntropy(
            tf.oneHot(labels, 2),
            tf.add(la, lv),
          ) as tf.Scalar;
          return { loss, outputs: { 'logits/audio': la, 'logits/visual': lv } };
        },
        { labels },
      ),
    );
    opt.dispose();
    tf.dispose([x, labels]);
    disposeParams(params);
  });
});

function chainOf() {
  return ogmGeOptimizer({ alpha: 0.5, learningRate: 0.01, optimizer: 'adam' });
}
