/**
 * Parity with the independent PyTorch reference (tools/reference/models/make_fixtures.py).
 * Tolerance 1e-5 absolute: the reference runs in float64 from the same float32 weights, so the
 * difference is float32 rounding of O(1) activations through a few layers (~1e-6).
 *
 * Conv-kernel gradients are checked on cpu only: stock tfjs-backend-wasm 4.22 has no
 * Conv2DBackpropFilter kernel (another package adds it), and cpu conv backprop is slow, so the
 * conv models here are tiny.
 */
import { describeEachBackend, expectAllClose, loadFixture, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import type { FusionRule } from '../src/index';
import { BatchNorm, MultimodalModel, mlpEncoder, resnet18, smallCnn } from '../src/index';
import { crossEntropy, gradsByKey, loadWeights, variableMap } from './helpers';

type Nested = number | number[] | number[][] | number[][][] | number[][][][];
const TOL = { atol: 1e-5, rtol: 1e-5 };

/**
 * Gradient tolerance: 1e-5 relative to the tensor's largest entry (at least 1e-5 absolute).
 * Float32 rounding of a gradient that sums many products scales with the magnitudes summed:
 * for the ResNet fixture torch's own float32 run differs from float64 by 3.8e-5 on the stem
 * kernel, whose largest entry is 16.6.
 */
function gradTol(expected: Nested, label: string) {
  const flat = [expected].flat(Infinity as 1) as number[];
  const scale = Math.max(1, ...flat.map(Math.abs));
  return { atol: 1e-5 * scale, rtol: 1e-5, label };
}

interface PerModality {
  numClasses: number;
  params: Record<string, Nested>;
  nonTrainable: Record<string, Nested>;
  inputs: { a: Nested; b: Nested };
  labels: number[];
  train: {
    features: { a: Nested; b: Nested };
    logits: { a: Nested; b: Nested };
    headInputs: { a: Nested[]; b: Nested[] };
    loss: number;
    grads: Record<string, Nested>;
    fused: Record<string, Nested>;
    nonTrainableAfter: Record<string, Nested>;
  };
  eval: { logits: { a: Nested; b: Nested } };
}

const perModality = loadFixture<PerModality>(
  new URL('./fixtures/per_modality.json', import.meta.url),
);

function buildPerModality(fusion?: FusionRule): MultimodalModel {
  const model = new MultimodalModel({
    encoders: {
      a: mlpEncoder({ inputDim: 5, units: [4] }),
      b: smallCnn({ inChannels: 1, inputShape: [6, 6], filters: [2, 3] }),
    },
    numClasses: perModality.numClasses,
    head: {
      type: 'per-modality',
      hidden: [{ units: 5, activation: 'relu' }, { units: 4 }],
    },
    ...(fusion ? { fusion } : {}),
  });
  loadWeights(model, { ...perModality.params, ...perModality.nonTrainable });
  return model;
}

function perModalityInputs(): Record<string, tf.Tensor> {
  return {
    a: tf.tensor(perModality.inputs.a as number[][]),
    b: tf.tensor(perModality.inputs.b as number[][][][]),
  };
}

describeEachBackend('parity: per-modality heads, frames, fusion rules', (backend) => {
  it('training forward: features, head inputs, logits; BN stats updated as torch', () => {
    const model = buildPerModality();
    tf.tidy(() => {
      const out = model.forward(perModalityInputs(), { training: true });
      for (const m of ['a', 'b'] as const) {
        expectAllClose(out[`features/${m}`]!, perModality.train.features[m], {
          ...TOL,
          label: `features/${m}`,
        });
        expectAllClose(out[`logits/${m}`]!, perModality.train.logits[m], {
          ...TOL,
          label: `logits/${m}`,
        });
        perModality.train.headInputs[m].forEach((v, i) => {
          expectAllClose(out[`input/head/${m}/${i}`]!, v, {
            ...TOL,
            label: `input/head/${m}/${i}`,
          });
        });
      }
      expectAllClose(out['probs/fused']!, perModality.train.fused['mean-softmax']!, TOL);
    });
    const vars = variableMap(model);
    for (const [k, v] of Object.entries(perModality.train.nonTrainableAfter)) {
      expectAllClose(vars.get(k)!, v, { ...TOL, label: k });
    }
    tf.tidy(() => {
      const out = model.forward(perModalityInputs(), { training: false });
      expectAllClose(out['logits/a']!, perModality.eval.logits.a, {
        ...TOL,
        label: 'eval logits/a',
      });
      expectAllClose(out['logits/b']!, perModality.eval.logits.b, {
        ...TOL,
        label: 'eval logits/b',
      });
    });
    model.dispose();
  });

  const rules: Array<[string, FusionRule]> = [
    ['mean-softmax', { type: 'mean-softmax' }],
    ['fixed', { type: 'fixed', weights: { a: 0.55, b: 0.45 } }],
    ['entropy-sample', { type: 'entropy', axis: 'sample' }],
    ['entropy-batch', { type: 'entropy', axis: 'batch' }],
  ];
  for (const [name, rule] of rules) {
    it(`fusion rule ${name}: probs/fused`, () => {
      const model = buildPerModality(rule);
      tf.tidy(() => {
        const out = model.forward(perModalityInputs(), { training: true });
        expectAllClose(out['probs/fused']!, perModality.train.fused[name]!, {
          ...TOL,
          label: name,
        });
      });
      model.dispose();
    });
  }

  if (backend === 'cpu') {
    // cpu only: conv kernel gradients (no Conv2DBackpropFilter on stock wasm).
    it('gradients of CE(a) + CE(b) w.r.t. every parameter', () => {
      const model = buildPerModality();
      const inputs = perModalityInputs();
      const labels = tf.tensor1d(perModality.labels, 'int32');
      const { value, grads } = gradsByKey(model, () => {
        const out = model.forward(inputs, { training: true });
        return tf.add(
          crossEntropy(out['logits/a']!, labels),
          crossEntropy(out['logits/b']!, labels),
        ) as tf.Scalar;
      });
      expectAllClose(value, perModality.train.loss, TOL);
      expect(Object.keys(grads).sort()).toEqual(Object.keys(perModality.train.grads).sort());
      for (const [k, g] of Object.entries(perModality.train.grads)) {
        expectAllClose(grads[k]!, g, { ...TOL, label: `grad ${k}` });
      }
      tf.dispose([value, ...Object.values(grads), ...Object.values(inputs), labels]);
      model.dispose();
    });
  }
});

interface FusionHeads {
  numClasses: number;
  inputs: { a: Nested; b: Nested };
  labels: number[];
  concat: {
    params: Record<string, Nested>;
    logits: Record<string, Nested>;
    loss: number;
    grads: Record<string, Nested>;
  };
  sum: {
    params: Record<string, Nested>;
    logits: Record<string, Nested>;
    evalLogits: Record<string, Nested>;
    loss: number;
    grads: Record<string, Nested>;
  };
}

const fusionHeads = loadFixture<FusionHeads>(
  new URL('./fixtures/fusion_heads.json', import.meta.url),
);

describeEachBackend('parity: concat and sum fusion heads', () => {
  for (const type of ['concat', 'sum'] as const) {
    it(`${type}: fused and per-modality logits, gradients of CE(fused)`, () => {
      const fx = fusionHeads[type];
      const model = new MultimodalModel({
        encoders: {
          a: mlpEncoder({ inputDim: 5, units: [4] }),
          b: mlpEncoder({ inputDim: 3, units: [6] }),
        },
        numClasses: fusionHeads.numClasses,
        head: { type },
      });
      loadWeights(model, fx.params);
      const inputs = {
        a: tf.tensor(fusionHeads.inputs.a as number[][]),
        b: tf.tensor(fusionHeads.inputs.b as number[][]),
      };
      const labels = tf.tensor1d(fusionHeads.labels, 'int32');
      tf.tidy(() => {
        const out = model.forward(inputs, { training: true });
        for (const k of ['fused', 'a', 'b']) {
          expectAllClose(out[`logits/${k}`]!, fx.logits[k]!, { ...TOL, label: `logits/${k}` });
        }
        expectAllClose(
          out['probs/fused']!,
          tf.softmax(tf.tensor(fx.logits['fused'] as number[][])),
          TOL,
        );
      });
      if (type === 'sum') {
        tf.tidy(() => {
          const out = model.forward(inputs, { training: false });
          for (const k of ['a', 'b']) {
            expectAllClose(out[`logits/${k}`]!, fusionHeads.sum.evalLogits[k]!, {
              ...TOL,
              label: `eval logits/${k}`,
            });
          }
        });
      }
      const { value, grads } = gradsByKey(model, () =>
        crossEntropy(model.forward(inputs, { training: true })['logits/fused']!, labels),
      );
      expectAllClose(value, fx.loss, TOL);
      for (const [k, g] of Object.entries(fx.grads)) {
        expectAllClose(grads[k]!, g, { ...TOL, label: `grad ${k}` });
      }
      tf.dispose([value, ...Object.values(grads), ...Object.values(inputs), labels]);
      model.dispose();
    });
  }
});

interface BatchNormFixture {
  params: Record<string, number[]>;
  nonTrainable: Record<string, number[]>;
  x1: Nested;
  x2: Nested;
  x3: Nested;
  r: Nested;
  y1: Nested;
  y2: Nested;
  y3: Nested;
  grads: { x: Nested; 'bn/gamma': number[]; 'bn/beta': number[] };
  after1: Record<string, number[]>;
  after2: Record<string, number[]>;
}

const bnFx = loadFixture<BatchNormFixture>(new URL('./fixtures/batchnorm.json', import.meta.url));

describeEachBackend('parity: BatchNorm vs torch BatchNorm2d (momentum 0.1, eps 1e-5)', () => {
  it('training outputs, unbiased running-variance update, inference outputs, gradients', () => {
    const layer = new BatchNorm({ name: 'bn' });
    layer.build([null, null, null, 3]);
    // build() outside apply() has no name scope: weights are 'gamma', ...; the fixture says 'bn/gamma'.
    const byName = new Map(layer.weights.map((w) => [`bn/${w.originalName}`, w]));
    for (const [k, v] of Object.entries({ ...bnFx.params, ...bnFx.nonTrainable })) {
      const t = tf.tensor1d(v);
      byName.get(k)!.write(t);
      t.dispose();
    }
    const x1 = tf.tensor(bnFx.x1 as number[][][][]);
    const r = tf.tensor(bnFx.r as number[][][][]);
    const gamma = byName.get('bn/gamma')!.read() as tf.Variable;
    const beta = byName.get('bn/beta')!.read() as tf.Variable;
    let y1: tf.Tensor | undefined;
    const { grads, value } = tf.tidy(() => {
      const f = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
        void g;
        void b;
        const y = layer.apply(x, { training: true }) as tf.Tensor;
        y1 = tf.keep(tf.clone(y));
        return tf.sum(tf.mul(y, r)) as tf.Scalar;
      };
      const value = tf.keep(tf.tidy(() => f(x1, gamma, beta)));
      // Gradients w.r.t. the input and the affine parameters, on a fresh pass with frozen stats
      // (the statistics were updated once above).
      const gx = tf.grad(
        (x: tf.Tensor) =>
          tf.sum(
            tf.mul(layer.apply(x, { training: true, batchStatistics: 'frozen' }) as tf.Tensor, r),
          ) as tf.Scalar,
      )(x1);
      const vg = tf.variableGrads(
        () =>
          tf.sum(
            tf.mul(layer.apply(x1, { training: true, batchStatistics: 'frozen' }) as tf.Tensor, r),
          ) as tf.Scalar,
        [gamma, beta],
      );
      return {
        value,
        grads: {
          x: tf.keep(gx),
          gamma: tf.keep(vg.grads[gamma.name]!),
          beta: tf.keep(vg.grads[beta.name]!),
        },
      };
    });
    expectAllClose(y1!, bnFx.y1, { ...TOL, label: 'y1' });
    // A frozen training forward is the same batch-statistics normalisation (stats untouched).
    const before = byName.get('bn/moving_mean')!.read().dataSync().slice();
    tf.tidy(() => {
      const yf = layer.apply(x1, { training: true, batchStatistics: 'frozen' }) as tf.Tensor;
      expectAllClose(yf, bnFx.y1, { ...TOL, label: 'y1 (frozen)' });
    });
    expect(byName.get('bn/moving_mean')!.read().dataSync()).toEqual(before);
    for (const [k, v] of Object.entries(bnFx.after1)) {
      expectAllClose(byName.get(k)!.read(), v, { ...TOL, label: `after1 ${k}` });
    }
    expectAllClose(grads.x, bnFx.grads.x, { ...TOL, label: 'grad x' });
    expectAllClose(grads.gamma, bnFx.grads['bn/gamma'], { ...TOL, label: 'grad gamma' });
    expectAllClose(grads.beta, bnFx.grads['bn/beta'], { ...TOL, label: 'grad beta' });
    tf.tidy(() => {
      const y2 = layer.apply(tf.tensor(bnFx.x2 as number[][][][]), { training: true }) as tf.Tensor;
      expectAllClose(y2, bnFx.y2, { ...TOL, label: 'y2' });
    });
    for (const [k, v] of Object.entries(bnFx.after2)) {
      expectAllClose(byName.get(k)!.read(), v, { ...TOL, label: `after2 ${k}` });
    }
    tf.tidy(() => {
      const y3 = layer.apply(tf.tensor(bnFx.x3 as number[][][][]), {
        training: false,
      }) as tf.Tensor;
      expectAllClose(y3, bnFx.y3, { ...TOL, label: 'y3 (inference)' });
    });
    tf.dispose([x1, r, y1!, value, grads.x, grads.gamma, grads.beta]);
  });
});

interface ResNetFixture {
  params: Record<string, Nested>;
  nonTrainable: Record<string, Nested>;
  x: Nested;
  r: Nested;
  train: Nested;
  grads: Record<string, Nested>;
  nonTrainableAfter: Record<string, Nested>;
  eval: Nested;
}

const resFx = loadFixture<ResNetFixture>(new URL('./fixtures/resnet.json', import.meta.url));

describeEachBackend('parity: ResNet-18 (widths 4-4-8-8, odd 37x41 input)', (backend) => {
  function build(): MultimodalModel {
    const model = new MultimodalModel({
      encoders: { x: resnet18({ inChannels: 1, widths: [4, 4, 8, 8] }) },
      numClasses: 2,
    });
    const prefixed = (rec: Record<string, Nested>) =>
      Object.fromEntries(Object.entries(rec).map(([k, v]) => [`encoder/x/${k}`, v]));
    loadWeights(
      model,
      { ...prefixed(resFx.params), ...prefixed(resFx.nonTrainable) },
      { strict: false },
    );
    return model;
  }

  it('training and inference features; BN statistics after one update', () => {
    const model = build();
    const x = tf.tensor(resFx.x as number[][][][]);
    tf.tidy(() => {
      expectAllClose(model.forward({ x }, { training: true })['features/x']!, resFx.train, {
        ...TOL,
        label: 'train features',
      });
    });
    const vars = variableMap(model);
    for (const [k, v] of Object.entries(resFx.nonTrainableAfter)) {
      expectAllClose(vars.get(`encoder/x/${k}`)!, v, { ...TOL, label: k });
    }
    tf.tidy(() => {
      expectAllClose(model.forward({ x }, { training: false })['features/x']!, resFx.eval, {
        ...TOL,
        label: 'eval features',
      });
    });
    x.dispose();
    model.dispose();
  });

  if (backend === 'cpu') {
    // cpu only: conv kernel gradients (no Conv2DBackpropFilter on stock wasm).
    it('gradients of sum(features * r) w.r.t. every conv and BN parameter', () => {
      const model = build();
      const x = tf.tensor(resFx.x as number[][][][]);
      const r = tf.tensor(resFx.r as number[][]);
      const { value, grads } = gradsByKey(
        model,
        () =>
          tf.sum(tf.mul(model.forward({ x }, { training: true })['features/x']!, r)) as tf.Scalar,
      );
      for (const [k, g] of Object.entries(resFx.grads)) {
        expectAllClose(grads[`encoder/x/${k}`]!, g, gradTol(g, `grad ${k}`));
      }
      tf.dispose([value, ...Object.values(grads), x, r]);
      model.dispose();
    });
  }
});
