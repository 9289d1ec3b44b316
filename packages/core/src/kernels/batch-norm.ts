/**
 * Training-mode batch normalization as two tfjs kernels, bit for bit the op composition's
 * values and gradients.
 *
 * In training mode a BatchNorm layer (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating
 * Deep Network Training by Reducing Internal Covariate Shift") normalizes x [..., C] (channels
 * last) with the statistics of the batch, over the R = size / C positions of each channel:
 *
 *   mean_c = (1/R) sum_r x_rc,   var_c = (1/R) sum_r (x_rc - mean_c)^2   (biased)
 *   y_rc   = (x_rc - mean_c) * gamma_c / sqrt(var_c + eps) + beta_c
 *
 * and its gradient includes the paths through mean and var. The tfjs way,
 * `tf.moments(x, axes)` then `tf.batchNorm(x, mean, variance, beta, gamma, eps)` differentiated by
 * autodiff, runs about 25 kernels per layer and step, each a full pass over the activation. Here:
 *
 * - {@link IgmBatchNormTraining}: x, scale (gamma), offset (beta) -> y, mean, variance.
 * - {@link IgmBatchNormTrainingGrad}: dy, x, scale, mean, variance -> dx, dScale, dOffset.
 *
 * {@link batchNormTraining} runs them (with a registered gradient) when the active backend has
 * both, else the composition. The kernels reproduce the composition's float32 roundings and
 * summation orders exactly; the rounding of a step can differ between backends (cpu and
 * @igm/wasm-training's wasm kernels), so each backend's kernel follows its own backend. The
 * formulas, with (+) (-) (*) (/) float32 operations and S_r a float64 sum over rows in row order
 * rounded once to float32 (how both backends' Sum kernels reduce leading axes):
 *
 * Forward, cpu (Mean is a RealDiv by float32(R) then a Sum):
 *   mean_c = S_r (x_rc (/) R),  d_rc = x_rc (-) mean_c,  var_c = S_r ((d_rc (*) d_rc) (/) R)
 *   y_rc   = float32 of the float64 beta_c + (x_rc - mean_c) * gamma_c / sqrt(var_c + eps)
 * Forward, wasm (@igm/wasm-training's Mean: the float64 sum divided by R in float64):
 *   mean_c = float32(sum_r x_rc / R),  var_c = float32(sum_r (d_rc (*) d_rc) / R),
 *   y = the backend's FusedBatchNorm kernel.
 *
 * Backward (the gradients of Mean, Sub, Square, Cast, Reshape and FusedBatchNorm in tfjs-core,
 * added as the engine accumulates them), on both backends:
 *   r_c  = rsqrt(var_c (+) float32(eps))   (the backend's Rsqrt kernel)
 *   h_c  = ((r_c (*) r_c) (*) r_c) (*) -0.5
 *   g_rc = dy_rc (*) gamma_c
 *   dMeanA_c = S_r ((-r_c) (*) g_rc),   dVar_c = S_r ((h_c (*) d_rc) (*) g_rc)
 *   dScale_c = S_r (dy_rc (*) (d_rc (*) r_c)),   dOffset_c = S_r dy_rc
 *   q_c  = dVar_c (/) R                  (the Mean gradient of the variance)
 *   e_rc = q_c (*) (d_rc (*) 2)          (the Square gradient)
 *   dMean_c = dMeanA_c (+) (-S_r e_rc)   (FusedBatchNorm's mean gradient plus the Sub's)
 *   dx_rc = (((dy_rc (*) r_c) (*) gamma_c) (+) e_rc) (+) (dMean_c (/) R)
 *
 * Fused ReLU (attribute `activation: 'relu'`, default `'none'`): the forward writes
 * out = relu(y) = max(y, 0) (NaN stays NaN, -0 becomes +0: the backends' Relu kernels) in place of
 * y, so `relu(batchNorm(x))` takes no separate Relu pass. The backward then also takes `out` and
 * first forms the gradient tfjs-core's Relu gradient gives, dy (*) step(out) with step = 1 where
 * out > 0, NaN where out is NaN, else 0 (step(out) = step(y), since out > 0 iff y > 0), a float32
 * product that keeps dy's sign on zeros (-3 (*) 0 = -0); everything above then runs on that in
 * place of dy. Values and gradients are bit for bit tf.moments + tf.batchNorm + tf.relu.
 *
 * Fused residual sum (input `residual`, attribute `residual: true`): the forward adds residual
 * [..., C] (x's shape) to y before the activation, out = act(y (+) residual), one float32
 * addition as the Add kernel, so a ResNet block's `relu(batchNorm(x) + shortcut)` is one kernel
 * (no Add, Relu, Step or Multiply pass). The backward's gradient of the residual is what reaches
 * y (the Add gradient passes it to both): dy (*) step(out) with the ReLU, written by the grad
 * kernel as a fourth output, or dy itself without an activation (the op reshapes dy; the kernel
 * is not asked for it).
 *
 * The mean and variance outputs are statistics for the running averages: gradients that reach
 * them from a loss are not propagated (use tf.moments + tf.batchNorm for a loss on them).
 * Bit-identity also assumes x feeds nothing else whose gradient the engine adds to dx before
 * this layer's (the composition would add its three terms to that one by one).
 *
 * This module imports no backend; {@link registerCpuBatchNormKernels} registers the JavaScript
 * loops below on cpu, and @igm/wasm-training registers SIMD versions on wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkChoice, checkKnownKeys, checkNumber, IgmArgumentError } from '../errors';
import {
  float32Output,
  type KernelArgs,
  type ReadWriteBackend,
  requireGradientKernel,
} from './kernel-support';

/**
 * Kernel name of the forward: inputs {x, scale, offset} (and {residual} with `residual: true`),
 * outputs [y, mean, variance] (y is act(y + residual) with the residual and `activation: 'relu'`).
 */
export const IgmBatchNormTraining = 'IgmBatchNormTraining';
/**
 * Kernel name of the backward: inputs {dy, x, scale, mean, variance} (and {out}, the forward's
 * output, with `activation: 'relu'`), outputs [dx, dScale, dOffset] (and dResidual, the gradient
 * of the residual, with `residual: true` and `activation: 'relu'`).
 */
export const IgmBatchNormTrainingGrad = 'IgmBatchNormTrainingGrad';

/** The activations the kernels can fuse: none, or ReLU (max(y, 0)) on the normalized output. */
export type BatchNormActivation = 'none' | 'relu';

const ACTIVATIONS: readonly BatchNormActivation[] = ['none', 'relu'];

/** Attributes of both kernels. */
export interface BatchNormTrainingAttrs {
  /** eps > 0 added to the variance (1e-5 in PyTorch's BatchNorm). */
  varianceEpsilon: number;
  /** Activation fused after the normalization; `'none'` when the attribute is absent. */
  activation: BatchNormActivation;
  /** Whether the forward adds its input `residual` before the activation; false when absent. */
  residual: boolean;
}

/** Inputs of {@link IgmBatchNormTraining}: x [..., C] (rank >= 2), scale and offset [C]; float32. */
export interface BatchNormTrainingInputs {
  x: tf.TensorInfo;
  scale: tf.TensorInfo;
  offset: tf.TensorInfo;
  /** Added to y before the activation (x's shape): present exactly when `residual` is true. */
  residual?: tf.TensorInfo;
}

/**
 * Inputs of {@link IgmBatchNormTrainingGrad}: dy and x [..., C]; scale, mean, variance [C]; with
 * activation 'relu' also out [..., C], the forward's (activated) output; float32.
 */
export interface BatchNormTrainingGradInputs {
  dy: tf.TensorInfo;
  x: tf.TensorInfo;
  scale: tf.TensorInfo;
  mean: tf.TensorInfo;
  variance: tf.TensorInfo;
  /** The forward's output relu(y): present exactly when the activation is 'relu'. */
  out?: tf.TensorInfo;
}

/** Positions per channel (R) and channels (C) of x [..., C]. */
export function batchNormGeometry(shape: readonly number[]): { rows: number; channels: number } {
  const channels = shape[shape.length - 1] ?? 1;
  return { rows: channels === 0 ? 0 : tf.util.sizeFromShape([...shape]) / channels, channels };
}

function checkFloat32(where: string, name: string, t: tf.TensorInfo | undefined): tf.TensorInfo {
  if (t === undefined) {
    throw new IgmArgumentError(`${where}: the input ${name} is missing.`);
  }
  if (t.dtype !== 'float32') {
    throw new IgmArgumentError(`${where}: input ${name} has dtype ${t.dtype}; expected float32.`);
  }
  return t;
}

function checkChannelVector(where: string, name: string, t: tf.TensorInfo, channels: number) {
  if (t.shape.length !== 1 || t.shape[0] !== channels) {
    throw new IgmArgumentError(
      `${where}: input ${name} has shape [${t.shape.join(', ')}]; expected [${channels}] (one value per channel of x).`,
    );
  }
}

function checkAttrs(where: string, attrs: Record<string, unknown> | undefined) {
  const varianceEpsilon = checkNumber(
    where,
    'attribute varianceEpsilon',
    attrs?.['varianceEpsilon'],
    { min: 0, minExclusive: true },
  );
  const activation = checkChoice(
    where,
    'attribute activation',
    attrs?.['activation'] ?? 'none',
    ACTIVATIONS,
  );
  const residual = attrs?.['residual'] ?? false;
  if (typeof residual !== 'boolean') {
    throw new IgmArgumentError(
      `${where}: attribute residual is ${JSON.stringify(residual)}; expected true or false.`,
    );
  }
  return { varianceEpsilon, activation, residual };
}

/** Input `name` float32 with x's shape. */
function checkSameShapeAsX(
  where: string,
  inputs: Record<string, tf.TensorInfo | undefined>,
  name: string,
  x: tf.TensorInfo,
): tf.TensorInfo {
  const t = checkFloat32(where, name, inputs[name]);
  if (!tf.util.arraysEqual(t.shape, x.shape)) {
    throw new IgmArgumentError(
      `${where}: input ${name} has shape [${t.shape.join(', ')}]; expected x's shape [${x.shape.join(', ')}].`,
    );
  }
  return t;
}

/** x float32 of rank >= 2 and the named inputs float32 vectors of x's channel count. */
function checkXAndVectors<N extends string>(
  where: string,
  inputs: Record<string, tf.TensorInfo | undefined>,
  names: readonly N[],
): { x: tf.TensorInfo; vectors: Record<N, tf.TensorInfo> } {
  const x = checkFloat32(where, 'x', inputs['x']);
  if (x.shape.length < 2) {
    throw new IgmArgumentError(
      `${where}: input x has shape [${x.shape.join(', ')}]; expected rank 2 or more with channels last.`,
    );
  }
  const { channels } = batchNormGeometry(x.shape);
  const vectors = {} as Record<N, tf.TensorInfo>;
  for (const name of names) {
    const t = checkFloat32(where, name, inputs[name]);
    checkChannelVector(where, name, t, channels);
    vectors[name] = t;
  }
  return { x, vectors };
}

/**
 * Checks a call of {@link IgmBatchNormTraining} (for the kernels of any backend): float32 x of
 * rank >= 2, scale and offset of shape [C], varianceEpsilon > 0, a float32 residual of x's shape
 * exactly when the attribute residual is true. Errors name the input or attribute and what was
 * expected.
 */
export function checkBatchNormTrainingCall(
  inputs: Record<string, tf.TensorInfo | undefined>,
  attrs: Record<string, unknown> | undefined,
): { inputs: BatchNormTrainingInputs; attrs: BatchNormTrainingAttrs } {
  const where = IgmBatchNormTraining;
  const { x, vectors } = checkXAndVectors(where, inputs, ['scale', 'offset']);
  const checked = checkAttrs(where, attrs);
  if (!checked.residual) {
    if (inputs['residual'] !== undefined) {
      throw new IgmArgumentError(
        `${where}: got an input residual but the attribute residual is not true; set it to add the residual.`,
      );
    }
    return { inputs: { x, ...vectors }, attrs: checked };
  }
  const residual = checkSameShapeAsX(where, inputs, 'residual', x);
  return { inputs: { x, ...vectors, residual }, attrs: checked };
}

/** Checks a call of {@link IgmBatchNormTrainingGrad}, as {@link checkBatchNormTrainingCall}. */
export function checkBatchNormTrainingGradCall(
  inputs: Record<string, tf.TensorInfo | undefined>,
  attrs: Record<string, unknown> | undefined,
): { inputs: BatchNormTrainingGradInputs; attrs: BatchNormTrainingAttrs } {
  const where = IgmBatchNormTrainingGrad;
  const { x, vectors } = checkXAndVectors(where, inputs, ['scale', 'mean', 'variance']);
  const sameShapeAsX = (name: string) => checkSameShapeAsX(where, inputs, name, x);
  const dy = sameShapeAsX('dy');
  const checked = checkAttrs(where, attrs);
  if (checked.activation === 'none') {
    return { inputs: { dy, x, ...vectors }, attrs: checked };
  }
  if (inputs['out'] === undefined) {
    throw new IgmArgumentError(
      `${where}: the input out (the forward's output) is missing; activation '${checked.activation}' needs it.`,
    );
  }
  return { inputs: { dy, x, ...vectors, out: sameShapeAsX('out') }, attrs: checked };
}

/**
 * The batch mean and biased variance of x (rows x C, row-major) per channel, into `mean` and
 * `variance`, as `tf.moments` computes them on cpu (`divideEach`: each element divided by
 * float32(R) before the float64 sum, the cpu Mean kernel) or with @igm/wasm-training's Mean
 * (`divideEach` false: the float64 sum divided by R). Both sum in row order and round once.
 */
export function batchMomentsInto(
  x: ArrayLike<number>,
  rows: number,
  channels: number,
  mean: Float32Array,
  variance: Float32Array,
  divideEach: boolean,
): void {
  const acc = new Float64Array(channels);
  const n32 = Math.fround(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * channels;
    for (let c = 0; c < channels; c++) {
      acc[c]! += divideEach ? Math.fround(x[o + c]! / n32) : x[o + c]!;
    }
  }
  for (let c = 0; c < channels; c++) mean[c] = divideEach ? acc[c]! : acc[c]! / rows;
  acc.fill(0);
  for (let r = 0; r < rows; r++) {
    const o = r * channels;
    for (let c = 0; c < channels; c++) {
      const d = Math.fround(x[o + c]! - mean[c]!);
      const sq = Math.fround(d * d);
      acc[c]! += divideEach ? Math.fround(sq / n32) : sq;
    }
  }
  for (let c = 0; c < channels; c++) variance[c] = divideEach ? acc[c]! : acc[c]! / rows;
}

/**
 * y = beta + (x - mean) * gamma / sqrt(var + eps) per element in float64, rounded once to
 * float32: the cpu backend's FusedBatchNorm kernel.
 */
export function cpuBatchNormOutputInto(
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  scale: ArrayLike<number>,
  offset: ArrayLike<number>,
  varianceEpsilon: number,
  y: Float32Array,
  channels: number,
): void {
  const n = y.length;
  for (let i = 0, c = 0; i < n; i++) {
    y[i] =
      offset[c]! + ((x[i]! - mean[c]!) * scale[c]!) / Math.sqrt(variance[c]! + varianceEpsilon);
    if (++c === channels) c = 0;
  }
}

/** In place: y[i] = y[i] (+) residual[i], as the cpu backend's Add (a float64 sum stored as float32). */
export function addInPlace(y: Float32Array, residual: ArrayLike<number>): void {
  for (let i = 0; i < y.length; i++) y[i] = y[i]! + residual[i]!;
}

/**
 * In place: y[i] = max(y[i], 0) as the cpu backend's Relu (Math.max(0, y)): NaN stays NaN, -0
 * becomes +0.
 */
export function reluInPlace(y: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] = Math.max(0, y[i]!);
}

/**
 * The gradient that reaches y through ReLU, as tfjs-core's Relu gradient computes it:
 * dst = dy (*) step(out) with step 1 where out > 0, NaN where out is NaN, else 0 (the Step
 * kernel), one float32 product each (so dy (*) 0 keeps dy's sign: -3 (*) 0 = -0).
 */
export function reluGradInto(
  dy: ArrayLike<number>,
  out: ArrayLike<number>,
  dst: Float32Array,
): void {
  for (let i = 0; i < dst.length; i++) {
    const o = out[i]!;
    dst[i] = dy[i]! * (Number.isNaN(o) ? Number.NaN : o > 0 ? 1 : 0);
  }
}

/** var (+) float32(eps) per channel: what the backward's Rsqrt reads. */
export function variancePlusEpsilon(
  variance: ArrayLike<number>,
  varianceEpsilon: number,
): Float32Array {
  const eps = Math.fround(varianceEpsilon);
  return Float32Array.from(variance, (v) => v + eps);
}

/** The cpu backend's Rsqrt: float32 of the float64 1 / sqrt(a). */
export function cpuRsqrt(a: Float32Array): Float32Array {
  return a.map((v) => 1 / Math.sqrt(v));
}

/** The per-channel factors of the backward from r = rsqrt(var + eps): h = r * r * r * -0.5. */
export function minusHalfCube(r: Float32Array): Float32Array {
  return r.map((v) => Math.fround(Math.fround(Math.fround(v * v) * v) * -0.5));
}

/** Float64 accumulators of the backward's first pass, one entry per channel. */
export interface BatchNormGradSums {
  /** S_r (-r) (*) g before rounding (FusedBatchNorm's mean gradient). */
  meanA: Float64Array;
  /** S_r (h (*) d) (*) g before rounding (FusedBatchNorm's variance gradient). */
  variance: Float64Array;
  /** S_r dy (*) (d (*) r) before rounding (dScale). */
  scale: Float64Array;
  /** S_r dy before rounding (dOffset). */
  offset: Float64Array;
}

/**
 * The backward's first pass over rows r0..r1 (row order), added into `sums`: see the module
 * comment for the terms.
 */
export function batchNormGradSumsInto(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  scale: ArrayLike<number>,
  r: ArrayLike<number>,
  h: ArrayLike<number>,
  sums: BatchNormGradSums,
  r0: number,
  r1: number,
  channels: number,
): void {
  const { meanA, variance, scale: sScale, offset } = sums;
  for (let row = r0; row < r1; row++) {
    const o = row * channels;
    for (let c = 0; c < channels; c++) {
      const g = dy[o + c]!;
      const d = Math.fround(x[o + c]! - mean[c]!);
      const gs = Math.fround(g * scale[c]!);
      meanA[c]! += Math.fround(-r[c]! * gs);
      variance[c]! += Math.fround(Math.fround(h[c]! * d) * gs);
      sScale[c]! += Math.fround(g * Math.fround(d * r[c]!));
      offset[c]! += g;
    }
  }
}

/** q = float32(dVar) (/) float32(R): the Mean gradient reaching the squared deviations. */
export function squareGradFactor(dVariance: ArrayLike<number>, rows: number): Float32Array {
  const n32 = Math.fround(rows);
  return Float32Array.from(dVariance, (v) => Math.fround(v) / n32);
}

/** The backward's second pass: S_r e_rc with e = q (*) (d (*) 2), float64 in row order. */
export function centeredGradSumInto(
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  q: ArrayLike<number>,
  sum: Float64Array,
  r0: number,
  r1: number,
  channels: number,
): void {
  for (let row = r0; row < r1; row++) {
    const o = row * channels;
    for (let c = 0; c < channels; c++) {
      sum[c]! += Math.fround(q[c]! * Math.fround(Math.fround(x[o + c]! - mean[c]!) * 2));
    }
  }
}

/** dMean (/) R with dMean = float32(meanA) (+) -float32(sum of e): the share each x gets. */
export function meanGradShare(
  meanA: ArrayLike<number>,
  centeredSum: ArrayLike<number>,
  rows: number,
): Float32Array {
  const n32 = Math.fround(rows);
  return Float32Array.from(meanA, (a, c) => {
    const dMean = Math.fround(Math.fround(a) + -Math.fround(centeredSum[c]!));
    return dMean / n32;
  });
}

/** The backward's last pass over rows r0..r1: dx = (((dy (*) r) (*) gamma) (+) e) (+) share. */
export function batchNormInputGradInto(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  mean: ArrayLike<number>,
  scale: ArrayLike<number>,
  r: ArrayLike<number>,
  q: ArrayLike<number>,
  share: ArrayLike<number>,
  dx: Float32Array,
  r0: number,
  r1: number,
  channels: number,
): void {
  for (let row = r0; row < r1; row++) {
    const o = row * channels;
    for (let c = 0; c < channels; c++) {
      const i = o + c;
      const e = Math.fround(q[c]! * Math.fround(Math.fround(x[i]! - mean[c]!) * 2));
      const a = Math.fround(Math.fround(dy[i]! * r[c]!) * scale[c]!);
      dx[i] = Math.fround(a + e) + share[c]!;
    }
  }
}

/**
 * The whole backward in JavaScript: dx, dScale, dOffset from dy, x, gamma, mean, var, given the
 * backend's rsqrt of var (+) eps (`rsqrt`). The cpu kernel and @igm/wasm-training's fallback.
 */
export function batchNormGradInto(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  scale: ArrayLike<number>,
  mean: ArrayLike<number>,
  r: Float32Array,
  dx: Float32Array,
  dScale: Float32Array,
  dOffset: Float32Array,
): void {
  const channels = r.length;
  const rows = channels === 0 ? 0 : dx.length / channels;
  const h = minusHalfCube(r);
  const sums: BatchNormGradSums = {
    meanA: new Float64Array(channels),
    variance: new Float64Array(channels),
    scale: new Float64Array(channels),
    offset: new Float64Array(channels),
  };
  batchNormGradSumsInto(dy, x, mean, scale, r, h, sums, 0, rows, channels);
  dScale.set(sums.scale);
  dOffset.set(sums.offset);
  const q = squareGradFactor(sums.variance, rows);
  const centered = new Float64Array(channels);
  centeredGradSumInto(x, mean, q, centered, 0, rows, channels);
  const share = meanGradShare(sums.meanA, centered, rows);
  batchNormInputGradInto(dy, x, mean, scale, r, q, share, dx, 0, rows, channels);
}

const cpuForward = (args: KernelArgs): tf.TensorInfo[] => {
  const { inputs, attrs } = checkBatchNormTrainingCall(args.inputs, args.attrs);
  const backend = args.backend as ReadWriteBackend;
  const values = (t: tf.TensorInfo) => backend.readSync(t.dataId) as Float32Array;
  const { x, scale, offset } = inputs;
  const { rows, channels } = batchNormGeometry(x.shape);
  const xv = values(x);
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  batchMomentsInto(xv, rows, channels, mean, variance, true);
  const y = new Float32Array(xv.length);
  cpuBatchNormOutputInto(
    xv,
    mean,
    variance,
    values(scale),
    values(offset),
    attrs.varianceEpsilon,
    y,
    channels,
  );
  if (inputs.residual !== undefined) addInPlace(y, values(inputs.residual));
  if (attrs.activation === 'relu') reluInPlace(y);
  return [
    float32Output(backend, y, x.shape),
    float32Output(backend, mean, [channels]),
    float32Output(backend, variance, [channels]),
  ];
};

const cpuBackward = (args: KernelArgs): tf.TensorInfo[] => {
  const { inputs, attrs } = checkBatchNormTrainingGradCall(args.inputs, args.attrs);
  const backend = args.backend as ReadWriteBackend;
  const values = (t: tf.TensorInfo) => backend.readSync(t.dataId) as Float32Array;
  const { dy, x, scale, mean, variance } = inputs;
  const { channels } = batchNormGeometry(x.shape);
  const dx = new Float32Array(tf.util.sizeFromShape(x.shape));
  const dScale = new Float32Array(channels);
  const dOffset = new Float32Array(channels);
  const r = cpuRsqrt(variancePlusEpsilon(values(variance), attrs.varianceEpsilon));
  let g = values(dy);
  if (inputs.out !== undefined) {
    g = new Float32Array(dx.length);
    reluGradInto(values(dy), values(inputs.out), g);
  }
  batchNormGradInto(g, values(x), values(scale), values(mean), r, dx, dScale, dOffset);
  const outs = [
    float32Output(backend, dx, x.shape),
    float32Output(backend, dScale, [channels]),
    float32Output(backend, dOffset, [channels]),
  ];
  // The residual's gradient: what reached y through the ReLU.
  if (residualGradWanted(attrs)) outs.push(float32Output(backend, g.slice(), x.shape));
  return outs;
};

/** Whether the grad kernel returns dResidual: a fused residual and ReLU (see the module comment). */
export function residualGradWanted(attrs: BatchNormTrainingAttrs): boolean {
  return attrs.residual && attrs.activation === 'relu';
}

/**
 * Registers {@link IgmBatchNormTraining} and {@link IgmBatchNormTrainingGrad} on the tfjs `cpu`
 * backend (the JavaScript loops of this module), so BatchNorm layers in training mode run two
 * kernels per step there, with the same bits as tf.moments + tf.batchNorm and their autodiff.
 * Idempotent; returns whether it registered now. Apps call it when they pick cpu
 * (`useTrainingBackend('cpu')` of @igm/wasm-training does).
 */
export function registerCpuBatchNormKernels(): boolean {
  if (tf.getKernel(IgmBatchNormTraining, 'cpu') !== undefined) return false;
  tf.registerKernel({
    kernelName: IgmBatchNormTraining,
    backendName: 'cpu',
    kernelFunc: cpuForward as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: IgmBatchNormTrainingGrad,
    backendName: 'cpu',
    kernelFunc: cpuBackward as unknown as tf.KernelFunc,
  });
  return true;
}

/** Removes the cpu registrations again (the composition runs); returns whether there were any. */
export function unregisterCpuBatchNormKernels(): boolean {
  let had = false;
  for (const name of [IgmBatchNormTraining, IgmBatchNormTrainingGrad]) {
    if (tf.getKernel(name, 'cpu') !== undefined) {
      tf.unregisterKernel(name, 'cpu');
      had = true;
    }
  }
  return had;
}

let gradientRegistered = false;

function registerBatchNormTrainingGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: IgmBatchNormTraining,
    inputsToSave: ['x', 'scale'],
    // The output is the ReLU gradient's mask with activation 'relu' (unused without).
    outputsToSave: [true, true, true],
    gradFunc: (dys, saved, attrs) => {
      const dy = Array.isArray(dys) ? dys[0]! : dys;
      const [x, scale, out, mean, variance] = saved as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      const a = attrs as Record<string, unknown> | undefined;
      const relu = a?.['activation'] === 'relu';
      const residual = a?.['residual'] === true;
      requireGradientKernel(
        [IgmBatchNormTraining, IgmBatchNormTrainingGrad],
        'registerCpuBatchNormKernels()',
      );
      const [dx, dScale, dOffset, dResidual] = tf
        .engine()
        .runKernel(
          IgmBatchNormTrainingGrad,
          relu ? { dy, x, scale, mean, variance, out } : { dy, x, scale, mean, variance },
          attrs as tf.NamedAttrMap,
        ) as tf.Tensor[];
      const grads: Record<string, () => tf.Tensor> = {
        x: () => dx!,
        scale: () => dScale!,
        offset: () => dOffset!,
      };
      // Without an activation the residual's gradient is dy, as tf.add's gradient gives it.
      if (residual) grads['residual'] = relu ? () => dResidual! : () => tf.reshape(dy, dy.shape);
      return grads;
    },
  });
}

type ShapeAndDtype = { dtype: string; shape: readonly number[] };

/**
 * Whether {@link batchNormTraining} takes the fused kernels on the active backend: both kernels
 * registered, x float32 of rank >= 2, scale and offset float32 of shape [C].
 */
export function fusedBatchNormAvailable(
  x: ShapeAndDtype,
  scale: ShapeAndDtype,
  offset: ShapeAndDtype,
  residual?: ShapeAndDtype,
): boolean {
  const backend = tf.getBackend();
  const channels = x.shape[x.shape.length - 1];
  const perChannel = (t: ShapeAndDtype) =>
    t.dtype === 'float32' && t.shape.length === 1 && t.shape[0] === channels;
  return (
    x.dtype === 'float32' &&
    x.shape.length >= 2 &&
    perChannel(scale) &&
    perChannel(offset) &&
    (residual === undefined ||
      (residual.dtype === 'float32' && tf.util.arraysEqual([...residual.shape], [...x.shape]))) &&
    tf.getKernel(IgmBatchNormTraining, backend) !== undefined &&
    tf.getKernel(IgmBatchNormTrainingGrad, backend) !== undefined
  );
}

/**
 * Batch normalization of x [..., C] (channels last, rank >= 2) with the batch's own statistics,
 * as a training-mode BatchNorm layer runs it:
 *
 *   mean, variance = tf.moments(x, all axes but the last)   (biased variance)
 *   y = (x - mean) * scale / sqrt(variance + varianceEpsilon) + offset
 *
 * With `options.activation` 'relu', y is relu(y) (max(y, 0), the same bits as `tf.relu`), fused
 * into the kernels (no Relu, Step, Cast or Multiply pass for its gradient) or, on the
 * composition path, `tf.relu` after `tf.batchNorm`. With `options.residual` (a tensor of x's
 * shape), y is act(y + residual), the sum as `tf.add(y, residual)` (a ResNet block's shortcut:
 * the block's Add and ReLU passes and their gradients' fused too).
 *
 * Returns y and the statistics (for the running averages). When the active backend has
 * {@link IgmBatchNormTraining} and {@link IgmBatchNormTrainingGrad} registered (and the inputs
 * fit: {@link fusedBatchNormAvailable}), one kernel computes all three and one computes the gradients of x, scale and offset, bit for
 * bit as the composition `tf.moments` + `tf.batchNorm` and its autodiff (see this module's
 * comment); else it runs that composition. Gradients reach x, scale and offset through y only:
 * on the fused path mean and variance are constants to autodiff.
 */
export function batchNormTraining(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  varianceEpsilon: number,
  options: BatchNormTrainingOptions = {},
): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  checkNumber('batchNormTraining', 'varianceEpsilon', varianceEpsilon, {
    min: 0,
    minExclusive: true,
  });
  checkKnownKeys('batchNormTraining', options, ['activation', 'residual']);
  const activation = checkChoice(
    'batchNormTraining',
    'activation',
    options.activation ?? 'none',
    ACTIVATIONS,
  );
  const residual = options.residual;
  if (residual !== undefined && !(residual instanceof tf.Tensor)) {
    throw new IgmArgumentError(
      `batchNormTraining: option residual is ${typeof residual}; expected a tensor of x's shape [${x.shape.join(', ')}].`,
    );
  }
  if (residual !== undefined && !tf.util.arraysEqual(residual.shape, x.shape)) {
    throw new IgmArgumentError(
      `batchNormTraining: option residual has shape [${residual.shape.join(', ')}]; expected x's shape [${x.shape.join(', ')}].`,
    );
  }
  if (fusedBatchNormAvailable(x, scale, offset, residual)) {
    registerBatchNormTrainingGradient();
    // Without an activation or residual the attributes stay those of before the options existed.
    const attrs: Record<string, unknown> = { varianceEpsilon };
    if (activation !== 'none') attrs['activation'] = activation;
    if (residual !== undefined) attrs['residual'] = true;
    const inputs: tf.NamedTensorMap = { x, scale, offset };
    if (residual !== undefined) inputs['residual'] = residual;
    const [y, mean, variance] = tf
      .engine()
      .runKernel(IgmBatchNormTraining, inputs, attrs as tf.NamedAttrMap) as tf.Tensor[];
    return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
  }
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  let y = tf.batchNorm(x, mean, variance, offset, scale, varianceEpsilon);
  if (residual !== undefined) {
    const sum = tf.add(y, residual);
    y.dispose();
    y = sum;
  }
  if (activation === 'relu') {
    const activated = tf.relu(y);
    y.dispose();
    y = activated;
  }
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/** Options of {@link batchNormTraining}. */
export interface BatchNormTrainingOptions {
  /** `'relu'`: return relu(y), fused into the kernels where they run. Default `'none'`. */
  activation?: BatchNormActivation;
  /**
   * Added to y before the activation (x's shape; a ResNet block's shortcut): act(y + residual),
   * fused into the kernels where they run, else `tf.add` then the activation. Default none.
   */
  residual?: tf.Tensor;
}
