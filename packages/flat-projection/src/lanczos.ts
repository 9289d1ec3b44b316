/**
 * Extreme eigenvalues of a symmetric matrix with tfjs ops (Lanczos with full
 * reorthogonalisation), for the `expm` form of the flat projection matrix.
 *
 * One Krylov space gives both ends of the spectrum: the Krylov space of `Y` from q equals that
 * of `s I - Y`, so running Lanczos "on s_max I - Y" for s_min (the textbook way to reach the
 * smallest eigenvalue) is the same computation as reading the smallest Ritz value of this run.
 *
 * The matrix-vector products run on the active backend; only the tridiagonal coefficients
 * (two scalars per step) are read back, every `checkEvery` steps, and the small tridiagonal
 * problem is solved in float64 in JS.
 *
 * Stopping rule (a posteriori, per end): a Ritz pair (theta, u) of the k-step tridiagonal
 * T_k has residual ||Y u - theta u|| = rho = beta_k |y_k| (y the eigenvector of T_k), so some
 * eigenvalue of Y lies within rho of theta, and, when the next eigenvalue is at least `gap`
 * away, within rho^2 / gap (Kato-Temple); for a PSD matrix, also s_min is in [0, theta_min]. Ritz values are inner estimates of the extreme
 * eigenvalues (theta_max <= s_max, theta_min >= s_min). The run stops when
 * min(rho, rho^2 / gap) <= tolerance at both ends, on a Lanczos breakdown (the Krylov space
 * is invariant: with a random start vector every eigenvalue is then a Ritz value), or after
 * `maxSteps` (= d: the Krylov space is the whole space).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface LanczosOptions {
  /** Absolute tolerance on each extreme eigenvalue (see the stopping rule). */
  readonly tolerance: (estimate: { min: number; max: number }) => number;
  /** Only the largest eigenvalue is needed (the smallest is known). */
  readonly maxOnly?: boolean;
  /** Upper bound on the number of steps (default d). */
  readonly maxSteps?: number;
  /** Steps between read-backs of the tridiagonal coefficients (default 8). */
  readonly checkEvery?: number;
  /** Seed of the random start vector (default 0x5eed). */
  readonly seed?: number;
  /** The matrix is positive semi-definite: s_min >= 0 gives an extra bound at the bottom. */
  readonly positiveSemidefinite?: boolean;
}

export interface LanczosResult {
  readonly min: number;
  readonly max: number;
  /** Error bounds of `min` and `max` (min(rho, rho^2/gap)); 0 after a breakdown. */
  readonly minError: number;
  readonly maxError: number;
  readonly steps: number;
  /** True when the tolerance was met or the Krylov space became invariant. */
  readonly converged: boolean;
}

/**
 * Runs Lanczos on the symmetric matrix `y` ([d, d]) until both extreme eigenvalues are within
 * the tolerance (see the module doc). `y` is not disposed.
 */
export function lanczosExtremes(y: tf.Tensor2D, options: LanczosOptions): LanczosResult {
  const d = y.shape[0];
  const maxSteps = Math.max(1, Math.min(options.maxSteps ?? d, d));
  const checkEvery = Math.max(1, options.checkEvery ?? 8);
  const alphas: number[] = [];
  const betas: number[] = [];
  let pendingA: tf.Scalar[] = [];
  let pendingB: tf.Scalar[] = [];
  let q = tf.tidy(() => {
    const v = tf.randomNormal([d, 1], 0, 1, 'float32', options.seed ?? 0x5eed) as tf.Tensor2D;
    return tf.div(v, tf.sqrt(tf.sum(tf.square(v)))) as tf.Tensor2D;
  });
  // Rows: the orthonormal Lanczos vectors so far (for full reorthogonalisation).
  let basis = tf.reshape(q, [1, d]) as tf.Tensor2D;
  let result: LanczosResult | undefined;
  try {
    for (let k = 1; k <= maxSteps; k++) {
      const [alpha, beta, next] = tf.tidy(() => {
        let w = tf.matMul(y, q);
        const a = tf.sum(tf.mul(q, w)) as tf.Scalar;
        // Full reorthogonalisation against every previous vector, twice ("twice is enough").
        for (let pass = 0; pass < 2; pass++) {
          const c = tf.matMul(basis, w);
          w = tf.sub(w, tf.matMul(basis, c, true, false));
        }
        const b = tf.sqrt(tf.sum(tf.square(w))) as tf.Scalar;
        const qn = tf.div(w, tf.maximum(b, 1e-30)) as tf.Tensor2D;
        return [a, b, qn] as const;
      });
      pendingA.push(alpha);
      pendingB.push(beta);
      q.dispose();
      q = next;
      if (k < maxSteps) {
        const grown = tf.tidy(() => tf.concat([basis, tf.reshape(q, [1, d])], 0) as tf.Tensor2D);
        basis.dispose();
        basis = grown;
      }
      if (k % checkEvery !== 0 && k !== maxSteps) continue;
      alphas.push(...readScalars(pendingA));
      betas.push(...readScalars(pendingB));
      pendingA = [];
      pendingB = [];
      const check = checkConvergence(alphas, betas, options, k === maxSteps);
      if (check) {
        result = check;
        break;
      }
    }
  } finally {
    for (const t of [...pendingA, ...pendingB, q, basis]) t.dispose();
  }
  if (!result) throw new Error('lanczosExtremes: internal error, no result');
  return result;
}

function readScalars(ts: tf.Scalar[]): number[] {
  if (ts.length === 0) return [];
  const stacked = tf.stack(ts);
  const values = Array.from(stacked.dataSync());
  stacked.dispose();
  for (const t of ts) t.dispose();
  return values;
}

function checkConvergence(
  alphas: readonly number[],
  betas: readonly number[],
  options: LanczosOptions,
  last: boolean,
): LanczosResult | undefined {
  const scale = Math.max(...alphas.map(Math.abs), ...betas, 1e-300);
  // Breakdown: beta_j ~ 0 means span(q_1..q_j) is invariant; T_j holds the whole spectrum seen.
  let k = alphas.length;
  let breakdown = false;
  for (let j = 0; j < alphas.length; j++) {
    if (betas[j]! <= 1e-6 * scale) {
      k = j + 1;
      breakdown = true;
      break;
    }
  }
  const a = alphas.slice(0, k);
  const b = betas.slice(0, k - 1);
  const lo = tridiagonalEigenvalue(a, b, 0);
  const hi = tridiagonalEigenvalue(a, b, k - 1);
  if (breakdown || k === 1) {
    return {
      min: lo,
      max: hi,
      minError: 0,
      maxError: 0,
      steps: alphas.length,
      converged: breakdown,
    };
  }
  const betaK = betas[k - 1]!;
  const rhoMax = betaK * Math.abs(lastComponent(a, b, hi));
  const rhoMin = betaK * Math.abs(lastComponent(a, b, lo));
  const gapMax = hi - tridiagonalEigenvalue(a, b, k - 2);
  const gapMin = tridiagonalEigenvalue(a, b, 1) - lo;
  const maxError = Math.min(rhoMax, gapMax > 0 ? (rhoMax * rhoMax) / gapMax : Infinity);
  // Y is positive semi-definite (a sum of outer products): s_min lies in [0, theta_min], so
  // theta_min itself bounds the error at the bottom, however dense the spectrum is there.
  const minError = Math.min(
    rhoMin,
    gapMin > 0 ? (rhoMin * rhoMin) / gapMin : Infinity,
    options.positiveSemidefinite ? Math.max(lo, 0) : Infinity,
  );
  const tol = options.tolerance({ min: lo, max: hi });
  const ok = maxError <= tol && (options.maxOnly === true || minError <= tol);
  if (!ok && !last) return undefined;
  return { min: lo, max: hi, minError, maxError, steps: alphas.length, converged: ok || last };
}

/**
 * The i-th smallest eigenvalue (0-based) of the symmetric tridiagonal matrix with diagonal `a`
 * and off-diagonal `b`, by Sturm-sequence bisection (float64).
 */
export function tridiagonalEigenvalue(
  a: readonly number[],
  b: readonly number[],
  i: number,
): number {
  const n = a.length;
  // Gershgorin bounds.
  let lo = Infinity;
  let hi = -Infinity;
  for (let j = 0; j < n; j++) {
    const r = Math.abs(j > 0 ? b[j - 1]! : 0) + Math.abs(j < n - 1 ? b[j]! : 0);
    lo = Math.min(lo, a[j]! - r);
    hi = Math.max(hi, a[j]! + r);
  }
  const span = Math.max(hi - lo, Math.abs(hi), Math.abs(lo), 1e-300);
  lo -= 1e-14 * span;
  hi += 1e-14 * span;
  const tiny = 1e-300;
  // Number of eigenvalues < x (LDL^T pivots of T - x I).
  const countBelow = (x: number): number => {
    let count = 0;
    let dPrev = 1;
    for (let j = 0; j < n; j++) {
      const off = j > 0 ? b[j - 1]! : 0;
      let dj = a[j]! - x - (j > 0 ? (off * off) / dPrev : 0);
      if (dj === 0) dj = -tiny;
      if (dj < 0) count++;
      dPrev = dj;
    }
    return count;
  };
  for (let it = 0; it < 200; it++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (countBelow(mid) > i) hi = mid;
    else lo = mid;
  }
  return 0.5 * (lo + hi);
}

/**
 * Last component of the unit eigenvector of the tridiagonal (a, b) for the eigenvalue `theta`,
 * by two steps of inverse iteration (LU with partial pivoting), float64.
 */
export function lastComponent(a: readonly number[], b: readonly number[], theta: number): number {
  const n = a.length;
  const scale = Math.max(...a.map(Math.abs), ...b.map(Math.abs), 1e-300);
  const shift = theta + 1e-13 * scale;
  let x: Float64Array = new Float64Array(n).fill(1 / Math.sqrt(n));
  for (let it = 0; it < 3; it++) {
    x = solveTridiagonal(a, b, shift, x);
    let norm = 0;
    for (let j = 0; j < n; j++) norm += x[j]! * x[j]!;
    norm = Math.sqrt(norm);
    if (!(norm > 0) || !Number.isFinite(norm)) return 1;
    for (let j = 0; j < n; j++) x[j]! /= norm;
  }
  return x[n - 1]!;
}

/** Solves (T - shift I) x = rhs for symmetric tridiagonal T, Gaussian elimination with partial pivoting. */
function solveTridiagonal(
  a: readonly number[],
  b: readonly number[],
  shift: number,
  rhs: Float64Array,
): Float64Array {
  const n = a.length;
  // Row j of the banded system holds columns j, j+1, j+2 after pivoting (upper bandwidth 2).
  const d0 = new Float64Array(n); // diagonal
  const d1 = new Float64Array(n); // first super-diagonal
  const d2 = new Float64Array(n); // second super-diagonal (fill-in)
  const sub = new Float64Array(n); // sub-diagonal
  const y = Float64Array.from(rhs);
  for (let j = 0; j < n; j++) {
    d0[j] = a[j]! - shift;
    if (j < n - 1) {
      d1[j] = b[j]!;
      sub[j] = b[j]!;
    }
  }
  const eps = 1e-300;
  for (let j = 0; j < n - 1; j++) {
    if (Math.abs(sub[j]!) > Math.abs(d0[j]!)) {
      // Swap rows j and j+1.
      const t0 = d0[j]!;
      const t1 = d1[j]!;
      const t2 = d2[j]!;
      d0[j] = sub[j]!;
      d1[j] = d0[j + 1]!;
      d2[j] = j + 1 < n - 1 ? d1[j + 1]! : 0;
      sub[j] = t0;
      d0[j + 1] = t1;
      if (j + 1 < n - 1) d1[j + 1] = t2;
      const ty = y[j]!;
      y[j] = y[j + 1]!;
      y[j + 1] = ty;
    }
    const pivot = d0[j]! === 0 ? eps : d0[j]!;
    d0[j] = pivot;
    const m = sub[j]! / pivot;
    d0[j + 1] = d0[j + 1]! - m * d1[j]!;
    if (j + 1 < n - 1) d1[j + 1] = d1[j + 1]! - m * d2[j]!;
    y[j + 1] = y[j + 1]! - m * y[j]!;
  }
  if (d0[n - 1] === 0) d0[n - 1] = eps;
  const x = new Float64Array(n);
  for (let j = n - 1; j >= 0; j--) {
    let s = y[j]!;
    if (j + 1 < n) s -= d1[j]! * x[j + 1]!;
    if (j + 2 < n) s -= d2[j]! * x[j + 2]!;
    x[j] = s / d0[j]!;
  }
  return x;
}
