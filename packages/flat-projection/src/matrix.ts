/**
 * The flat projection matrix of IGM (ALGORITHMS.md 1.3):
 *
 *   Y = V diag(s) V^T   (symmetric PSD; tiny negative eigenvalues clamped to 0)
 *   T = V diag(exp(-tau (s - s_min) / (s_max - s_min))) V^T
 *     = expm(-tau (Y - s_min I) / (s_max - s_min))
 *
 * T is symmetric with eigenvalues in [e^-tau, 1]: the direction of the largest eigenvalue of Y
 * is damped by e^-tau, directions with s = s_min (a null space included) keep scale 1.
 * Guard [project]: T = I when s_max - s_min <= 1e-12 max(s_max, 1e-30) (d = 1, Y ∝ I, Y = 0),
 * where the reference divides by zero.
 *
 * Two implementations, tested equal to 1e-5:
 * - `'eigen'`: float64 symmetric eigensolver in JS (`symmetricEigen` of @igm/linalg), exact to
 *   rounding; cost O(d^3) in JS on the main thread.
 * - `'expm'`: tfjs ops only (runs on the training backend, GPU included). s_max and s_min by
 *   Lanczos (see lanczos.ts), then exp of the centred argument B = -tau (Y - c I)/(s_max - s_min),
 *   c = (s_min + s_max)/2, whose spectrum is in [-tau/2, tau/2], by a Chebyshev polynomial
 *   (expm.ts): T = e^{-tau/2} exp(B). Two d x d matmuls at tau = 0.4.
 *
 * Error analysis of `'expm'`: Lanczos Ritz values are inner estimates, s_min' = s_min + d1 and
 * s_max' = s_max - d2 with d1, d2 >= 0. For an eigenvalue s, u = (s - s_min)/D in [0, 1] becomes
 * u' = (u D - d1)/(D - d1 - d2), so |u' - u| <= max(d1, d2)/(D - d1 - d2) and each eigenvalue of
 * T moves by at most tau max(d1, d2)/(D - d1 - d2) (times e^{tau d1/D} <= 1 + O(d1/D) where u' < 0).
 * Since T and T' share eigenvectors, ||T' - T||_2 obeys the same bound. The Lanczos run stops
 * when its a-posteriori bound gives max(d1, d2) <= tolerance D / (2 tau); as Y is PSD, s_min is
 * in [0, s_min'], so d1 <= s_min' too, which settles the dense bottom of the spectrum (typically
 * s_min' << D) in a few steps. A known s_min (0
 * whenever fewer batches than dimensions were accumulated, n_B < d) removes d1 altogether. The
 * float32 evaluation adds about 1e-7 (1 + s_max/D): when s_max/D > `maxCondition` (100), float32
 * cannot hold T to 1e-5 and the float64 eigensolver is used instead.
 */
import { checkChoice, checkKnownKeys, checkNumber, IgmArgumentError } from '@igm/core';
import { symmetricEigen, symmetricMatrixFunction } from '@igm/linalg';
import * as tf from '@tensorflow/tfjs-core';
import { expmSymmetric, identity, planExpm } from './expm';
import { lanczosExtremes } from './lanczos';

export type FlatProjectionMethod = 'auto' | 'eigen' | 'expm';

export interface FlatProjectionMatrixOptions {
  /**
   * `'eigen'` (float64 JS eigensolver, exact), `'expm'` (tfjs ops, runs on the accelerator) or
   * `'auto'` (default): `'eigen'` for d <= 64, where it is exact and takes milliseconds, else
   * `'expm'`, on every backend: measured faster than the JS eigensolver at d >= 128 on wasm and
   * on cpu (bench/flat.ts), accurate to ~1e-6, and it keeps the work on a GPU backend. `'expm'`
   * itself falls back to `'eigen'` where float32 cannot resolve the spectrum (see the module doc).
   */
  readonly method?: FlatProjectionMethod;
  /**
   * The smallest eigenvalue when known: 0 whenever Y sums fewer rank-1 terms than its dimension
   * (n_B < d). Used by `'expm'` (skips estimating it); `'eigen'` computes it exactly.
   */
  readonly sMin?: number;
  /**
   * `'expm'`: bound on ||T_expm - T||_2 from the eigenvalue estimates (and a quarter of it for
   * the polynomial). Default 5e-6, which with float32 rounding (~1e-6) keeps T within 1e-5 of
   * the eigen form; a tighter value costs Lanczos steps on the dense bottom of the spectrum.
   */
  readonly tolerance?: number;
  /** `'expm'`: above this s_max / (s_max - s_min), use the float64 eigensolver. Default 100. */
  readonly maxCondition?: number;
  /** `'expm'`: cap on Lanczos steps (default d, where Lanczos is exact). */
  readonly maxLanczosSteps?: number;
  /** `'expm'`: seed of the Lanczos start vector. */
  readonly seed?: number;
  /**
   * Y (a tensor) is exactly symmetric, as the accumulator's is: skip the (Y + Y^T)/2 that
   * `'expm'` otherwise applies (a transpose, slow on wasm). Default false.
   */
  readonly symmetric?: boolean;
}

/** T and what was decided building it (log these: the spectrum of T is [e^-tau, 1] unless guarded). */
export interface FlatProjectionResult {
  readonly matrix: tf.Tensor2D;
  readonly dim: number;
  readonly tau: number;
  /** Smallest and largest eigenvalue of Y (estimates for `'expm'`). */
  readonly sMin: number;
  readonly sMax: number;
  /** Which form produced T; `'identity'` when tau = 0 or the guard fired. */
  readonly method: 'eigen' | 'expm' | 'identity';
  /** Why the guard fired or why `'expm'` fell back to `'eigen'`. */
  readonly note?: string;
  readonly lanczosSteps?: number;
  /** `'expm'`: degree and squarings of the polynomial. */
  readonly polynomialDegree?: number;
  readonly squarings?: number;
  /** Smallest and largest eigenvalue of T: e^-tau and 1, or 1 and 1 for the identity. */
  readonly spectrum: { readonly min: number; readonly max: number };
}

const KNOWN = [
  'method',
  'sMin',
  'tolerance',
  'maxCondition',
  'maxLanczosSteps',
  'seed',
  'symmetric',
];

/** T (float32, [d, d]) from Y; see {@link buildFlatProjection}. The caller owns the result. */
export function flatProjectionMatrix(
  y: tf.Tensor2D | number[][],
  tau: number,
  options: FlatProjectionMatrixOptions = {},
): tf.Tensor2D {
  return buildFlatProjection(y, tau, options).matrix;
}

/**
 * Builds T = V diag(exp(-tau (s - s_min)/(s_max - s_min))) V^T from the second-moment matrix
 * Y (module doc), and reports the spectrum and the method used. `y` is not disposed; the caller
 * owns `result.matrix`.
 */
export function buildFlatProjection(
  y: tf.Tensor2D | number[][],
  tau: number,
  options: FlatProjectionMatrixOptions = {},
): FlatProjectionResult {
  const where = 'flatProjectionMatrix';
  checkKnownKeys(where, options, KNOWN);
  checkNumber(where, 'tau', tau, { min: 0 });
  const method = checkChoice(where, 'method', options.method ?? 'auto', [
    'auto',
    'eigen',
    'expm',
  ] as const);
  const tolerance = checkNumber(where, 'tolerance', options.tolerance ?? 5e-6, {
    min: 0,
    minExclusive: true,
  });
  const maxCondition = checkNumber(where, 'maxCondition', options.maxCondition ?? 100, {
    min: 1,
  });
  if (options.sMin !== undefined) checkNumber(where, 'sMin', options.sMin, { min: 0 });
  const d = checkSquare(where, y);
  if (tau === 0) return identityResult(d, tau, Number.NaN, Number.NaN, 'tau = 0');
  const resolved = method === 'auto' ? autoMethod(d) : method;
  if (resolved === 'eigen') return eigenProjection(y, tau, d);
  return expmProjection(y, tau, d, {
    tolerance,
    maxCondition,
    sMin: options.sMin,
    maxSteps: options.maxLanczosSteps,
    seed: options.seed,
    symmetric: options.symmetric === true,
  });
}

/** The method `'auto'` picks for dimension d. */
export function autoMethod(d: number): 'eigen' | 'expm' {
  return d <= 64 ? 'eigen' : 'expm';
}

function checkSquare(where: string, y: tf.Tensor2D | number[][]): number {
  if (y instanceof tf.Tensor) {
    if (y.rank !== 2 || y.shape[0] !== y.shape[1] || y.shape[0] === 0) {
      throw new IgmArgumentError(
        `${where}: received Y of shape [${y.shape}]. Expected a square [d, d] matrix (d >= 1), the second moment of a layer's inputs.`,
      );
    }
    return y.shape[0]!;
  }
  if (
    !Array.isArray(y) ||
    y.length === 0 ||
    y.some((r) => !Array.isArray(r) || r.length !== y.length)
  ) {
    throw new IgmArgumentError(
      `${where}: received Y with ${Array.isArray(y) ? `${y.length} row(s) of lengths ${y.map((r) => (Array.isArray(r) ? r.length : typeof r)).join(', ')}` : typeof y}. Expected a square d x d array (d >= 1).`,
    );
  }
  for (const row of y) {
    for (const v of row) {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new IgmArgumentError(
          `${where}: Y contains ${String(v)}. Expected finite numbers only.`,
        );
      }
    }
  }
  return y.length;
}

function identityResult(
  d: number,
  tau: number,
  sMin: number,
  sMax: number,
  note: string,
): FlatProjectionResult {
  return {
    matrix: identity(d),
    dim: d,
    tau,
    sMin,
    sMax,
    method: 'identity',
    note,
    spectrum: { min: 1, max: 1 },
  };
}

function guardFires(sMin: number, sMax: number): boolean {
  return sMax - sMin <= 1e-12 * Math.max(sMax, 1e-30);
}

function toFloat64(y: tf.Tensor2D | number[][], d: number): Float64Array {
  const out = new Float64Array(d * d);
  if (y instanceof tf.Tensor) {
    const data = y.dataSync();
    for (let i = 0; i < d * d; i++) out[i] = data[i]!;
  } else {
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * d + j] = y[i]![j]!;
  }
  // Symmetrise (a float32 sum of outer products is symmetric already; a user's Y may not be).
  for (let i = 0; i < d; i++) {
    for (let j = i + 1; j < d; j++) {
      const m = 0.5 * (out[i * d + j]! + out[j * d + i]!);
      out[i * d + j] = m;
      out[j * d + i] = m;
    }
  }
  for (let i = 0; i < d * d; i++) {
    if (!Number.isFinite(out[i]!)) {
      throw new IgmArgumentError(
        `flatProjectionMatrix: Y contains ${out[i]}. Expected finite numbers only (a diverged model?).`,
      );
    }
  }
  return out;
}

function eigenProjection(
  y: tf.Tensor2D | number[][],
  tau: number,
  d: number,
  note?: string,
): FlatProjectionResult {
  const a = toFloat64(y, d);
  const { values, vectors } = symmetricEigen(a, d);
  const s = Float64Array.from(values, (v) => Math.max(v, 0));
  let sMin = Infinity;
  let sMax = -Infinity;
  for (const v of s) {
    sMin = Math.min(sMin, v);
    sMax = Math.max(sMax, v);
  }
  if (guardFires(sMin, sMax)) {
    return identityResult(d, tau, sMin, sMax, 'guard: s_max - s_min <= 1e-12 max(s_max, 1e-30)');
  }
  // T = V diag(exp(-tau (s - s_min)/(s_max - s_min))) V^T, in float64.
  const t = symmetricMatrixFunction(values, vectors, (v) =>
    Math.exp((-tau * (Math.max(v, 0) - sMin)) / (sMax - sMin)),
  );
  return {
    matrix: tf.tensor2d(Float32Array.from(t), [d, d]),
    dim: d,
    tau,
    sMin,
    sMax,
    method: 'eigen',
    ...(note !== undefined ? { note } : {}),
    spectrum: { min: Math.exp(-tau), max: 1 },
  };
}

function expmProjection(
  y: tf.Tensor2D | number[][],
  tau: number,
  d: number,
  opts: {
    tolerance: number;
    maxCondition: number;
    sMin: number | undefined;
    maxSteps: number | undefined;
    seed: number | undefined;
    symmetric: boolean;
  },
): FlatProjectionResult {
  const owned = !(y instanceof tf.Tensor);
  const ySym = tf.tidy(() => {
    if (!(y instanceof tf.Tensor)) {
      return tf.tensor2d(Float32Array.from(toFloat64(y, d)), [d, d]); // symmetrised on the host
    }
    const t = tf.cast(y, 'float32') as tf.Tensor2D;
    return opts.symmetric ? tf.clone(t) : (tf.mul(tf.add(t, tf.transpose(t)), 0.5) as tf.Tensor2D);
  });
  try {
    const knownMin = opts.sMin;
    const lz = lanczosExtremes(ySym, {
      tolerance: ({ min, max }) =>
        (opts.tolerance * Math.max(max - (knownMin ?? min), 0)) / (2 * tau),
      maxOnly: knownMin !== undefined,
      positiveSemidefinite: true,
      ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps } : {}),
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    });
    if (!Number.isFinite(lz.min) || !Number.isFinite(lz.max)) {
      throw new IgmArgumentError(
        `flatProjectionMatrix: Y has non-finite eigenvalue estimates (${lz.min}, ${lz.max}). Expected finite entries (a diverged model?).`,
      );
    }
    const sMax = Math.max(lz.max, 0);
    const sMin = knownMin !== undefined ? knownMin : Math.min(Math.max(lz.min, 0), sMax);
    if (guardFires(sMin, sMax)) {
      return identityResult(d, tau, sMin, sMax, 'guard: s_max - s_min <= 1e-12 max(s_max, 1e-30)');
    }
    const spread = sMax - sMin;
    if (sMax / spread > opts.maxCondition || !lz.converged) {
      const why = !lz.converged
        ? `Lanczos did not reach the tolerance in ${lz.steps} steps`
        : `s_max/(s_max - s_min) = ${(sMax / spread).toPrecision(3)} > maxCondition ${opts.maxCondition}: float32 cannot resolve the spread`;
      return eigenProjection(owned ? y : ySym, tau, d, `expm fell back to eigen: ${why}`);
    }
    const err = Math.max(lz.maxError, knownMin !== undefined ? 0 : lz.minError);
    const r = (tau / 2) * (1 + (4 * err) / spread);
    const plan = planExpm(r, opts.tolerance / 4);
    const centre = knownMin !== undefined ? sMin + spread / 2 : (sMin + sMax) / 2;
    const matrix = tf.tidy(() => {
      const shifted = tf.sub(ySym, identity(d, centre));
      const b = tf.mul(shifted, -tau / spread) as tf.Tensor2D;
      return tf.mul(expmSymmetric(b, plan, r), Math.exp(-tau / 2)) as tf.Tensor2D;
    });
    return {
      matrix,
      dim: d,
      tau,
      sMin,
      sMax,
      method: 'expm',
      lanczosSteps: lz.steps,
      polynomialDegree: plan.degree,
      squarings: plan.squarings,
      spectrum: { min: Math.exp(-tau), max: 1 },
    };
  } finally {
    ySym.dispose();
  }
}
