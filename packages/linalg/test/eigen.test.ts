import { createRng, IgmArgumentError } from '@igm/core';
import { expectAllClose, loadFixture } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import { matmulF64, symmetricEigen, symmetricMatrixFunction } from '../src';

interface EigenCase {
  name: string;
  n: number;
  matrix: number[];
  values: number[];
}
const fixture = loadFixture<{ cases: EigenCase[] }>(
  new URL('./fixtures/eigen.json', import.meta.url),
);

function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = rng.normal();
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

function frob(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j]!;
  return t;
}

/** ||A V - V diag(values)||_F / ||A||_F (absolute when A = 0) and ||VᵀV - I||_F. */
function residuals(a: Float64Array, n: number): { rel: number; orth: number } {
  const { values, vectors } = symmetricEigen(a, n);
  expect(values.length).toBe(n);
  for (let j = 1; j < n; j++) expect(values[j]!).toBeGreaterThanOrEqual(values[j - 1]!);
  const av = matmulF64(a, vectors, n, n, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) av[i * n + j]! -= vectors[i * n + j]! * values[j]!;
  const na = frob(a);
  const vtv = matmulF64(transpose(vectors, n), vectors, n, n, n);
  for (let i = 0; i < n; i++) vtv[i * n + i]! -= 1;
  return { rel: na === 0 ? frob(av) : frob(av) / na, orth: frob(vtv) };
}

// Tolerance 1e-10 (the task's accuracy bar); Householder + QL is backward stable, so the
// measured residuals are ~1e-15 * sqrt(n).
const TOL = 1e-10;

describe('symmetricEigen', () => {
  it.each([1, 2, 5, 64, 200])('random symmetric n=%i: residual and orthogonality', (n) => {
    const { rel, orth } = residuals(randomSymmetric(n, 100 + n), n);
    expect(rel).toBeLessThanOrEqual(TOL);
    expect(orth).toBeLessThanOrEqual(TOL);
  });

  it('diagonal matrix: eigenvalues are the sorted diagonal, eigenvectors a permutation', () => {
    const diag = [3, -1, 7, 0, 2];
    const n = diag.length;
    const a = new Float64Array(n * n);
    diag.forEach((v, i) => {
      a[i * n + i] = v;
    });
    const { values, vectors } = symmetricEigen(a);
    expectAllClose(values, [-1, 0, 2, 3, 7], { atol: 1e-15 });
    for (let j = 0; j < n; j++) {
      const src = diag.indexOf(values[j]!);
      for (let i = 0; i < n; i++) expect(Math.abs(vectors[i * n + j]!)).toBe(i === src ? 1 : 0);
    }
  });

  it('repeated eigenvalues: orthonormal basis of each eigenspace', () => {
    // A = 2 I + 3 u uᵀ (u unit): eigenvalue 2 with multiplicity n-1 and 5 once.
    const n = 30;
    const rng = createRng(7);
    const u = Array.from({ length: n }, () => rng.normal());
    const nu = Math.hypot(...u);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i * n + j] = (i === j ? 2 : 0) + (3 * u[i]! * u[j]!) / nu ** 2;
    }
    const { values } = symmetricEigen(a);
    expectAllClose(values, [...Array(n - 1).fill(2), 5], { atol: 1e-13 });
    const { rel, orth } = residuals(a, n);
    expect(rel).toBeLessThanOrEqual(TOL);
    expect(orth).toBeLessThanOrEqual(TOL);
  });

  it('rank-1 matrix x xᵀ: one eigenvalue ||x||², the rest 0, top eigenvector ±x/||x||', () => {
    const x = [1, -2, 3, 0.5, 4, -1];
    const n = x.length;
    const a = x.map((xi) => x.map((xj) => xi * xj));
    const { values, vectors } = symmetricEigen(a);
    const nx2 = x.reduce((s, v) => s + v * v, 0);
    expectAllClose(values, [0, 0, 0, 0, 0, nx2], { atol: 1e-12 });
    const top = Array.from({ length: n }, (_, i) => vectors[i * n + n - 1]!);
    const sign = Math.sign(top[0]!);
    expectAllClose(
      top.map((v) => v * sign),
      x.map((v) => v / Math.sqrt(nx2)),
      { atol: 1e-13 },
    );
  });

  it('block-diagonal matrix (QL splits into independent blocks): union of the block spectra', () => {
    const n1 = 9;
    const n2 = 14;
    const n = n1 + n2;
    const b1 = randomSymmetric(n1, 21);
    const b2 = randomSymmetric(n2, 22);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n1; i++) for (let j = 0; j < n1; j++) a[i * n + j] = b1[i * n1 + j]!;
    for (let i = 0; i < n2; i++) {
      for (let j = 0; j < n2; j++) a[(n1 + i) * n + n1 + j] = b2[i * n2 + j]!;
    }
    const expected = [...symmetricEigen(b1).values, ...symmetricEigen(b2).values].sort(
      (x, y) => x - y,
    );
    expectAllClose(symmetricEigen(a).values, expected, { atol: 1e-13 });
    const { rel, orth } = residuals(a, n);
    expect(rel).toBeLessThanOrEqual(TOL);
    expect(orth).toBeLessThanOrEqual(TOL);
  });

  it('zero matrix: zero eigenvalues and an orthonormal basis', () => {
    const n = 7;
    const { values, vectors } = symmetricEigen(new Float64Array(n * n));
    expect(Array.from(values)).toEqual(new Array(n).fill(0));
    const vtv = matmulF64(transpose(vectors, n), vectors, n, n, n);
    for (let i = 0; i < n; i++) vtv[i * n + i]! -= 1;
    expect(frob(vtv)).toBeLessThanOrEqual(TOL);
  });

  it('empty matrix', () => {
    const r = symmetricEigen(new Float64Array(0));
    expect(r.values.length).toBe(0);
    expect(r.vectors.length).toBe(0);
  });

  it('matches numpy.linalg.eigh eigenvalues (fixture)', () => {
    expect(fixture.cases.length).toBeGreaterThan(5);
    for (const c of fixture.cases) {
      const a = Float64Array.from(c.matrix);
      const { values } = symmetricEigen(a, c.n);
      // Both are backward stable in float64: eigenvalue error <= ~n eps ||A||.
      const scale = Math.max(...c.values.map(Math.abs), 1e-300);
      expectAllClose(values, c.values, { atol: 1e-12 * scale, label: c.name });
      const { rel, orth } = residuals(a, c.n);
      expect(rel, c.name).toBeLessThanOrEqual(TOL);
      expect(orth, c.name).toBeLessThanOrEqual(TOL);
    }
  });

  it('accepts number[][] and Float32Array and leaves the input untouched', () => {
    const rows = [
      [2, 1],
      [1, 2],
    ];
    expectAllClose(symmetricEigen(rows).values, [1, 3], { atol: 1e-15 });
    expect(rows).toEqual([
      [2, 1],
      [1, 2],
    ]);
    const f32 = Float32Array.from([2, 1, 1, 2]);
    expectAllClose(symmetricEigen(f32, 2).values, [1, 3], { atol: 1e-15 });
    expect(Array.from(f32)).toEqual([2, 1, 1, 2]);
  });

  it('rejects non-square, non-symmetric and non-finite input with clear errors', () => {
    expect(() => symmetricEigen(new Float64Array(6))).toThrow(IgmArgumentError);
    expect(() => symmetricEigen(new Float64Array(6))).toThrow(/length 6.*n\*n/);
    expect(() => symmetricEigen(new Float64Array(9), 2)).toThrow(/n=2/);
    expect(() =>
      symmetricEigen([
        [1, 2, 3],
        [2, 1],
      ] as number[][]),
    ).toThrow(/row 1 has length 2; expected 2|row 0 has length 3; expected 2/);
    expect(() =>
      symmetricEigen([
        [1, 2],
        [2.1, 1],
      ]),
    ).toThrow(/not symmetric.*a\[0\]\[1\]/);
    // Asymmetry below 1e-8 relative is tolerated (symmetrised).
    expect(() =>
      symmetricEigen([
        [1, 2],
        [2 + 1e-12, 1],
      ]),
    ).not.toThrow();
    expect(() =>
      symmetricEigen([
        [1, Number.NaN],
        [Number.NaN, 1],
      ]),
    ).toThrow(/NaN/);
  });
});

describe('symmetricMatrixFunction', () => {
  it('reconstructs A with f = identity and gives the inverse with f = 1/λ', () => {
    const n = 40;
    const a = randomSymmetric(n, 3);
    for (let i = 0; i < n; i++) a[i * n + i]! += 2 * n; // well conditioned (diagonally dominant)
    const { values, vectors } = symmetricEigen(a);
    expectAllClose(
      symmetricMatrixFunction(values, vectors, (x) => x),
      a,
      { atol: 1e-11 },
    );
    const inv = symmetricMatrixFunction(values, vectors, (x) => 1 / x);
    const eye = matmulF64(a, inv, n, n, n);
    for (let i = 0; i < n; i++) eye[i * n + i]! -= 1;
    expect(frob(eye)).toBeLessThan(1e-12);
  });

  it('projector onto the eigenvectors of the k smallest eigenvalues is idempotent with trace k', () => {
    const n = 25;
    const k = 9;
    const { values, vectors } = symmetricEigen(randomSymmetric(n, 11));
    const p = symmetricMatrixFunction(values, vectors, (_, j) => (j < k ? 1 : 0));
    let trace = 0;
    for (let i = 0; i < n; i++) trace += p[i * n + i]!;
    expect(trace).toBeCloseTo(k, 12);
    expectAllClose(matmulF64(p, p, n, n, n), p, { atol: 1e-13 });
    expectAllClose(p, transpose(p, n), { atol: 0 });
  });

  it('validates its arguments', () => {
    expect(() => symmetricMatrixFunction([1, 2], new Float64Array(3), (x) => x)).toThrow(
      /length 3.*n\*n = 4/,
    );
    expect(() =>
      symmetricMatrixFunction([0, 1], Float64Array.from([1, 0, 0, 1]), (x) => 1 / x),
    ).toThrow(/Infinity/);
  });
});

describe('matmulF64', () => {
  it('multiplies rectangular matrices', () => {
    const a = Float64Array.from([1, 2, 3, 4, 5, 6]); // 2 x 3
    const b = Float64Array.from([7, 8, 9, 10, 11, 12]); // 3 x 2
    expect(Array.from(matmulF64(a, b, 2, 3, 2))).toEqual([58, 64, 139, 154]);
    expect(() => matmulF64(a, b, 2, 2, 2)).toThrow(/m\*k = 4/);
  });
});
