/**
 * PCA energy removal, the image difficulty knob of AV-MNIST (as described in the AV-MNIST
 * literature: "remove 75 % of the image energy with PCA").
 *
 * Fit (training images only): mean mu, covariance S = (X - mu)^T (X - mu) / n, eigenpairs
 * (lambda_i, v_i) in decreasing order. Keep the smallest k with
 * sum_{i<k} lambda_i >= (1 - removed) * sum_i lambda_i. Each image becomes
 *
 *   x' = clip(mu + V_k V_k^T (x - mu), 0, 1),
 *
 * i.e. only its projection on the k leading components survives, so about `removed` of the
 * centred energy (variance) is gone.
 */
import { symmetricEigen } from '@igm/linalg';

export interface PcaFit {
  readonly dim: number;
  readonly mean: Float64Array;
  /** Eigenvalues in decreasing order. */
  readonly values: Float64Array;
  /** k kept components, row-major [k, dim] (row i = i-th leading eigenvector). */
  readonly components: Float64Array;
  readonly kept: number;
  /** Fraction of the centred training energy the kept components carry. */
  readonly retainedEnergy: number;
}

/**
 * Fits the PCA on `rows` samples of `dim` values (row-major) and chooses k for `removed`.
 * Pixels with zero training variance are left out of the eigenproblem (they carry no energy),
 * and with fewer samples than active pixels the n x n Gram matrix is decomposed instead of the
 * covariance (same nonzero spectrum; v_i = Xc^T u_i / sqrt(n lambda_i)).
 */
export function fitPcaEnergy(
  data: Float32Array,
  rows: number,
  dim: number,
  removed: number,
): PcaFit {
  const mean = new Float64Array(dim);
  for (let r = 0; r < rows; r++) for (let j = 0; j < dim; j++) mean[j]! += data[r * dim + j]!;
  for (let j = 0; j < dim; j++) mean[j]! /= rows;
  const variance = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dim; j++) variance[j]! += (data[r * dim + j]! - mean[j]!) ** 2;
  }
  const active: number[] = [];
  for (let j = 0; j < dim; j++) if (variance[j]! > 0) active.push(j);
  const p = active.length;
  // Centred data restricted to active pixels, [rows, p].
  const xc = new Float64Array(rows * p);
  for (let r = 0; r < rows; r++) {
    for (let a = 0; a < p; a++) xc[r * p + a] = data[r * dim + active[a]!]! - mean[active[a]!]!;
  }
  const useGram = rows < p;
  const m = useGram ? rows : p;
  const mat = new Float64Array(m * m);
  if (useGram) {
    for (let r = 0; r < rows; r++) {
      for (let s = r; s < rows; s++) {
        let acc = 0;
        for (let a = 0; a < p; a++) acc += xc[r * p + a]! * xc[s * p + a]!;
        mat[r * m + s] = acc / rows;
        mat[s * m + r] = acc / rows;
      }
    }
  } else {
    for (let r = 0; r < rows; r++) {
      const off = r * p;
      for (let a = 0; a < p; a++) {
        const ca = xc[off + a]!;
        if (ca === 0) continue;
        const row = a * m;
        for (let b = a; b < p; b++) mat[row + b]! += ca * xc[off + b]!;
      }
    }
    for (let a = 0; a < p; a++) {
      for (let b = a; b < p; b++) {
        const v = mat[a * m + b]! / rows;
        mat[a * m + b] = v;
        mat[b * m + a] = v;
      }
    }
  }
  const eig =
    m > 0 ? symmetricEigen(mat, m) : { values: new Float64Array(0), vectors: new Float64Array(0) };
  const values = new Float64Array(dim);
  for (let i = 0; i < m; i++) values[i] = Math.max(0, eig.values[m - 1 - i]!);
  const total = values.reduce((a, b) => a + b, 0);
  let kept = 0;
  let acc = 0;
  const target = (1 - removed) * total;
  while (kept < m && acc < target - 1e-12 * total) acc += values[kept++]!;
  const components = new Float64Array(kept * dim);
  for (let i = 0; i < kept; i++) {
    const col = m - 1 - i;
    if (useGram) {
      // v = Xc^T u / sqrt(n lambda), unit length when lambda > 0.
      const scale = 1 / Math.sqrt(rows * Math.max(values[i]!, 1e-300));
      for (let a = 0; a < p; a++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s += xc[r * p + a]! * eig.vectors[r * m + col]!;
        components[i * dim + active[a]!] = s * scale;
      }
    } else {
      for (let a = 0; a < p; a++) components[i * dim + active[a]!] = eig.vectors[a * m + col]!;
    }
  }
  return { dim, mean, values, components, kept, retainedEnergy: total > 0 ? acc / total : 1 };
}

/** x' = clip(mu + V_k V_k^T (x - mu), lo, hi) for every row, in place. */
export function applyPcaEnergy(
  fit: PcaFit,
  data: Float32Array,
  rows: number,
  lo = 0,
  hi = 1,
): void {
  const { dim, mean, components, kept } = fit;
  const centred = new Float64Array(dim);
  const coef = new Float64Array(kept);
  for (let r = 0; r < rows; r++) {
    const off = r * dim;
    for (let j = 0; j < dim; j++) centred[j] = data[off + j]! - mean[j]!;
    for (let i = 0; i < kept; i++) {
      let s = 0;
      const row = i * dim;
      for (let j = 0; j < dim; j++) s += components[row + j]! * centred[j]!;
      coef[i] = s;
    }
    for (let j = 0; j < dim; j++) {
      let v = mean[j]!;
      for (let i = 0; i < kept; i++) v += coef[i]! * components[i * dim + j]!;
      data[off + j] = Math.min(hi, Math.max(lo, v));
    }
  }
}
