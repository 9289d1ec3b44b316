import {
  createRng,
  type ForwardOptions,
  type HeadLayerInfo,
  type MultimodalModelLike,
  type Param,
} from '@igm/core';
import { describeEachBackend, expectAllClose, loadFixture, tf } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import {
  collectFeatures,
  fitLogisticRegression,
  fitStandardizer,
  LINEAR_PROBE_RECIPE,
  linearProbe,
  predictLogisticRegression,
  standardize,
} from '../src';
import { MemoryDataset } from './doubles';

interface ProbeCase {
  name: string;
  l2: number;
  numClasses: number;
  dim: number;
  xTrain: number[];
  yTrain: number[];
  xTest: number[];
  yTest: number[];
  mean: number[];
  scale: number[];
  weights: number[];
  bias: number[];
  loss: number;
  testPredictions: number[];
  testAccuracy: number;
}

const fixture = loadFixture<{ cases: ProbeCase[] }>(
  new URL('./fixtures/linear-probe.json', import.meta.url),
);

describe('fitLogisticRegression: parity with the PyTorch float64 minimiser', () => {
  for (const c of fixture.cases) {
    it(c.name, () => {
      const n = c.yTrain.length;
      const d = c.dim;
      const std = fitStandardizer(c.xTrain, n, d);
      // Both sides float64 on the same float32-representable inputs: rounding only.
      expectAllClose(std.mean, c.mean, { atol: 1e-12, rtol: 1e-12 });
      expectAllClose(std.scale, c.scale, { atol: 1e-12, rtol: 1e-12 });
      const x = standardize(std, c.xTrain, n, d);
      const fit = fitLogisticRegression(x, n, d, c.yTrain, c.numClasses, { l2: c.l2 });
      expect(fit.converged).toBe(true);
      // The objective is strictly convex: at max|grad| < 1e-6 the loss is within
      // ~|grad|^2 / (2 l2) of the minimum (5e-10 at l2 = 1e-3).
      expect(Math.abs(fit.loss - c.loss)).toBeLessThan(1e-8);
      const xTest = standardize(std, c.xTest, c.yTest.length, d);
      expect(Array.from(predictLogisticRegression(fit, xTest, c.yTest.length))).toEqual(
        c.testPredictions,
      );
      // Run to a tighter tolerance, the weights themselves agree (distance <= |grad| / l2).
      const tight = fitLogisticRegression(x, n, d, c.yTrain, c.numClasses, {
        l2: c.l2,
        tolerance: 1e-9,
        maxIterations: 500,
      });
      expectAllClose(tight.weights, c.weights, { atol: 1e-6, rtol: 0 });
      expectAllClose(tight.bias, c.bias, { atol: 1e-6, rtol: 0 });
    });
  }

  it('is deterministic: the same inputs give bit-identical weights', () => {
    const c = fixture.cases[0]!;
    const n = c.yTrain.length;
    const a = fitLogisticRegression(c.xTrain, n, c.dim, c.yTrain, c.numClasses);
    const b = fitLogisticRegression(c.xTrain, n, c.dim, c.yTrain, c.numClasses);
    expect(Array.from(a.weights)).toEqual(Array.from(b.weights));
    expect(a.iterations).toBe(b.iterations);
  });

  it('names the bad input', () => {
    expect(() => fitLogisticRegression([1, 2, 3], 2, 2, [0, 1], 2)).toThrow(
      /features have 3 values; expected n \* d = 2 \* 2 = 4/,
    );
    expect(() => fitLogisticRegression([1, 2], 2, 1, [0, 2], 2)).toThrow(
      /label 2 at row 1 is outside \[0, 1\]/,
    );
    expect(() => fitLogisticRegression([1, 2], 2, 1, [0, 1], 2, { l2: -1 })).toThrow(/l2=-1/);
  });
});

/** A model whose features are its inputs (the identity encoder), to probe known features. */
class InputFeatures implements MultimodalModelLike {
  constructor(
    readonly modalities: readonly string[],
    readonly numClasses: number,
  ) {}
  params(): Param[] {
    return [];
  }
  nonTrainable() {
    return [];
  }
  headLayers(): HeadLayerInfo[] {
    return [];
  }
  forward(inputs: Readonly<Record<string, tf.Tensor>>, _o: ForwardOptions) {
    const out: Record<string, tf.Tensor> = {};
    for (const m of this.modalities) out[`features/${m}`] = tf.clone(inputs[m]!);
    const n = inputs[this.modalities[0]!]!.shape[0]!;
    out['probs/fused'] = tf.fill([n, this.numClasses], 1 / this.numClasses);
    return out;
  }
  dispose() {}
}

/**
 * Two modalities, C classes: `separable` is 4 * onehot(y) (padded to 8 dims) + N(0, 0.1^2), so
 * linearly separable with a wide margin; `independent` is N(0, 1) whatever the label.
 */
function knownAnswerData(nTrain: number, nTest: number, C = 4) {
  const rng = createRng(7);
  const n = nTrain + nTest;
  const d = 8;
  const labels = Int32Array.from({ length: n }, (_, i) => i % C);
  const separable = new Float32Array(n * d);
  const independent = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      separable[i * d + k] = (k === labels[i] ? 4 : 0) + 0.1 * rng.normal();
      independent[i * d + k] = rng.normal();
    }
  }
  const all = Array.from({ length: n }, (_, i) => i);
  return new MemoryDataset({
    inputs: { separable, independent },
    dims: { separable: d, independent: d },
    labels,
    numClasses: C,
    splits: { train: all.slice(0, nTrain), test: all.slice(nTrain) },
  });
}

describeEachBackend('linearProbe', () => {
  it('known answers: linearly separable features -> 1.0, label-independent features -> chance', async () => {
    const C = 4;
    const nTest = 4000;
    const dataset = knownAnswerData(400, nTest, C);
    const model = new InputFeatures(['separable', 'independent'], C);
    const before = tf.memory().numTensors;
    const probe = await linearProbe(model, dataset);
    expect(tf.memory().numTensors).toBe(before);
    expect(probe.accuracy['separable']).toBe(1);
    expect(probe.trainAccuracy['separable']).toBe(1);
    // Chance is 1/C; the test accuracy of a predictor independent of the labels is a binomial
    // proportion with std sqrt(p (1 - p) / n) = 0.0068 here: allow 4 std.
    const sd = Math.sqrt((0.25 * 0.75) / nTest);
    expect(Math.abs(probe.accuracy['independent']! - 1 / C)).toBeLessThan(4 * sd);
    expect(probe.converged).toEqual({ separable: true, independent: true });
    expect(probe.trainSamples).toBe(400);
    expect(probe.testSamples).toBe(nTest);
    expect(probe.recipe).toBe(LINEAR_PROBE_RECIPE);
    expect(probe.recipe).toMatch(/L2 0\.001, L-BFGS\(10\).*10000 train rows/);
  });

  it('caps the train rows at evenly spaced positions, and is reproducible', async () => {
    const dataset = knownAnswerData(300, 100, 3);
    const model = new InputFeatures(['separable', 'independent'], 3);
    const train = await collectFeatures(model, dataset, 'train', {
      batchSize: 32,
      rows: [0, 31, 32, 299],
    });
    expect(train.n).toBe(4);
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 2]);
    const a = await linearProbe(model, dataset, { maxTrainSamples: 100 });
    const b = await linearProbe(model, dataset, { maxTrainSamples: 100, batchSize: 7 });
    expect(a.trainSamples).toBe(100);
    expect(a).toEqual(b);
  });

  it('says what is missing when the model exposes no features/<m>', async () => {
    const dataset = knownAnswerData(8, 4, 2);
    const model = new InputFeatures(['separable', 'independent'], 2);
    const bare = Object.assign(Object.create(model), {
      forward: (inputs: Record<string, tf.Tensor>, o: ForwardOptions) => {
        const out = model.forward(inputs, o);
        tf.dispose(out['features/independent']!);
        delete out['features/independent'];
        return out;
      },
    }) as MultimodalModelLike;
    await expect(linearProbe(bare, dataset)).rejects.toThrow(
      /no 2-D output "features\/independent" \(it produced features\/separable, probs\/fused\)/,
    );
  });
});
