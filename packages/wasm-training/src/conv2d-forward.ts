/**
 * Conv2D and FusedConv2D for 3x3, stride-1 convolutions by Winograd F(2x2, 3x3)
 * (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
 *
 * Each 4x4 input patch d gives a 2x2 output block
 *
 *   y = A^T [ (G g G^T) . (B^T d B) ] A        (g: the 3x3 filter of one input/output channel pair)
 *
 * and the elementwise products, summed over input channels, are 16 matrix products
 * (tiles x inC times inC x outC): 16 multiplications per 4 outputs instead of 36, so 2.25x
 * fewer than the direct form that XNNPACK computes. The transforms and products run in the
 * package's SIMD kernels (`winograd_filter`, `conv2d_winograd` in native/kernels.c); on the
 * threaded backend the output tiles are split over the helper threads. float32 rounding differs
 * from the direct sum by ~1e-6 relative (tested against the cpu backend).
 *
 * Everything else (other filter sizes, strides, dilations, NCHW, fewer than 8 input or output
 * channels, activations other than linear/ReLU, PReLU weights, a bias that is not one value per
 * output channel, or no SIMD kernels) goes to the stock XNNPACK kernel. The stride-1 input
 * gradient (a convolution with the flipped filter, conv2d.ts) runs through here too.
 */
import {
  backend_util,
  Conv2D,
  FusedConv2D,
  type NamedAttrMap,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { nativeKernels, ptr, useRelaxedSimd } from './native';
import { nativeThreads, runParts, splitRange } from './native-threads';
import { type KernelImpl, release, type WasmBackendLike } from './wasm-backend';

/** Scratch per thread and chunk of tiles: about 0.5 MB of V and M, and at least 64 tiles. */
const CHUNK_FLOATS = 1 << 17;
const MIN_CHUNK_TILES = 64;
/**
 * Per Winograd tile size (outputs a side: F(2x2), F(3x3), F(4x4)), the native kernels that run it
 * and the least tiles per chunk when the products run packed (each U[xi] is packed once per
 * chunk): about 4096 transformed tiles' rows per chunk (16, 25 and 36 rows per tile).
 */
export const WINOGRAD_TILES = {
  2: {
    filter: 'winograd_filter',
    conv: 'conv2d_winograd',
    filterGradOutput: 'winograd_filter_grad_output',
    minPackedChunk: 256,
  },
  3: {
    filter: 'winograd3_filter',
    conv: 'conv2d_winograd3',
    filterGradOutput: 'winograd3_filter_grad_output',
    minPackedChunk: 160,
  },
  4: {
    filter: 'winograd4_filter',
    conv: 'conv2d_winograd4',
    filterGradOutput: 'winograd4_filter_grad_output',
    minPackedChunk: 128,
  },
} as const;
/** Filter sizes (inC x outC) from which the 16 products of the forward pass are packed. */
const PACK_WINOGRAD_FORWARD_FLOATS = 64 * 64;
/** Below this many input or output channels the transforms outweigh the saved products. */
const MIN_CHANNELS = 8;

function winogradInfo(
  x: TensorInfo,
  filter: TensorInfo,
  attrs: NamedAttrMap,
): backend_util.Conv2DInfo | null {
  const [kH, kW, inC, outC] = filter.shape as [number, number, number, number];
  if (kH !== 3 || kW !== 3 || inC < MIN_CHANNELS || outC < MIN_CHANNELS) return null;
  const info = nhwcInfo(x, filter, attrs);
  if (info === null) return null;
  const unit =
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1;
  return unit ? info : null;
}

/**
 * Scratch for the transformed tiles of a chunk (V, M, Mg in native/kernels.c): `points` rows of
 * chunk x channels floats, each one cache line (16 floats) longer than that, so the rows a tile
 * writes do not all fall into the same cache sets (`wg_stride` there).
 */
export function winogradScratch(
  backend: WasmBackendLike,
  points: number,
  chunk: number,
  channels: number,
): TensorInfo {
  return backend.makeOutput([points * (chunk * channels + 16)], 'float32');
}

/**
 * The Winograd tile for this output size: 2, 3 or 4 outputs a side, F(2x2, 3x3), F(3x3, 3x3) or
 * F(4x4, 3x3), whichever multiplies least counting the tiles' padding past the edges (16, 25 and
 * 36 products per tile), F(4x4) only where it saves a fifth over F(2x2) (its transforms cost more
 * per product). ResNet-18's stages at 257x188 inputs: 65x47, 33x24 and 17x12 take F(4x4); 9x6
 * takes F(3x3), which covers it exactly (150 products per image against 216 and 240).
 */
export function winogradTile(outH: number, outW: number): 2 | 3 | 4 {
  if (!winograd4Enabled) return 2;
  const products = (m: number) => (m + 2) * (m + 2) * Math.ceil(outH / m) * Math.ceil(outW / m);
  const f2 = products(2);
  const f3 = products(3);
  const f4 = products(4);
  if (f4 < 0.8 * f2 && f4 <= f3) return 4;
  return f3 < f2 ? 3 : 2;
}

let winograd4Enabled = true;

/**
 * Uses Winograd F(4x4, 3x3) and F(3x3, 3x3) (and their transposes for the weight gradient) where
 * they need fewer products than F(2x2, 3x3) (true, the default; winogradTile), or always
 * F(2x2, 3x3) / F(3x3, 2x2) (false). F(4x4, 3x3) multiplies 4x less than the direct form
 * (F(3x3, 3x3): 3.24x, F(2x2): 2.25x): 25-37 % less CPU time on ResNet-18's 64- and 128-channel
 * layers, forward and weight gradient. Their transforms (entries up to 8 and 1/24) round more:
 * float32 results differ from F(2x2)'s by up to ~6e-5 of the output's RMS in the forward pass
 * and ~2e-4 in weight gradients summed over 65536 pixels, the accuracy class of cuDNN's and
 * oneDNN's F(4x4, 3x3).
 */
export function setWinograd4Enabled(enabled: boolean): void {
  winograd4Enabled = enabled;
}

/**
 * y = bias + conv2d(x, filter) (then ReLU if `relu`) by Winograd F(4x4, 3x3) or F(2x2, 3x3)
 * (winogradTile); null without SIMD kernels.
 */
export function conv2dWinograd(
  backend: WasmBackendLike,
  x: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  bias: TensorInfo | null,
  relu: boolean,
): TensorInfo | null {
  const native = nativeKernels(backend);
  if (native === null) return null;
  const { inChannels: inC, outChannels: outC, outHeight: outH, outWidth: outW } = info;
  const y = backend.makeOutput([info.batchSize, outH, outW, outC], 'float32');
  const m = winogradTile(outH, outW);
  const points = (m + 2) * (m + 2); // 16, 25 or 36 transformed positions per tile
  const tiles = info.batchSize * Math.ceil(outH / m) * Math.ceil(outW / m);
  if (tiles === 0) return y;
  const U = backend.makeOutput([points, inC, outC], 'float32');
  const kernels = WINOGRAD_TILES[m];
  native[kernels.filter](ptr(backend, filter), ptr(backend, U), inC, outC);
  const threads = nativeThreads(backend)?.threads ?? 1;
  // From 64 -> 64 channels the products run packed, in chunks of at least minPackedChunk tiles
  // (256 for F(2x2), 160 for F(3x3), 128 for F(4x4)), or all of a thread's share, so each U[xi]
  // is packed once per chunk; narrower ones keep U[xi] in cache for gemm_acc. Measured on
  // ResNet-18's layers (batch 8, CPU ms, gemm_acc -> packed, F(2x2)): 9x6x512 46 -> 40,
  // 33x24x128 26 -> 23, 65x47x64 26.6 -> 25.4; the CNN bench's 32 -> 64: 34 -> 35.
  const packed = inC * outC >= PACK_WINOGRAD_FORWARD_FLOATS;
  const chunkV = Math.max(MIN_CHUNK_TILES, Math.floor(CHUNK_FLOATS / (points * (inC + outC))));
  // Chunks and thread shares in whole groups of 4 tiles: gemm_acc computes rows past the last
  // multiple of 4 with its scalar edge code, so with every boundary on a multiple of 4 the same
  // tiles take that path however the work is split, and results are identical bit for bit.
  const chunk =
    4 *
    Math.max(
      1,
      Math.floor(
        Math.min(
          packed ? Math.ceil(tiles / threads) : tiles,
          packed ? Math.max(kernels.minPackedChunk, chunkV) : chunkV,
        ) / 4,
      ),
    );
  const ranges = splitRange(tiles, threads, 4);
  const V = ranges.map(() => winogradScratch(backend, points, chunk, inC));
  const M = ranges.map(() => winogradScratch(backend, points, chunk, outC));
  const scratch = packed
    ? ranges.map(() => backend.makeOutput([native.gemm_packed_scratch_floats(outC)], 'float32'))
    : [];
  const args = ranges.map(([t0, t1], i) => [
    ptr(backend, x),
    ptr(backend, U),
    bias === null ? 0 : ptr(backend, bias),
    ptr(backend, y),
    ptr(backend, V[i]!),
    ptr(backend, M[i]!),
    info.inHeight,
    info.inWidth,
    inC,
    outH,
    outW,
    outC,
    info.padInfo.top,
    info.padInfo.left,
    t0,
    t1,
    chunk,
    relu ? 1 : 0,
    packed ? ptr(backend, scratch[i]!) : 0,
    packed ? 1 : 0,
  ]);
  runParts(backend, kernels.conv, args);
  release(backend, U, ...V, ...M, ...scratch);
  return y;
}

/** The NHWC float32 geometry of a convolution, or null (NCHW, other dtypes). */
function nhwcInfo(
  x: TensorInfo,
  filter: TensorInfo,
  attrs: NamedAttrMap,
): backend_util.Conv2DInfo | null {
  if ((attrs['dataFormat'] ?? 'NHWC') !== 'NHWC') return null;
  if (x.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  return backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs['strides'] as number | [number, number],
    (attrs['dilations'] as number | [number, number] | undefined) ?? 1,
    attrs['pad'] as backend_util.ExplicitPadding | 'valid' | 'same' | number,
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
  );
}

/** im2col rows per chunk: about 0.5 MB of them, and at least 256 (packing W once per chunk). */
const IM2COL_CHUNK_FLOATS = 1 << 17;
const MIN_IM2COL_CHUNK = 256;

/**
 * y = act(bias + conv2d(x, filter)) for the convolutions Winograd does not take (strided, 1x1,
 * other filter sizes, few channels) where the relaxed-SIMD kernels run: im2col rows of a chunk
 * of output pixels times the filter (already a K x outC matrix) in the packed FMA product, then
 * bias and ReLU (`conv2d_im2col` in native/kernels.c); 1x1 stride-1 unpadded layers multiply the
 * rows of x directly. Output pixels are split over the helper threads. XNNPACK's convolution has
 * no fused multiply-adds in tfjs-backend-wasm 4.22 (and on the threaded backend wakes its own
 * pool). Null without the relaxed build (then XNNPACK runs).
 */
export function conv2dIm2col(
  backend: WasmBackendLike,
  x: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  bias: TensorInfo | null,
  relu: boolean,
): TensorInfo | null {
  const native = useRelaxedSimd() ? nativeKernels(backend) : null;
  if (native === null) return null;
  const { inChannels: inC, outChannels: outC, outHeight: outH, outWidth: outW } = info;
  const { filterHeight: kH, filterWidth: kW, padInfo } = info;
  const y = backend.makeOutput([info.batchSize, outH, outW, outC], 'float32');
  const total = info.batchSize * outH * outW;
  if (total === 0 || outC === 0) return y;
  const rowLen = kH * kW * inC;
  const direct =
    kH === 1 &&
    kW === 1 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    padInfo.top === 0 &&
    padInfo.left === 0 &&
    outH === info.inHeight &&
    outW === info.inWidth;
  const threads = nativeThreads(backend)?.threads ?? 1;
  const share = Math.ceil(total / threads);
  const chunk = Math.min(
    share,
    Math.max(MIN_IM2COL_CHUNK, Math.floor(IM2COL_CHUNK_FLOATS / Math.max(1, rowLen))),
  );
  const ranges = splitRange(total, threads, chunk);
  const P = direct ? [] : ranges.map(() => backend.makeOutput([chunk, rowLen], 'float32'));
  const scratch = ranges.map(() =>
    backend.makeOutput([native.gemm_packed_scratch_floats(outC)], 'float32'),
  );
  const args = ranges.map(([p0, p1], i) => [
    ...[ptr(backend, x), ptr(backend, filter), bias === null ? 0 : ptr(backend, bias)],
    ...[ptr(backend, y), direct ? 0 : ptr(backend, P[i]!), ptr(backend, scratch[i]!)],
    ...[info.inHeight, info.inWidth, inC, outH, outW, kH, kW],
    ...[info.strideHeight, info.strideWidth, info.dilationHeight, info.dilationWidth],
    ...[padInfo.top, padInfo.left, p0, p1, outC, chunk, relu ? 1 : 0, direct ? 1 : 0],
  ]);
  runParts(backend, 'conv2d_im2col', args);
  release(backend, ...P, ...scratch);
  return y;
}

export function makeConv2D(stock: KernelImpl): KernelImpl {
  return (args) => {
    const backend = args.backend as WasmBackendLike;
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const info = winogradInfo(x, filter, attrs);
    if (info) return conv2dWinograd(backend, x, filter, info, null, false) ?? stock(args);
    const general = nhwcInfo(x, filter, attrs);
    return (general && conv2dIm2col(backend, x, filter, general, null, false)) ?? stock(args);
  };
}

export function makeFusedConv2D(stock: KernelImpl): KernelImpl {
  return (args) => {
    const backend = args.backend as WasmBackendLike;
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const { x, filter, bias, preluActivationWeights } = args.inputs as {
      x: TensorInfo;
      filter: TensorInfo;
      bias?: TensorInfo | null;
      preluActivationWeights?: TensorInfo | null;
    };
    const activation = (attrs['activation'] as string | undefined) ?? 'linear';
    if (
      preluActivationWeights != null ||
      (activation !== 'linear' && activation !== 'relu') ||
      (bias != null &&
        (bias.dtype !== 'float32' || util.sizeFromShape(bias.shape) !== filter.shape[3]))
    )
      return stock(args);
    const relu = activation === 'relu';
    const info = winogradInfo(x, filter, attrs);
    if (info) return conv2dWinograd(backend, x, filter, info, bias ?? null, relu) ?? stock(args);
    const general = nhwcInfo(x, filter, attrs);
    return (
      (general && conv2dIm2col(backend, x, filter, general, bias ?? null, relu)) ?? stock(args)
    );
  };
}

export { Conv2D, FusedConv2D };
