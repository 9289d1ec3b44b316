/**
 * Cases for the fused softmax cross-entropy (IgmSoftmaxCrossEntropy + its gradient kernel), shared
 * by the cpu tests here and the wasm tests of @igm/wasm-training: each case is the loss and the
 * logits' gradient of `dy * softmaxCrossEntropy(logits, labels)`, read back as plain arrays so
 * that runs with and without the fused kernels can be compared bit for bit.
 */
import { tf } from '@igm/test-utils';
import { expect } from 'vitest';
import { softmaxCrossEntropy } from '../src';

export interface CrossEntropyCase {
  name: string;
  batch: number;
  classes: number;
  /** Logit scale: 0.01 gives nearly uniform rows, 50 nearly one-hot ones. */
  scale: number;
  /** The loss's upstream gradient (the loss is multiplied by it). */
  dy: number;
  /** Labels: in range, or with some outside [0, C) (zero one-hot rows). */
  labels: 'in-range' | 'some-outside';
  /** Entries set to NaN / +-Infinity after drawing (row, column, value). */
  specials?: Array<[number, number, number]>;
}

export const CROSS_ENTROPY_CASES: CrossEntropyCase[] = [
  { name: 'one row, two classes', batch: 1, classes: 2, scale: 1, dy: 1, labels: 'in-range' },
  { name: 'MLP batch', batch: 64, classes: 10, scale: 2, dy: 1, labels: 'in-range' },
  {
    name: 'odd sizes, small logits',
    batch: 37,
    classes: 7,
    scale: 0.01,
    dy: 0.5,
    labels: 'in-range',
  },
  {
    name: 'large logits, negative dy',
    batch: 19,
    classes: 13,
    scale: 50,
    dy: -3.7,
    labels: 'in-range',
  },
  { name: 'labels outside [0, C)', batch: 23, classes: 5, scale: 3, dy: 1, labels: 'some-outside' },
  { name: 'tiny dy', batch: 12, classes: 3, scale: 1, dy: 1e-3, labels: 'in-range' },
  {
    name: 'NaN and infinite logits',
    batch: 6,
    classes: 4,
    scale: 1,
    dy: 1,
    labels: 'in-range',
    specials: [
      [1, 2, Number.NaN],
      [3, 0, Number.POSITIVE_INFINITY],
      [4, 3, Number.NEGATIVE_INFINITY],
    ],
  },
];

export interface CrossEntropyRecord {
  loss: number;
  dLogits: number[];
}

/** Logits and labels of a case, from a fixed seed per case. */
export function caseInputs(
  c: CrossEntropyCase,
  seed: number,
): { logits: tf.Tensor2D; labels: tf.Tensor1D } {
  return tf.tidy(() => {
    const values = tf.mul(tf.randomNormal([c.batch, c.classes], 0, 1, 'float32', seed), c.scale);
    const data = Float32Array.from(values.dataSync());
    for (const [r, col, v] of c.specials ?? []) data[r * c.classes + col] = v;
    const labels = Array.from({ length: c.batch }, (_, i) => {
      const y = (i * 7 + seed) % c.classes;
      return c.labels === 'some-outside' && i % 4 === 1 ? (i % 8 === 1 ? -1 : c.classes + i) : y;
    });
    return {
      logits: tf.tensor2d(data, [c.batch, c.classes]),
      labels: tf.tensor1d(labels, 'int32'),
    };
  });
}

/** Loss and gradient of `dy * softmaxCrossEntropy(logits, labels)` on the active backend. */
export function runCrossEntropyCase(c: CrossEntropyCase, seed: number): CrossEntropyRecord {
  const { logits, labels } = caseInputs(c, seed);
  const v = tf.variable(logits, true, `ce_logits_${c.name}_${seed}`);
  const out = tf.variableGrads(
    () => tf.mul(softmaxCrossEntropy(v, labels), c.dy) as tf.Scalar,
    [v],
  );
  const record = {
    loss: out.value.dataSync()[0]!,
    dLogits: Array.from(out.grads[v.name]!.dataSync()),
  };
  tf.dispose([out.value, out.grads[v.name]!, v, logits, labels]);
  return record;
}

/** Same bits (NaN matches NaN, +0 differs from -0). */
export function expectSameCrossEntropyRecords(
  actual: CrossEntropyRecord,
  expected: CrossEntropyRecord,
  label: string,
): void {
  const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  expect(
    same(actual.loss, expected.loss),
    `${label}: loss ${actual.loss} vs ${expected.loss}`,
  ).toBe(true);
  expect(actual.dLogits.length).toBe(expected.dLogits.length);
  const bad = actual.dLogits.findIndex((a, i) => !same(a, expected.dLogits[i]!));
  expect(
    bad,
    bad < 0 ? '' : `${label}: dLogits[${bad}] ${actual.dLogits[bad]} vs ${expected.dLogits[bad]}`,
  ).toBe(-1);
}
