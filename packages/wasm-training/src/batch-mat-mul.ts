/**
 * BatchMatMul for the wasm backend: the package's packed GEMM where the relaxed-SIMD build of
 * its kernels runs, else every product on XNNPACK's fast path.
 *
 * With relaxed SIMD (see native.ts), every float32 product, transposed or batched, is one call of
 * gemm_packed (native/kernels.c): C_b = op(A_b) op(B_b) read through strides (no transposed
 * copies; a batch of 1 broadcasts with stride 0), packed into 4 x 8 micro-tiles that use fused
 * multiply-adds, split over the helper threads by batches or by 8-column panels. 1024^3 runs at
 * ~45 GFLOP/s per thread here, against XNNPACK's 26-38.
 *
 * Otherwise:
 * The stock wasm kernel hands plain rank-2 products to XNNPACK (~25-35 GFLOP/s here) but computes
 * transposed operands (`transposeA`/`transposeB`, used by every Dense layer's backward pass) and
 * batched (rank > 2) products with a scalar loop (0.6-2 GFLOP/s). This kernel rewrites each case
 * into plain rank-2 products:
 *
 *   C = op(A) op(B), op = transpose or identity
 *   route 1: transpose the operands that need it, then C = A' B'
 *   route 2: C^T = op(B)^T op(A)^T, so transpose the *other* operands and the result
 *
 * and picks the route that moves fewer floats (transposes plus XNNPACK's packing of the right
 * operand). Batched products run slice by slice (broadcasting a batch of 1 on either side).
 * Results equal the cpu backend's up to float32 summation order.
 */
import {
  _FusedMatMul,
  BatchMatMul,
  broadcast_util,
  type NamedAttrMap,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { type NativeKernels, nativeKernels, ptr, useRelaxedSimd } from './native';
import { nativeThreads, runParts, splitRange } from './native-threads';
import { transposeLast2 } from './transpose';
import { f32, type KernelImpl, release, reshaped, type WasmBackendLike } from './wasm-backend';

/** Multiply-adds below which a product runs on one thread (a helper call costs ~10-50 us). */
const MIN_MACS_TO_SPLIT = 1 << 20;

interface ProductShape {
  batchA: number;
  batchB: number;
  rowsA: number;
  colsA: number;
  rowsB: number;
  colsB: number;
  m: number;
  k: number;
  n: number;
  transposeA: boolean;
  transposeB: boolean;
}

/**
 * op(A) op(B) into `out` ([batch, m, n]) by gemm_packed, split over the helper threads: by
 * batches when there are at least as many as threads, else by 8-column panels.
 */
function packedMatMul(
  backend: WasmBackendLike,
  native: NativeKernels,
  a: TensorInfo,
  b: TensorInfo,
  out: TensorInfo,
  p: ProductShape,
): void {
  const batch = Math.max(p.batchA, p.batchB);
  const threads = nativeThreads(backend)?.threads ?? 1;
  const parts = batch * p.m * p.n * p.k < MIN_MACS_TO_SPLIT ? 1 : threads;
  const shares: Array<{ b: [number, number]; n: [number, number] }> =
    batch >= parts
      ? splitRange(batch, parts).map((r) => ({ b: r, n: [0, p.n] }))
      : splitRange(p.n, parts, 8).map((r) => ({ b: [0, batch], n: r }));
  const scratch = shares.map(({ n }) =>
    backend.makeOutput([native.gemm_packed_scratch_floats(n[1] - n[0])], 'float32'),
  );
  const [sAm, sAk] = p.transposeA ? [1, p.colsA] : [p.colsA, 1];
  const [sBk, sBn] = p.transposeB ? [1, p.colsB] : [p.colsB, 1];
  const strideA = p.batchA === 1 ? 0 : p.rowsA * p.colsA;
  const strideB = p.batchB === 1 ? 0 : p.rowsB * p.colsB;
  const args = shares.map(({ b: [b0, b1], n: [n0, n1] }, i) => [
    ...[ptr(backend, a), sAm, sAk, strideA],
    ...[ptr(backend, b), sBk, sBn, strideB],
    ...[ptr(backend, out), p.n, p.m * p.n],
    ...[p.m, p.k, b0, b1, n0, n1, ptr(backend, scratch[i]!)],
  ]);
  try {
    runParts(backend, 'gemm_packed', args);
  } finally {
    release(backend, ...scratch);
  }
}

interface Plan {
  /** true: transpose the operands that need it; false: compute the transposed product. */
  direct: boolean;
}

/** Floats moved by each route for an M x K times K x N product. */
export function planMatMul(
  m: number,
  k: number,
  n: number,
  transposeA: boolean,
  transposeB: boolean,
): Plan {
  const direct = (transposeA ? m * k : 0) + (transposeB ? k * n : 0) + k * n;
  const swapped = (transposeB ? 0 : k * n) + (transposeA ? 0 : m * k) + m * n + k * m;
  return { direct: direct <= swapped };
}

export function makeBatchMatMul(stock: KernelImpl): KernelImpl {
  const plain = (backend: WasmBackendLike, a: TensorInfo, b: TensorInfo): TensorInfo =>
    stock({
      inputs: { a, b },
      backend,
      attrs: { transposeA: false, transposeB: false },
    }) as TensorInfo;

  /** op(a) op(b) for rank-2 a, b, as plain XNNPACK products. */
  const matmul2d = (
    backend: WasmBackendLike,
    a: TensorInfo,
    b: TensorInfo,
    transposeA: boolean,
    transposeB: boolean,
  ): TensorInfo => {
    if (!transposeA && !transposeB) return plain(backend, a, b);
    const m = transposeA ? a.shape[1]! : a.shape[0]!;
    const k = transposeA ? a.shape[0]! : a.shape[1]!;
    const n = transposeB ? b.shape[0]! : b.shape[1]!;
    const temps: TensorInfo[] = [];
    const t = (x: TensorInfo): TensorInfo => {
      const y = transposeLast2(backend, x);
      temps.push(y);
      return y;
    };
    let out: TensorInfo;
    if (planMatMul(m, k, n, transposeA, transposeB).direct) {
      out = plain(backend, transposeA ? t(a) : a, transposeB ? t(b) : b);
    } else {
      // C^T (N x M) = op(B)^T op(A)^T; op(B)^T is b itself when transposeB, else b^T.
      const ct = plain(backend, transposeB ? b : t(b), transposeA ? a : t(a));
      temps.push(ct);
      out = transposeLast2(backend, ct);
    }
    release(backend, ...temps);
    return out;
  };

  return ({ inputs, backend: be, attrs }) => {
    const backend = be as WasmBackendLike;
    const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
    const transposeA = Boolean(attrs?.['transposeA']);
    const transposeB = Boolean(attrs?.['transposeB']);
    if (a.dtype !== 'float32' || b.dtype !== 'float32') {
      return stock({ inputs, backend, attrs });
    }
    const ra = a.shape.length;
    const rb = b.shape.length;
    const batchA = util.sizeFromShape(a.shape.slice(0, -2));
    const batchB = util.sizeFromShape(b.shape.slice(0, -2));
    const rowsA = a.shape[ra - 2]!;
    const colsA = a.shape[ra - 1]!;
    const rowsB = b.shape[rb - 2]!;
    const colsB = b.shape[rb - 1]!;
    const m = transposeA ? colsA : rowsA;
    const k = transposeA ? rowsA : colsA;
    const kb = transposeB ? colsB : rowsB;
    const n = transposeB ? rowsB : colsB;
    util.assert(
      k === kb,
      () =>
        `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
    const outer = broadcast_util.assertAndGetBroadcastShape(
      a.shape.slice(0, -2),
      b.shape.slice(0, -2),
    );
    const batch = Math.max(batchA, batchB);
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
      // General broadcasting of batch dims: leave it to the stock kernel.
      return stock({ inputs, backend, attrs });
    }
    const outShape = [...outer, m, n];
    const native = useRelaxedSimd() ? nativeKernels(backend) : null;
    if (native !== null) {
      const out = backend.makeOutput(outShape, 'float32');
      if (batch * m * n > 0) {
        const shape = {
          batchA,
          batchB,
          rowsA,
          colsA,
          rowsB,
          colsB,
          m,
          k,
          n,
          transposeA,
          transposeB,
        };
        packedMatMul(backend, native, a, b, out, shape);
      }
      return out;
    }
    if (batch === 1) {
      const out = matmul2d(
        backend,
        reshaped(a, [rowsA, colsA]),
        reshaped(b, [rowsB, colsB]),
        transposeA,
        transposeB,
      );
      return reshaped(out, outShape);
    }
    if (batchB === 1 && !transposeA) {
      // Shared right operand: fold A's batch into its rows, one product.
      const a2 = reshaped(a, [batchA * rowsA, colsA]);
      const out = matmul2d(backend, a2, reshaped(b, [rowsB, colsB]), false, transposeB);
      return reshaped(out, outShape);
    }
    // Slice by slice. Each slice gets a fresh heap tensor: XNNPACK caches the packed right
    // operand by tensor id, so a reused buffer with new contents would hit a stale cache entry.
    const out = backend.makeOutput(outShape, 'float32');
    const sizeA = rowsA * colsA;
    const sizeB = rowsB * colsB;
    const sizeC = m * n;
    for (let i = 0; i < batch; i++) {
      const ia = batchA === 1 ? 0 : i;
      const sa = backend.makeOutput([rowsA, colsA], 'float32');
      f32(backend, sa).set(f32(backend, a).subarray(ia * sizeA, (ia + 1) * sizeA));
      let sb = reshaped(b, [rowsB, colsB]);
      if (batchB !== 1) {
        sb = backend.makeOutput([rowsB, colsB], 'float32');
        f32(backend, sb).set(f32(backend, b).subarray(i * sizeB, (i + 1) * sizeB));
      }
      const c = matmul2d(backend, sa, sb, transposeA, transposeB);
      f32(backend, out).set(f32(backend, c), i * sizeC);
      release(backend, c, sa);
      if (batchB !== 1) release(backend, sb);
    }
    return out;
  };
}

/**
 * _FusedMatMul (tf.fused.matMul: Dense layers outside gradient recording, and linear Dense
 * layers in training): the product on this package's BatchMatMul (with relaxed SIMD the packed
 * FMA GEMM, split over the helper threads), then bias and ReLU in one pass over the output
 * (`bias_act_f32`). The stock kernel runs XNNPACK without fused multiply-adds, wakes XNNPACK's
 * thread pool on the threaded backend, and in tfjs-backend-wasm 4.22 returns wrong values for
 * batched products and for transposeA with transposeB (tested). Other activations, PReLU weights,
 * a bias that is not one value per output column (or a single value), or no SIMD kernels: stock.
 */
export function makeFusedMatMul(stock: KernelImpl, batchMatMul: KernelImpl): KernelImpl {
  return (args) => {
    const backend = args.backend as WasmBackendLike;
    const attrs = (args.attrs ?? {}) as NamedAttrMap;
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<
      string,
      TensorInfo | null | undefined
    >;
    const activation = (attrs['activation'] as string | undefined) ?? 'linear';
    const native = nativeKernels(backend);
    if (
      native === null ||
      a == null ||
      b == null ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      preluActivationWeights != null ||
      (activation !== 'linear' && activation !== 'relu')
    )
      return stock(args);
    const n = attrs['transposeB'] ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!;
    const biasSize = bias == null ? 0 : util.sizeFromShape(bias.shape);
    if (bias != null && (bias.dtype !== 'float32' || (biasSize !== n && biasSize !== 1)))
      return stock(args);
    const out = batchMatMul({
      inputs: { a, b },
      backend,
      attrs: { transposeA: Boolean(attrs['transposeA']), transposeB: Boolean(attrs['transposeB']) },
    }) as TensorInfo;
    const size = util.sizeFromShape(out.shape);
    if (size > 0 && (bias != null || activation === 'relu')) {
      const biasMode = bias == null ? 0 : biasSize === n ? 1 : 3;
      native.bias_act_f32(
        ptr(backend, out),
        bias == null ? 0 : ptr(backend, bias),
        biasMode,
        size / n,
        n,
        activation === 'relu' ? 1 : 0,
      );
    }
    return out;
  };
}

export const batchMatMulKernelName = BatchMatMul;
export { _FusedMatMul };
