import { IgmArgumentError } from '@igm/core';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  testBackends,
  tf,
  useBackend,
} from '@igm/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import type { HeadSpec, MultimodalModelConfig } from '../src/index';
import {
  audioVisualResNet18,
  BatchNorm,
  entropyWeightedLogits,
  igmHiddenLayers,
  MLA_FIXED_WEIGHTS,
  MultimodalModel,
  meanSoftmax,
  mlpEncoder,
  resnet18,
  smallCnn,
  sumLogSoftmax,
  weightedLogits,
} from '../src/index';
import { crossEntropy, gradsByKey } from './helpers';

/** A user-built encoder (Dense -> BatchNorm -> ReLU) that needs no conv gradients (wasm-safe). */
function denseBnEncoder(inputDim: number, units: number, name: string) {
  const input = tf.input({ shape: [inputDim] });
  // Seeded: tfjs' default initialiser draws from Math.random, which made the toy test flaky.
  const kernelInitializer = tf.initializers.glorotUniform({ seed: inputDim * 31 + units });
  let x = tf.layers
    .dense({ units, name: `${name}_fc`, kernelInitializer })
    .apply(input) as tf.SymbolicTensor;
  x = new BatchNorm({ name: `${name}_bn` }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x });
}

const SMALL_HIDDEN = [{ units: 16, activation: 'relu' as const }, { units: 8 }];

function twoModality(head?: HeadSpec, extra: Partial<MultimodalModelConfig> = {}) {
  return new MultimodalModel({
    encoders: { audio: denseBnEncoder(6, 8, 'a'), text: denseBnEncoder(4, 8, 't') },
    numClasses: 3,
    ...(head ? { head } : {}),
    ...extra,
  });
}

function batch(b = 5, seed = 1) {
  return {
    audio: tf.randomNormal([b, 6], 0, 1, 'float32', seed),
    text: tf.randomNormal([b, 4], 0, 1, 'float32', seed + 1),
  };
}

function snapshot(vars: Array<{ variable: tf.Variable }>): Float32Array[] {
  return vars.map((v) => v.variable.dataSync() as Float32Array).map((a) => Float32Array.from(a));
}

describeEachBackend('MultimodalModel outputs', () => {
  it('per-modality IGM heads: names, shapes, head inputs', () => {
    const model = twoModality();
    const inputs = batch();
    tf.tidy(() => {
      const out = model.forward(inputs, { training: false });
      expect(Object.keys(out).sort()).toEqual(
        [
          'features/audio',
          'features/text',
          'input/head/audio/0',
          'input/head/audio/1',
          'input/head/audio/2',
          'input/head/text/0',
          'input/head/text/1',
          'input/head/text/2',
          'logits/audio',
          'logits/text',
          'probs/fused',
        ].sort(),
      );
      expect(out['input/head/audio/0']!.shape).toEqual([5, 8]);
      expect(out['input/head/audio/1']!.shape).toEqual([5, 256]);
      expect(out['input/head/audio/2']!.shape).toEqual([5, 64]);
      expect(out['logits/text']!.shape).toEqual([5, 3]);
      // Post-ReLU input of Dense 1 (PyTorch layer 2) is non-negative.
      expect(tf.min(out['input/head/audio/1']!).dataSync()[0]).toBeGreaterThanOrEqual(0);
      // probs/fused rows sum to one.
      expectAllClose(tf.sum(out['probs/fused']!, 1), [1, 1, 1, 1, 1], { atol: 1e-6 });
    });
    const layers = model.headLayers('audio');
    expect(layers.map((l) => [l.index, l.inputDim, l.outputDim])).toEqual([
      [0, 8, 256],
      [1, 256, 64],
      [2, 64, 3],
    ]);
    expect(layers[1]).toMatchObject({
      modality: 'audio',
      kernelKey: 'head/audio/dense_1/kernel',
      biasKey: 'head/audio/dense_1/bias',
      inputName: 'input/head/audio/1',
    });
    tf.dispose(Object.values(inputs));
    model.dispose();
  });

  it('text-image head variant: Dense(1000->768) first, no activation', () => {
    const model = new MultimodalModel({
      encoders: { text: mlpEncoder({ inputDim: 768 }), image: mlpEncoder({ inputDim: 1000 }) },
      numClasses: 2,
      head: {
        type: 'per-modality',
        hidden: { text: igmHiddenLayers(), image: igmHiddenLayers({ inputProjection: 768 }) },
      },
    });
    expect(model.headLayers('text').map((l) => [l.inputDim, l.outputDim])).toEqual([
      [768, 256],
      [256, 64],
      [64, 2],
    ]);
    expect(model.headLayers('image').map((l) => [l.inputDim, l.outputDim])).toEqual([
      [1000, 768],
      [768, 256],
      [256, 64],
      [64, 2],
    ]);
    tf.tidy(() => {
      const out = model.forward(
        { text: tf.randomNormal([2, 768]), image: tf.randomNormal([2, 1000]) },
        { training: false },
      );
      // No ReLU after Dense(1000->768): its output (input of Dense 1) takes negative values.
      expect(tf.min(out['input/head/image/1']!).dataSync()[0]).toBeLessThan(0);
      expect(out['logits/image']!.shape).toEqual([2, 2]);
    });
    model.dispose();
  });

  it('shared head (MLA): one kernel, per-modality logits, entropy fusion', () => {
    const model = twoModality({ type: 'shared' });
    expect(
      model
        .params()
        .filter((p) => p.group === 'head/shared')
        .map((p) => p.key),
    ).toEqual(['head/shared/dense_0/kernel', 'head/shared/dense_0/bias']);
    expect(model.headLayers('text')).toEqual([
      {
        modality: 'text',
        index: 0,
        kernelKey: 'head/shared/dense_0/kernel',
        biasKey: 'head/shared/dense_0/bias',
        inputName: 'input/head/text/0',
        inputDim: 8,
        outputDim: 3,
      },
    ]);
    const inputs = batch();
    tf.tidy(() => {
      const out = model.forward(inputs, { training: false });
      expect(out['input/head/audio/0']).toBe(out['features/audio']);
      expect(out['logits/fused']!.shape).toEqual([5, 3]);
    });
    tf.dispose(Object.values(inputs));
    model.dispose();
  });

  it('concat fusion: slices with b/M add up to the fused logits (known answer)', () => {
    const model = twoModality({ type: 'concat' });
    expect(model.headLayers('audio')).toEqual([]);
    expect(model.params().find((p) => p.key === 'fusion/dense_0/kernel')!.variable.shape).toEqual([
      16, 3,
    ]);
    const inputs = batch();
    tf.tidy(() => {
      const out = model.forward(inputs, { training: true });
      expectAllClose(tf.add(out['logits/audio']!, out['logits/text']!), out['logits/fused']!, {
        atol: 1e-5,
      });
    });
    tf.dispose(Object.values(inputs));
    model.dispose();
  });

  it('sum fusion: full bias in training, b/M in inference (known answer)', () => {
    const model = twoModality({ type: 'sum' });
    const byKey = new Map(model.params().map((p) => [p.key, p.variable]));
    byKey.get('fusion/audio/bias')!.assign(tf.tensor1d([1, 2, 3]));
    byKey.get('fusion/text/bias')!.assign(tf.tensor1d([-4, 0.5, 2]));
    const inputs = batch();
    tf.tidy(() => {
      const train = model.forward(inputs, { training: true });
      expectAllClose(
        tf.add(train['logits/audio']!, train['logits/text']!),
        train['logits/fused']!,
        {
          atol: 1e-5,
        },
      );
      const infer = model.forward(inputs, { training: false });
      // Each per-modality logit lost half its bias: fused = a + v + (b_a + b_v) / 2.
      const halfBiases = tf.tensor1d([-1.5, 1.25, 2.5]);
      expectAllClose(
        tf.add(tf.add(infer['logits/audio']!, infer['logits/text']!), halfBiases),
        infer['logits/fused']!,
        { atol: 1e-5 },
      );
    });
    tf.dispose(Object.values(inputs));
    model.dispose();
  });

  it('modality subset: no fused outputs; zeroed equals zero inputs', () => {
    const model = twoModality();
    const inputs = batch();
    tf.tidy(() => {
      const only = model.forward({ text: inputs.text }, { training: false, modalities: ['text'] });
      expect(Object.keys(only).some((k) => k.includes('audio') || k.includes('fused'))).toBe(false);
      const zeroed = model.forward(inputs, { training: false, zeroed: ['audio'] });
      const manual = model.forward(
        { audio: tf.zerosLike(inputs.audio), text: inputs.text },
        { training: false },
      );
      expectAllClose(zeroed['logits/audio']!, manual['logits/audio']!, { atol: 0 });
      expectAllClose(zeroed['logits/text']!, manual['logits/text']!, { atol: 0 });
    });
    tf.dispose(Object.values(inputs));
    model.dispose();
  });

  it('frames [B, T, ...] are folded into the batch and features averaged over T', () => {
    const model = new MultimodalModel({
      encoders: { video: smallCnn({ inChannels: 3, inputShape: [8, 8], filters: [4] }) },
      numClasses: 2,
    });
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 8, 8, 3], 0, 1, 'float32', 7);
      const f = model.forward({ video: x }, { training: false })['features/video']!;
      const perFrame = [0, 1, 2].map(
        (t) =>
          model.forward(
            { video: tf.squeeze(tf.slice(x, [0, t], [-1, 1]), [1]) },
            { training: false },
          )['features/video']!,
      );
      expectAllClose(f, tf.div(tf.addN(perFrame), 3), { atol: 1e-6 });
    });
    model.dispose();
  });

  it('entropy fusion: identical logits give equal weights; a confident modality dominates', () => {
    tf.tidy(() => {
      const l = tf.tensor2d([
        [2, 0, -1],
        [0.5, 0.5, 3],
      ]);
      for (const axis of ['sample', 'batch'] as const) {
        const { fused, weights } = entropyWeightedLogits([l, l], axis);
        expectAllClose(weights, axis === 'sample' ? [0.5, 0.5, 0.5, 0.5] : [0.5, 0.5], {
          atol: 1e-7,
        });
        expectAllClose(fused, l, { atol: 1e-6 });
      }
      // Uniform logits have entropy log 3; [10, 0, 0] has entropy ~ 1e-3: weights softmax(-H).
      const uniform = tf.zeros([1, 3]);
      const peaked = tf.tensor2d([[10, 0, 0]]);
      const p = [Math.exp(10), 1, 1].map((v) => v / (Math.exp(10) + 2));
      const hPeaked = -p.reduce((s, v) => s + v * Math.log(v), 0);
      const wPeaked = 1 / (1 + Math.exp(hPeaked - Math.log(3)));
      const { fused, weights } = entropyWeightedLogits([uniform, peaked], 'sample');
      expectAllClose(weights, [1 - wPeaked, wPeaked], { atol: 1e-6 });
      expectAllClose(fused, [10 * wPeaked, 0, 0], { atol: 1e-5 });
      expect(wPeaked).toBeGreaterThan(0.7);
      // mean-softmax and fixed weights.
      expectAllClose(meanSoftmax([uniform, uniform]), [1 / 3, 1 / 3, 1 / 3], { atol: 1e-7 });
      expectAllClose(weightedLogits([peaked, uniform], [0.55, 0.45]), [5.5, 0, 0], { atol: 1e-6 });
    });
  });
});

describeEachBackend('sum-log-softmax fusion (product of experts)', () => {
  it('predicts argmax of the summed log-probabilities; probs are the normalised product', () => {
    const model = twoModality(undefined, { fusion: { type: 'sum-log-softmax' } });
    const official = twoModality(undefined, { fusion: { type: 'mean-softmax' } });
    const inputs = batch(7, 3);
    tf.tidy(() => {
      const out = model.forward(inputs, { training: false });
      const la = out['logits/audio']!;
      const lt = out['logits/text']!;
      // Reference in float64 on the host: sum_m log softmax(l_m), then argmax and normalise.
      const rows = (t: tf.Tensor) => t.arraySync() as number[][];
      const logSoftmax = (r: number[]) => {
        const m = Math.max(...r);
        const lse = m + Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0));
        return r.map((v) => v - lse);
      };
      const summed = rows(la).map((r, i) =>
        logSoftmax(r).map((v, c) => v + logSoftmax(rows(lt)[i]!)[c]!),
      );
      const argmax = (r: number[]) => r.indexOf(Math.max(...r));
      const fusedPred = Array.from(tf.argMax(out['probs/fused']!, 1).dataSync());
      expect(fusedPred).toEqual(summed.map(argmax));
      expectAllClose(out['logits/fused']!, summed, { atol: 1e-5 });
      const product = summed.map((r) => {
        const p = r.map(Math.exp);
        const z = p.reduce((a, b) => a + b, 0);
        return p.map((v) => v / z);
      });
      expectAllClose(out['probs/fused']!, product, { atol: 1e-6 });
      expectAllClose(sumLogSoftmax([la, lt]), summed, { atol: 1e-5 });
    });
    // A nearly flat (under-confident) modality barely moves the product: the fused log-odds are
    // the confident modality's (2) minus the flat one's small preference (0.1).
    tf.tidy(() => {
      const confident = tf.tensor2d([[2, 0, 0]]);
      const flat = tf.tensor2d([[0, 0.1, 0]]);
      const poe = sumLogSoftmax([confident, flat]).arraySync() as number[][];
      expect(poe[0]![0]! - poe[0]![1]!).toBeCloseTo(2 - 0.1, 5);
    });
    expect(official.fusion.type).toBe('mean-softmax');
    model.dispose();
    official.dispose();
  });

  it('does not leak tensors', async () => {
    const model = twoModality(undefined, { fusion: { type: 'sum-log-softmax' } });
    const inputs = batch(4, 5);
    await expectNoTensorLeak(
      () => {
        tf.tidy(() => {
          model.forward(inputs, { training: false });
        });
      },
      { steps: 20 },
    );
    tf.dispose(Object.values(inputs));
    model.dispose();
  });
});

describeEachBackend('BatchNorm statistics through MultimodalModel', () => {
  it("moving stats change exactly once per 'update' forward and never on 'frozen'", () => {
    const model = twoModality();
    const stats = model.nonTrainable();
    expect(stats.map((s) => s.key)).toEqual([
      'encoder/audio/a_bn/moving_mean',
      'encoder/audio/a_bn/moving_variance',
      'encoder/text/t_bn/moving_mean',
      'encoder/text/t_bn/moving_variance',
    ]);
    const inputs = batch(6, 3);
    const s0 = snapshot(stats);
    let frozenOut: Float32Array | undefined;
    let updateOut: Float32Array | undefined;
    tf.tidy(() => {
      frozenOut = model
        .forward(inputs, { training: true, batchStatistics: 'frozen' })
        ['logits/audio']!.dataSync() as Float32Array;
    });
    expect(snapshot(stats)).toEqual(s0);
    // Batch statistics of the BN input (Dense output), to predict one update exactly.
    const pre = tf.tidy(() => {
      const enc = model.encoderModel('audio');
      const dense = enc.getLayer('a_fc').apply(inputs.audio) as tf.Tensor;
      const { mean, variance } = tf.moments(dense, 0);
      return [mean.dataSync(), tf.mul(variance, 6 / 5).dataSync()];
    });
    tf.tidy(() => {
      updateOut = model
        .forward(inputs, { training: true })
        ['logits/audio']!.dataSync() as Float32Array;
    });
    // Same batch statistics, so the outputs agree exactly.
    expectAllClose(updateOut!, frozenOut!, { atol: 1e-6 });
    const s1 = snapshot(stats);
    const expectedMean = Array.from(s0[0]!, (v, i) => 0.9 * v + 0.1 * pre[0]![i]!);
    const expectedVar = Array.from(s0[1]!, (v, i) => 0.9 * v + 0.1 * pre[1]![i]!);
    expectAllClose(s1[0]!, expectedMean, { atol: 1e-6 });
    expectAllClose(s1[1]!, expectedVar, { atol: 1e-6 });
    // Inside a gradient tape: still exactly one update per forward.
    const labels = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
    const { value, grads } = gradsByKey(model, () =>
      crossEntropy(model.forward(inputs, { training: true })['logits/audio']!, labels),
    );
    const s2 = snapshot(stats);
    const twice = Array.from(s0[0]!, (v, i) => 0.81 * v + 0.19 * pre[0]![i]!);
    expectAllClose(s2[0]!, twice, { atol: 1e-6 });
    tf.dispose([value, ...Object.values(grads)]);
    tf.tidy(() => {
      model.forward(inputs, { training: true, batchStatistics: 'frozen' });
      model.forward(inputs, { training: false });
    });
    expect(snapshot(stats)).toEqual(s2);
    tf.dispose([labels, ...Object.values(inputs)]);
    model.dispose();
  });

  it('inference mode uses moving statistics: a sample scores the same alone or in a batch', () => {
    const model = twoModality();
    const inputs = batch(4, 5);
    tf.tidy(() => {
      const all = model.forward(inputs, { training: false })['logits/audio']!;
      const one = model.forward(
        {
          audio: tf.slice(inputs.audio, [1, 0], [1, -1]),
          text: tf.slice(inputs.text, [1, 0], [1, -1]),
        },
        { training: false },
      )['logits/audio']!;
      expectAllClose(one, tf.slice(all, [1, 0], [1, -1]), { atol: 1e-6 });
    });
    tf.dispose(Object.values(inputs));
    model.dispose();
  });

  it("stock tfjs BatchNormalization in a user encoder: 'frozen' restores its moving stats", () => {
    const input = tf.input({ shape: [4] });
    const h = tf.layers
      .batchNormalization()
      .apply(tf.layers.dense({ units: 5 }).apply(input)) as tf.SymbolicTensor;
    const model = new MultimodalModel({
      encoders: { x: tf.model({ inputs: input, outputs: h }) },
      numClasses: 2,
    });
    const stats = model.nonTrainable();
    expect(stats).toHaveLength(2);
    const x = tf.randomNormal([6, 4], 3, 2, 'float32', 11);
    const s0 = snapshot(stats);
    tf.tidy(() => {
      model.forward({ x }, { training: true, batchStatistics: 'frozen' });
      // Also inside a gradient tape, as SAM's second pass runs it.
      const { grads } = gradsByKey(
        model,
        () =>
          tf.sum(
            model.forward({ x }, { training: true, batchStatistics: 'frozen' })['logits/x']!,
          ) as tf.Scalar,
      );
      expect(Object.keys(grads)).toHaveLength(model.params().length);
    });
    expect(snapshot(stats)).toEqual(s0);
    tf.tidy(() => {
      model.forward({ x }, { training: true });
    });
    expect(snapshot(stats)).not.toEqual(s0);
    x.dispose();
    model.dispose();
  });
});

describeEachBackend('gradients and training', (backend) => {
  for (const type of ['per-modality', 'shared', 'concat', 'sum'] as const) {
    it(`${type}: gradients reach every parameter`, () => {
      const model = twoModality({ type });
      const inputs = batch(6, 9);
      const labels = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
      const { value, grads } = gradsByKey(model, () => {
        const out = model.forward(inputs, { training: true });
        const fused = out['logits/fused'];
        return fused
          ? crossEntropy(fused, labels)
          : (tf.add(
              crossEntropy(out['logits/audio']!, labels),
              crossEntropy(out['logits/text']!, labels),
            ) as tf.Scalar);
      });
      for (const p of model.params()) {
        const g = grads[p.key];
        expect(g, p.key).toBeDefined();
        expect(tf.max(tf.abs(g!)).dataSync()[0], p.key).toBeGreaterThan(0);
      }
      tf.dispose([value, labels, ...Object.values(grads), ...Object.values(inputs)]);
      model.dispose();
    });
  }

  if (backend === 'cpu') {
    // cpu only: conv kernel gradients (no Conv2DBackpropFilter on stock wasm); tiny sizes
    // because cpu conv backprop is slow.
    it('ResNet-18 and smallCnn encoders: gradients reach every parameter', () => {
      const model = new MultimodalModel({
        encoders: {
          audio: resnet18({ inChannels: 1, widths: [2, 2, 4, 4] }),
          visual: smallCnn({ inChannels: 3, filters: [2, 3] }),
        },
        numClasses: 2,
        head: { type: 'concat' },
      });
      const inputs = {
        audio: tf.randomNormal([2, 32, 24, 1], 0, 1, 'float32', 1),
        visual: tf.randomNormal([2, 2, 8, 8, 3], 0, 1, 'float32', 2),
      };
      const labels = tf.tensor1d([0, 1], 'int32');
      const { value, grads } = gradsByKey(model, () =>
        crossEntropy(model.forward(inputs, { training: true })['logits/fused']!, labels),
      );
      for (const p of model.params()) {
        expect(tf.max(tf.abs(grads[p.key]!)).dataSync()[0], p.key).toBeGreaterThan(0);
      }
      tf.dispose([value, labels, ...Object.values(grads), ...Object.values(inputs)]);
      model.dispose();
    });
  }

  it('toy problem: SGD on separable two-modality data reaches 100% accuracy per modality and fused', () => {
    // Class c: audio centred on 3 * e_c, text on -3 * e_c (+ noise); any working model separates it.
    const n = 30;
    const labelsArr = Array.from({ length: n }, (_, i) => i % 3);
    const labels = tf.tensor1d(labelsArr, 'int32');
    const inputs = tf.tidy(() => {
      const oh = tf.oneHot(labels, 3);
      return {
        audio: tf.add(
          tf.pad(tf.mul(oh, 3), [
            [0, 0],
            [0, 3],
          ]),
          tf.randomNormal([n, 6], 0, 0.3, 'float32', 4),
        ),
        text: tf.add(
          tf.pad(tf.mul(oh, -3), [
            [0, 0],
            [0, 1],
          ]),
          tf.randomNormal([n, 4], 0, 0.3, 'float32', 5),
        ),
      };
    });
    // Small hidden layers keep the cpu backend fast; the structure is IGM's (Dense-ReLU-Dense-Dense).
    const model = twoModality({ type: 'per-modality', hidden: SMALL_HIDDEN });
    const params = model.params();
    for (let step = 0; step < 40; step++) {
      tf.tidy(() => {
        const { grads } = gradsByKey(model, () => {
          const out = model.forward(inputs, { training: true });
          return tf.add(
            crossEntropy(out['logits/audio']!, labels),
            crossEntropy(out['logits/text']!, labels),
          ) as tf.Scalar;
        });
        for (const p of params) p.variable.assign(tf.sub(p.variable, tf.mul(grads[p.key]!, 0.1)));
      });
    }
    tf.tidy(() => {
      const out = model.forward(inputs, { training: false });
      for (const k of ['logits/audio', 'logits/text', 'probs/fused']) {
        const acc = tf
          .mean(tf.cast(tf.equal(tf.argMax(out[k]!, 1), labels), 'float32'))
          .dataSync()[0];
        expect(acc, k).toBe(1);
      }
    });
    tf.dispose([labels, ...Object.values(inputs)]);
    model.dispose();
  });

  it('no tensor leak over 200 forward+backward steps (cycling through every head type)', async () => {
    const types = ['per-modality', 'shared', 'concat', 'sum'] as const;
    const models = types.map((type) =>
      twoModality(type === 'per-modality' ? { type, hidden: SMALL_HIDDEN } : { type }),
    );
    const inputs = batch(4, 13);
    const labels = tf.tensor1d([0, 1, 2, 0], 'int32');
    await expectNoTensorLeak((i) => {
      const model = models[i % models.length]!;
      tf.tidy(() => {
        const { grads } = gradsByKey(model, () => {
          const out = model.forward(inputs, { training: true });
          return tf.addN([
            crossEntropy(out['logits/audio']!, labels),
            crossEntropy(out['logits/text']!, labels),
            ...(out['logits/fused'] ? [crossEntropy(out['logits/fused'], labels)] : []),
          ]) as tf.Scalar;
        });
        for (const p of model.params()) {
          p.variable.assign(tf.sub(p.variable, tf.mul(grads[p.key]!, 0.01)));
        }
        model.forward(inputs, { training: true, batchStatistics: 'frozen', zeroed: ['text'] });
        model.forward(inputs, { training: false, modalities: ['audio'] });
      });
    });
    tf.dispose([labels, ...Object.values(inputs)]);
    for (const m of models) m.dispose();
  });
});

describeEachBackend('construct + dispose releases every tensor', () => {
  /** Every head strategy with every fusion rule it accepts (the head type decides 'head'). */
  const CONFIGS: Array<{
    name: string;
    head?: HeadSpec;
    fusion?: MultimodalModelConfig['fusion'];
  }> = [
    { name: 'default per-modality head, mean-softmax' },
    { name: 'per-modality, sum-log-softmax', fusion: { type: 'sum-log-softmax' } },
    { name: 'per-modality, fixed', fusion: { type: 'fixed', weights: [0.55, 0.45] } },
    { name: 'per-modality, entropy (sample)', fusion: { type: 'entropy', axis: 'sample' } },
    {
      name: 'per-modality xavier, per-modality hidden, entropy (batch)',
      head: { type: 'per-modality', init: 'xavier', hidden: { audio: SMALL_HIDDEN } },
      fusion: { type: 'entropy', axis: 'batch' },
    },
    { name: 'shared, entropy (default)', head: { type: 'shared' } },
    {
      name: 'shared pytorch init, mean-softmax',
      head: { type: 'shared', init: 'pytorch' },
      fusion: { type: 'mean-softmax' },
    },
    { name: 'concat, head', head: { type: 'concat' } },
    { name: 'sum, head', head: { type: 'sum' }, fusion: { type: 'head' } },
  ];

  // The baseline is taken before the encoders are built: the model owns them, so nothing that
  // construction created may survive dispose(). No warm-up: the count must return exactly.
  it.each(CONFIGS)('$name: numTensors returns to the baseline (mlpEncoder encoders)', (config) => {
    const baseline = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const model = new MultimodalModel({
        encoders: {
          audio: mlpEncoder({ inputDim: 6, units: [8], name: 'audio_mlp' }),
          text: mlpEncoder({ inputDim: 4, units: [8], name: 'text_mlp' }),
        },
        numClasses: 3,
        seed: i,
        ...(config.head ? { head: config.head } : {}),
        ...(config.fusion ? { fusion: config.fusion } : {}),
      });
      expect(tf.memory().numTensors).toBeGreaterThan(baseline);
      model.dispose();
      expect(tf.memory().numTensors, `after model ${i + 1}`).toBe(baseline);
    }
  });

  it('convolutional encoders, BatchNorm with initial gamma/beta, and the ResNet-18 preset', () => {
    const baseline = tf.memory().numTensors;
    const withBnInit = () => {
      const input = tf.input({ shape: [3] });
      const h = new BatchNorm({
        name: 'bn_init',
        gammaInit: Float32Array.from([1, 2, 3]),
        betaInit: Float32Array.from([0, 1, 0]),
      }).apply(input) as tf.SymbolicTensor;
      return tf.model({ inputs: input, outputs: h });
    };
    const models = [
      new MultimodalModel({
        encoders: {
          audio: resnet18({ inChannels: 1, widths: [2, 2, 2, 2], init: 'igm' }),
          visual: smallCnn({ inChannels: 3, filters: [2, 3], outputDim: 4 }),
        },
        numClasses: 3,
      }),
      new MultimodalModel({ encoders: { x: withBnInit(), y: withBnInit() }, numClasses: 2 }),
      audioVisualResNet18({
        numClasses: 3,
        widths: [2, 2, 2, 2],
        head: { type: 'shared' },
        fusion: { type: 'fixed', weights: MLA_FIXED_WEIGHTS.two },
      }),
    ];
    for (const model of models) model.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });

  it('a model used for a forward pass still returns to the baseline', () => {
    const baseline = tf.memory().numTensors;
    const model = twoModality();
    const inputs = batch(3, 5);
    tf.dispose(Object.values(tf.tidy(() => model.forward(inputs, { training: true }))));
    tf.dispose(Object.values(inputs));
    model.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});

describe('MultimodalModel configuration', () => {
  // Backend-independent checks: run once, on the first configured backend.
  beforeAll(async () => {
    await useBackend(testBackends()[0]!);
  });

  it('parameter keys and groups', () => {
    const model = new MultimodalModel({
      encoders: {
        audio: resnet18({ inChannels: 1, widths: [2, 2, 2, 2] }),
        text: mlpEncoder({ inputDim: 2 }),
      },
      numClasses: 2,
    });
    const keys = model.params().map((p) => p.key);
    expect(keys).toContain('encoder/audio/conv1/kernel');
    expect(keys).toContain('encoder/audio/layer2.0.downsample.0/kernel');
    expect(keys).toContain('encoder/audio/layer4.1.bn2/gamma');
    expect(keys).toContain('head/audio/dense_0/kernel');
    expect(keys).toContain('head/text/dense_2/bias');
    expect(new Set(model.params().map((p) => p.group))).toEqual(
      new Set(['encoder/audio', 'head/audio', 'head/text']),
    );
    expect(model.nonTrainable().map((v) => v.key)).toContain(
      'encoder/audio/layer3.1.bn1/moving_variance',
    );
    model.dispose();
  });

  it('ResNet-18 has torchvision resnet18 parameter counts without fc (known answer)', () => {
    const model = new MultimodalModel({
      encoders: { visual: resnet18({ inChannels: 3 }), audio: resnet18({ inChannels: 1 }) },
      numClasses: 6,
      head: { type: 'concat' },
    });
    const rows = Object.fromEntries(model.summaryRows().map((r) => [r.group, r.params]));
    // torchvision resnet18: 11,689,512 - fc (512*1000 + 1000) = 11,176,512; 1-channel stem has
    // 2*64*49 = 6,272 fewer.
    expect(rows['encoder/visual']).toBe(11_176_512);
    expect(rows['encoder/audio']).toBe(11_170_240);
    expect(rows['fusion']).toBe(1024 * 6 + 6);
    const text = model.summary();
    expect(text).toContain('encoder/visual');
    expect(text).toContain('11,176,512');
    expect(text).toContain(`total`);
    expect(text).toContain((11_176_512 + 11_170_240 + 6150).toLocaleString('en-US'));
    model.dispose();
  });

  it('initialisation: IGM heads U(+-1/sqrt(in)); Kaiming fan_out convs; IGM BN gamma N(1, 0.02); seeded', () => {
    const a = new MultimodalModel({
      encoders: { x: resnet18({ inChannels: 3, widths: [64, 64, 64, 64], init: 'igm', seed: 3 }) },
      numClasses: 6,
      seed: 5,
    });
    const byKey = new Map(a.params().map((p) => [p.key, p.variable]));
    const k0 = Array.from(byKey.get('head/x/dense_0/kernel')!.dataSync());
    const bound = 1 / Math.sqrt(64);
    expect(Math.max(...Array.from(k0, Math.abs))).toBeLessThanOrEqual(bound);
    const var0 = k0.reduce((s, v) => s + v * v, 0) / k0.length;
    expect(var0 / ((bound * bound) / 3)).toBeCloseTo(1, 1);
    const conv = Array.from(byKey.get('encoder/x/layer1.0.conv1/kernel')!.dataSync()); // 3x3x64x64
    const convVar = conv.reduce((s, v) => s + v * v, 0) / conv.length;
    expect(convVar / (2 / (9 * 64))).toBeCloseTo(1, 1);
    const gamma = Array.from(byKey.get('encoder/x/bn1/gamma')!.dataSync());
    expect(gamma.every((g) => Math.abs(g - 1) < 0.1)).toBe(true);
    expect(gamma.some((g) => g !== 1)).toBe(true);
    const b = new MultimodalModel({
      encoders: { x: resnet18({ inChannels: 3, widths: [64, 64, 64, 64], init: 'igm', seed: 3 }) },
      numClasses: 6,
      seed: 5,
    });
    for (const p of b.params()) {
      const same = tf.tidy(() => tf.all(tf.equal(p.variable, byKey.get(p.key)!)).dataSync()[0]);
      expect(same, p.key).toBe(1);
    }
    a.dispose();
    b.dispose();
  });

  it('audioVisualResNet18 preset: MLA shared head with fixed weights, frames on visual', () => {
    const model = audioVisualResNet18({
      numClasses: 6,
      head: { type: 'shared' },
      fusion: { type: 'fixed', weights: MLA_FIXED_WEIGHTS.two },
      widths: [2, 2, 2, 4],
    });
    expect(model.modalities).toEqual(['audio', 'visual']);
    tf.tidy(() => {
      const out = model.forward(
        { audio: tf.randomNormal([2, 20, 16, 1]), visual: tf.randomNormal([2, 3, 16, 16, 3]) },
        { training: false },
      );
      expect(out['features/visual']!.shape).toEqual([2, 4]);
      expectAllClose(
        out['logits/fused']!,
        tf.add(tf.mul(out['logits/audio']!, 0.55), tf.mul(out['logits/visual']!, 0.45)),
        { atol: 1e-6 },
      );
    });
    model.dispose();
  });

  it('bad arguments throw errors that name the value and the fix', () => {
    const enc = () => ({ a: mlpEncoder({ inputDim: 3 }), b: mlpEncoder({ inputDim: 4 }) });
    expect(() => new MultimodalModel({ encoders: enc(), numClasses: 0 })).toThrow(/numClasses=0/);
    expect(
      () => new MultimodalModel({ encoders: enc(), numClasses: 2, head: { type: 'shared' } }),
    ).toThrow(/equal feature sizes.*a: 3, b: 4/);
    expect(
      () =>
        new MultimodalModel({
          encoders: enc(),
          numClasses: 2,
          head: { type: 'concat' },
          fusion: { type: 'mean-softmax' },
        }),
    ).toThrow(/fusion.type="mean-softmax" with head.type="concat"/);
    expect(
      () =>
        new MultimodalModel({
          encoders: enc(),
          numClasses: 2,
          fusion: { type: 'fixed', weights: [0.5] },
        }),
    ).toThrow(/Expected 2 weights in modality order \(a, b\)/);
    expect(() => new MultimodalModel({ encoders: { a: {} as never }, numClasses: 2 })).toThrow(
      /encoders.a is not a tf.LayersModel/,
    );
    expect(
      () => new MultimodalModel({ encoders: enc(), numClasses: 2, seeed: 1 } as never),
    ).toThrow(/unknown option\(s\) "seeed"/);
    expect(() => resnet18({ inChannels: 0 })).toThrow(IgmArgumentError);
    expect(() => smallCnn({ inChannels: 1, filters: [] })).toThrow(/filters=\[\]/);
    const model = new MultimodalModel({ encoders: enc(), numClasses: 2 });
    const x = { a: tf.zeros([2, 3]), b: tf.zeros([2, 4]) };
    expect(() => model.forward(x, { training: 'yes' } as never)).toThrow(/training=yes/);
    expect(() => model.forward(x, { training: true, modalities: ['c'] })).toThrow(
      /unknown modality "c"/,
    );
    expect(() => model.forward(x, { training: true, modalities: ['a'], zeroed: ['b'] })).toThrow(
      /zeroed modality "b" is not among/,
    );
    expect(() => model.forward({ a: x.a }, { training: true })).toThrow(/inputs.b is missing/);
    expect(() => model.forward({ a: tf.zeros([2]), b: x.b }, { training: true })).toThrow(/rank 1/);
    expect(() => model.forward(x, { training: true, batchStatistics: 'off' } as never)).toThrow(
      /batchStatistics="off"/,
    );
    tf.dispose(Object.values(x));
    model.dispose();
    expect(() => model.params()).toThrow(/disposed/);
  });
});
