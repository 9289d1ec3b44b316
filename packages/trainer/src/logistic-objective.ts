/**
 * The objective the linear probe (probe.ts) minimises: the penalised multinomial logistic loss
 * and its gradient, in float64 on the host.
 */

/** Scratch of {@link logisticObjective} for n rows and C classes (reused across calls). */
export interface ObjectiveScratch {
  /** Per row: the logits, then p - onehot(y) (row-major [n, C]). */
  readonly residual: Float64Array;
}

export function objectiveScratch(n: number, C: number): ObjectiveScratch {
  return { residual: new Float64Array(n * C) };
}

/**
 * Objective and gradient of the penalised multinomial logistic loss at theta = [W (d x C), b (C)]
 * on row-major `x` [n, d]; `grad` is overwritten. Every sum runs in the order of the plain
 * row-by-row loop (a logit over k, a gradient entry and the loss over rows i, zero features
 * skipped), so the values are bit-identical to it; the work is arranged for speed: the logits of
 * all rows first (four rows, and two features where all eight values are non-zero, per pass over
 * W), then each gradient entry summed over four rows at a time in a local.
 */
export function logisticObjective(
  theta: Float64Array,
  grad: Float64Array,
  x: Float64Array,
  labels: ArrayLike<number>,
  n: number,
  d: number,
  C: number,
  l2: number,
  scratch: ObjectiveScratch = objectiveScratch(n, C),
): number {
  const r = scratch.residual;
  const bOff = d * C;
  // Logits z_i = b + sum_k x_ik W_k (over k in order, zero features skipped).
  for (let i = 0; i < n; i++) {
    const o = i * C;
    for (let c = 0; c < C; c++) r[o + c] = theta[bOff + c]!;
  }
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = i * C;
    const r1 = r0 + C;
    const r2 = r1 + C;
    const r3 = r2 + C;
    const x0 = i * d;
    for (let k = 0; k < d; k++) {
      const v0 = x[x0 + k]!;
      const v1 = x[x0 + d + k]!;
      const v2 = x[x0 + 2 * d + k]!;
      const v3 = x[x0 + 3 * d + k]!;
      const w = k * C;
      if (v0 !== 0 && v1 !== 0 && v2 !== 0 && v3 !== 0) {
        if (k + 1 < d) {
          const u0 = x[x0 + k + 1]!;
          const u1 = x[x0 + d + k + 1]!;
          const u2 = x[x0 + 2 * d + k + 1]!;
          const u3 = x[x0 + 3 * d + k + 1]!;
          if (u0 !== 0 && u1 !== 0 && u2 !== 0 && u3 !== 0) {
            // Features k and k + 1 of the four rows, added in that order.
            const w1 = w + C;
            for (let c = 0; c < C; c++) {
              const t = theta[w + c]!;
              const t1 = theta[w1 + c]!;
              r[r0 + c] = r[r0 + c]! + v0 * t + u0 * t1;
              r[r1 + c] = r[r1 + c]! + v1 * t + u1 * t1;
              r[r2 + c] = r[r2 + c]! + v2 * t + u2 * t1;
              r[r3 + c] = r[r3 + c]! + v3 * t + u3 * t1;
            }
            k++;
            continue;
          }
        }
        for (let c = 0; c < C; c++) {
          const t = theta[w + c]!;
          r[r0 + c]! += v0 * t;
          r[r1 + c]! += v1 * t;
          r[r2 + c]! += v2 * t;
          r[r3 + c]! += v3 * t;
        }
      } else {
        if (v0 !== 0) for (let c = 0; c < C; c++) r[r0 + c]! += v0 * theta[w + c]!;
        if (v1 !== 0) for (let c = 0; c < C; c++) r[r1 + c]! += v1 * theta[w + c]!;
        if (v2 !== 0) for (let c = 0; c < C; c++) r[r2 + c]! += v2 * theta[w + c]!;
        if (v3 !== 0) for (let c = 0; c < C; c++) r[r3 + c]! += v3 * theta[w + c]!;
      }
    }
  }
  for (; i < n; i++) {
    const o = i * C;
    for (let k = 0; k < d; k++) {
      const v = x[i * d + k]!;
      if (v === 0) continue;
      const w = k * C;
      for (let c = 0; c < C; c++) r[o + c]! += v * theta[w + c]!;
    }
  }
  // Softmax, the loss (summed over rows in order) and the residual p - onehot(y) of each row.
  let loss = 0;
  for (let row = 0; row < n; row++) {
    const o = row * C;
    let max = r[o]!;
    for (let c = 1; c < C; c++) if (r[o + c]! > max) max = r[o + c]!;
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp(r[o + c]! - max);
      r[o + c] = e;
      sum += e;
    }
    const y = labels[row]!;
    loss += Math.log(sum) - Math.log(r[o + y]!);
    for (let c = 0; c < C; c++) r[o + c] = r[o + c]! / sum;
    r[o + y]! -= 1;
  }
  // Gradient: b's entries sum the residuals over rows; W's entry (k, c) sums x_ik r_ic over rows
  // (in order, zero features skipped), each in a local from 0.
  for (let c = 0; c < C; c++) {
    let g = 0;
    for (let row = 0; row < n; row++) g += r[row * C + c]!;
    grad[bOff + c] = g;
  }
  grad.fill(0, 0, bOff);
  i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = i * C;
    const r1 = r0 + C;
    const r2 = r1 + C;
    const r3 = r2 + C;
    const x0 = i * d;
    for (let k = 0; k < d; k++) {
      const v0 = x[x0 + k]!;
      const v1 = x[x0 + d + k]!;
      const v2 = x[x0 + 2 * d + k]!;
      const v3 = x[x0 + 3 * d + k]!;
      const w = k * C;
      if (v0 !== 0 && v1 !== 0 && v2 !== 0 && v3 !== 0) {
        for (let c = 0; c < C; c++) {
          let g = grad[w + c]!;
          g += v0 * r[r0 + c]!;
          g += v1 * r[r1 + c]!;
          g += v2 * r[r2 + c]!;
          g += v3 * r[r3 + c]!;
          grad[w + c] = g;
        }
      } else {
        for (let c = 0; c < C; c++) {
          let g = grad[w + c]!;
          if (v0 !== 0) g += v0 * r[r0 + c]!;
          if (v1 !== 0) g += v1 * r[r1 + c]!;
          if (v2 !== 0) g += v2 * r[r2 + c]!;
          if (v3 !== 0) g += v3 * r[r3 + c]!;
          grad[w + c] = g;
        }
      }
    }
  }
  for (; i < n; i++) {
    const o = i * C;
    for (let k = 0; k < d; k++) {
      const v = x[i * d + k]!;
      if (v === 0) continue;
      const w = k * C;
      for (let c = 0; c < C; c++) grad[w + c]! += v * r[o + c]!;
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
