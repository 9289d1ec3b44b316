/**
 * Dense symmetric eigendecomposition in plain JavaScript (float64), for the small matrices the
 * optimizers need (PCA of features, the flat-projection covariances, d up to ~1024).
 *
 * Algorithm (the classical EISPACK `tred2`/`tql2` pair, rewritten for row-major storage):
 * 1. Householder tridiagonalisation `A = Q T Qᵀ`. Step k reflects row k right of the diagonal
 *    onto `beta e_1` with `H_k = I - tau v vᵀ` (LAPACK `dlarfg` convention, `v_0 = 1`), then
 *    updates the trailing block `A22 <- H A22 H = A22 - v wᵀ - w vᵀ`, with `p = tau A22 v` and
 *    `w = p - (tau/2)(pᵀv) v`. Only the upper triangle is read and written, row by row.
 * 2. `Qᵀ = H_{n-3} ... H_1 H_0` is accumulated from the right (`X <- X H_k`), which is one dot
 *    product and one axpy per contiguous row.
 * 3. Implicit QL with Wilkinson-type shifts on the tridiagonal `T`, as `tql2`. Each Givens
 *    rotation mixes two *columns* of the eigenvector matrix `Z = Q G`; we keep `Zᵀ`, so a
 *    rotation mixes two contiguous *rows*, and a whole QL sweep is applied in column blocks with
 *    a carried row, so each element is read and written once per sweep.
 * 4. Eigenvalues sorted ascending; `Zᵀ` is transposed back so that column j of `vectors` is the
 *    eigenvector of `values[j]` (the `numpy.linalg.eigh` layout).
 *
 * Residuals ‖A V − V Λ‖_F / ‖A‖_F and ‖VᵀV − I‖ are at the 1e-14 level for well-scaled input
 * (tested <= 1e-10 up to n = 200, measured in bench/eigen.ts up to n = 1024).
 */
import { IgmArgumentError } from '../errors';

/** The result of {@link symmetricEigen}. */
export interface SymmetricEigen {
  /** Eigenvalues in ascending order. */
  readonly values: Float64Array;
  /** Row-major n x n; column j (`vectors[i * n + j]`, i = 0..n-1) is the unit eigenvector of `values[j]`. */
  readonly vectors: Float64Array;
  /** The matrix order. */
  readonly n: number;
}

/** Relative asymmetry max|a_ij - a_ji| / max|a_ij| above which input is rejected. */
const ASYMMETRY_TOLERANCE = 1e-8;
/** Rotations recorded before they are applied to the eigenvector matrix in one blocked pass. */
const ROTATION_BATCH = 1 << 17;
/** Bytes of one column block of the eigenvector matrix during a batched rotation pass. */
const BLOCK_BYTES = 256 * 1024;
/** QL iterations allowed per eigenvalue before giving up (tql2 converges in ~2 on average). */
const MAX_QL_ITERATIONS = 60;

/**
 * Reads a square matrix into a fresh row-major Float64Array (the caller's input is never
 * modified) and validates shape, finiteness and symmetry.
 */
export function toSquareF64(
  a: Float64Array | Float32Array | readonly (readonly number[])[],
  n: number | undefined,
  where: string,
): { data: Float64Array; n: number } {
  let data: Float64Array;
  if (Array.isArray(a)) {
    const rows = a as readonly (readonly number[])[];
    const order = rows.length;
    if (n !== undefined && n !== order) {
      throw new IgmArgumentError(
        `${where}: received n=${n} but the matrix has ${order} rows. Omit n for number[][] input.`,
      );
    }
    data = new Float64Array(order * order);
    for (let i = 0; i < order; i++) {
      const row = rows[i];
      if (!Array.isArray(row) || row.length !== order) {
        throw new IgmArgumentError(
          `${where}: row ${i} has length ${Array.isArray(row) ? row.length : typeof row}; expected ${order} (a square matrix).`,
        );
      }
      for (let j = 0; j < order; j++) data[i * order + j] = row[j]!;
    }
    n = order;
  } else if (a instanceof Float64Array || a instanceof Float32Array) {
    const len = a.length;
    const order = n ?? Math.round(Math.sqrt(len));
    if (!Number.isInteger(order) || order < 0 || order * order !== len) {
      throw new IgmArgumentError(
        `${where}: received a flat array of length ${len}${n === undefined ? '' : ` with n=${n}`}. Expected n*n elements (row-major square matrix).`,
      );
    }
    data = Float64Array.from(a);
    n = order;
  } else {
    throw new IgmArgumentError(
      `${where}: expected a Float64Array/Float32Array (row-major, length n*n) or a number[][]; received ${Object.prototype.toString.call(a)}.`,
    );
  }
  let maxAbs = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      throw new IgmArgumentError(
        `${where}: element (${Math.floor(i / n)}, ${i % n}) is ${v}. Expected finite values.`,
      );
    }
    const av = Math.abs(v);
    if (av > maxAbs) maxAbs = av;
  }
  let worst = 0;
  let wi = 0;
  let wj = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const diff = Math.abs(data[i * n + j]! - data[j * n + i]!);
      if (diff > worst) {
        worst = diff;
        wi = i;
        wj = j;
      }
    }
  }
  if (worst > ASYMMETRY_TOLERANCE * maxAbs) {
    throw new IgmArgumentError(
      `${where}: the matrix is not symmetric: |a[${wi}][${wj}] - a[${wj}][${wi}]| = ${worst} > ${ASYMMETRY_TOLERANCE} * max|a| = ${ASYMMETRY_TOLERANCE * maxAbs}. Pass a symmetric matrix (e.g. (A + Aᵀ)/2).`,
    );
  }
  return { data, n };
}

/**
 * Eigenvalues and eigenvectors of a real symmetric matrix, `A = V diag(values) Vᵀ`.
 *
 * @param a Row-major `Float64Array`/`Float32Array` of length n*n (n inferred when omitted) or a
 *   `number[][]`. Not modified. Asymmetry above 1e-8 relative to max|a_ij| throws; smaller
 *   asymmetry is removed by averaging `(A + Aᵀ)/2`.
 * @returns `values` ascending, `vectors` row-major with column j the eigenvector of `values[j]`
 *   (same layout and order as `numpy.linalg.eigh`; signs of eigenvectors are arbitrary).
 */
export function symmetricEigen(
  a: Float64Array | Float32Array | readonly (readonly number[])[],
  n?: number,
): SymmetricEigen {
  const { data: A, n: order } = toSquareF64(a, n, 'symmetricEigen');
  n = order;
  if (n === 0) return { values: new Float64Array(0), vectors: new Float64Array(0), n };
  // Symmetrise exactly, so the upper triangle alone represents the matrix.
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const m = 0.5 * (A[i * n + j]! + A[j * n + i]!);
      A[i * n + j] = m;
      A[j * n + i] = m;
    }
  }
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  const tau = new Float64Array(n);
  tridiagonalize(A, n, d, e, tau);
  const Zt = accumulateQt(A, n, tau);
  tql2Rows(d, e, Zt, n);
  return sortAndTranspose(d, Zt, n);
}

/**
 * Householder reduction of the upper triangle of `A` (row-major, in place). On return `d` is
 * the diagonal of T, `e[k]` couples k and k+1 (`e[n-1] = 0`), and row k of `A` right of the
 * diagonal holds the reflector `v` (with implicit `v_0 = 1`) whose scale is `tau[k]`.
 */
function tridiagonalize(
  A: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  tau: Float64Array,
): void {
  const p = new Float64Array(n);
  const v = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    const rowK = k * n;
    const x0 = A[rowK + k + 1]!;
    // Scaled norm of x[1:], x = A[k, k+1:].
    let scale = 0;
    for (let j = k + 2; j < n; j++) {
      const a = Math.abs(A[rowK + j]!);
      if (a > scale) scale = a;
    }
    d[k] = A[rowK + k]!;
    if (scale === 0) {
      // Already tridiagonal in this row: H = I.
      e[k] = x0;
      tau[k] = 0;
      continue;
    }
    let ss = 0;
    for (let j = k + 2; j < n; j++) {
      const t = A[rowK + j]! / scale;
      ss += t * t;
    }
    const sx0 = x0 / scale;
    const norm = scale * Math.sqrt(ss + sx0 * sx0);
    const beta = x0 >= 0 ? -norm : norm;
    const t = (beta - x0) / beta;
    const inv = 1 / (x0 - beta);
    tau[k] = t;
    e[k] = beta;
    // v over indices k+1..n-1 (stored back into row k for the accumulation step).
    const lo = k + 1;
    v[lo] = 1;
    A[rowK + lo] = 1;
    for (let j = k + 2; j < n; j++) {
      const vj = A[rowK + j]! * inv;
      v[j] = vj;
      A[rowK + j] = vj;
    }
    // p = tau * A22 v using the upper triangle of A22 (rows lo..n-1).
    p.fill(0, lo, n);
    for (let i = lo; i < n; i++) {
      const ri = i * n;
      const vi = v[i]!;
      let s = A[ri + i]! * vi;
      for (let j = i + 1; j < n; j++) {
        const aij = A[ri + j]!;
        s += aij * v[j]!;
        p[j]! += aij * vi;
      }
      p[i]! += s;
    }
    let pv = 0;
    for (let i = lo; i < n; i++) {
      p[i]! *= t;
      pv += p[i]! * v[i]!;
    }
    const K = 0.5 * t * pv;
    for (let i = lo; i < n; i++) p[i]! -= K * v[i]!; // p is now w
    // A22 <- A22 - v wᵀ - w vᵀ (upper triangle).
    for (let i = lo; i < n; i++) {
      const ri = i * n;
      const vi = v[i]!;
      const wi = p[i]!;
      for (let j = i; j < n; j++) A[ri + j]! -= vi * p[j]! + wi * v[j]!;
    }
  }
  if (n >= 2) {
    d[n - 2] = A[(n - 2) * n + n - 2]!;
    e[n - 2] = A[(n - 2) * n + n - 1]!;
  }
  d[n - 1] = A[(n - 1) * n + n - 1]!;
  e[n - 1] = 0;
}

/** Builds `Qᵀ = H_{n-3} ... H_0` (row-major) from the reflectors stored in `A`'s rows. */
function accumulateQt(A: Float64Array, n: number, tau: Float64Array): Float64Array {
  const X = new Float64Array(n * n);
  for (let i = 0; i < n; i++) X[i * n + i] = 1;
  for (let k = n - 3; k >= 0; k--) {
    const t = tau[k]!;
    if (t === 0) continue;
    const lo = k + 1;
    const rowK = k * n;
    // X <- X H_k: only rows lo..n-1 and columns lo..n-1 change (X is the identity elsewhere).
    for (let i = lo; i < n; i++) {
      const ri = i * n;
      let s = 0;
      for (let j = lo; j < n; j++) s += X[ri + j]! * A[rowK + j]!;
      if (s === 0) continue;
      const f = t * s;
      for (let j = lo; j < n; j++) X[ri + j]! -= f * A[rowK + j]!;
    }
  }
  return X;
}

/**
 * Implicit QL on the symmetric tridiagonal (d, e) (`tql2`). The rotations of every sweep are
 * recorded and applied to the rows of `Zt` in batches by {@link RotationBatch}. On return `d`
 * holds the (unsorted) eigenvalues and row j of `Zt` the matching eigenvector.
 */
function tql2Rows(d: Float64Array, e: Float64Array, Zt: Float64Array, n: number): void {
  const eps = 2 ** -52;
  const batch = new RotationBatch(Zt, n);
  let f = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > MAX_QL_ITERATIONS) {
          throw new Error(
            `symmetricEigen: QL iteration did not converge for eigenvalue ${l} after ${MAX_QL_ITERATIONS} iterations (n=${n}).`,
          );
        }
        // Shift from the leading 2x2 block.
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i++) d[i]! -= h;
        f += h;
        // QL sweep from m-1 down to l.
        batch.beginSweep(l, m);
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.hypot(p, e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          batch.push(c, s);
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
  batch.flush();
}

/**
 * Deferred Givens rotations on the rows of `Zt`. A sweep (l, m) applies, for i = m-1 .. l,
 * `z_{i+1} <- s z_i + c z_{i+1}`, `z_i <- c z_i - s z_{i+1}` to rows i and i+1. Rotations mix
 * rows only, so columns are independent: a batch of many sweeps is applied one narrow column
 * block at a time, keeping the block (n x width) in cache across all the sweeps instead of
 * streaming the whole matrix once per sweep. Within a sweep row i+1 is final after rotation i,
 * so the running row lives in a small carry buffer.
 */
class RotationBatch {
  private readonly c: Float64Array;
  private readonly s: Float64Array;
  private readonly sweepL: Int32Array;
  private readonly sweepM: Int32Array;
  private readonly carry: Float64Array;
  private readonly width: number;
  private rotations = 0;
  private sweeps = 0;

  constructor(
    private readonly Zt: Float64Array,
    private readonly n: number,
  ) {
    const capacity = Math.max(ROTATION_BATCH, n);
    this.c = new Float64Array(capacity);
    this.s = new Float64Array(capacity);
    this.sweepL = new Int32Array(capacity);
    this.sweepM = new Int32Array(capacity);
    // Column block so that n x width doubles stay within ~256 KiB.
    this.width = Math.max(8, Math.min(n, Math.floor(BLOCK_BYTES / (8 * Math.max(n, 1)))));
    this.carry = new Float64Array(this.width);
  }

  /** Starts a sweep of m - l rotations, flushing first if they would not fit. */
  beginSweep(l: number, m: number): void {
    if (this.rotations + (m - l) > this.c.length) this.flush();
    this.sweepL[this.sweeps] = l;
    this.sweepM[this.sweeps] = m;
    this.sweeps++;
  }

  push(c: number, s: number): void {
    this.c[this.rotations] = c;
    this.s[this.rotations] = s;
    this.rotations++;
  }

  flush(): void {
    if (this.sweeps === 0) return;
    const { Zt, n, carry, width } = this;
    const cs = this.c;
    const sn = this.s;
    for (let k0 = 0; k0 < n; k0 += width) {
      const w = Math.min(n, k0 + width) - k0;
      let q = 0;
      for (let sw = 0; sw < this.sweeps; sw++) {
        const l = this.sweepL[sw]!;
        const m = this.sweepM[sw]!;
        const rowM = m * n + k0;
        for (let k = 0; k < w; k++) carry[k] = Zt[rowM + k]!;
        for (let i = m - 1; i >= l; i--, q++) {
          const c = cs[q]!;
          const s = sn[q]!;
          const ri = i * n + k0;
          const ri1 = ri + n;
          for (let k = 0; k < w; k++) {
            const zi = Zt[ri + k]!;
            const h = carry[k]!;
            Zt[ri1 + k] = s * zi + c * h;
            carry[k] = c * zi - s * h;
          }
        }
        const rowL = l * n + k0;
        for (let k = 0; k < w; k++) Zt[rowL + k] = carry[k]!;
      }
    }
    this.sweeps = 0;
    this.rotations = 0;
  }
}

/** Sorts eigenvalues ascending and writes eigenvectors as columns of a row-major matrix. */
function sortAndTranspose(d: Float64Array, Zt: Float64Array, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => d[x]! - d[y]! || x - y);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  for (let j = 0; j < n; j++) values[j] = d[order[j]!]!;
  const B = 32;
  for (let j0 = 0; j0 < n; j0 += B) {
    const j1 = Math.min(n, j0 + B);
    for (let i0 = 0; i0 < n; i0 += B) {
      const i1 = Math.min(n, i0 + B);
      for (let j = j0; j < j1; j++) {
        const src = order[j]! * n;
        for (let i = i0; i < i1; i++) vectors[i * n + j] = Zt[src + i]!;
      }
    }
  }
  return { values, vectors, n };
}

/**
 * `V diag(f(values)) Vᵀ` as a row-major n x n Float64Array: a spectral matrix function of the
 * decomposed matrix (e.g. `f = λ => 1/(λ + eps)` for an inverse, `λ => λ < tol ? 1 : 0` for the
 * projector onto the flat subspace used by flat projection).
 *
 * @param values Eigenvalues (length n), as returned by {@link symmetricEigen}.
 * @param vectors Row-major n x n, column j the eigenvector of `values[j]`.
 * @param f Applied to each eigenvalue (with its index); must return a finite number.
 */
export function symmetricMatrixFunction(
  values: Float64Array | readonly number[],
  vectors: Float64Array,
  f: (lambda: number, index: number) => number,
): Float64Array {
  const n = values.length;
  if (vectors.length !== n * n) {
    throw new IgmArgumentError(
      `symmetricMatrixFunction: vectors has length ${vectors.length} but values has ${n} entries. Expected vectors of length n*n = ${n * n}.`,
    );
  }
  const fv = new Float64Array(n);
  const keep: number[] = [];
  for (let j = 0; j < n; j++) {
    const y = f(values[j]!, j);
    if (!Number.isFinite(y)) {
      throw new IgmArgumentError(
        `symmetricMatrixFunction: f(values[${j}] = ${values[j]}) = ${y}. Expected f to return finite numbers.`,
      );
    }
    fv[j] = y;
    if (y !== 0) keep.push(j);
  }
  // Only eigenpairs with f != 0 contribute: out = Σ_j f_j v_j v_jᵀ.
  // Gather them as rows (Wt[r] = v_j, Ft[r] = f_j v_j), then out[i][k] = Σ_r Ft[r][i] Wt[r][k]
  // accumulated row-wise: out[i, :]! += Ft[r][i] * Wt[r, :] over r (contiguous axpys).
  const r = keep.length;
  const Wt = new Float64Array(r * n);
  for (let q = 0; q < r; q++) {
    const j = keep[q]!;
    for (let i = 0; i < n; i++) Wt[q * n + i] = vectors[i * n + j]!;
  }
  const Wf = new Float64Array(n * r); // row i: f_j * V[i][j] over kept j
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < r; q++) Wf[i * r + q] = fv[keep[q]!]! * vectors[i * n + keep[q]!]!;
  }
  const out = new Float64Array(n * n);
  // Upper triangle, mirrored: out[i, k] for k >= i.
  for (let i = 0; i < n; i++) {
    const oi = i * n;
    const wfi = i * r;
    for (let q = 0; q < r; q++) {
      const a = Wf[wfi + q]!;
      if (a === 0) continue;
      const wq = q * n;
      for (let k = i; k < n; k++) out[oi + k]! += a * Wt[wq + k]!;
    }
  }
  for (let i = 0; i < n; i++) {
    for (let k = i + 1; k < n; k++) out[k * n + i] = out[i * n + k]!;
  }
  return out;
}

/**
 * `C = A B` for row-major float64 matrices (A: m x k, B: k x n), i-k-j loop order so the inner
 * loop runs over contiguous rows of B and C.
 */
export function matmulF64(
  a: Float64Array,
  b: Float64Array,
  m: number,
  k: number,
  n: number,
): Float64Array {
  if (a.length !== m * k || b.length !== k * n) {
    throw new IgmArgumentError(
      `matmulF64: received a of length ${a.length} and b of length ${b.length} for m=${m}, k=${k}, n=${n}. Expected lengths m*k = ${m * k} and k*n = ${k * n}.`,
    );
  }
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    const ai = i * k;
    for (let p = 0; p < k; p++) {
      const aip = a[ai + p]!;
      if (aip === 0) continue;
      const bp = p * n;
      for (let j = 0; j < n; j++) c[ci + j]! += aip * b[bp + j]!;
    }
  }
  return c;
}
