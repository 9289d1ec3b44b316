/**
 * exp(B) for a symmetric matrix B whose spectrum lies in a known interval [-r, r], with tfjs
 * ops only (matmuls, adds), so it runs on whatever backend trains.
 *
 * Because B is symmetric, ||p(B) - exp(B)||_2 = max over the spectrum of |p(x) - e^x| <=
 * max_{|x| <= r} |p(x) - e^x|. We take p = the Chebyshev interpolant of e^x on [-r, r] (near
 * minimax), of the smallest degree m whose maximum error, measured on a fine grid in float64,
 * is below `tolerance`, and evaluate it with Paterson-Stockmeyer (about 2 sqrt(m) matmuls).
 * When r is large, scaling and squaring: exp(B) = exp(B / 2^s)^(2^s), the per-factor tolerance
 * divided by 2^s. For IGM's argument (r = tau/2 = 0.2 after centring) m = 4 reaches 1.7e-7:
 * two matmuls.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface ExpmPlan {
  /** Monomial coefficients of p in the variable S = B / r (p(S) ~ exp(B / 2^squarings)), low to high. */
  readonly coefficients: number[];
  readonly degree: number;
  readonly squarings: number;
  /** Bound on ||p(S)^(2^s) - exp(B)||_2 from the polynomial (first order in the squarings). */
  readonly errorBound: number;
  /** Matmuls the evaluation takes. */
  readonly matmuls: number;
}

const MAX_DEGREE = 12;

/** Chooses degree and squarings for exp on [-r, r] within `tolerance` (spectral norm). */
export function planExpm(r: number, tolerance: number): ExpmPlan {
  for (let s = 0; s < 40; s++) {
    const rs = r / 2 ** s;
    // Squaring amplifies a factor error e to about 2^s e e^r (first order).
    const amplification = s === 0 ? 1 : 2 ** s * Math.exp(r);
    const tol = tolerance / amplification;
    for (let m = 1; m <= MAX_DEGREE; m++) {
      const coefficients = chebyshevExpMonomial(rs, m);
      const err = maxError(coefficients, rs);
      if (err <= tol) {
        const ps = patersonStockmeyerCost(m);
        return {
          coefficients,
          degree: m,
          squarings: s,
          errorBound: err * amplification,
          matmuls: ps + s,
        };
      }
    }
  }
  throw new Error(`planExpm: cannot approximate exp on [-${r}, ${r}] to ${tolerance}`);
}

/**
 * exp(B) for symmetric `b` with spectrum in [-r, r], per `planExpm(r, tolerance)`. `b` is
 * not disposed. Call inside tf.tidy or dispose the result.
 */
export function expmSymmetric(b: tf.Tensor2D, plan: ExpmPlan, r: number): tf.Tensor2D {
  return tf.tidy(() => {
    // p(t) approximates exp((r / 2^s) t) on [-1, 1], so p(B / r) ~ exp(B / 2^s).
    const s = r > 0 ? (tf.mul(b, 1 / r) as tf.Tensor2D) : b;
    let x = evaluatePolynomial(s, plan.coefficients);
    for (let i = 0; i < plan.squarings; i++) x = tf.matMul(x, x);
    return x;
  });
}

/** Sum_k c_k S^k by Paterson-Stockmeyer: powers S..S^q, then Horner in S^q over blocks. */
function evaluatePolynomial(s: tf.Tensor2D, c: readonly number[]): tf.Tensor2D {
  const n = s.shape[0];
  const m = c.length - 1;
  const eye = identity(n);
  if (m === 0) return tf.mul(eye, c[0]!) as tf.Tensor2D;
  const q = Math.max(1, Math.round(Math.sqrt(m + 1)));
  const powers: tf.Tensor2D[] = [eye, s];
  for (let k = 2; k <= q; k++) powers.push(tf.matMul(powers[k - 1]!, s));
  // Blocks: p = sum_j (S^q)^j * B_j(S), B_j = sum_{i<q} c_{jq+i} S^i (last block may use S^q).
  const blocks = Math.floor(m / q) + 1;
  const block = (j: number, withTop: boolean): tf.Tensor2D => {
    let acc: tf.Tensor2D | undefined;
    const top = withTop ? q : q - 1;
    for (let i = 0; i <= top; i++) {
      const idx = j * q + i;
      if (idx > m) break;
      const term = tf.mul(powers[i]!, c[idx]!) as tf.Tensor2D;
      acc = acc ? (tf.add(acc, term) as tf.Tensor2D) : term;
    }
    return acc ?? (tf.zerosLike(s) as tf.Tensor2D);
  };
  // If the top block would be c_m * S^q alone, fold it into the block below (saves a matmul).
  let last = blocks - 1;
  let acc: tf.Tensor2D;
  if (last > 0 && m === last * q) {
    last -= 1;
    acc = block(last, true);
  } else {
    acc = block(last, false);
  }
  for (let j = last - 1; j >= 0; j--) {
    acc = tf.add(tf.matMul(acc, powers[q]!), block(j, false)) as tf.Tensor2D;
  }
  return acc;
}

/**
 * `value` times the d x d identity, uploaded from a host buffer: `tf.eye` builds it element by element and
 * takes ~0.2 s at d = 1024 on wasm.
 */
export function identity(d: number, value = 1): tf.Tensor2D {
  const data = new Float32Array(d * d);
  for (let i = 0; i < d; i++) data[i * d + i] = value;
  return tf.tensor2d(data, [d, d]);
}

function patersonStockmeyerCost(m: number): number {
  const q = Math.max(1, Math.round(Math.sqrt(m + 1)));
  let last = Math.floor(m / q);
  if (last > 0 && m === last * q) last -= 1;
  return q - 1 + last;
}

/**
 * Monomial coefficients (in t = x / r, t in [-1, 1]) of the degree-m Chebyshev interpolant of
 * e^{r t}, float64.
 */
function chebyshevExpMonomial(r: number, m: number): number[] {
  const n = m + 1;
  // Chebyshev coefficients from the values at the n Chebyshev nodes of the first kind.
  const cheb = new Array<number>(n).fill(0);
  for (let j = 0; j < n; j++) {
    let sum = 0;
    for (let k = 0; k < n; k++) {
      const theta = (Math.PI * (k + 0.5)) / n;
      sum += Math.exp(r * Math.cos(theta)) * Math.cos(j * theta);
    }
    cheb[j] = ((j === 0 ? 1 : 2) / n) * sum;
  }
  // T_j in monomials: T_0 = 1, T_1 = t, T_{j+1} = 2 t T_j - T_{j-1}.
  const mono = new Float64Array(n);
  let prev = Float64Array.of(1);
  let cur = Float64Array.of(0, 1);
  mono[0]! += cheb[0]!;
  if (n > 1) mono[1]! += cheb[1]!;
  for (let j = 2; j < n; j++) {
    const next = new Float64Array(j + 1);
    for (let i = 0; i < cur.length; i++) next[i + 1]! += 2 * cur[i]!;
    for (let i = 0; i < prev.length; i++) next[i]! -= prev[i]!;
    for (let i = 0; i <= j; i++) mono[i]! += cheb[j]! * next[i]!;
    prev = cur;
    cur = next;
  }
  return Array.from(mono);
}

function maxError(mono: readonly number[], r: number): number {
  let worst = 0;
  const samples = 2001;
  for (let i = 0; i < samples; i++) {
    const t = -1 + (2 * i) / (samples - 1);
    let p = 0;
    for (let k = mono.length - 1; k >= 0; k--) p = p * t + mono[k]!;
    worst = Math.max(worst, Math.abs(p - Math.exp(r * t)));
  }
  return worst;
}
