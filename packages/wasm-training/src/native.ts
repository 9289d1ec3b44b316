/**
 * The package's own SIMD kernels (native/kernels.c, built by native/build.sh and shipped as
 * base64 in native-bytes.ts), instantiated on the tfjs wasm backend's own memory so they work
 * on tensors in place. Falls back to the JS loops when the module cannot be instantiated (no
 * wasm SIMD, or a backend build that does not export its memory).
 *
 * Two builds of the same source ship: plain wasm SIMD, and relaxed SIMD, whose matrix products
 * use f32x4.relaxed_madd (a fused multiply-add on hosts with FMA; ~1.5x the plain build's
 * GFLOP/s here). The relaxed build is used when the engine accepts it: Chrome 114+, Node 22+,
 * and Node 20.16+ after turning on V8's `--experimental-wasm-relaxed-simd`, which this module
 * does once (through process.getBuiltinModule('node:v8')) unless setRelaxedSimdEnabled(false)
 * was called first. Relaxed madd may round once (FMA) or twice depending on the host, always the
 * same way on one machine.
 */
import {
  KERNELS_RELAXED_SHARED_WASM_BASE64,
  KERNELS_RELAXED_WASM_BASE64,
  KERNELS_SHARED_WASM_BASE64,
  KERNELS_WASM_BASE64,
} from './native-bytes';
import type { WasmBackendLike } from './wasm-backend';

export interface NativeKernels {
  add_inplace(dst: number, src: number, n: number): void;
  /** dx (zeroed here) from x, dy and the pool geometry; see native/kernels.c. */
  max_pool_grad(x: number, dy: number, dx: number, ...geometry: number[]): void;
  /** out[c] = float32 of the float64 sum (mean: / rows) of column c of a rows x cols matrix. */
  sum_rows(x: number, acc: number, out: number, rows: number, cols: number, mean: number): void;
  transpose2d(src: number, dst: number, rows: number, cols: number, batch: number): void;
  im2col(x: number, P: number, ...geometryAndRange: number[]): void;
  col2im(G: number, dx: number, ...geometryAndRange: number[]): void;
  /**
   * C_b = op(A_b) op(B_b) for batches b0..b1 and columns n0..n1 (packed GEMM, 4 x 8 micro-tiles).
   * Arguments: A, sAm, sAk, strideA, B, sBk, sBn, strideB, C, ldc, strideC, M, K, b0, b1, n0,
   * n1, scratch (gemm_packed_scratch_floats(n1 - n0) floats); see native/kernels.c.
   */
  gemm_packed(...pointersStridesAndRange: number[]): void;
  /** Floats of scratch the packed product needs for a share of `columns` output columns. */
  gemm_packed_scratch_floats(columns: number): number;
  /** C[m, n] += sum_k A[m * sAm + k * sAk] B[k * ldb + n] (C row stride ldc); float32 sums in k order. */
  gemm_acc(
    A: number,
    sAm: number,
    sAk: number,
    B: number,
    ldb: number,
    C: number,
    ldc: number,
    M: number,
    N: number,
    K: number,
  ): void;
  /**
   * dW (kH*kW*inC x outC) += im2col(x)^T dy over output pixels p0..p1, `chunk` pixels at a time,
   * with P a chunk x kH*kW*inC scratch. Arguments: x, dy, dW, P, scratch (heap offsets; scratch:
   * gemm_packed_scratch_floats(outC) floats when packed, else 0), then im2col's geometry and range (inH ...
   * padLeft, p0, p1), then outC, chunk and packed (1: packed product, 0: gemm_acc).
   */
  conv2d_filter_grad(...pointersGeometryAndRange: number[]): void;
  /**
   * acc[xi] (inC x outC) = sum of V[xi]^T Mg[xi] over output tiles t0..t1 (acc need not be
   * zeroed: the first chunk writes it): the 3x3 stride-1 weight
   * gradient by Winograd F(3x3, 2x2) (tile 2: 16 positions xi) or F(3x3, 4x4) (tile 4: 36
   * positions, 4x4 output tiles). Arguments: x, dy, acc, V, Mg, scratch (heap offsets; V, Mg:
   * positions x (chunk x inC / outC + 16), see winogradScratch; scratch as for conv2d_filter_grad), inH, inW, inC, outH, outW,
   * outC, padTop, padLeft, t0, t1, chunk, packed, tile.
   */
  conv2d_winograd_filter_grad(...pointersGeometryAndRange: number[]): void;
  /** dW [3, 3, inC, outC] from the summed acc (16 x inC x outC) of conv2d_winograd_filter_grad. */
  winograd_filter_grad_output(acc: number, dW: number, inC: number, outC: number): void;
  /** U[xi][ci][co] = (G g G^T)[xi] for the 3x3 filter W [3, 3, inC, outC] (Winograd F(2x2, 3x3)). */
  winograd_filter(W: number, U: number, inC: number, outC: number): void;
  /**
   * y = bias + conv2d(x, W) (then ReLU if relu) for 3x3, stride 1, dilation 1, by Winograd
   * F(2x2, 3x3) over output tiles t0..t1. Arguments: x, U, bias (0 for none), y, V, M (heap
   * offsets; V and M are 16 x (chunk x inC or outC + 16) scratch, see winogradScratch), inH, inW, inC, outH,
   * outW, outC, padTop, padLeft, t0, t1, chunk, relu (0/1), scratch (gemm_packed_scratch_floats(outC)
   * floats when packed, else 0), packed (0/1: the packed product or gemm_acc).
   */
  conv2d_winograd(...pointersGeometryAndRange: number[]): void;
  /**
   * out[r, c] = a op b over a rows x cols grid (op: 0 add, 1 sub, 2 mul, 3 div), each operand
   * read by its mode: 0 full, 1 a vector along the last axes (index c), 2 one value per row, 3
   * a scalar.
   */
  binary_f32(
    op: number,
    a: number,
    modeA: number,
    b: number,
    modeB: number,
    out: number,
    rows: number,
    cols: number,
  ): void;
  /** U[xi][ci][co] = (G g G^T)[xi], xi < 36, for the 3x3 filter W (Winograd F(4x4, 3x3)). */
  winograd4_filter(W: number, U: number, inC: number, outC: number): void;
  /** conv2d_winograd's arguments, by F(4x4, 3x3): tiles of 4x4 outputs, V and M 36 x (chunk x C + 16). */
  conv2d_winograd4(...pointersGeometryAndRange: number[]): void;
  /** dW [3, 3, inC, outC] from the summed acc (36 x inC x outC) of conv2d_winograd_filter_grad, tile 4. */
  winograd4_filter_grad_output(acc: number, dW: number, inC: number, outC: number): void;
  /** U[xi][ci][co] = (G g G^T)[xi], xi < 25, for the 3x3 filter W (Winograd F(3x3, 3x3)). */
  winograd3_filter(W: number, U: number, inC: number, outC: number): void;
  /** conv2d_winograd's arguments, by F(3x3, 3x3): tiles of 3x3 outputs, V and M 25 x (chunk x C + 16). */
  conv2d_winograd3(...pointersGeometryAndRange: number[]): void;
  /** dW [3, 3, inC, outC] from the summed acc (25 x inC x outC) of conv2d_winograd_filter_grad, tile 3. */
  winograd3_filter_grad_output(acc: number, dW: number, inC: number, outC: number): void;
  /**
   * y = act(bias + conv2d(x, W)) over output pixels p0..p1 by im2col chunks and the packed
   * product. Arguments: x, W, bias (0: none), y, P (chunk x kH*kW*inC scratch, 0 when direct),
   * scratch (gemm_packed_scratch_floats(outC) floats), inH, inW, inC, outH, outW, kH, kW, sH, sW,
   * dH, dW, padTop, padLeft, p0, p1, outC, chunk, relu (0/1), direct (1: 1x1 stride 1 unpadded,
   * the rows of x are the im2col rows).
   */
  conv2d_im2col(...pointersGeometryAndRange: number[]): void;
  /**
   * Not a kernel: the benchmark's probe of the core's 128-bit multiply-add peak (n rounds of 12
   * independent chains, 96 n flops; F32X4_MADD as in the products).
   */
  madd_peak_f32x4(n: number, x: number): number;
  /**
   * dx += col2im(dy W^T) over output pixels p0..p1 in chunks (the packed product, W read
   * transposed). Arguments: dy, W, dx (zeroed by the caller), G (chunk x kH*kW*inC scratch),
   * scratch (gemm_packed_scratch_floats(kH*kW*inC) floats), then col2im's geometry and range
   * (inH ... padLeft, p0, p1), outC, chunk.
   */
  conv2d_input_grad_im2col(...pointersGeometryAndRange: number[]): void;
  /**
   * out[i] = NaN for NaN, 1 where x[i] > 0, else alpha (tfjs's Step, ReLU's gradient mask);
   * alpha as its float32 bit pattern ({@link float32Bits}).
   */
  step_f32(x: number, out: number, n: number, alphaBits: number): void;
  /**
   * The fused SGD-with-momentum update over n elements (IgmSgdMomentumUpdate): nextBuf = buf * mu
   * + d, update = (nesterov ? d + nextBuf * mu : nextBuf) * negLr with d = g (+ theta * wd when
   * decay is 1); wd, mu and negLr as float32 bit patterns. See native/kernels.c.
   */
  sgd_momentum_f32(
    g: number,
    theta: number,
    buf: number,
    nextBuf: number,
    update: number,
    n: number,
    decay: number,
    nesterov: number,
    wdBits: number,
    muBits: number,
    negLrBits: number,
  ): void;
  /** out[i] = max(x[i], 0) as the cpu backend's Math.max(0, x): NaN stays NaN, -0 becomes +0. */
  relu_f32(x: number, out: number, n: number): void;
  /**
   * y[r, c] = act(y[r, c] + bias) in place (biasMode 0: no bias, 1: bias[c], 3: bias[0]; act:
   * ReLU when relu is 1, else the identity).
   */
  bias_act_f32(
    y: number,
    bias: number,
    biasMode: number,
    rows: number,
    cols: number,
    relu: number,
  ): void;
  /**
   * out[r, c] = (x[r, c] - mean[c]) * k[c] + offset[c] for a rows x C grid, plus residual[r, c]
   * when residual is not 0; with relu 1, the ReLU of that (as relu_f32) in the same pass.
   */
  batch_norm_f32(
    x: number,
    mean: number,
    k: number,
    offset: number,
    residual: number,
    out: number,
    rows: number,
    C: number,
    relu: number,
  ): void;
  /**
   * The batch mean and biased variance of channels c0..c1 of a rows x C matrix (float64 sums in
   * row order divided by rows; acc: C doubles of scratch). See native/kernels.c.
   */
  bn_moments_f32(
    x: number,
    acc: number,
    mean: number,
    variance: number,
    rows: number,
    C: number,
    c0: number,
    c1: number,
  ): void;
  /**
   * BatchNorm backward, first pass: the four per-channel float64 sums into sums (4 C doubles).
   * out: the forward's output with a fused ReLU (dy * step(out) is read in place of dy), else 0.
   */
  bn_grad_sums_f32(
    dy: number,
    out: number,
    x: number,
    mean: number,
    scale: number,
    r: number,
    h: number,
    sums: number,
    rows: number,
    C: number,
    c0: number,
    c1: number,
  ): void;
  /** BatchNorm backward, second pass: acc[c] = sum over rows of q[c] * ((x - mean[c]) * 2). */
  bn_centered_sum_f32(
    x: number,
    mean: number,
    q: number,
    acc: number,
    rows: number,
    C: number,
    c0: number,
    c1: number,
  ): void;
  /**
   * BatchNorm backward, last pass: dx = (((dy * r) * scale) + q * ((x - mean) * 2)) + share;
   * out as in bn_grad_sums_f32; dres (0: none) receives the dy (or dy * step(out)) it used.
   */
  bn_input_grad_f32(
    dy: number,
    out: number,
    x: number,
    mean: number,
    scale: number,
    r: number,
    q: number,
    share: number,
    dx: number,
    dres: number,
    rows: number,
    C: number,
  ): void;
}

/** The slice of the WebAssembly JS API used here (the package's tsconfig has no DOM lib). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (...args: never[]) => object;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

interface EmscriptenLike {
  /** Exports of the instance: the single-threaded builds export their memory here. */
  asm?: { memory?: unknown };
  /** The threaded build creates its (shared) memory in JS and exposes it here. */
  wasmMemory?: unknown;
}

/** Instances by the backend's Emscripten module and build ('relaxed' or 'simd'). */
const instances = new WeakMap<object, Map<boolean, NativeKernels | null>>();
const compiled = new Map<string, object | null>();
let disabled = false;
let relaxedWanted = true;
let relaxedSupported: boolean | undefined;

function decode(b64: string): Uint8Array {
  if (typeof Buffer !== 'undefined') return Uint8Array.from(Buffer.from(b64, 'base64'));
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Turns the SIMD kernels off (true) or back on (false); used by tests to cover the JS path. */
export function setNativeKernelsEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/**
 * Uses the relaxed-SIMD build where the engine supports it (true, the default) or always the
 * plain SIMD build (false). Call before the first kernel to keep V8's relaxed-SIMD flag off in
 * Node 20; switching later is allowed (tests do) and takes effect at the next kernel call.
 */
export function setRelaxedSimdEnabled(enabled: boolean): void {
  relaxedWanted = enabled;
}

/** Whether this engine runs the relaxed-SIMD build (turning on V8's flag in Node 20 if needed). */
export function relaxedSimdSupported(): boolean {
  if (relaxedSupported !== undefined) return relaxedSupported;
  relaxedSupported = false;
  if (wasmApi === undefined) return false;
  const bytes = decode(KERNELS_RELAXED_WASM_BASE64);
  let ok = wasmApi.validate(bytes);
  if (!ok) {
    // Node 20.16+: V8 has relaxed SIMD behind a flag (on by default from Node 22). Elsewhere
    // (browsers, other runtimes, older Node) there is no such module and the plain build runs.
    try {
      const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } })
        .process;
      const v8 = proc?.getBuiltinModule?.('node:v8') as
        | { setFlagsFromString(flags: string): void }
        | undefined;
      if (v8 !== undefined) {
        v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
        ok = wasmApi.validate(bytes);
      }
    } catch {
      ok = false;
    }
  }
  relaxedSupported = ok;
  return ok;
}

/** Whether the relaxed-SIMD build is wanted (setRelaxedSimdEnabled), supported or not. */
export function relaxedSimdWanted(): boolean {
  return relaxedWanted;
}

/** Which build the next kernel call uses: relaxed SIMD when wanted and supported. */
export function useRelaxedSimd(): boolean {
  return relaxedWanted && relaxedSimdSupported();
}

/** The module bytes of one build (shared: for the threaded backend's shared memory). */
export function kernelsWasmBytes(shared: boolean, relaxed: boolean): Uint8Array {
  if (relaxed)
    return decode(shared ? KERNELS_RELAXED_SHARED_WASM_BASE64 : KERNELS_RELAXED_WASM_BASE64);
  return decode(shared ? KERNELS_SHARED_WASM_BASE64 : KERNELS_WASM_BASE64);
}

/** The SIMD kernels bound to this backend's heap, or null (then callers use the JS loops). */
export function nativeKernels(backend: WasmBackendLike): NativeKernels | null {
  if (disabled) return null;
  const module = backend.wasm as unknown as EmscriptenLike;
  const relaxed = useRelaxedSimd();
  let byBuild = instances.get(module);
  if (byBuild === undefined) {
    byBuild = new Map();
    instances.set(module, byBuild);
  }
  const cached = byBuild.get(relaxed);
  if (cached !== undefined) return cached;
  let result: NativeKernels | null = null;
  try {
    const memory = module.asm?.memory ?? module.wasmMemory;
    if (wasmApi !== undefined && memory instanceof wasmApi.Memory) {
      // The threaded backend build has shared memory, which needs the shared-memory variant.
      const shared =
        typeof SharedArrayBuffer !== 'undefined' &&
        (memory as unknown as { buffer: unknown }).buffer instanceof SharedArrayBuffer;
      const key = `${shared}/${relaxed}`;
      if (!compiled.has(key)) {
        try {
          compiled.set(key, new wasmApi.Module(kernelsWasmBytes(shared, relaxed)));
        } catch {
          compiled.set(key, null);
        }
      }
      const mod = compiled.get(key);
      if (mod)
        result = new wasmApi.Instance(mod, { env: { memory } }).exports as unknown as NativeKernels;
    }
  } catch {
    result = null;
  }
  byBuild.set(relaxed, result);
  return result;
}

/** Whether `kernels` is the relaxed-SIMD build (for reports and benchmarks). */
export function nativeKernelsAreRelaxed(backend: WasmBackendLike): boolean {
  return nativeKernels(backend) !== null && useRelaxedSimd();
}

const bitsScratch = new Float32Array(1);
const bitsView = new Int32Array(bitsScratch.buffer);

/**
 * The bit pattern of float32(v) as an integer: how kernels that run on the helper threads take
 * float scalars (a helper's arguments travel through integer slots, which would truncate 0.5 to 0).
 */
export function float32Bits(v: number): number {
  bitsScratch[0] = v;
  return bitsView[0]!;
}

/** Byte offset of a tensor's data on the wasm heap. */
export function ptr(backend: WasmBackendLike, t: { dataId: object }): number {
  const data = backend.dataIdMap.get(t.dataId);
  if (data === undefined) throw new Error('wasm-training: tensor is not on the wasm backend');
  return data.memoryOffset;
}
