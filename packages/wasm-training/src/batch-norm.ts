/**
 * IgmBatchNormTraining and IgmBatchNormTrainingGrad (added): @igm/core's training-mode BatchNorm
 * in two kernels on the wasm backend, bit for bit what tf.moments + tf.batchNorm and their
 * autodiff compute here with this package's kernels (about 25 kernels per layer and step).
 *
 * Forward: the batch mean and variance in one SIMD call (`bn_moments_f32`: float64 sums per
 * channel in row order divided by the count, as this package's Mean kernel), then y by the
 * registered FusedBatchNorm kernel (the one the composition calls).
 *
 * Backward (formulas in @igm/core's kernels/batch-norm.ts): r = rsqrt(var + eps) by the
 * registered Rsqrt kernel on the C-vector, then three passes: `bn_grad_sums_f32` (the four
 * per-channel sums of FusedBatchNorm's gradient), `bn_centered_sum_f32` (the sum of the Square
 * gradient, Sub's mean term), `bn_input_grad_f32` (dx). The two reductions keep each channel's
 * float64 sum in row order, so helper threads take disjoint channel ranges (bits unchanged);
 * the dx pass splits rows. Without the SIMD module, @igm/core's JavaScript loops run on the heap
 * views and y comes from the (stock) FusedBatchNorm kernel, as in the composition.
 *
 * With `activation: 'relu'` the forward writes relu(y) in the pass that computes y
 * (`batch_norm_f32` with its relu flag: this package's FusedBatchNorm and Relu kernels; if
 * another FusedBatchNorm is registered, its y then `relu_f32` in place; without the SIMD module
 * the registered Relu kernel on y), and the backward's passes that read dy (`bn_grad_sums_f32`,
 * `bn_input_grad_f32`) read dy * step(out) instead, formed on the fly with the bits of this
 * package's Step and Multiply (without the SIMD module @igm/core's JavaScript loop forms it
 * first).
 *
 * With a residual (input `residual`, attribute `residual: true`) the forward adds it to y before
 * the ReLU in the same pass (`batch_norm_f32`'s residual: the bits of this package's Add; else
 * the registered Add kernel on y), and the backward's last pass also writes the dy * step(out)
 * it formed: the residual's gradient (without the SIMD module, the JavaScript loop's copy).
 *
 * The statistics follow this package's Mean kernel: registering these two without Mean (a
 * `kernels` subset) leaves the composition on the stock Mean, whose sums may round otherwise.
 */
import {
  batchMomentsInto,
  batchNormGeometry,
  batchNormGradInto,
  checkBatchNormTrainingCall,
  checkBatchNormTrainingGradCall,
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  meanGradShare,
  minusHalfCube,
  reluGradInto,
  residualGradWanted,
  squareGradFactor,
  variancePlusEpsilon,
} from '@igm/core';
import {
  Add,
  FusedBatchNorm,
  getKernel,
  Relu,
  Rsqrt,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { elementwiseThreads, fusedBatchNormNative, isOwnFusedBatchNorm } from './binary';
import { nativeKernels, ptr } from './native';
import { nativeThreads, runParts, splitRange } from './native-threads';
import { f32, type KernelImpl, release, type WasmBackendLike } from './wasm-backend';

/** Elements from which the reductions split channels over the helper threads. */
const MIN_ELEMENTS_TO_SPLIT_CHANNELS = 1 << 16;

/** Channel ranges [c0, c1) (multiples of 4) for the reductions: one per thread when worth it. */
function channelParts(backend: WasmBackendLike, size: number, channels: number) {
  const threads =
    size >= MIN_ELEMENTS_TO_SPLIT_CHANNELS && channels >= 8
      ? (nativeThreads(backend)?.threads ?? 1)
      : 1;
  return splitRange(channels, threads, 4);
}

function fusedBatchNormImpl(): unknown {
  return getKernel(FusedBatchNorm, 'wasm')?.kernelFunc;
}

function registered(name: string): KernelImpl {
  const k = getKernel(name, 'wasm');
  if (k === undefined) {
    throw new Error(`wasm-training: the wasm backend has no ${name} kernel to build on`);
  }
  return k.kernelFunc as unknown as KernelImpl;
}

function single(out: TensorInfo | TensorInfo[]): TensorInfo {
  return Array.isArray(out) ? out[0]! : out;
}

/** A float64 view of `count` doubles at byte offset `at` of the heap (8-byte aligned by malloc). */
function f64(backend: WasmBackendLike, at: number, count: number): Float64Array {
  return new Float64Array(backend.wasm.HEAPF32.buffer, at, count);
}

export const batchNormTrainingForward: KernelImpl = (args) => {
  const { inputs, attrs } = checkBatchNormTrainingCall(args.inputs, args.attrs);
  const backend = args.backend as WasmBackendLike;
  const { x, scale, offset } = inputs;
  const { rows, channels } = batchNormGeometry(x.shape);
  const mean = backend.makeOutput([channels], 'float32');
  const variance = backend.makeOutput([channels], 'float32');
  const size = rows * channels;
  const native = size > 0 ? nativeKernels(backend) : null;
  if (native !== null) {
    const acc = backend.makeOutput([2 * channels], 'float32');
    const args0 = [ptr(backend, x), ptr(backend, acc), ptr(backend, mean), ptr(backend, variance)];
    runParts(
      backend,
      'bn_moments_f32',
      channelParts(backend, size, channels).map(([c0, c1]) => [...args0, rows, channels, c0, c1]),
    );
    release(backend, acc);
  } else {
    const m = new Float32Array(channels);
    const v = new Float32Array(channels);
    batchMomentsInto(f32(backend, x), rows, channels, m, v, false);
    f32(backend, mean).set(m);
    f32(backend, variance).set(v);
  }
  const bnInputs = { x, mean, variance, offset, scale };
  const residual = inputs.residual ?? null;
  const fuse = attrs.activation === 'relu' || residual !== null;
  if (fuse && native !== null && isOwnFusedBatchNorm(fusedBatchNormImpl())) {
    // This package's FusedBatchNorm, Add and Relu in one pass (`batch_norm_f32`).
    const relu = attrs.activation === 'relu';
    const out = fusedBatchNormNative(backend, bnInputs, attrs.varianceEpsilon, relu, residual);
    if (out !== null) return [out, mean, variance];
  }
  let y = single(
    registered(FusedBatchNorm)({
      inputs: bnInputs,
      backend,
      attrs: { varianceEpsilon: attrs.varianceEpsilon },
    }),
  );
  if (residual !== null) {
    const sum = single(registered(Add)({ inputs: { a: y, b: residual }, backend, attrs: {} }));
    release(backend, y);
    y = sum;
  }
  if (attrs.activation === 'relu')
    return [reluInPlace(backend, y, native !== null), mean, variance];
  return [y, mean, variance];
};

/**
 * relu(y): in place by `relu_f32` (rows over the helper threads from 2^18 elements) with the SIMD
 * module, else the registered Relu kernel (y released), as the composition's tf.relu runs.
 */
function reluInPlace(backend: WasmBackendLike, y: TensorInfo, native: boolean): TensorInfo {
  if (!native) {
    const out = single(registered(Relu)({ inputs: { x: y }, backend, attrs: {} }));
    release(backend, y);
    return out;
  }
  const n = y.shape.reduce((a, b) => a * b, 1);
  const py = ptr(backend, y);
  runParts(
    backend,
    'relu_f32',
    splitRange(n, elementwiseThreads(backend, n), 4).map(([i0, i1]) => [
      py + 4 * i0,
      py + 4 * i0,
      i1 - i0,
    ]),
  );
  return y;
}

/** r = the registered Rsqrt kernel on var (+) float32(eps), as the composition's gradient runs it. */
function rsqrtOfVariance(
  backend: WasmBackendLike,
  variance: TensorInfo,
  varianceEpsilon: number,
): Float32Array {
  const sum = variancePlusEpsilon(f32(backend, variance), varianceEpsilon);
  const input = backend.makeOutput(variance.shape, 'float32');
  f32(backend, input).set(sum);
  const out = single(registered(Rsqrt)({ inputs: { x: input }, backend, attrs: {} }));
  const r = f32(backend, out).slice();
  release(backend, input, out);
  return r;
}

export const batchNormTrainingBackward: KernelImpl = (args) => {
  const { inputs, attrs } = checkBatchNormTrainingGradCall(args.inputs, args.attrs);
  const backend = args.backend as WasmBackendLike;
  const { x, scale, mean, variance, out } = inputs;
  const { rows, channels } = batchNormGeometry(x.shape);
  const size = rows * channels;
  const r = rsqrtOfVariance(backend, variance, attrs.varianceEpsilon);
  const dx = backend.makeOutput(x.shape, 'float32');
  const dScale = backend.makeOutput([channels], 'float32');
  const dOffset = backend.makeOutput([channels], 'float32');
  // The residual's gradient (dy * step(out)) with a fused residual and ReLU.
  const dResidual = residualGradWanted(attrs) ? backend.makeOutput(x.shape, 'float32') : null;
  const results = dResidual === null ? [dx, dScale, dOffset] : [dx, dScale, dOffset, dResidual];
  const native = size > 0 ? nativeKernels(backend) : null;
  if (native === null) {
    let dy = f32(backend, inputs.dy);
    if (out !== undefined) {
      dy = new Float32Array(size);
      reluGradInto(f32(backend, inputs.dy), f32(backend, out), dy);
    }
    // Views after every allocation above (a heap growth detaches older views).
    const outs = [f32(backend, dx), f32(backend, dScale), f32(backend, dOffset)] as const;
    batchNormGradInto(dy, f32(backend, x), f32(backend, scale), f32(backend, mean), r, ...outs);
    if (dResidual !== null) f32(backend, dResidual).set(dy);
    return results;
  }
  // Heap scratch: channel vectors r, h, q, share (4 C floats); float64 sums (4 C) and the
  // centred sum (C): 10 C floats.
  const vectors = backend.makeOutput([4 * channels], 'float32');
  const sums = backend.makeOutput([10 * channels], 'float32');
  const pv = ptr(backend, vectors);
  const [pr, ph, pq, pShare] = [0, 1, 2, 3].map((k) => pv + 4 * k * channels) as [
    number,
    number,
    number,
    number,
  ];
  const ps = ptr(backend, sums);
  const pCentered = ps + 8 * 4 * channels;
  const v = f32(backend, vectors);
  v.set(r, 0);
  v.set(minusHalfCube(r), channels);
  const [pdy, px, pMean, pScale] = [inputs.dy, x, mean, scale].map((t) => ptr(backend, t)) as [
    number,
    number,
    number,
    number,
  ];
  // With the fused ReLU the passes that read dy read dy * step(out), formed on the fly.
  const pOut = out === undefined ? 0 : ptr(backend, out);
  const parts = channelParts(backend, size, channels);
  runParts(
    backend,
    'bn_grad_sums_f32',
    parts.map(([c0, c1]) => [pdy, pOut, px, pMean, pScale, pr, ph, ps, rows, channels, c0, c1]),
  );
  const s = f64(backend, ps, 4 * channels);
  f32(backend, dScale).set(s.subarray(2 * channels, 3 * channels));
  f32(backend, dOffset).set(s.subarray(3 * channels, 4 * channels));
  const q = squareGradFactor(s.subarray(channels, 2 * channels), rows);
  f32(backend, vectors).set(q, 2 * channels);
  runParts(
    backend,
    'bn_centered_sum_f32',
    parts.map(([c0, c1]) => [px, pMean, pq, pCentered, rows, channels, c0, c1]),
  );
  const share = meanGradShare(f64(backend, ps, channels), f64(backend, pCentered, channels), rows);
  f32(backend, vectors).set(share, 3 * channels);
  const pdx = ptr(backend, dx);
  const pdr = dResidual === null ? 0 : ptr(backend, dResidual);
  const threads = elementwiseThreads(backend, size);
  runParts(
    backend,
    'bn_input_grad_f32',
    splitRange(rows, threads).map(([r0, r1]) => {
      const o = 4 * r0 * channels;
      const outAt = pOut === 0 ? 0 : pOut + o;
      const dresAt = pdr === 0 ? 0 : pdr + o;
      return [
        pdy + o,
        outAt,
        px + o,
        pMean,
        pScale,
        pr,
        pq,
        pShare,
        pdx + o,
        dresAt,
        r1 - r0,
        channels,
      ];
    }),
  );
  release(backend, vectors, sums);
  return results;
};

export { IgmBatchNormTraining, IgmBatchNormTrainingGrad };
