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
 *    rotation mixes two contiguous *rows*. Rotations are recorded and applied in batches of
 *    many sweeps, one narrow column block at a time, so the block stays in cache.
 * 4. Eigenvalues sorted ascending; `Zᵀ` is transposed back so that column j of `vectors` is the
 *    eigenvector of `values[j]` (the `numpy.linalg.eigh` layout).
 *
 * Residuals ‖A V − V Λ‖_F / ‖A‖_F and ‖VᵀV − I‖ are at the 1e-14 level for well-scaled input
 * (tested <= 1e-10 up to n = 200, measured in bench/eigen.ts up to n = 1024).
 */
import { IgmArgumentError } from '@igm/core';

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
 * diagonal holds the reflector `v` (with `v_0 = 1`) whose scale is `tau[k]`.
 *
 * Step k needs `p = tau A22 v` before it can update A22, and the update of row k+1 is all the
 * next reflector needs. So the matrix-vector product of step k+1 is accumulated row by row while
 * step k updates the rows below k+1: one pass over the trailing triangle per step, not two.
 */
function tridiagonalize(
  A: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  tau: Float64Array,
): void {
  if (n <= 2) {
    d[0] = A[0]!;
    if (n === 2) {
      e[0] = A[1]!;
      d[1] = A[3]!;
    }
    e[n - 1] = 0;
    return;
  }
  let v = new Float64Array(n);
  let w = new Float64Array(n);
  let vNext = new Float64Array(n);
  let pNext = new Float64Array(n);
  makeReflector(A, n, 0, v, d, e, tau);
  symmetricMatvecUpper(A, n, 1, v, w);
  for (let k = 0; k < n - 2; k++) {
    const lo = k + 1;
    // w <- tau A22 v - (tau/2)(vᵀ tau A22 v) v.
    const t = tau[k]!;
    let pv = 0;
    for (let i = lo; i < n; i++) {
      w[i]! *= t;
      pv += w[i]! * v[i]!;
    }
    const K = 0.5 * t * pv;
    for (let i = lo; i < n; i++) w[i]! -= K * v[i]!;
    // A22 <- A22 - v wᵀ - w vᵀ, row lo first: it defines the next reflector.
    {
      const ri = lo * n;
      const vi = v[lo]!;
      const wi = w[lo]!;
      for (let j = lo; j < n; j++) A[ri + j]! -= vi * w[j]! + wi * v[j]!;
    }
    const hasNext = lo < n - 2;
    if (hasNext) {
      makeReflector(A, n, lo, vNext, d, e, tau);
      pNext.fill(0, lo + 1, n);
    }
    for (let i = lo + 1; i < n; i++) {
      const ri = i * n;
      const vi = v[i]!;
      const wi = w[i]!;
      if (!hasNext) {
        for (let j = i; j < n; j++) A[ri + j]! -= vi * w[j]! + wi * v[j]!;
        continue;
      }
      // Update row i and add its part of pNext = A22' vNext (upper-triangle symmetric matvec).
      const vni = vNext[i]!;
      const aii = A[ri + i]! - (vi * w[i]! + wi * v[i]!);
      A[ri + i] = aii;
      let s0 = aii * vni;
      let s1 = 0;
      let j = i + 1;
      for (; j + 1 < n; j += 2) {
        const a0 = A[ri + j]! - (vi * w[j]! + wi * v[j]!);
        const a1 = A[ri + j + 1]! - (vi * w[j + 1]! + wi * v[j + 1]!);
        A[ri + j] = a0;
        A[ri + j + 1] = a1;
        s0 += a0 * vNext[j]!;
        s1 += a1 * vNext[j + 1]!;
        pNext[j]! += a0 * vni;
        pNext[j + 1]! += a1 * vni;
      }
      if (j < n) {
        const a0 = A[ri + j]! - (vi * w[j]! + wi * v[j]!);
        A[ri + j] = a0;
        s0 += a0 * vNext[j]!;
        pNext[j]! += a0 * vni;
      }
      pNext[i]! += s0 + s1;
    }
    if (hasNext) {
      [v, vNext] = [vNext, v];
      [w, pNext] = [pNext, w];
    }
  }
  d[n - 2] = A[(n - 2) * n + n - 2]!;
  e[n - 2] = A[(n - 2) * n + n - 1]!;
  d[n - 1] = A[(n - 1) * n + n - 1]!;
  e[n - 1] = 0;
}

/**
 * Householder reflector of row k right of the diagonal, x = A[k, k+1:]: `H x = beta e_1` with
 * `H = I - tau v vᵀ`, `v_0 = 1` (LAPACK `dlarfg`, scaled against overflow). Sets d[k], e[k]
 * (= beta), tau[k], v on indices k+1..n-1, and stores v back into row k. When x[1:] = 0 the
 * reflector is the identity (tau = 0, e[k] = x_0).
 */
function makeReflector(
  A: Float64Array,
  n: number,
  k: number,
  v: Float64Array,
  d: Float64Array,
  e: Float64Array,
  tau: Float64Array,
): void {
  const rowK = k * n;
  const lo = k + 1;
  const x0 = A[rowK + lo]!;
  d[k] = A[rowK + k]!;
  let scale = 0;
  for (let j = lo + 1; j < n; j++) {
    const a = Math.abs(A[rowK + j]!);
    if (a > scale) scale = a;
  }
  v[lo] = 1;
  A[rowK + lo] = 1;
  if (scale === 0) {
    e[k] = x0;
    tau[k] = 0;
    for (let j = lo + 1; j < n; j++) v[j] = 0;
    return;
  }
  let ss = 0;
  for (let j = lo + 1; j < n; j++) {
    const t = A[rowK + j]! / scale;
    ss += t * t;
  }
  const sx0 = x0 / scale;
  const norm = scale * Math.sqrt(ss + sx0 * sx0);
  const beta = x0 >= 0 ? -norm : norm;
  tau[k] = (beta - x0) / beta;
  e[k] = beta;
  const inv = 1 / (x0 - beta);
  for (let j = lo + 1; j < n; j++) {
    const vj = A[rowK + j]! * inv;
    v[j] = vj;
    A[rowK + j] = vj;
  }
}

/** out[lo..n-1] = B v for the symmetric block B = A[lo:, lo:] stored in its upper triangle. */
function symmetricMatvecUpper(
  A: Float64Array,
  n: number,
  lo: number,
  v: Float64Array,
  out: Float64Array,
): void {
  out.fill(0, lo, n);
  for (let i = lo; i < n; i++) {
    const ri = i * n;
    const vi = v[i]!;
    let s = A[ri + i]! * vi;
    for (let j = i + 1; j < n; j++) {
      const aij = A[ri + j]!;
      s += aij * v[j]!;
      out[j]! += aij * vi;
    }
    out[i]! += s;
  }
}

/**
 * Builds `Qᵀ = H_{n-3} ... H_0` (row-major) from the reflectors stored in `A`'s rows.
 *
 * Row i of `Qᵀ` is `e_iᵀ H_{n-3} ... H_0`; rows are independent, and `H_k` leaves row i alone
 * while k >= i. So rows are processed in blocks that stay in cache while the reflectors stream
 * past them. Reflectors are applied two at a time (a 2-term compact WY update): for a row x,
 *
 *   a = tau_k (x·v_k),   b = tau_{k-1} (x·v_{k-1} − a (v_k·v_{k-1})),   x <- x − a v_k − b v_{k-1}
 *
 * equals applying H_k then H_{k-1}, with one read pass and one write pass over x.
 */
function accumulateQt(A: Float64Array, n: number, tau: Float64Array): Float64Array {
  const X = new Float64Array(n * n);
  for (let i = 0; i < n; i++) X[i * n + i] = 1;
  const rowsPerBlock = Math.max(4, Math.floor(BLOCK_BYTES / 2 / (8 * Math.max(n, 1))));
  for (let i0 = 1; i0 < n; i0 += rowsPerBlock) {
    const i1 = Math.min(n, i0 + rowsPerBlock);
    let k = Math.min(i1 - 2, n - 3);
    for (; k >= 1; k -= 2) {
      const tk = tau[k]!;
      const tk1 = tau[k - 1]!;
      const rk = k * n; // v_k on columns k+1..n-1
      const rk1 = (k - 1) * n; // v_{k-1} on columns k..n-1
      let gamma = 0;
      for (let j = k + 1; j < n; j++) gamma += A[rk + j]! * A[rk1 + j]!;
      const vk1k = A[rk1 + k]!;
      for (let i = Math.max(i0, k); i < i1; i++) {
        const ri = i * n;
        let d1a = 0;
        let d1b = 0;
        let d2a = X[ri + k]! * vk1k;
        let d2b = 0;
        let j = k + 1;
        for (; j + 1 < n; j += 2) {
          const x0 = X[ri + j]!;
          const x1 = X[ri + j + 1]!;
          d1a += x0 * A[rk + j]!;
          d1b += x1 * A[rk + j + 1]!;
          d2a += x0 * A[rk1 + j]!;
          d2b += x1 * A[rk1 + j + 1]!;
        }
        if (j < n) {
          const x0 = X[ri + j]!;
          d1a += x0 * A[rk + j]!;
          d2a += x0 * A[rk1 + j]!;
        }
        const a = tk * (d1a + d1b);
        const b = tk1 * (d2a + d2b - a * gamma);
        if (a === 0 && b === 0) continue;
        X[ri + k]! -= b * vk1k;
        for (let jj = k + 1; jj < n; jj++) X[ri + jj]! -= a * A[rk + jj]! + b * A[rk1 + jj]!;
      }
    }
    if (k === 0) {
      // One reflector left (H_0 acts on columns 1..n-1).
      const t = tau[0]!;
      if (t !== 0) {
        for (let i = Math.max(i0, 1); i < i1; i++) {
          const ri = i * n;
          let s = 0;
          for (let j = 1; j < n; j++) s += X[ri + j]! * A[j]!;
          const f = t * s;
          if (f === 0) continue;
          for (let j = 1; j < n; j++) X[ri + j]! -= f * A[j]!;
        }
      }
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
 * streaming the whole matrix once per sweep.
 */
class RotationBatch {
  private readonly c: Float64Array;
  private readonly s: Float64Array;
  private readonly sweepL: Int32Array;
  private readonly sweepM: Int32Array;
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
    const { Zt, n, width } = this;
    const cs = this.c;
    const sn = this.s;
    for (let k0 = 0; k0 < n; k0 += width) {
      const w = Math.min(n, k0 + width) - k0;
      let q = 0;
      for (let sw = 0; sw < this.sweeps; sw++) {
        const l = this.sweepL[sw]!;
        const m = this.sweepM[sw]!;
        let i = m - 1;
        // Two consecutive rotations (i, then i-1) per pass over rows i-1, i, i+1: three loads
        // and three stores instead of four of each.
        for (; i - 1 >= l; i -= 2, q += 2) {
          const c1 = cs[q]!;
          const s1 = sn[q]!;
          const c2 = cs[q + 1]!;
          const s2 = sn[q + 1]!;
          const end = i * n + k0 + w;
          for (let p = i * n + k0; p < end; p++) {
            const below = Zt[p + n]!;
            const mid = Zt[p]!;
            const above = Zt[p - n]!;
            Zt[p + n] = s1 * mid + c1 * below;
            const carried = c1 * mid - s1 * below;
            Zt[p] = s2 * above + c2 * carried;
            Zt[p - n] = c2 * above - s2 * carried;
          }
        }
        if (i === l) {
          const c = cs[q]!;
          const s = sn[q]!;
          const end = i * n + k0 + w;
          for (let p = i * n + k0; p < end; p++) {
            const zi = Zt[p]!;
            const h = Zt[p + n]!;
            Zt[p + n] = s * zi + c * h;
            Zt[p] = c * zi - s * h;
          }
          q++;
        }
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
  // Only eigenpairs with f != 0 contribute: out = Σ_j f_j v_j v_jᵀ = Wf Wt, with the kept
  // eigenvectors as rows of Wt (r x n) and Wf[i][q] = f_q V[i][q] (n x r). Only the upper
  // triangle is computed, then mirrored.
  const r = keep.length;
  const Wt = new Float64Array(r * n);
  const Wf = new Float64Array(n * r);
  for (let i = 0; i < n; i++) {
    for (let q = 0; q < r; q++) {
      const x = vectors[i * n + keep[q]!]!;
      Wt[q * n + i] = x;
      Wf[i * r + q] = fv[keep[q]!]! * x;
    }
  }
  const out = new Float64Array(n * n);
  gemmAccumulate(Wf, Wt, out, n, r, n, true);
  for (let i = 0; i < n; i++) {
    for (let k = i + 1; k < n; k++) out[k * n + i] = out[i * n + k]!;
  }
  return out;
}

/** Rows of C updated together while one pair of rows of B streams past (fits in L1/L2). */
const GEMM_ROW_BLOCK = 8;

/**
 * `C += A B` (A: m x k, B: k x n, all row-major). Rows of C are processed in small blocks; for
 * each block, B is streamed once, two rows at a time, with fused axpys
 * `C[i, :] += a_ip B[p, :] + a_i(p+1) B[p+1, :]`, so the inner loop is contiguous. With
 * `upperOnly`, only columns j >= i of row i are computed (symmetric results).
 */
function gemmAccumulate(
  a: Float64Array,
  b: Float64Array,
  c: Float64Array,
  m: number,
  k: number,
  n: number,
  upperOnly: boolean,
): void {
  for (let i0 = 0; i0 < m; i0 += GEMM_ROW_BLOCK) {
    const i1 = Math.min(m, i0 + GEMM_ROW_BLOCK);
    let p = 0;
    for (; p + 1 < k; p += 2) {
      const b0 = p * n;
      const b1 = b0 + n;
      for (let i = i0; i < i1; i++) {
        const x0 = a[i * k + p]!;
        const x1 = a[i * k + p + 1]!;
        if (x0 === 0 && x1 === 0) continue;
        const ci = i * n;
        for (let j = upperOnly ? i : 0; j < n; j++) c[ci + j]! += x0 * b[b0 + j]! + x1 * b[b1 + j]!;
      }
    }
    if (p < k) {
      const b0 = p * n;
      for (let i = i0; i < i1; i++) {
        const x0 = a[i * k + p]!;
        if (x0 === 0) continue;
        const ci = i * n;
        for (let j = upperOnly ? i : 0; j < n; j++) c[ci + j]! += x0 * b[b0 + j]!;
      }
    }
  }
}

/**
 * `C = A B` for row-major float64 matrices (A: m x k, B: k x n); the inner loop runs over
 * contiguous rows of B and C, in row blocks of C (see `gemmAccumulate`).
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
  gemmAccumulate(a, b, c, m, k, n, false);
  return c;
}
