/**
 * Cases for the fused bias + activation (IgmBiasActivation + its gradient kernel), shared by the
 * cpu tests here and the wasm tests of @igm/wasm-training: the output and the gradients of z and
 * the bias of sum(w * biasActivation(z, b, act)) for a random weighting w (so dy is neither 1 nor
 * uniform), read back as plain arrays to compare runs with and without the kernels bit for bit.
 */
import { tf } from '@igm/test-utils';
import { expect } from 'vitest';
import { biasActivation, type DenseActivation } from '../src';

export interface BiasActivationCase {
  name: string;
  shape: number[];
  /** Entries of z set after drawing (flat index, value): NaN, infinities, -0, exact cancellations. */
  specials?: Array<[number, number]>;
}

export const BIAS_ACTIVATION_CASES: BiasActivationCase[] = [
  { name: 'one unit', shape: [1, 1] },
  { name: 'odd widths', shape: [5, 7] },
  { name: 'MLP layer', shape: [64, 64] },
  { name: 'IGM head layer', shape: [64, 256] },
  { name: 'rank 3 (two leading axes)', shape: [3, 4, 6] },
  {
    name: 'NaN, infinities, signed zeros',
    shape: [4, 5],
    specials: [
      [0, Number.NaN],
      [3, Number.POSITIVE_INFINITY],
      [6, Number.NEGATIVE_INFINITY],
      [8, -0],
      [9, 0],
    ],
  },
];

export interface BiasActivationRecord {
  out: number[];
  dz: number[];
  dBias: number[];
}

/** The record of a case on the active backend, from a fixed seed. */
export function runBiasActivationCase(
  c: BiasActivationCase,
  activation: DenseActivation,
  seed: number,
): BiasActivationRecord {
  const units = c.shape[c.shape.length - 1]!;
  const [z, b, w] = tf.tidy(() => {
    const data = Float32Array.from(tf.randomNormal(c.shape, 0, 1, 'float32', seed).dataSync());
    for (const [i, v] of c.specials ?? []) data[i] = v;
    const bias = Float32Array.from(tf.randomNormal([units], 0, 1, 'float32', seed + 1).dataSync());
    // A bias that cancels z exactly (z + b = 0) at one entry per row, when there are two units.
    if (units > 1) bias[1] = -data[1]!;
    return [
      tf.tensor(data, c.shape),
      tf.tensor1d(bias),
      tf.randomNormal(c.shape, 0, 1, 'float32', seed + 2),
    ];
  });
  const f = (zi: tf.Tensor, bi: tf.Tensor) =>
    tf.sum(tf.mul(w!, biasActivation(zi, bi, activation)));
  const out = tf.tidy(() => Array.from(biasActivation(z!, b!, activation).dataSync()));
  const [dz, dBias] = tf.grads(f)([z!, b!]);
  const record = {
    out,
    dz: Array.from(dz!.dataSync()),
    dBias: Array.from(dBias!.dataSync()),
  };
  tf.dispose([z!, b!, w!, dz!, dBias!]);
  return record;
}

/** Same bits (NaN matches NaN, +0 differs from -0). */
export function expectSameBiasActivationRecords(
  actual: BiasActivationRecord,
  expected: BiasActivationRecord,
  label: string,
): void {
  const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  for (const key of ['out', 'dz', 'dBias'] as const) {
    expect(actual[key].length, `${label}: ${key} length`).toBe(expected[key].length);
    const bad = actual[key].findIndex((a, i) => !same(a, expected[key][i]!));
    expect(
      bad,
      bad < 0 ? '' : `${label}: ${key}[${bad}] ${actual[key][bad]} vs ${expected[key][bad]}`,
    ).toBe(-1);
  }
}
