import { createRng, type HeadLayerInfo, type StepContext } from '@igm/core';
import { synthetic } from '@igm/datasets';
import { flatProjection, InputMomentAccumulator, installProjection } from '@igm/flat-projection';
import { mlpEncoder } from '@igm/models';
import { describeEachBackend, expectNoTensorLeak, tf } from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import { expect, it } from 'vitest';
import { createMethod, type MethodEnvironment } from '../src';

function env(): MethodEnvironment {
  const dataset = synthetic({
    classes: 3,
    samples: { train: 32, validation: 12, test: 12 },
    signal: { audio: 0.9, visual: 0.5 },
  });
  return {
    dataset,
    numClasses: 3,
    batchSize: 8,
    seed: 3,
    encoders: () => ({
      audio: mlpEncoder({ inputDim: 16, units: [6], seed: 1, name: 'enc_audio' }),
      visual: mlpEncoder({ inputDim: 16, units: [6], seed: 2, name: 'enc_visual' }),
    }),
  };
}

const tinyHead = [{ units: 5, activation: 'relu' as const }];

describeEachBackend('late fusion option (product of experts)', () => {
  for (const name of ['igm', 'igm-no-sam', 'unimodal']) {
    it(`${name}: sum-log-softmax predicts argmax of the summed log-probabilities, labelled and recorded`, () => {
      const e = env();
      const base = name === 'unimodal' ? {} : { epochList: [1, 1], headHidden: tinyHead };
      const official = createMethod(name, base, e);
      expect(official.config['fusion']).toBe('mean-softmax');
      expect(official.fusionRule).toMatch(/^mean softmax/);
      official.dispose();
      const run = createMethod(name, { ...base, fusion: 'sum-log-softmax' }, e);
      expect(run.config['fusion']).toBe('sum-log-softmax');
      expect(run.trainOptions().config?.['options']).toMatchObject({ fusion: 'sum-log-softmax' });
      expect(run.fusionRule).toMatch(/sum of log-softmaxes \(product of experts\)/);
      if (name === 'unimodal') expect(run.fusionRule).not.toMatch(/departure/);
      else expect(run.fusionRule).toMatch(/departure from the official code \(mean of softmaxes\)/);
      tf.tidy(() => {
        const inputs = {
          audio: tf.randomNormal([9, 16], 0, 1, 'float32', 4),
          visual: tf.randomNormal([9, 16], 0, 1, 'float32', 5),
        };
        const out = run.model.forward(inputs, { training: false });
        const summed = tf.add(
          tf.logSoftmax(out['logits/audio'] as tf.Tensor2D),
          tf.logSoftmax(out['logits/visual'] as tf.Tensor2D),
        );
        expect(Array.from(tf.argMax(out['probs/fused']!, 1).dataSync())).toEqual(
          Array.from(tf.argMax(summed, 1).dataSync()),
        );
      });
      expect(() => createMethod(name, { ...base, fusion: 'product' }, e)).toThrow(
        /fusion.*"product".*"mean-softmax", "sum-log-softmax"/,
      );
      run.dispose();
    });
  }
});

const LAYER: HeadLayerInfo[] = [
  {
    modality: 'audio',
    index: 0,
    kernelKey: 'audio/k',
    biasKey: 'audio/b',
    inputName: 'input/head/audio/0',
    inputDim: 6,
    outputDim: 3,
  },
  {
    modality: 'visual',
    index: 0,
    kernelKey: 'visual/k',
    biasKey: 'visual/b',
    inputName: 'input/head/visual/0',
    inputDim: 6,
    outputDim: 3,
  },
];

describeEachBackend('IGM without the projection (tau = 0, the ablation variant)', () => {
  it('tau = 0 installs T = I exactly: the projected gradient is bit-identical to the raw one', () => {
    const params = new Map(
      LAYER.flatMap((l) => [
        { key: l.kernelKey, group: `head/${l.modality}`, variable: tf.variable(tf.zeros([6, 3])) },
        { key: l.biasKey!, group: `head/${l.modality}`, variable: tf.variable(tf.zeros([3])) },
      ]).map((p) => [p.key, p]),
    );
    const fp = flatProjection({ layers: LAYER, tau: 0 });
    const state = fp.init(params);
    const acc = new InputMomentAccumulator();
    tf.tidy(() => acc.add('audio/k', tf.randomNormal([10, 6], 1, 2, 'float32', 9)));
    const report = installProjection(state, acc, LAYER.slice(0, 1));
    expect(report[0]).toMatchObject({ method: 'identity', spectrum: { min: 1, max: 1 } });
    const t = state.matrices.get('audio/k')!;
    expect(Array.from(t.dataSync())).toEqual(Array.from(tf.eye(6).dataSync()));
    const ctx: StepContext = {
      step: 0,
      epoch: 0,
      batchIndex: 0,
      params,
      outputs: {},
      labels: tf.scalar(0),
      rng: createRng(0),
      stage: 'visual',
      log: () => {},
    };
    const g = tf.randomNormal([6, 3], 0, 1e3, 'float32', 2);
    const projected = fp.update(new Map([['visual/k', g]]), state, ctx).get('visual/k')!;
    expect(projected).not.toBe(g); // T is installed and applied...
    expect(Array.from(projected.dataSync())).toEqual(Array.from(g.dataSync())); // ...as I, exactly
    tf.dispose([g, projected, ctx.labels, ...fp.state(state).map((v) => v.variable)]);
    for (const p of params.values()) p.variable.dispose();
    acc.dispose();
  });

  it('the registry variant igm { tau: 0 } records T = I at every stage boundary', async () => {
    const e = env();
    const run = createMethod('igm', { epochList: [1, 1, 1], headHidden: tinyHead, tau: 0 }, e);
    expect(run.config['tau']).toBe(0);
    const summary = await runTraining({
      ...run.trainOptions(),
      dataset: e.dataset,
      batchSize: 8,
      progress: 'none',
    });
    const boundaries = summary.history.filter((h) =>
      Object.keys(h.records ?? {}).some((k) => k.endsWith('/eigenvalues')),
    );
    expect(boundaries).toHaveLength(2);
    for (const h of boundaries) {
      for (const [k, v] of Object.entries(h.records!)) {
        if (k.endsWith('/eigenvalues')) expect(new Set(v as number[])).toEqual(new Set([1]));
        if (k.endsWith('/spectrum')) expect(v).toEqual([1, 1]);
      }
    }
    run.dispose();
  });

  it('forward with product-of-experts fusion does not leak', async () => {
    const run = createMethod('unimodal', { fusion: 'sum-log-softmax' }, env());
    const inputs = { audio: tf.ones([4, 16]), visual: tf.zeros([4, 16]) };
    await expectNoTensorLeak(
      () => {
        tf.tidy(() => {
          run.model.forward(inputs, { training: false });
        });
      },
      { steps: 20 },
    );
    tf.dispose(Object.values(inputs));
    run.dispose();
  });
});
