import { createRng } from '@igm/core';
import { describe, expect, it } from 'vitest';
import { logisticObjective, objectiveScratch } from '../src/logistic-objective';

/**
 * The probe's objective as first written: one row at a time, logits then gradient. The faster
 * logisticObjective must return the same bits (every sum in the same order).
 */
function rowByRowObjective(
  theta: Float64Array,
  grad: Float64Array,
  x: Float64Array,
  labels: ArrayLike<number>,
  n: number,
  d: number,
  C: number,
  l2: number,
): number {
  grad.fill(0);
  const z = new Float64Array(C);
  const bOff = d * C;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < C; c++) z[c] = theta[bOff + c]!;
    const row = i * d;
    for (let k = 0; k < d; k++) {
      const v = x[row + k]!;
      if (v === 0) continue;
      const w = k * C;
      for (let c = 0; c < C; c++) z[c]! += v * theta[w + c]!;
    }
    let max = z[0]!;
    for (let c = 1; c < C; c++) if (z[c]! > max) max = z[c]!;
    let sum = 0;
    for (let c = 0; c < C; c++) {
      z[c] = Math.exp(z[c]! - max);
      sum += z[c]!;
    }
    const y = labels[i]!;
    loss += Math.log(sum) - Math.log(z[y]!);
    for (let c = 0; c < C; c++) z[c] = z[c]! / sum;
    z[y]! -= 1;
    for (let c = 0; c < C; c++) grad[bOff + c]! += z[c]!;
    for (let k = 0; k < d; k++) {
      const v = x[row + k]!;
      if (v === 0) continue;
      const w = k * C;
      for (let c = 0; c < C; c++) grad[w + c]! += v * z[c]!;
    }
  }
  let penalty = 0;
  for (let j = 0; j < grad.length; j++) grad[j]! /= n;
  for (let j = 0; j < bOff; j++) {
    penalty += theta[j]! * theta[j]!;
    grad[j]! += l2 * theta[j]!;
  }
  return loss / n + 0.5 * l2 * penalty;
}

/** Standardised-looking features with dead (all-zero) columns and scattered exact zeros. */
function problem(seed: number, n: number, d: number, C: number) {
  const rng = createRng(seed);
  const x = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      const dead = k % 7 === 3;
      x[i * d + k] = dead || rng.uniform() < 0.1 ? 0 : rng.normal() * (1 + (k % 3));
    }
  }
  const labels = Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * C));
  const theta = new Float64Array(d * C + C);
  for (let j = 0; j < theta.length; j++) theta[j] = rng.normal() * 0.3;
  return { x, labels, theta };
}

function bitsEqual(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let j = 0; j < a.length; j++) if (!Object.is(a[j], b[j])) return false;
  return true;
}

describe('logisticObjective', () => {
  it.each([
    [1, 2430, 64, 10],
    [2, 7, 5, 3],
    [3, 4, 1, 2],
    [4, 1, 9, 4],
    [5, 301, 33, 10],
  ])('equals the row-by-row objective bit for bit (seed %i, n %i, d %i, C %i)', (seed, n, d, C) => {
    const { x, labels, theta } = problem(seed, n, d, C);
    const scratch = objectiveScratch(n, C);
    for (const [l2, scale] of [
      [1e-3, 1],
      [0, 0],
      [1e-2, 40],
    ] as const) {
      const t = theta.map((v) => v * scale);
      const expected = new Float64Array(t.length);
      const got = new Float64Array(t.length).fill(Number.NaN);
      const f0 = rowByRowObjective(t, expected, x, labels, n, d, C, l2);
      const f1 = logisticObjective(t, got, x, labels, n, d, C, l2, scratch);
      expect(Object.is(f0, f1)).toBe(true);
      expect(bitsEqual(expected, got)).toBe(true);
    }
  });

  it('is a true gradient (central differences, float64)', () => {
    const n = 13;
    const d = 4;
    const C = 3;
    const { x, labels, theta } = problem(9, n, d, C);
    const grad = new Float64Array(theta.length);
    logisticObjective(theta, grad, x, labels, n, d, C, 1e-3);
    const h = 1e-6;
    for (let j = 0; j < theta.length; j++) {
      const plus = theta.slice();
      const minus = theta.slice();
      plus[j]! += h;
      minus[j]! -= h;
      const g = new Float64Array(theta.length);
      const numeric =
        (logisticObjective(plus, g, x, labels, n, d, C, 1e-3) -
          logisticObjective(minus, g, x, labels, n, d, C, 1e-3)) /
        (2 * h);
      // Central differences in float64 at h = 1e-6: error ~1e-9 on an objective of order 1.
      expect(Math.abs(numeric - grad[j]!)).toBeLessThan(1e-7);
    }
  });
});
