/**
 * Linear probe: how much class information a trained encoder's features carry, measured the same
 * way for every method, so that modality imbalance can be compared across methods whose own
 * per-modality numbers come from different protocols (weight slices, own heads, zeroed passes...).
 *
 * Recipe (`LINEAR_PROBE_RECIPE`), one per modality m:
 *   1. features: `features/<m>` of `model.forward(inputs, { training: false })` (inference mode,
 *      no augmentation, unshuffled) on the train and test splits, from whatever weights the model
 *      holds (load the selected checkpoint first);
 *   2. train rows: all of them up to `maxTrainSamples` (default 10,000), else that many at evenly
 *      spaced positions of the unshuffled train split (deterministic, and a cap on the fit's cost);
 *   3. standardise each feature with the train rows' mean and population std (a constant feature
 *      becomes 0);
 *   4. fit multinomial logistic regression z = x W + b by minimising
 *        L(W, b) = mean_i [ logsumexp(z_i) - z_i[y_i] ] + (l2 / 2) ||W||_F^2      (b not penalised)
 *      with L-BFGS (history 10, Armijo backtracking from step 1, W = b = 0 at the start), in float64
 *      on the host, until the largest gradient entry is below `tolerance` (1e-6) or after
 *      `maxIterations` (200) iterations: the same arithmetic on every backend, and the same answer
 *      for the same features;
 *   5. score: accuracy of argmax z on the test split.
 *
 * Why these choices: standardisation makes one penalty fit encoders whose feature scales differ
 * (post-ReLU CNN features, MLP features); the objective is strictly convex (l2 > 0), so the fit has
 * one answer whatever the optimizer, and l2 = 1e-3 keeps the weights bounded on linearly
 * separable features (where the unpenalised optimum is at infinity) while being too small to cost
 * accuracy on them; L-BFGS reaches that optimum to the tolerance in a few dozen iterations on the
 * encoders of this project, where plain gradient descent would need thousands.
 *
 *   const probe = await linearProbe(model, dataset);          // after loading the selected weights
 *   probe.accuracy;                                           // { audio: 0.61, visual: 0.83 }
 */
import {
  IgmArgumentError,
  type MultimodalDataset,
  type MultimodalModelLike,
  type Split,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { inferenceBatches } from './evaluate';
import { logisticObjective, objectiveScratch } from './logistic-objective';

/** Options of {@link fitLogisticRegression}. */
export interface LogisticRegressionOptions {
  /** L2 penalty on W: the objective adds (l2 / 2) ||W||^2 to the mean loss. Default 1e-3. */
  readonly l2?: number;
  /** Most L-BFGS iterations. Default 200. */
  readonly maxIterations?: number;
  /** Stop when max |gradient entry| < tolerance. Default 1e-6. */
  readonly tolerance?: number;
  /** L-BFGS memory (pairs kept). Default 10. */
  readonly history?: number;
}

/** A fitted multinomial logistic regression z = x W + b. */
export interface LogisticRegressionFit {
  /** W, row-major [d, C]. */
  readonly weights: Float64Array;
  /** b, [C]. */
  readonly bias: Float64Array;
  readonly inputDim: number;
  readonly numClasses: number;
  /** Objective at the returned weights. */
  readonly loss: number;
  readonly iterations: number;
  /** max |gradient entry| at the returned weights. */
  readonly gradientMax: number;
  /**
   * Whether the tolerance was reached (else the iteration limit, or no further decrease of the
   * objective in float64).
   */
  readonly converged: boolean;
}

function check(
  where: string,
  n: number,
  d: number,
  x: ArrayLike<number>,
  labels: ArrayLike<number>,
) {
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(d) || d < 1) {
    throw new IgmArgumentError(
      `${where}: received n=${n}, d=${d}. Expected positive integers (rows, features).`,
    );
  }
  if (x.length !== n * d) {
    throw new IgmArgumentError(
      `${where}: features have ${x.length} values; expected n * d = ${n} * ${d} = ${n * d} (row-major).`,
    );
  }
  if (labels.length !== n) {
    throw new IgmArgumentError(`${where}: received ${labels.length} labels for ${n} rows.`);
  }
}

function positive(where: string, key: string, v: number, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    throw new IgmArgumentError(
      `${where}: received ${key}=${String(v)}. Expected a ${integer ? 'non-negative integer' : 'non-negative number'}.`,
    );
  }
  return v;
}

/** Per-feature mean and scale (population std; 1 for a constant feature) of row-major [n, d]. */
export interface Standardizer {
  readonly mean: Float64Array;
  readonly scale: Float64Array;
}

export function fitStandardizer(x: ArrayLike<number>, n: number, d: number): Standardizer {
  const mean = new Float64Array(d);
  const sq = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k]! += x[i * d + k]!;
  for (let k = 0; k < d; k++) mean[k]! /= n;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) {
      const c = x[i * d + k]! - mean[k]!;
      sq[k]! += c * c;
    }
  }
  const scale = new Float64Array(d);
  for (let k = 0; k < d; k++) {
    const std = Math.sqrt(sq[k]! / n);
    scale[k] = std > 1e-12 ? std : 1;
  }
  return { mean, scale };
}

/** (x - mean) / scale, as float64. */
export function standardize(
  s: Standardizer,
  x: ArrayLike<number>,
  n: number,
  d: number,
): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) out[i * d + k] = (x[i * d + k]! - s.mean[k]!) / s.scale[k]!;
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j]! * b[j]!;
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs(a[j]!));
  return m;
}

/**
 * Fits multinomial logistic regression with an L2 penalty by L-BFGS (module doc, step 4) on
 * row-major features `x` [n, d] (used as given: standardise first) and integer labels in [0, C).
 * Deterministic: the same inputs give bit-identical weights.
 */
export function fitLogisticRegression(
  x: ArrayLike<number>,
  n: number,
  d: number,
  labels: ArrayLike<number>,
  numClasses: number,
  options: LogisticRegressionOptions = {},
): LogisticRegressionFit {
  const where = 'fitLogisticRegression';
  check(where, n, d, x, labels);
  const C = numClasses;
  if (!Number.isInteger(C) || C < 2) {
    throw new IgmArgumentError(`${where}: received numClasses=${C}. Expected an integer >= 2.`);
  }
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= C) {
      throw new IgmArgumentError(
        `${where}: label ${y} at row ${i} is outside [0, ${C - 1}] (numClasses=${C}).`,
      );
    }
  }
  const l2 = positive(where, 'l2', options.l2 ?? 1e-3);
  const maxIterations = positive(where, 'maxIterations', options.maxIterations ?? 200, true);
  const tolerance = positive(where, 'tolerance', options.tolerance ?? 1e-6);
  const history = Math.max(1, positive(where, 'history', options.history ?? 10, true));
  const xs = Float64Array.from(x as ArrayLike<number>);
  const P = d * C + C;
  let theta = new Float64Array(P);
  let grad = new Float64Array(P);
  const scratch = objectiveScratch(n, C);
  let f = logisticObjective(theta, grad, xs, labels, n, d, C, l2, scratch);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const nextGrad = new Float64Array(P);
  const next = new Float64Array(P);
  const dir = new Float64Array(P);
  let iterations = 0;
  let converged = maxAbs(grad) < tolerance;
  while (!converged && iterations < maxIterations) {
    // Two-loop recursion: dir = -H grad.
    for (let j = 0; j < P; j++) dir[j] = -grad[j]!;
    const alpha: number[] = [];
    for (let h = S.length - 1; h >= 0; h--) {
      const a = rho[h]! * dot(S[h]!, dir);
      alpha[h] = a;
      const y = Y[h]!;
      for (let j = 0; j < P; j++) dir[j]! -= a * y[j]!;
    }
    if (S.length) {
      const last = S.length - 1;
      const gamma = dot(S[last]!, Y[last]!) / dot(Y[last]!, Y[last]!);
      for (let j = 0; j < P; j++) dir[j]! *= gamma;
    }
    for (let h = 0; h < S.length; h++) {
      const b = rho[h]! * dot(Y[h]!, dir);
      const s = S[h]!;
      for (let j = 0; j < P; j++) dir[j]! += (alpha[h]! - b) * s[j]!;
    }
    let slope = dot(grad, dir);
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      for (let j = 0; j < P; j++) dir[j] = -grad[j]!;
      slope = dot(grad, dir);
    }
    let step = S.length ? 1 : Math.min(1, 1 / Math.sqrt(-slope));
    let fNext = Number.POSITIVE_INFINITY;
    let accepted = false;
    for (let halvings = 0; halvings < 50; halvings++) {
      for (let j = 0; j < P; j++) next[j] = theta[j]! + step * dir[j]!;
      fNext = logisticObjective(next, nextGrad, xs, labels, n, d, C, l2, scratch);
      if (fNext <= f + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    // No decrease left in float64 (at the rounding floor of the objective): stop here.
    if (!accepted || !(fNext < f)) break;
    iterations++;
    const s = new Float64Array(P);
    const y = new Float64Array(P);
    for (let j = 0; j < P; j++) {
      s[j] = next[j]! - theta[j]!;
      y[j] = nextGrad[j]! - grad[j]!;
    }
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
      if (S.length > history) {
        S.shift();
        Y.shift();
        rho.shift();
      }
    }
    [theta, grad] = [Float64Array.from(next), Float64Array.from(nextGrad)];
    f = fNext;
    converged = maxAbs(grad) < tolerance;
  }
  return {
    weights: theta.slice(0, d * C),
    bias: theta.slice(d * C),
    inputDim: d,
    numClasses: C,
    loss: f,
    iterations,
    gradientMax: maxAbs(grad),
    converged,
  };
}

/** argmax_c (x W + b)_c for each row of row-major `x` [n, d] (first maximum on ties). */
export function predictLogisticRegression(
  fit: LogisticRegressionFit,
  x: ArrayLike<number>,
  n: number,
): Int32Array {
  const { inputDim: d, numClasses: C, weights, bias } = fit;
  if (x.length !== n * d) {
    throw new IgmArgumentError(
      `predictLogisticRegression: features have ${x.length} values; expected ${n} * ${d}.`,
    );
  }
  const out = new Int32Array(n);
  const z = new Float64Array(C);
  for (let i = 0; i < n; i++) {
    z.set(bias);
    for (let k = 0; k < d; k++) {
      const v = x[i * d + k]!;
      for (let c = 0; c < C; c++) z[c]! += v * weights[k * C + c]!;
    }
    let best = 0;
    for (let c = 1; c < C; c++) if (z[c]! > z[best]!) best = c;
    out[i] = best;
  }
  return out;
}

/** Features of one split: per modality row-major [n, d_m], and the labels. */
export interface SplitFeatures {
  readonly n: number;
  readonly labels: Int32Array;
  readonly features: Readonly<
    Record<string, { readonly dim: number; readonly values: Float32Array }>
  >;
}

/**
 * `features/<m>` of every modality on `split` (inference mode, unshuffled, no augmentation).
 * With `rows` (sorted indices into the split), only those rows are kept.
 */
export async function collectFeatures(
  model: MultimodalModelLike,
  dataset: MultimodalDataset,
  split: Split,
  { batchSize = 64, rows }: { batchSize?: number; rows?: readonly number[] } = {},
): Promise<SplitFeatures> {
  const modalities = model.modalities;
  const parts: Record<string, Float32Array[]> = Object.fromEntries(modalities.map((m) => [m, []]));
  const dims: Record<string, number> = {};
  const labels: number[] = [];
  let index = 0;
  let r = 0;
  for await (const batch of inferenceBatches(dataset, split, batchSize)) {
    const b = batch.labels.shape[0]!;
    const keep: number[] = [];
    if (rows) {
      while (r < rows.length && rows[r]! < index + b) keep.push(rows[r++]! - index);
    } else {
      for (let i = 0; i < b; i++) keep.push(i);
    }
    index += b;
    if (!keep.length) continue;
    const feats = tf.tidy(() => {
      const out = model.forward(batch.inputs, { training: false });
      return modalities.map((m) => {
        const f = out[`features/${m}`];
        if (!f || f.rank !== 2) {
          throw new IgmArgumentError(
            `linearProbe: the model has no 2-D output "features/${m}" (it produced ${Object.keys(out).join(', ')}). A MultimodalModelLike must expose each modality's encoder output as features/<m> [batch, d].`,
          );
        }
        return keep.length === b ? tf.clone(f) : tf.gather(f, keep);
      });
    });
    const values = await Promise.all(feats.map((t) => t.data() as Promise<Float32Array>));
    modalities.forEach((m, i) => {
      dims[m] = feats[i]!.shape[1]!;
      parts[m]!.push(values[i]!);
    });
    tf.dispose(feats);
    const y = (await batch.labels.data()) as Int32Array;
    for (const i of keep) labels.push(y[i]!);
  }
  const features: Record<string, { dim: number; values: Float32Array }> = {};
  for (const m of modalities) {
    const values = new Float32Array(labels.length * (dims[m] ?? 0));
    let o = 0;
    for (const p of parts[m]!) {
      values.set(p, o);
      o += p.length;
    }
    features[m] = { dim: dims[m] ?? 0, values };
  }
  return { n: labels.length, labels: Int32Array.from(labels), features };
}

/** Options of {@link linearProbe}. */
export interface LinearProbeOptions extends LogisticRegressionOptions {
  /** Inference batch size. Default 64. */
  readonly batchSize?: number;
  /** Train rows used for the fit, at most (evenly spaced when the split is larger). Default 10,000. */
  readonly maxTrainSamples?: number;
}

/** What {@link linearProbe} measured. */
export interface LinearProbeResult {
  /** The recipe, as a sentence (recorded with the numbers). */
  readonly recipe: string;
  /** Test accuracy of the probe, per modality. */
  readonly accuracy: Readonly<Record<string, number>>;
  /** Accuracy on the train rows it was fitted on, per modality. */
  readonly trainAccuracy: Readonly<Record<string, number>>;
  readonly trainSamples: number;
  readonly testSamples: number;
  /** L-BFGS iterations and whether the tolerance was reached, per modality. */
  readonly iterations: Readonly<Record<string, number>>;
  readonly converged: Readonly<Record<string, boolean>>;
}

/** The recipe sentence for these options (module doc). */
export function linearProbeRecipe(options: LinearProbeOptions = {}): string {
  return `multinomial logistic regression on standardised features/<m> (inference mode), L2 ${options.l2 ?? 1e-3}, L-BFGS(${options.history ?? 10}) to max|grad| < ${options.tolerance ?? 1e-6} or ${options.maxIterations ?? 200} iterations, float64; fit on <= ${options.maxTrainSamples ?? 10000} train rows (evenly spaced), scored on test`;
}

/** The default recipe, `linearProbeRecipe()`. */
export const LINEAR_PROBE_RECIPE = linearProbeRecipe();

function accuracyOf(pred: Int32Array, labels: Int32Array): number {
  let hit = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) hit++;
  return labels.length ? hit / labels.length : Number.NaN;
}

/**
 * The linear probe of every modality's encoder of `model` (module doc): fit on the train split,
 * accuracy on the test split. Uses the weights the model holds now.
 */
export async function linearProbe(
  model: MultimodalModelLike,
  dataset: MultimodalDataset,
  options: LinearProbeOptions = {},
): Promise<LinearProbeResult> {
  const where = 'linearProbe';
  const cap = positive(where, 'maxTrainSamples', options.maxTrainSamples ?? 10000, true);
  const trainSize = dataset.splitSizes.train ?? 0;
  const testSize = dataset.splitSizes.test ?? 0;
  if (trainSize < 1 || testSize < 1) {
    throw new IgmArgumentError(
      `${where}: dataset "${dataset.name}" has ${trainSize} train and ${testSize} test samples; the probe needs both splits.`,
    );
  }
  const rows =
    trainSize > cap
      ? Array.from({ length: cap }, (_, j) => Math.floor((j * trainSize) / cap))
      : undefined;
  const batchSize = options.batchSize ?? 64;
  const train = await collectFeatures(model, dataset, 'train', {
    batchSize,
    ...(rows ? { rows } : {}),
  });
  const test = await collectFeatures(model, dataset, 'test', { batchSize });
  const accuracy: Record<string, number> = {};
  const trainAccuracy: Record<string, number> = {};
  const iterations: Record<string, number> = {};
  const converged: Record<string, boolean> = {};
  for (const m of model.modalities) {
    const d = train.features[m]!.dim;
    const std = fitStandardizer(train.features[m]!.values, train.n, d);
    const xTrain = standardize(std, train.features[m]!.values, train.n, d);
    const fit = fitLogisticRegression(xTrain, train.n, d, train.labels, model.numClasses, options);
    const xTest = standardize(std, test.features[m]!.values, test.n, d);
    accuracy[m] = accuracyOf(predictLogisticRegression(fit, xTest, test.n), test.labels);
    trainAccuracy[m] = accuracyOf(predictLogisticRegression(fit, xTrain, train.n), train.labels);
    iterations[m] = fit.iterations;
    converged[m] = fit.converged;
  }
  return {
    recipe: linearProbeRecipe(options),
    accuracy,
    trainAccuracy,
    trainSamples: train.n,
    testSamples: test.n,
    iterations,
    converged,
  };
}
