/**
 * Elementwise float32 kernels for training's arithmetic: Add, Sub, Multiply, RealDiv (with the
 * broadcasts layers use), Relu and Step (its gradient mask), FusedBatchNorm, and Cast to the same
 * dtype.
 *
 * A training step is mostly products by count of FLOPs, but by count of kernels it is mostly this
 * arithmetic: BatchNorm's forward and backward (x - mean, dy * scale, the tiled channel vectors),
 * ReLU's gradient, the loss and the optimizer update. The stock wasm kernels pass every call
 * through a generic N-d broadcast in C++ (shapes marshalled as byte arrays), on one thread.
 * Here each call becomes one pass of the SIMD kernel `binary_f32` (native/kernels.c) over a
 * rows x cols grid in which each operand is full, a vector along the last axes (bias, channel
 * vectors), one value per row, or a scalar; large tensors (>= 2^18 elements) are split over the
 * helper threads. Every element is one IEEE float32 operation, as in the cpu backend (which
 * rounds the double result of two float32 operands, the same value for +, -, *; for / the same
 * but in rare double-rounding cases, 1 ulp).
 *
 * Other dtypes, broadcasts that are not of these forms (e.g. [N, 1, C] against [N, H, C]), and
 * engines without the SIMD kernels go to the stock kernel.
 */
import {
  Add,
  backend_util,
  Cast,
  type DataId,
  FusedBatchNorm,
  Multiply,
  type NamedAttrMap,
  RealDiv,
  Relu,
  Step,
  Sub,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { float32Bits, nativeKernels, ptr } from './native';
import { nativeThreads, runParts, splitRange } from './native-threads';
import { f32, type KernelImpl, release, type WasmBackendLike } from './wasm-backend';

/** The op codes of `binary_f32`. */
export const BINARY_OPS = { [Add]: 0, [Sub]: 1, [Multiply]: 2, [RealDiv]: 3 } as const;
export type BinaryKernelName = keyof typeof BINARY_OPS;

/** How `binary_f32` reads an operand over the rows x cols grid. */
const FULL = 0;
const COLUMNS = 1;
const ROWS = 2;
const SCALAR = 3;

/** Elements from which an elementwise call is split over the helper threads (1 MB of output). */
export const MIN_ELEMENTS_TO_SPLIT = 1 << 18;

/** Threads an elementwise call over `n` elements uses: all of the backend's from 2^18, else 1. */
export function elementwiseThreads(backend: WasmBackendLike, n: number): number {
  return n >= MIN_ELEMENTS_TO_SPLIT ? (nativeThreads(backend)?.threads ?? 1) : 1;
}

export interface BinaryPlan {
  rows: number;
  cols: number;
  /** Read modes of a and b (0 full, 1 vector along the last axes, 2 one value per row, 3 scalar). */
  modeA: number;
  modeB: number;
}

function modeAt(shape: number[], out: number[], k: number): number {
  const r = out.length;
  const pad = r - shape.length;
  const dim = (i: number) => (i < pad ? 1 : shape[i - pad]!);
  let prefixOnes = true;
  let prefixEqual = true;
  for (let i = 0; i < k; i++) {
    if (dim(i) !== 1) prefixOnes = false;
    if (dim(i) !== out[i]) prefixEqual = false;
  }
  let suffixOnes = true;
  let suffixEqual = true;
  for (let i = k; i < r; i++) {
    if (dim(i) !== 1) suffixOnes = false;
    if (dim(i) !== out[i]) suffixEqual = false;
  }
  if (prefixEqual && suffixEqual) return FULL;
  if (prefixOnes && suffixOnes) return SCALAR;
  if (prefixOnes && suffixEqual) return COLUMNS;
  if (prefixEqual && suffixOnes) return ROWS;
  return -1;
}

/**
 * The rows x cols grid and read modes for a op b broadcast to `out`, or null when the broadcast
 * is not of the forms `binary_f32` reads (then the stock kernel runs).
 */
export function planBinary(a: number[], b: number[], out: number[]): BinaryPlan | null {
  const n = util.sizeFromShape(out);
  const sizeA = util.sizeFromShape(a);
  const sizeB = util.sizeFromShape(b);
  const simple = (s: number) => (s === n ? FULL : s === 1 ? SCALAR : -1);
  if (simple(sizeA) >= 0 && simple(sizeB) >= 0) {
    return { rows: 1, cols: n, modeA: simple(sizeA), modeB: simple(sizeB) };
  }
  for (let k = 1; k < out.length; k++) {
    const modeA = modeAt(a, out, k);
    const modeB = modeAt(b, out, k);
    if (modeA >= 0 && modeB >= 0) {
      return {
        rows: util.sizeFromShape(out.slice(0, k)),
        cols: util.sizeFromShape(out.slice(k)),
        modeA,
        modeB,
      };
    }
  }
  return null;
}

/** Byte offset of row r0 (or of element r0 of a single row) for an operand read in `mode`. */
function offsetOf(mode: number, r0: number, cols: number): number {
  if (mode === FULL) return 4 * r0 * cols;
  if (mode === ROWS) return 4 * r0;
  return 0;
}

export function makeBinary(stock: KernelImpl, name: BinaryKernelName): KernelImpl {
  const op = BINARY_OPS[name];
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return stock(args);
    const backend = args.backend as WasmBackendLike;
    const native = nativeKernels(backend);
    if (native === null) return stock(args);
    const outShape =
      a.shape.length === b.shape.length && util.arraysEqual(a.shape, b.shape)
        ? a.shape
        : backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const plan = planBinary(a.shape, b.shape, outShape);
    if (plan === null) return stock(args);
    const out = backend.makeOutput(outShape, 'float32');
    const { rows, cols, modeA, modeB } = plan;
    const n = rows * cols;
    if (n === 0) return out;
    const pa = ptr(backend, a);
    const pb = ptr(backend, b);
    const po = ptr(backend, out);
    const threads = elementwiseThreads(backend, n);
    if (threads === 1) {
      native.binary_f32(op, pa, modeA, pb, modeB, po, rows, cols);
      return out;
    }
    // One long row (full and scalar operands): split the row; else split whole rows.
    const parts =
      rows === 1
        ? splitRange(cols, threads, 4).map(([c0, c1]) => [
            op,
            pa + offsetOf(modeA, c0, 1),
            modeA,
            pb + offsetOf(modeB, c0, 1),
            modeB,
            po + 4 * c0,
            1,
            c1 - c0,
          ])
        : splitRange(rows, threads).map(([r0, r1]) => [
            op,
            pa + offsetOf(modeA, r0, cols),
            modeA,
            pb + offsetOf(modeB, r0, cols),
            modeB,
            po + 4 * r0 * cols,
            r1 - r0,
            cols,
          ]);
    runParts(backend, 'binary_f32', parts);
    return out;
  };
}

/**
 * A float32 unary kernel on `fn(x, out, n, ...extra)` of native/kernels.c, large tensors split
 * over the helper threads (in groups of 4 elements); other dtypes or no SIMD kernels: stock.
 */
function unaryKernel(
  stock: KernelImpl,
  fn: 'relu_f32' | 'step_f32',
  extra: (attrs: NamedAttrMap) => number[] = () => [],
): KernelImpl {
  return (args) => {
    const x = args.inputs['x']!;
    const backend = args.backend as WasmBackendLike;
    const native = x.dtype === 'float32' ? nativeKernels(backend) : null;
    if (native === null) return stock(args);
    const out = backend.makeOutput(x.shape, 'float32');
    const n = util.sizeFromShape(x.shape);
    if (n === 0) return out;
    const threads = elementwiseThreads(backend, n);
    const px = ptr(backend, x);
    const po = ptr(backend, out);
    const more = extra((args.attrs ?? {}) as NamedAttrMap);
    runParts(
      backend,
      fn,
      splitRange(n, threads, 4).map(([i0, i1]) => [px + 4 * i0, po + 4 * i0, i1 - i0, ...more]),
    );
    return out;
  };
}

/**
 * Relu: max(x, 0) in SIMD (`relu_f32`) with the cpu backend's Math.max(0, x) semantics (NaN
 * stays NaN, -0 becomes +0); large tensors over the helper threads. Besides the speed, on the
 * threaded backend this keeps ReLU off XNNPACK's thread pool, whose worker spins for a while
 * after every call and so takes the second core from this package's helper thread (an MLP step
 * then never wakes that pool).
 */
export function makeRelu(stock: KernelImpl): KernelImpl {
  return unaryKernel(stock, 'relu_f32');
}

/**
 * Step (ReLU's gradient mask): NaN for NaN, 1 where x > 0, else alpha, in SIMD (`step_f32`,
 * which takes alpha as its float32 bits so that helper threads get 0.5 and not 0).
 */
export function makeStep(stock: KernelImpl): KernelImpl {
  return unaryKernel(stock, 'step_f32', (attrs) => [
    float32Bits((attrs['alpha'] as number | undefined) ?? 0),
  ]);
}

type RefCounted = WasmBackendLike & { incRef(dataId: DataId): void };

/** Cast to the tensor's own dtype shares its data (as the cpu backend does); others: stock. */
export function makeCast(stock: KernelImpl): KernelImpl {
  return (args) => {
    const x = args.inputs['x']!;
    const dtype = (args.attrs as NamedAttrMap)['dtype'];
    if (dtype !== x.dtype || x.dtype === 'string' || x.dtype === 'complex64') return stock(args);
    (args.backend as RefCounted).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

/** The FusedBatchNorm kernels made by {@link makeFusedBatchNorm} (to recognise them registered). */
const ownFusedBatchNorms = new WeakSet<object>();

/** Whether `kernelFunc` is this package's FusedBatchNorm (from {@link makeFusedBatchNorm}). */
export function isOwnFusedBatchNorm(kernelFunc: unknown): boolean {
  return typeof kernelFunc === 'function' && ownFusedBatchNorms.has(kernelFunc);
}

/**
 * FusedBatchNorm: out = (x - mean) * scale / sqrt(variance + epsilon) + offset along the last
 * axis, in one SIMD pass (`batch_norm_f32`) with the per-channel factor computed in float64.
 * Parameters of one value per channel or a single value (any rank); others go to the stock kernel.
 */
export function makeFusedBatchNorm(stock: KernelImpl): KernelImpl {
  const impl: KernelImpl = (args) => {
    const epsilon = ((args.attrs as NamedAttrMap)['varianceEpsilon'] as number | undefined) ?? 0;
    return (
      fusedBatchNormNative(
        args.backend as WasmBackendLike,
        args.inputs as Record<string, TensorInfo | undefined>,
        epsilon,
        false,
      ) ?? stock(args)
    );
  };
  ownFusedBatchNorms.add(impl);
  return impl;
}

/**
 * The SIMD FusedBatchNorm of {@link makeFusedBatchNorm} (with `residual`, x's shape, plus that
 * as the Add kernel adds; with `relu`, relu of the result in the same pass, as `relu_f32`), or
 * null where it applies not (no SIMD module, other dtypes or parameter shapes): the caller then
 * runs the stock kernel.
 */
export function fusedBatchNormNative(
  backend: WasmBackendLike,
  inputs: Record<string, TensorInfo | undefined>,
  epsilon: number,
  relu: boolean,
  residual: TensorInfo | null = null,
): TensorInfo | null {
  const { x, mean, variance, offset, scale } = inputs;
  const native = nativeKernels(backend);
  if (native === null || x === undefined || mean === undefined || variance === undefined)
    return null;
  const params = [mean, variance, offset, scale].filter((t): t is TensorInfo => t != null);
  const C = x.shape[x.shape.length - 1] ?? 1;
  const n = util.sizeFromShape(x.shape);
  if (
    x.dtype !== 'float32' ||
    x.shape.length === 0 ||
    params.some((t) => t.dtype !== 'float32') ||
    params.some((t) => {
      const s = util.sizeFromShape(t.shape);
      return (s !== C && s !== 1) || t.shape.length > x.shape.length;
    })
  )
    return null;
  const out = backend.makeOutput(x.shape, 'float32');
  if (n === 0) return out;
  // Channel vectors: mean, k = scale / sqrt(variance + epsilon) (in float64), offset.
  const vectors = backend.makeOutput([3, C], 'float32');
  const v = f32(backend, vectors);
  const at = (t: TensorInfo | undefined, fallback: number) => {
    if (t == null) return () => fallback;
    const data = f32(backend, t);
    return data.length === 1 ? () => data[0]! : (c: number) => data[c]!;
  };
  const m = at(mean, 0);
  const va = at(variance, 1);
  const o = at(offset, 0);
  const s = at(scale, 1);
  for (let c = 0; c < C; c++) {
    v[c] = m(c);
    v[C + c] = s(c) / Math.sqrt(va(c) + epsilon);
    v[2 * C + c] = o(c);
  }
  const rows = n / C;
  const pv = ptr(backend, vectors);
  const threads = elementwiseThreads(backend, n);
  const parts = splitRange(rows, threads).map(([r0, r1]) => [
    ptr(backend, x) + 4 * r0 * C,
    pv,
    pv + 4 * C,
    pv + 8 * C,
    residual === null ? 0 : ptr(backend, residual) + 4 * r0 * C,
    ptr(backend, out) + 4 * r0 * C,
    r1 - r0,
    C,
    relu ? 1 : 0,
  ]);
  runParts(backend, 'batch_norm_f32', parts);
  release(backend, vectors);
  return out;
}

export { Add, Cast, FusedBatchNorm, Multiply, RealDiv, Relu, Step, Sub };
