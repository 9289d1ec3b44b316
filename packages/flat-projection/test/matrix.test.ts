import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  buildFlatProjection,
  expmSymmetric,
  flatProjectionMatrix,
  lanczosExtremes,
  planExpm,
} from '../src';
import { fixture } from './fixture';

// Tolerances: T is computed in float32 (expm) or rounded to float32 (eigen) from float32 Y; the
// reference is float64. Entries of T are O(1), so 1e-5 absolute is float32 rounding (~1e-7 per
// op) with margin for the d-term sums (float32 and float64 T agree to ~1e-6:
// docs/algorithms/igm.md#flat-projection-matrix).
const ATOL = 1e-5;
const METHODS = ['expm', 'eigen'] as const;

function eye(d: number): number[][] {
  return Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) => (i === j ? 1 : 0)),
  );
}

/** Rayleigh quotients v^T T v / v^T v for random v: all lie in [lambda_min(T), lambda_max(T)]. */
function rayleighRange(t: tf.Tensor2D, samples = 64): { lo: number; hi: number } {
  const d = t.shape[0];
  const v = tf.randomNormal([d, samples], 0, 1, 'float32', 3);
  const q = tf.div(tf.sum(tf.mul(v, tf.matMul(t, v)), 0), tf.sum(tf.square(v), 0));
  const values = Array.from(q.dataSync());
  tf.dispose([v, q]);
  return { lo: Math.min(...values), hi: Math.max(...values) };
}

describeEachBackend('flatProjectionMatrix', () => {
  for (const method of METHODS) {
    for (const c of fixture.matrices) {
      it(`${method}: matches torch eigh and svd T on ${c.name} (tau ${c.tau})`, () => {
        const r = buildFlatProjection(c.Y, c.tau, { method });
        expect(['eigen', 'expm']).toContain(r.method);
        expectAllClose(r.matrix, c.T, { atol: ATOL, label: `${method} T vs eigh` });
        expectAllClose(r.matrix, c.Tsvd, { atol: ATOL, label: `${method} T vs svd` });
        expect(r.sMax).toBeCloseTo(c.sMax, 2);
        expect(Math.abs(r.sMin - c.sMin)).toBeLessThan(1e-4 * c.sMax);
        expect(r.spectrum.min).toBeCloseTo(Math.exp(-c.tau), 12);
        r.matrix.dispose();
      });
    }

    it(`${method}: T is symmetric with spectrum in [e^-tau, 1]`, () => {
      for (const c of fixture.matrices) {
        const t = flatProjectionMatrix(tf.tensor2d(c.Y), c.tau, { method });
        expectAllClose(t, tf.transpose(t), { atol: 1e-6, label: `${c.name} symmetry` });
        const { lo, hi } = rayleighRange(t);
        expect(lo).toBeGreaterThanOrEqual(Math.exp(-c.tau) - 1e-6);
        expect(hi).toBeLessThanOrEqual(1 + 1e-6);
        t.dispose();
      }
    });

    it(`${method}: a rank-1 Y damps exactly its direction by e^-tau and keeps the complement`, () => {
      const c = fixture.matrices.find((m) => m.direction)!;
      const u = tf.tensor2d(c.direction!, [c.direction!.length, 1]);
      const t = flatProjectionMatrix(c.Y, 0.4, { method });
      // T = I - (1 - e^-tau) u u^T
      const expected = tf.sub(
        tf.eye(u.shape[0]),
        tf.mul(1 - Math.exp(-0.4), tf.matMul(u, u, false, true)),
      );
      expectAllClose(t, expected, { atol: ATOL, label: 'rank-1 T' });
      expectAllClose(tf.matMul(t, u), tf.mul(u, Math.exp(-0.4)), { atol: ATOL });
      const w = tf.sub(
        tf.randomNormal([u.shape[0], 1], 0, 1, 'float32', 5),
        tf.mul(u, tf.sum(tf.mul(u, tf.randomNormal([u.shape[0], 1], 0, 1, 'float32', 5)))),
      );
      expectAllClose(tf.matMul(t, w), w, { atol: ATOL, label: 'orthogonal complement' });
      tf.dispose([u, t, expected, w]);
    });

    it(`${method}: tau = 0 gives I, and the guard gives I for Y = 0, Y ∝ I and d = 1`, () => {
      const c = fixture.matrices[0]!;
      const cases: Array<[string, number[][], number]> = [
        ['tau 0', c.Y, 0],
        ['Y = 0', eye(5).map((r) => r.map(() => 0)), 0.4],
        ['Y = 3I', eye(7).map((r) => r.map((v) => 3 * v)), 0.4],
        ['d = 1', [[2.5]], 0.4],
      ];
      for (const [label, y, tau] of cases) {
        const r = buildFlatProjection(y, tau, { method });
        expect(r.method, label).toBe('identity');
        expect(r.spectrum).toEqual({ min: 1, max: 1 });
        expectAllClose(r.matrix, eye(y.length), { atol: 0, label });
        r.matrix.dispose();
      }
    });
  }

  it('expm with a known s_min = 0 matches eigen on rank-deficient Y (n_B < d)', () => {
    for (const c of fixture.matrices.filter((m) => m.nB < m.Y.length)) {
      const r = buildFlatProjection(c.Y, c.tau, { method: 'expm', sMin: 0 });
      expect(r.method).toBe('expm');
      expect(r.sMin).toBe(0);
      expectAllClose(r.matrix, c.T, { atol: ATOL, label: c.name });
      r.matrix.dispose();
    }
  });

  it('expm falls back to eigen when float32 cannot resolve the spread (s_max/(s_max - s_min) large)', () => {
    // Y = 1000 I + diag(0..1): s_max / spread = 1001.
    const d = 6;
    const y = eye(d).map((row, i) => row.map((v) => 1000 * v + (v * i) / (d - 1)));
    const r = buildFlatProjection(y, 0.4, { method: 'expm' });
    expect(r.method).toBe('eigen');
    expect(r.note).toMatch(/fell back to eigen/);
    const expected = eye(d).map((row, i) => row.map((v) => v * Math.exp((-0.4 * i) / (d - 1))));
    expectAllClose(r.matrix, expected, { atol: ATOL });
    r.matrix.dispose();
  });

  it('rejects bad arguments with the value and the fix', () => {
    expect(() => flatProjectionMatrix([[1, 2]], 0.4)).toThrow(/square/);
    expect(() => flatProjectionMatrix(tf.zeros([2, 3]) as tf.Tensor2D, 0.4)).toThrow(/\[2,3\]/);
    expect(() => flatProjectionMatrix([[Number.NaN]], 0.4)).toThrow(/NaN/);
    expect(() => flatProjectionMatrix([[1]], -1)).toThrow(/tau=-1/);
    expect(() => flatProjectionMatrix([[1]], 0.4, { method: 'svd' as never })).toThrow(/"svd"/);
    expect(() => flatProjectionMatrix([[1]], 0.4, { temperature: 1 } as never)).toThrow(
      /"temperature"/,
    );
  });

  it('does not leak tensors over 200 builds (both methods, incl. the guard)', async () => {
    const c = fixture.matrices[2]!; // d = 16
    const y = tf.tensor2d(c.Y);
    await expectNoTensorLeak(
      (i) => {
        const t = flatProjectionMatrix(
          i % 5 === 4
            ? [
                [0, 0],
                [0, 0],
              ]
            : y,
          0.4,
          {
            method: i % 2 === 0 ? 'expm' : 'eigen',
          },
        );
        t.dispose();
      },
      { steps: 200 },
    );
    y.dispose();
  });
});

describeEachBackend('Lanczos and the matrix exponential', () => {
  it('finds the extreme eigenvalues of a known spectrum within the requested tolerance', () => {
    const d = 80;
    // Q diag(s) Q^T with s = 1..80 squared / 100 and a random orthogonal Q.
    const s = Array.from({ length: d }, (_, i) => ((i + 1) * (i + 1)) / 100);
    const [q] = tf.linalg.qr(tf.randomNormal([d, d], 0, 1, 'float32', 11));
    const y = tf.matMul(tf.mul(q!, tf.tensor1d(s)), q!, false, true) as tf.Tensor2D;
    const ys = tf.mul(tf.add(y, tf.transpose(y)), 0.5) as tf.Tensor2D;
    const r = lanczosExtremes(ys, { tolerance: () => 1e-3 });
    expect(r.converged).toBe(true);
    expect(Math.abs(r.max - s[d - 1]!)).toBeLessThan(1e-3 + 1e-5 * s[d - 1]!);
    expect(Math.abs(r.min - s[0]!)).toBeLessThan(1e-3 + 1e-5 * s[d - 1]!);
    // Inner estimates: never outside the spectrum by more than float32 noise.
    expect(r.max).toBeLessThanOrEqual(s[d - 1]! * (1 + 1e-5));
    tf.dispose([q!, y, ys]);
  });

  it('plans two matmuls for IGM (spectrum radius tau/2 = 0.2) and reproduces exp on a diagonal', () => {
    const plan = planExpm(0.2, 5e-7);
    expect(plan.degree).toBe(4);
    expect(plan.matmuls).toBe(2);
    expect(plan.errorBound).toBeLessThan(5e-7);
    const big = planExpm(6, 1e-6);
    expect(big.squarings).toBeGreaterThan(0);
    const diag = [-6, -2.5, 0, 1, 3.3, 6];
    const b = tf.diag(tf.tensor1d(diag)) as tf.Tensor2D;
    for (const [r, p] of [
      [6, big],
      [6, planExpm(6, 1e-7)],
    ] as const) {
      const e = expmSymmetric(b, p, r);
      expectAllClose(tf.sum(tf.mul(e, tf.eye(6)), 1), diag.map(Math.exp), { atol: 0, rtol: 2e-5 });
      e.dispose();
    }
    b.dispose();
  });
});
