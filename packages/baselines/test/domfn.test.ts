import { adam, partition } from '@igm/core';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { expect, it } from 'vitest';
import { createMethod, DomfnModel, domfnGate, domfnStep } from '../src';
import { stepRunner } from './helpers';

interface Part {
  eta: number;
  tau: number;
  gamma: number;
  init: Record<string, number[]>;
  final: Record<string, number[]>;
  inputs: Record<string, number[][][]>;
  labels: number[][];
  logs: Array<Record<string, number | boolean>>;
}
const fx = loadFixture<{ batched: Part; batch1: Part & { learningRates: Record<string, number> } }>(
  new URL('./fixtures/domfn.json', import.meta.url),
);

function buildModel(
  dims: Record<string, number>,
  units: number[],
  options: { tau: number; gamma: number; probabilities?: 'softmax' | 'sigmoid'; hidden: number },
  init?: Record<string, number[]>,
): DomfnModel {
  const inner = new MultimodalModel({
    encoders: Object.fromEntries(
      Object.entries(dims).map(([m, d], i) => [
        m,
        mlpEncoder({ inputDim: d, units, seed: i + 1, name: `enc_${m}` }),
      ]),
    ),
    numClasses: 3,
    head: { type: 'per-modality', hidden: [] },
    fusion: { type: 'mean-softmax' },
  });
  const model = new DomfnModel(inner, { ...options, seed: 3 });
  if (init) {
    const vars = new Map(model.params().map((p) => [p.key, p.variable]));
    for (const [k, v] of Object.entries(init)) {
      const variable = vars.get(k);
      if (!variable) throw new Error(`no parameter ${k}; have ${[...vars.keys()].join(', ')}`);
      variable.assign(tf.tensor(v));
    }
  }
  return model;
}

function batchOf(part: Part, s: number) {
  return {
    inputs: Object.fromEntries(
      Object.entries(part.inputs).map(([m, x]) => [m, tf.tensor2d(x[s]!)]),
    ),
    labels: tf.tensor1d(part.labels[s]!, 'int32'),
  };
}

function disposeBatch(b: ReturnType<typeof batchOf>) {
  tf.dispose([...Object.values(b.inputs), b.labels]);
}

/** |actual - expected| <= 1e-5 (1 + |expected|): float32 against float64 (losses reach ~20). */
function expectClose(actual: number, expected: number) {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(expected)));
}

function expectWeights(model: DomfnModel, expected: Record<string, number[]>) {
  const vars = new Map(model.params().map((p) => [p.key, p.variable]));
  // float32 against float64 over a few Adam steps: 1e-5 absolute and relative.
  for (const [k, v] of Object.entries(expected))
    expectAllClose(vars.get(k)!, v, { atol: 1e-5, rtol: 1e-5, label: k });
}

describeEachBackend('domfn', () => {
  it('batched adaptation: matches the torch reference (warm-up step, then mixed gates; one Adam)', () => {
    const p = fx.batched;
    const model = buildModel(
      { audio: 5, visual: 6, text: 4 },
      [4],
      { tau: p.tau, gamma: p.gamma, hidden: 5 },
      p.init,
    );
    const runner = stepRunner(
      model,
      domfnStep({ eta: p.eta, pretrainEpochs: 1 }),
      adam({ learningRate: 0.01, weightDecay: 1e-3 }),
    );
    p.logs.forEach((ref, s) => {
      const batch = batchOf(p, s);
      const loss = runner.run(batch, { epoch: ref['pretraining'] ? 0 : 1, batchIndex: s });
      expectClose(loss, ref['loss'] as number);
      expect(runner.logs[s]!['domfn/gated-out']).toBeCloseTo(ref['gated_out'] as number, 6);
      for (const m of ['audio', 'visual', 'text'])
        expect(runner.logs[s]![`domfn/divergence/${m}`]).toBeCloseTo(
          ref[`divergence_${m}`] as number,
          6,
        );
      disposeBatch(batch);
    });
    expectWeights(model, p.final);
    runner.dispose();
    model.dispose();
  });

  it("batch size 1: matches the authors' fusion/separate updates with four Adams (sigmoid outputs, CE on them)", () => {
    const p = fx.batch1;
    const model = buildModel(
      { text: 6, visual: 5, audio: 4 },
      [8, 6, 4],
      { tau: p.tau, gamma: p.gamma, probabilities: 'sigmoid', hidden: 5 },
      p.init,
    );
    const lr = p.learningRates;
    const branch = (m: string) => adam({ learningRate: lr[m]!, weightDecay: 1e-3 });
    const transform = partition(
      {
        text: branch('text'),
        visual: branch('visual'),
        audio: branch('audio'),
        fusion: adam({ learningRate: lr['multi']!, weightDecay: 1e-3 }),
      },
      (q) => q.group.replace(/^(encoder|head)\//, ''),
    );
    const runner = stepRunner(model, domfnStep({ eta: p.eta }), transform);
    p.logs.forEach((ref, s) => {
      const batch = batchOf(p, s);
      const loss = runner.run(batch, { epoch: 0, batchIndex: s });
      expect(runner.logs[s]!['domfn/gated-out']).toBe(ref['fusion'] ? 0 : 1);
      expectClose(loss, (ref['fusion'] ? ref['loss_fuse'] : ref['loss_separate']) as number);
      disposeBatch(batch);
    });
    expectWeights(model, p.final);
    runner.dispose();
    model.dispose();
  });

  it('gate: known divergences, decisions and the gated prediction', () => {
    // Near one-hot predictions [1, 0] and [0, 1]: mean [.5, .5], d = 0.25 for both modalities.
    const za = tf.tensor2d([
      [30, 0],
      [5, 0],
    ]);
    const zv = tf.tensor2d([
      [0, 30],
      [5, 0],
    ]);
    const { divergence, gate, probs } = domfnGate([za, zv], { tau: 0.3, gamma: 0.8 });
    expectAllClose(divergence, [
      [0.25, 0.25],
      [0, 0],
    ]);
    // 0.25 / 0.3 > 0.8: gated out; agreeing predictions: gated in.
    expectAllClose(gate, [0, 1]);
    // Two modalities with softmax: d <= 1/4, so tau 0.5, gamma 0.8 never gate out.
    expectAllClose(domfnGate([za, zv], { tau: 0.5, gamma: 0.8 }).gate, [1, 1]);
    tf.dispose([za, zv, divergence, gate, ...probs]);
    // Prediction: the most confident unimodal output when gated out, the multimodal one otherwise.
    const model = buildModel({ audio: 2, visual: 2 }, [2], { tau: 1e-9, gamma: 0.8, hidden: 0 });
    const x = { audio: tf.tensor2d([[1, -2]]), visual: tf.tensor2d([[-1, 3]]) };
    const out = model.forward(x, { training: false });
    expectAllClose(out['domfn/gate']!, [0]);
    const pa = tf.softmax(out['logits/audio']!);
    const pv = tf.softmax(out['logits/visual']!);
    const best = pa.max().dataSync()[0]! >= pv.max().dataSync()[0]! ? pa : pv;
    expectAllClose(out['probs/fused']!, best.arraySync() as number[][], { atol: 1e-6 });
    tf.dispose([...Object.values(x), ...Object.values(out), pa, pv]);
    model.dispose();
  });

  it('toy: with every sample gated out the multimodal head never moves and the loss is the sum of the unimodal CEs', () => {
    const p = fx.batched;
    const model = buildModel({ audio: 5, visual: 6, text: 4 }, [4], {
      tau: 1e-9,
      gamma: 0.8,
      hidden: 5,
    });
    const fusion = model.params().filter((q) => q.group === 'fusion');
    const before = fusion.map((q) => q.variable.arraySync());
    const runner = stepRunner(model, domfnStep({ eta: 0.5 }), adam({ learningRate: 0.05 }));
    for (let s = 0; s < 4; s++) {
      const batch = batchOf(p, s);
      const expected = tf.tidy(() => {
        const out = model.forward(batch.inputs, { training: false });
        return ['audio', 'visual', 'text'].reduce(
          (sum, m) =>
            sum +
            tf.losses
              .softmaxCrossEntropy(tf.oneHot(batch.labels, 3), out[`logits/${m}`] as tf.Tensor2D)
              .dataSync()[0]!,
          0,
        );
      });
      expect(runner.run(batch, { epoch: 0, batchIndex: s })).toBeCloseTo(expected, 5);
      expect(runner.logs[s]!['domfn/gated-out']).toBe(1);
      disposeBatch(batch);
    }
    fusion.forEach((q, i) => {
      expectAllClose(q.variable, before[i] as number[], { atol: 0, label: q.key });
    });
    runner.dispose();
    model.dispose();
  });

  it('rejects bad options and non-DOMFN models, and does not leak over 200 steps', async () => {
    expect(() => domfnStep({ eta: -1 })).toThrow(/eta=-1/);
    const env = {
      dataset: { modalities: [{ name: 'a' }, { name: 'b' }] },
      numClasses: 3,
      batchSize: 4,
      encoders: () => ({}),
    } as never;
    expect(() => createMethod('domfn', { epochs: 2, pretrainEpochs: 2 }, env)).toThrow(
      /pretrainEpochs=2 with epochs=2.*pretrainEpochs < epochs/,
    );
    expect(() => domfnStep({ eta: 0.5, pretrainEpochs: 1.5 })).toThrow(/pretrainEpochs=1.5/);
    expect(() =>
      buildModel({ audio: 2, visual: 2 }, [2], { tau: 0, gamma: 0.8, hidden: 4 }),
    ).toThrow(/tau=0/);
    expect(() =>
      buildModel({ audio: 2, visual: 2 }, [2], {
        tau: 0.5,
        gamma: 0.8,
        hidden: 4,
        probabilities: 'logits' as never,
      }),
    ).toThrow(/"softmax", "sigmoid"/);
    const concat = new MultimodalModel({
      encoders: {
        audio: mlpEncoder({ inputDim: 2, units: [2] }),
        visual: mlpEncoder({ inputDim: 2, units: [2], name: 'v' }),
      },
      numClasses: 3,
      head: { type: 'concat' },
    });
    expect(() => new DomfnModel(concat, { tau: 0.5, gamma: 0.8 })).toThrow(/no unimodal head/);
    expect(() => domfnStep({ eta: 0.5 }).validate!(concat)).toThrow(/must be a DomfnModel/);
    concat.dispose();
    const p = fx.batched;
    const model = buildModel({ audio: 5, visual: 6, text: 4 }, [4], {
      tau: p.tau,
      gamma: p.gamma,
      hidden: 5,
    });
    const runner = stepRunner(model, domfnStep({ eta: 0.5 }), adam({ learningRate: 0.001 }));
    const batch = batchOf(p, 1);
    await expectNoTensorLeak((i) => runner.run(batch, { epoch: 0, batchIndex: i }));
    disposeBatch(batch);
    runner.dispose();
    model.dispose();
  });
});
