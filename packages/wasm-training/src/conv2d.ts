/**
 * Conv2D gradients for the wasm backend as im2col + matrix products.
 *
 * The wasm backend has no Conv2DBackpropFilter (so no conv2d/conv1d weight gradient at all) and
 * its Conv2DBackpropInput is a scalar loop (~2.7 s for a 16x64x64x32 -> 64 3x3 layer here).
 * Both are rewritten as products of an im2col matrix, built in chunks of output pixels so the
 * temporary stays a few MB (im2col, col2im and transposes run in the package's SIMD kernels,
 * native/kernels.c, or in JS loops where those cannot be instantiated):
 *
 *   P[p, (kh, kw, ci)] = x[b, oh*sh + kh*dh - padTop, ow*sw + kw*dw - padLeft, ci]   (0 outside)
 *   dW^T (CO x KH*KW*CI) = sum over chunks of  dY_c^T (CO x chunk)  P_c (chunk x KH*KW*CI)
 *   G_c (chunk x KH*KW*CI) = dY_c W^T,  then dx[b, ih, iw, ci] += G_c[p, (kh, kw, ci)]  (col2im)
 *
 * With the SIMD kernels, the weight gradient of a 3x3 stride-1 layer (>= 8 channels in and out)
 * runs by Winograd F(3x3, 2x2) instead (conv2dFilterGradWinograd: 2.25x fewer multiplications),
 * and the stride-1 input gradient as a convolution with the flipped filter (so Winograd
 * F(2x2, 3x3) too).
 *
 * Strides, dilations, 'same'/'valid'/explicit padding, batch > 1, non-square inputs and NCHW
 * (by transposing to NHWC) are supported; results equal the cpu backend's up to float32
 * summation order.
 */
import {
  backend_util,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  type NamedAttrMap,
  type TensorInfo,
  Transpose,
} from '@tensorflow/tfjs-core';
import { WINOGRAD_TILES, winogradScratch, winogradTile } from './conv2d-forward';
import { type NativeKernels, nativeKernels, ptr, useRelaxedSimd } from './native';
import { nativeThreads, runParts, splitRange } from './native-threads';
import { transposeOnHeap } from './transpose';
import {
  f32,
  type KernelImpl,
  release,
  reshaped,
  stockKernel,
  type WasmBackendLike,
  zeros,
} from './wasm-backend';

/** The geometry shared by im2col and col2im. */
export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilH: number;
  dilW: number;
  padTop: number;
  padLeft: number;
}

export function geometryOf(info: backend_util.Conv2DInfo): ConvGeometry {
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    dilH: info.dilationHeight,
    dilW: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** Fills rows [0, p1 - p0) of P (row length kH*kW*inC) from output pixels p0..p1 of x (NHWC). */
export function im2col(
  x: Float32Array,
  g: ConvGeometry,
  p0: number,
  p1: number,
  P: Float32Array,
): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW, dilH, dilW, padTop, padLeft } = g;
  const rowLen = kH * kW * inC;
  const kwRun = kW * inC;
  const perImage = outH * outW;
  for (let p = p0; p < p1; p++) {
    const b = Math.floor(p / perImage);
    const rem = p - b * perImage;
    const oh = Math.floor(rem / outW);
    const ow = rem - oh * outW;
    const row = (p - p0) * rowLen;
    const iw0 = ow * strideW - padLeft;
    const contiguous = dilW === 1 && iw0 >= 0 && iw0 + kW <= inW;
    for (let kh = 0; kh < kH; kh++) {
      const ih = oh * strideH + kh * dilH - padTop;
      const dst0 = row + kh * kwRun;
      if (ih < 0 || ih >= inH) {
        P.fill(0, dst0, dst0 + kwRun);
        continue;
      }
      const rowSrc = (b * inH + ih) * inW;
      if (contiguous) {
        let s = (rowSrc + iw0) * inC;
        const end = dst0 + kwRun;
        for (let d = dst0; d < end; d++) P[d] = x[s++]!;
        continue;
      }
      for (let kw = 0; kw < kW; kw++) {
        const iw = iw0 + kw * dilW;
        const d0 = dst0 + kw * inC;
        if (iw < 0 || iw >= inW) {
          P.fill(0, d0, d0 + inC);
          continue;
        }
        let s = (rowSrc + iw) * inC;
        const end = d0 + inC;
        for (let d = d0; d < end; d++) P[d] = x[s++]!;
      }
    }
  }
}

/** dx[b, ih, iw, ci] += G[p - p0, (kh, kw, ci)] for output pixels p0..p1 (the adjoint of im2col). */
export function col2im(
  G: Float32Array,
  g: ConvGeometry,
  p0: number,
  p1: number,
  dx: Float32Array,
): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW, dilH, dilW, padTop, padLeft } = g;
  const rowLen = kH * kW * inC;
  const kwRun = kW * inC;
  const perImage = outH * outW;
  for (let p = p0; p < p1; p++) {
    const b = Math.floor(p / perImage);
    const rem = p - b * perImage;
    const oh = Math.floor(rem / outW);
    const ow = rem - oh * outW;
    const row = (p - p0) * rowLen;
    const iw0 = ow * strideW - padLeft;
    const contiguous = dilW === 1 && iw0 >= 0 && iw0 + kW <= inW;
    for (let kh = 0; kh < kH; kh++) {
      const ih = oh * strideH + kh * dilH - padTop;
      if (ih < 0 || ih >= inH) continue;
      const src0 = row + kh * kwRun;
      const rowDst = (b * inH + ih) * inW;
      if (contiguous) {
        let d = (rowDst + iw0) * inC;
        const end = src0 + kwRun;
        for (let s = src0; s < end; s++) dx[d++]! += G[s]!;
        continue;
      }
      for (let kw = 0; kw < kW; kw++) {
        const iw = iw0 + kw * dilW;
        if (iw < 0 || iw >= inW) continue;
        let d = (rowDst + iw) * inC;
        const s0 = src0 + kw * inC;
        const end = s0 + inC;
        for (let s = s0; s < end; s++) dx[d++]! += G[s]!;
      }
    }
  }
}

function geometryArgs(g: ConvGeometry, p0: number, p1: number): number[] {
  return [
    g.inH,
    g.inW,
    g.inC,
    g.outH,
    g.outW,
    g.kH,
    g.kW,
    g.strideH,
    g.strideW,
    g.dilH,
    g.dilW,
    g.padTop,
    g.padLeft,
    p0,
    p1,
  ];
}

function im2colOnHeap(
  backend: WasmBackendLike,
  x: TensorInfo,
  P: TensorInfo,
  g: ConvGeometry,
  p0: number,
  p1: number,
): void {
  const native = nativeKernels(backend);
  if (native) native.im2col(ptr(backend, x), ptr(backend, P), ...geometryArgs(g, p0, p1));
  else im2col(f32(backend, x), g, p0, p1, f32(backend, P));
}

function col2imOnHeap(
  backend: WasmBackendLike,
  G: TensorInfo,
  dx: TensorInfo,
  g: ConvGeometry,
  p0: number,
  p1: number,
): void {
  const native = nativeKernels(backend);
  if (native) native.col2im(ptr(backend, G), ptr(backend, dx), ...geometryArgs(g, p0, p1));
  else col2im(f32(backend, G), g, p0, p1, f32(backend, dx));
}

function addInto(backend: WasmBackendLike, acc: TensorInfo, part: TensorInfo, n: number): void {
  const native = nativeKernels(backend);
  if (native) {
    native.add_inplace(ptr(backend, acc), ptr(backend, part), n);
    return;
  }
  const av = f32(backend, acc);
  const pv = f32(backend, part);
  for (let i = 0; i < n; i++) av[i]! += pv[i]!;
}

/** Output pixels per im2col chunk: about `floats` floats of P (default 2M, 8 MB). */
export function chunkPixels(rowLen: number, total: number, floats = 1 << 21): number {
  return Math.max(1, Math.min(total, Math.floor(floats / rowLen)));
}

function convInfoFor(
  xShape: number[],
  filterShape: number[],
  attrs: NamedAttrMap,
  dilations: number | [number, number] = 1,
): backend_util.Conv2DInfo {
  const dataFormat = backend_util.convertConv2DDataFormat(
    (attrs['dataFormat'] as 'NHWC' | 'NCHW') ?? 'NHWC',
  );
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs['strides'] as number | [number, number],
    dilations,
    attrs['pad'] as backend_util.ExplicitPadding | 'valid' | 'same' | number,
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    false,
    dataFormat,
  );
}

function nchwToNhwc(backend: WasmBackendLike, t: TensorInfo): TensorInfo {
  return stockKernel(Transpose)({
    inputs: { x: t },
    backend,
    attrs: { perm: [0, 2, 3, 1] },
  }) as TensorInfo;
}

function nhwcToNchw(backend: WasmBackendLike, t: TensorInfo): TensorInfo {
  return stockKernel(Transpose)({
    inputs: { x: t },
    backend,
    attrs: { perm: [0, 3, 1, 2] },
  }) as TensorInfo;
}

/**
 * dW for NHWC x and dy: filter shape [kH, kW, inC, outC]. With the SIMD kernels, Winograd for
 * 3x3 stride 1, else im2col + the packed product (split over helper threads if
 * any); without them, im2col + `matmul`, a plain rank-2 product through the package's
 * BatchMatMul (register.ts passes it).
 */
export function conv2dFilterGradNHWC(
  backend: WasmBackendLike,
  matmul: (a: TensorInfo, b: TensorInfo) => TensorInfo,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const rowLen = g.kH * g.kW * g.inC;
  const total = g.batch * g.outH * g.outW;
  const native = nativeKernels(backend);
  if (native && winogradFilterGradApplies(g)) {
    return conv2dFilterGradWinograd(backend, native, x, dy, g);
  }
  if (native) {
    // dW (rowLen x outC, the filter layout) += P_c^T dY_c, chunk by chunk, in the SIMD kernel
    // (im2col, then the packed product reading P transposed: no transposes). Chunks of ~0.5 MB
    // of P (at least 256 pixels, as every chunk is one pass over dW), so the product reads P
    // from cache right after im2col wrote it. Packed at every size: measured against gemm_acc in
    // place (batch 8 ResNet-18 layers, ms): the 7x7 stem 23.6 -> 20.8, 3x3/2 64 -> 128
    // 27.2 -> 19.7, 1x1/2 downsampling 2.8-3.1 -> 2.4-2.6; small layers (3x3x1x32, 1x1 32 -> 64)
    // even. With helper threads, each thread takes a range of pixels into its own dW, summed at
    // the end.
    const threads = nativeThreads(backend)?.threads ?? 1;
    const share = Math.ceil(total / threads);
    const chunk = Math.min(share, Math.max(256, chunkPixels(rowLen, share, 1 << 17)));
    const ranges = splitRange(total, threads, chunk);
    if (ranges.length === 0) return zeros(backend, [g.kH, g.kW, g.inC, g.outC]); // no pixels
    const dws = ranges.map(() => zeros(backend, [g.kH, g.kW, g.inC, g.outC]));
    const scratch = ranges.map(() => backend.makeOutput([chunk, rowLen], 'float32'));
    const packing = packingScratch(backend, native, true, g.outC, ranges.length);
    const args = ranges.map(([p0, p1], i) => [
      ptr(backend, x),
      ptr(backend, dy),
      ptr(backend, dws[i]!),
      ptr(backend, scratch[i]!),
      ptr(backend, packing[i]!),
      ...geometryArgs(g, p0, p1),
      g.outC,
      chunk,
      1, // packed
    ]);
    runParts(backend, 'conv2d_filter_grad', args);
    const dw = dws[0]!;
    for (const part of dws.slice(1)) addInto(backend, dw, part, rowLen * g.outC);
    release(backend, ...scratch, ...packing, ...dws.slice(1));
    return dw;
  }
  const chunk = chunkPixels(rowLen, total);
  const acc = zeros(backend, [g.outC, rowLen]); // dW^T, accumulated in float32
  for (let p0 = 0; p0 < total; p0 += chunk) {
    const p1 = Math.min(total, p0 + chunk);
    const rows = p1 - p0;
    const P = backend.makeOutput([rows, rowLen], 'float32');
    im2colOnHeap(backend, x, P, g, p0, p1);
    const dyt = backend.makeOutput([g.outC, rows], 'float32');
    transposeOnHeap(backend, dy, p0 * g.outC, dyt, rows, g.outC);
    const part = matmul(dyt, P); // [outC, rowLen]
    addInto(backend, acc, part, g.outC * rowLen);
    release(backend, P, dyt, part);
  }
  const dw = backend.makeOutput([g.kH, g.kW, g.inC, g.outC], 'float32');
  transposeOnHeap(backend, acc, 0, dw, g.outC, rowLen);
  release(backend, acc);
  return dw;
}

/** Per part, the packed product's scratch for `columns` output columns; none if not `packed`. */
function packingScratch(
  backend: WasmBackendLike,
  native: NativeKernels,
  packed: boolean,
  columns: number,
  parts: number,
): TensorInfo[] {
  if (!packed) return [];
  const floats = native.gemm_packed_scratch_floats(columns);
  return Array.from({ length: parts }, () => backend.makeOutput([floats], 'float32'));
}

/** 3x3, stride 1, dilation 1, at least 8 input and output channels (as for the forward pass). */
function winogradFilterGradApplies(g: ConvGeometry): boolean {
  return (
    g.kH === 3 &&
    g.kW === 3 &&
    g.strideH === 1 &&
    g.strideW === 1 &&
    g.dilH === 1 &&
    g.dilW === 1 &&
    g.inC >= 8 &&
    g.outC >= 8
  );
}

/**
 * dW of a 3x3 stride-1 convolution by Winograd F(3x3, 2x2) or, where the forward pass takes
 * F(3x3, 3x3) or F(4x4, 3x3) (winogradTile), their transposes (native/kernels.c,
 * conv2d_winograd_filter_grad): per output tile, the input patch and the block of dy are
 * transformed and their products summed over tiles as 16 (25, 36) matrix products (inC x tiles
 * times tiles x outC), then dW is the output transform of the sums: per channel pair, 16
 * multiplications per 2x2 tile (25 per 3x3, 36 per 4x4) instead of the direct form's 36 (81,
 * 144). Tiles
 * are split over the helper threads, each into its own acc, summed before the output transform.
 */
function conv2dFilterGradWinograd(
  backend: WasmBackendLike,
  native: NativeKernels,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const m = winogradTile(g.outH, g.outW);
  const points = (m + 2) * (m + 2);
  const tiles = g.batch * Math.ceil(g.outH / m) * Math.ceil(g.outW / m);
  if (tiles === 0) return zeros(backend, [3, 3, g.inC, g.outC]);
  const threads = nativeThreads(backend)?.threads ?? 1;
  const share = Math.ceil(tiles / threads);
  // From 128 x 128 channels the products pack, in chunks of at least minPackedChunk tiles
  // (WINOGRAD_TILES); narrower layers add into acc in place (gemm_acc). Measured on ResNet-18's layers
  // (batch 8, ms, in place -> packed): 256 -> 256 33.5 -> 30, 512 39.6 -> 38.4 (F(3x3, 2x2));
  // with the scratch rows one cache line apart, F(3x3, 4x4): 128 14.6 -> 13.1, 64 13.5 -> 13.6.
  const packed = g.inC * g.outC >= 128 * 128;
  const chunkV = Math.max(64, Math.floor((1 << 17) / (points * (g.inC + g.outC))));
  const { minPackedChunk, filterGradOutput } = WINOGRAD_TILES[m];
  const chunk = Math.min(share, packed ? Math.max(minPackedChunk, chunkV) : chunkV);
  const ranges = splitRange(tiles, threads, chunk);
  // Written by the first chunk of each range (no zeroing pass over them).
  const accs = ranges.map(() => backend.makeOutput([points, g.inC, g.outC], 'float32'));
  const V = ranges.map(() => winogradScratch(backend, points, chunk, g.inC));
  const Mg = ranges.map(() => winogradScratch(backend, points, chunk, g.outC));
  const packing = packingScratch(backend, native, packed, g.outC, ranges.length);
  const args = ranges.map(([t0, t1], i) => [
    ...[ptr(backend, x), ptr(backend, dy), ptr(backend, accs[i]!)],
    ...[ptr(backend, V[i]!), ptr(backend, Mg[i]!), packed ? ptr(backend, packing[i]!) : 0],
    ...[g.inH, g.inW, g.inC, g.outH, g.outW, g.outC, g.padTop, g.padLeft],
    ...[t0, t1, chunk, packed ? 1 : 0, m],
  ]);
  runParts(backend, 'conv2d_winograd_filter_grad', args);
  const acc = accs[0]!;
  for (const part of accs.slice(1)) addInto(backend, acc, part, points * g.inC * g.outC);
  const dw = backend.makeOutput([3, 3, g.inC, g.outC], 'float32');
  native[filterGradOutput](ptr(backend, acc), ptr(backend, dw), g.inC, g.outC);
  release(backend, ...accs, ...V, ...Mg, ...packing);
  return dw;
}

/**
 * dx for NHWC dy and filter [kH, kW, inC, outC] with the relaxed-SIMD kernels
 * (`conv2d_input_grad_im2col`): chunks of about 0.5 MB of G = dy W^T (at least 256 pixels) in
 * the packed product, W read transposed in place, each added into dx by col2im while G is in
 * cache; whole images split over the helper threads. Null without the relaxed build.
 */
function conv2dInputGradPacked(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo | null {
  const native = useRelaxedSimd() ? nativeKernels(backend) : null;
  if (native === null) return null;
  const rowLen = g.kH * g.kW * g.inC;
  const perImage = g.outH * g.outW;
  const dx = zeros(backend, [g.batch, g.inH, g.inW, g.inC]);
  if (g.batch * perImage === 0 || rowLen === 0) return dx;
  const threads = nativeThreads(backend)?.threads ?? 1;
  const images = splitRange(g.batch, threads);
  const chunk = Math.min(
    Math.ceil(g.batch / images.length) * perImage,
    Math.max(256, Math.floor((1 << 17) / rowLen)),
  );
  const G = images.map(() => backend.makeOutput([chunk, rowLen], 'float32'));
  const scratch = images.map(() =>
    backend.makeOutput([native.gemm_packed_scratch_floats(rowLen)], 'float32'),
  );
  const args = images.map(([b0, b1], i) => [
    ...[ptr(backend, dy), ptr(backend, filter), ptr(backend, dx)],
    ...[ptr(backend, G[i]!), ptr(backend, scratch[i]!)],
    ...geometryArgs(g, b0 * perImage, b1 * perImage),
    g.outC,
    chunk,
  ]);
  runParts(backend, 'conv2d_input_grad_im2col', args);
  release(backend, ...G, ...scratch);
  return dx;
}

/** dx for NHWC dy and filter [kH, kW, inC, outC]. */
export function conv2dInputGradNHWC(
  backend: WasmBackendLike,
  matmul: (a: TensorInfo, b: TensorInfo) => TensorInfo,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const rowLen = g.kH * g.kW * g.inC;
  const total = g.batch * g.outH * g.outW;
  const chunk = chunkPixels(rowLen, total);
  // W^T: [outC, rowLen]; one tensor for all chunks, so XNNPACK packs it once.
  const wt = backend.makeOutput([g.outC, rowLen], 'float32');
  transposeOnHeap(backend, filter, 0, wt, rowLen, g.outC);
  const dx = zeros(backend, [g.batch, g.inH, g.inW, g.inC]);
  for (let p0 = 0; p0 < total; p0 += chunk) {
    const p1 = Math.min(total, p0 + chunk);
    const rows = p1 - p0;
    const dyc = backend.makeOutput([rows, g.outC], 'float32');
    f32(backend, dyc).set(f32(backend, dy).subarray(p0 * g.outC, p1 * g.outC));
    const G = matmul(dyc, wt); // [rows, rowLen]
    col2imOnHeap(backend, G, dx, g, p0, p1);
    release(backend, dyc, G);
  }
  release(backend, wt);
  return dx;
}

export function makeConv2DBackpropFilter(batchMatMul: KernelImpl): KernelImpl {
  return ({ inputs, backend: be, attrs = {} }) => {
    const backend = be as WasmBackendLike;
    let { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const matmul = (a: TensorInfo, b: TensorInfo): TensorInfo =>
      batchMatMul({
        inputs: { a, b },
        backend,
        attrs: { transposeA: false, transposeB: false },
      }) as TensorInfo;
    const nchw = attrs['dataFormat'] === 'NCHW';
    const info = convInfoFor(x.shape, attrs['filterShape'] as number[], attrs);
    const temps: TensorInfo[] = [];
    if (nchw) {
      x = nchwToNhwc(backend, x);
      dy = nchwToNhwc(backend, dy);
      temps.push(x, dy);
    }
    const dw = conv2dFilterGradNHWC(backend, matmul, x, dy, geometryOf(info));
    release(backend, ...temps);
    return dw;
  };
}

/**
 * For stride 1 and dilation 1 the input gradient is itself a convolution ("full" correlation
 * with the flipped filter):
 *   dx[b, ih, iw, ci] = sum_{kh, kw, co} dy[b, ih + padTop - kh, iw + padLeft - kw, co] W[kh, kw, ci, co]
 *                     = conv2d(dy, W')[b, ih, iw, ci],  W'[kh, kw, co, ci] = W[kH-1-kh, kW-1-kw, ci, co]
 * with padding kH-1-padTop / kH-1-padBottom (and likewise in width), so it runs on the
 * registered Conv2D (Winograd for 3x3, conv2d-forward.ts; else XNNPACK, both multithreaded):
 * faster than im2col + product + col2im, whose col2im is single-threaded. Returns null when the shortcut does not apply (strides, dilations, or a
 * padding wider than the filter).
 */
function conv2dInputGradAsConv(
  backend: WasmBackendLike,
  dy: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo | null {
  const { filterHeight: kH, filterWidth: kW, padInfo } = info;
  const pads = [
    kH - 1 - padInfo.top,
    kH - 1 - padInfo.bottom,
    kW - 1 - padInfo.left,
    kW - 1 - padInfo.right,
  ];
  if (
    info.strideHeight !== 1 ||
    info.strideWidth !== 1 ||
    info.dilationHeight !== 1 ||
    info.dilationWidth !== 1 ||
    pads.some((p) => p < 0)
  )
    return null;
  const inC = info.inChannels;
  const outC = info.outChannels;
  // W'[kh, kw] = W[kH-1-kh, kW-1-kw]^T: one inC x outC transpose per filter tap.
  const flipped = backend.makeOutput([kH, kW, outC, inC], 'float32');
  for (let kh = 0; kh < kH; kh++)
    for (let kw = 0; kw < kW; kw++) {
      const src = ((kH - 1 - kh) * kW + (kW - 1 - kw)) * inC * outC;
      const dst = (kh * kW + kw) * outC * inC;
      transposeOnHeap(backend, filter, src, flipped, inC, outC, 1, dst);
    }
  const dx = stockKernel(Conv2D)({
    inputs: { x: dy, filter: flipped },
    backend,
    attrs: {
      strides: [1, 1],
      pad: [
        [0, 0],
        [pads[0]!, pads[1]!],
        [pads[2]!, pads[3]!],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [1, 1],
    },
  }) as TensorInfo;
  release(backend, flipped);
  return dx;
}

export function makeConv2DBackpropInput(batchMatMul: KernelImpl): KernelImpl {
  return ({ inputs, backend: be, attrs = {} }) => {
    const backend = be as WasmBackendLike;
    let { dy } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { filter } = inputs as { filter: TensorInfo };
    const matmul = (a: TensorInfo, b: TensorInfo): TensorInfo =>
      batchMatMul({
        inputs: { a, b },
        backend,
        attrs: { transposeA: false, transposeB: false },
      }) as TensorInfo;
    const nchw = attrs['dataFormat'] === 'NCHW';
    const inputShape = attrs['inputShape'] as number[];
    const info = convInfoFor(inputShape, filter.shape, attrs);
    if (nchw) dy = nchwToNhwc(backend, dy);
    const dx =
      conv2dInputGradAsConv(backend, dy, filter, info) ??
      conv2dInputGradPacked(backend, dy, filter, geometryOf(info)) ??
      conv2dInputGradNHWC(backend, matmul, dy, filter, geometryOf(info));
    if (!nchw) return dx;
    release(backend, dy);
    const out = nhwcToNchw(
      backend,
      reshaped(dx, [info.batchSize, info.inHeight, info.inWidth, info.inChannels]),
    );
    release(backend, dx);
    return out;
  };
}

export { Conv2DBackpropFilter, Conv2DBackpropInput };
