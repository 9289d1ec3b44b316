import { IgmArgumentError } from '@igm/core';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import { accuracy, confusionMatrix, macroF1, meanAveragePrecision } from '../src';

interface MetricsCase {
  name: string;
  labels: number[];
  scores: number[][];
  numClasses: number;
  predictions: number[];
  accuracy: number;
  macroF1Present: number;
  macroF1All: number;
  perClassAP: (number | null)[];
  mAP: number;
  excludedClasses: number[];
  confusion: number[][];
}
const fixture = loadFixture<{ cases: MetricsCase[] }>(
  new URL('./fixtures/metrics.json', import.meta.url),
);

// The TS code computes in float64 from the same float64 inputs as scikit-learn; only summation
// order differs, so 1e-12 is a loose bound (measured differences are ~1e-16).
const TOL = 1e-12;

describe('metrics parity with scikit-learn (fixture)', () => {
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    expect(accuracy(c.labels, c.scores)).toBeCloseTo(c.accuracy, 12);
    expect(Math.abs(macroF1(c.labels, c.scores) - c.macroF1Present)).toBeLessThanOrEqual(TOL);
    expect(
      Math.abs(macroF1(c.labels, c.scores, { average: 'all' }) - c.macroF1All),
    ).toBeLessThanOrEqual(TOL);
    const map = meanAveragePrecision(c.labels, c.scores);
    expect(Math.abs(map.value - c.mAP)).toBeLessThanOrEqual(TOL);
    expect(map.excludedClasses).toEqual(c.excludedClasses);
    c.perClassAP.forEach((ap, k) => {
      if (ap === null) expect(map.perClass[k]).toBeNaN();
      else expect(Math.abs(map.perClass[k]! - ap)).toBeLessThanOrEqual(TOL);
    });
    expect(confusionMatrix(c.labels, c.scores)).toEqual(c.confusion);
  });

  it('covers the cases the task requires', () => {
    const names = fixture.cases.map((c) => c.name).join('|');
    expect(names).toMatch(/ties/);
    expect(names).toMatch(/absent from labels/);
    expect(names).toMatch(/never predicted/);
    expect(names).toMatch(/absent from labels and predictions/);
    const both = fixture.cases.find((c) => /labels and predictions/.test(c.name))!;
    expect(both.macroF1All).toBeLessThan(both.macroF1Present);
  });
});

describe('metrics on toys with known answers', () => {
  // labels 0 0 1 1 2, predictions 0 1 1 1 0.
  const labels = [0, 0, 1, 1, 2];
  const probs = [
    [0.9, 0.1, 0],
    [0.2, 0.7, 0.1],
    [0.1, 0.8, 0.1],
    [0.3, 0.6, 0.1],
    [0.5, 0.2, 0.3],
  ];

  it('accuracy and confusion matrix', () => {
    expect(accuracy(labels, probs)).toBe(3 / 5);
    expect(confusionMatrix(labels, probs)).toEqual([
      [1, 1, 0],
      [0, 2, 0],
      [1, 0, 0],
    ]);
  });

  it('macro-F1 counts a never-predicted class as 0', () => {
    // F1_0 = 2/(2+1+1) = 1/2, F1_1 = 4/(4+1) = 4/5, F1_2 = 0 (never predicted).
    expect(macroF1(labels, probs)).toBeCloseTo((0.5 + 0.8 + 0) / 3, 15);
  });

  it("macro-F1 'all' vs 'present' with a class absent from both", () => {
    // numClasses = 4: class 3 is neither a label nor a prediction.
    expect(macroF1(labels, probs, { numClasses: 4 })).toBeCloseTo(1.3 / 3, 15);
    expect(macroF1(labels, probs, { numClasses: 4, average: 'all' })).toBeCloseTo(1.3 / 4, 15);
  });

  it('AP groups tied scores into one threshold', () => {
    // Class 0 scores [0.9, 0.2, 0.1, 0.3, 0.5], positives at 0 and 1.
    // Thresholds 0.9 (P=1, R=1/2), 0.5, 0.3, 0.2 (4 seen, 2 tp: P=1/2, R=1): AP = 1/2 + 1/4.
    const r = meanAveragePrecision(labels, probs);
    expect(r.perClass[0]).toBeCloseTo(0.75, 15);
    // Two samples tied at the top, one positive among them: one threshold with P = 1/2, R = 1.
    const tied = meanAveragePrecision(
      [1, 0, 0],
      [
        [0.4, 0.6],
        [0.4, 0.6],
        [0.9, 0.1],
      ],
    );
    expect(tied.perClass[1]).toBeCloseTo(0.5, 15);
    // Class 0: 0.9 (positive: P=1, R=1/2), then the tie at 0.4 (one positive: P=2/3, R=1).
    expect(tied.perClass[0]).toBeCloseTo(0.5 + 0.5 * (2 / 3), 15);
  });

  it('excludes classes without positives from the mean and reports them', () => {
    const r = meanAveragePrecision(
      [0, 0, 1],
      [
        [0.7, 0.2, 0.1],
        [0.6, 0.3, 0.1],
        [0.1, 0.8, 0.1],
      ],
    );
    expect(r.excludedClasses).toEqual([2]);
    expect(r.perClass[2]).toBeNaN();
    expect(r.value).toBe(1);
  });

  it('argmax ties go to the first column', () => {
    expect(
      accuracy(
        [0, 1],
        [
          [0.5, 0.5],
          [0.5, 0.5],
        ],
      ),
    ).toBe(0.5);
  });
});

describe('metrics argument checks', () => {
  it('rejects bad shapes, labels and options with clear errors', () => {
    expect(() => accuracy([], [])).toThrow(/0 labels/);
    expect(() => accuracy([0, 1], [[1, 0]])).toThrow(/1 rows but there are 2 labels/);
    expect(() => accuracy([0, 1], [[1, 0], [1]])).toThrow(/row 1 has length 1/);
    expect(() =>
      accuracy(
        [0, 2],
        [
          [1, 0],
          [0, 1],
        ],
      ),
    ).toThrow(/labels\[1\] = 2.*\[0, 1\]/);
    expect(() =>
      accuracy(
        [0, 0.5],
        [
          [1, 0],
          [0, 1],
        ],
      ),
    ).toThrow(IgmArgumentError);
    expect(() =>
      accuracy(
        [0, -1],
        [
          [1, 0],
          [0, 1],
        ],
      ),
    ).toThrow(/labels\[1\] = -1/);
    expect(() => accuracy([0, 1], Float32Array.from([1, 0, 0]))).toThrow(/length 3.*2 rows/);
    expect(() =>
      accuracy(
        [0, 1],
        [
          [1, Number.NaN],
          [0, 1],
        ],
      ),
    ).toThrow(/scores\[0\]\[1\] is NaN/);
    expect(() => macroF1([0], [[1, 0]], { average: 'macro' as 'all' })).toThrow(
      /average="macro".*"present", "all"/,
    );
    expect(() => macroF1([0], [[1, 0]], { numClasses: 1 })).toThrow(/numClasses=1/);
    expect(() => macroF1([0], [[1, 0]], { classes: 2 } as object)).toThrow(
      /unknown option.*"classes"/,
    );
  });
});

describeEachBackend('metrics on tensors', () => {
  it('reads Tensor1D labels and Tensor2D scores (and flat Float32Array) like arrays', () => {
    const c = fixture.cases[0]!;
    const y = tf.tensor1d(c.labels, 'int32');
    const p = tf.tensor2d(c.scores);
    const flat = Float32Array.from(c.scores.flat());
    // Float32 scores: argmax and AP ranks as float32 rounding of the same scores.
    const expected = {
      acc: accuracy(c.labels, flat),
      f1: macroF1(c.labels, flat),
      map: meanAveragePrecision(c.labels, flat).value,
    };
    expect(accuracy(y, p)).toBe(expected.acc);
    expect(macroF1(y, p)).toBe(expected.f1);
    expect(meanAveragePrecision(y, p).value).toBe(expected.map);
    expect(accuracy(Int32Array.from(c.labels), flat)).toBe(expected.acc);
    // float32 rounding changes no ranking in this fixture: equal to the float64 reference.
    expectAllClose(
      [expected.acc, expected.f1, expected.map],
      [c.accuracy, c.macroF1Present, c.mAP],
      {
        atol: 1e-6,
      },
    );
    expect(() => accuracy(tf.tensor2d([[0]]) as unknown as tf.Tensor1D, p)).toThrow(/rank-1/);
    expect(() => accuracy(y, tf.tensor1d([1]) as unknown as tf.Tensor2D)).toThrow(/shape \[1\]/);
    tf.dispose([y, p]);
  });

  it('leaks no tensors', async () => {
    const y = tf.tensor1d([0, 1, 1], 'int32');
    const p = tf.tensor2d([
      [0.7, 0.3],
      [0.2, 0.8],
      [0.6, 0.4],
    ]);
    await expectNoTensorLeak(() => {
      accuracy(y, p);
      macroF1(y, p);
      meanAveragePrecision(y, p);
      confusionMatrix(y, p);
    });
    tf.dispose([y, p]);
  });
});
