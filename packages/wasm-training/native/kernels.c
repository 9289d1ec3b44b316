/*
 * Data-movement kernels for @igm/wasm-training, compiled to a small wasm module that imports the
 * tfjs wasm backend's own memory: every pointer is a byte offset of a tensor on that heap.
 *
 * The module must own no memory of its own: no static data, no shadow stack. Every function
 * uses scalar and v128 locals only; build.sh checks the output for __stack_pointer use and
 * imports other than env.memory.
 */
#include <wasm_simd128.h>

#define EXPORT __attribute__((visibility("default")))

/*
 * c + a * b on four lanes. build.sh compiles this file twice: plain wasm SIMD (a multiply, then
 * an add, two roundings) and with -mrelaxed-simd (IGM_RELAXED_SIMD), where it is
 * f32x4.relaxed_madd: one fused multiply-add on hosts with FMA (x86 FMA3, ARM), which V8 emits
 * as vfmadd231ps. The relaxed form may round once or twice depending on the host, but always the
 * same way on one machine.
 */
#ifdef IGM_RELAXED_SIMD
#define F32X4_MADD(a, b, c) __builtin_wasm_relaxed_madd_f32x4((a), (b), (c))
#else
#define F32X4_MADD(a, b, c) wasm_f32x4_add((c), wasm_f32x4_mul((a), (b)))
#endif

/*
 * max(x, 0) with the cpu backend's ReLU semantics (Math.max(0, x)): NaN stays NaN, -0 becomes +0.
 * pmax(x, 0) = x < 0 ? 0 : x keeps NaN (and -0), and adding +0 turns -0 into +0 and changes
 * nothing else: two single instructions on x64, where f32x4.max needs a longer sequence.
 */
static inline v128_t relu4(v128_t x) {
  const v128_t z = wasm_f32x4_splat(0.0f);
  return wasm_f32x4_add(wasm_f32x4_pmax(x, z), z);
}
static inline float relu1(float v) {
  return wasm_f32x4_extract_lane(relu4(wasm_f32x4_splat(v)), 0);
}

EXPORT void bias_act_f32(float *y, const float *bias, int biasMode, int rows, int cols, int relu);

static inline void copy_f32(float *dst, const float *src, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(dst + i, wasm_v128_load(src + i));
  for (; i < n; i++) dst[i] = src[i];
}

static inline void zero_f32(float *dst, int n) {
  int i = 0;
  v128_t z = wasm_f32x4_splat(0.0f);
  for (; i + 4 <= n; i += 4) wasm_v128_store(dst + i, z);
  for (; i < n; i++) dst[i] = 0.0f;
}

static inline void add_f32(float *dst, const float *src, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4)
    wasm_v128_store(dst + i, wasm_f32x4_add(wasm_v128_load(dst + i), wasm_v128_load(src + i)));
  for (; i < n; i++) dst[i] += src[i];
}

/* dst[n] += src[n]. */
EXPORT void add_inplace(float *dst, const float *src, int n) { add_f32(dst, src, n); }

/*
 * The gradient of a 2-D max pool (NHWC, dilation 1): for each output window and channel, the
 * FIRST maximum in row-major scan order (strict >, starting from -Infinity, so NaN is never
 * picked and a window of -Infinity/NaN only gets no gradient) receives dy; overlapping windows
 * accumulate. dx rows are zeroed just before the first window that reaches them (windows move
 * down monotonically), so the zeroing and the accumulation share the cache. When the windows
 * tile the input exactly (stride = size, no padding, no remainder) every dx element belongs to
 * one window and is stored directly, without zeroing. Four channels at a time: compare/select
 * tracks each lane's best value and its window position; then each window position adds the
 * lanes whose maximum it holds (adding +0 elsewhere, which leaves a sum that started at +0
 * unchanged bit for bit).
 */
EXPORT void max_pool_grad(const float *x, const float *dy, float *dx, int batch, int inH, int inW,
                          int ch, int outH, int outW, int fH, int fW, int sH, int sW, int top,
                          int left) {
  const int tiles = sH == fH && sW == fW && top == 0 && left == 0 && outH * fH == inH &&
                    outW * fW == inW;
  const int rowLen = inW * ch;
  const int ch4 = ch & ~3;
  const v128_t zero = wasm_f32x4_splat(0.0f);
  for (int b = 0; b < batch; b++) {
    const float *xb = x + (long)b * inH * rowLen;
    float *dxb = dx + (long)b * inH * rowLen;
    int zeroed = 0; /* dx rows [0, zeroed) of this image are zero or hold gradient */
    for (int oh = 0; oh < outH; oh++) {
      const int h0 = oh * sH - top;
      const int hs = h0 > 0 ? h0 : 0;
      const int he = h0 + fH < inH ? h0 + fH : inH;
      if (!tiles)
        for (; zeroed < he; zeroed++) zero_f32(dxb + (long)zeroed * rowLen, rowLen);
      for (int ow = 0; ow < outW; ow++) {
        const int w0 = ow * sW - left;
        const int ws = w0 > 0 ? w0 : 0;
        const int we = w0 + fW < inW ? w0 + fW : inW;
        const float *g = dy + ((long)(b * outH + oh) * outW + ow) * ch;
        int c = 0;
        for (; c < ch4; c += 4) {
          v128_t best = wasm_f32x4_splat(-__builtin_inff());
          v128_t where = wasm_i32x4_splat(-1);
          int k = 0;
          for (int h = hs; h < he; h++) {
            const float *xr = xb + (long)h * rowLen + c;
            for (int w = ws; w < we; w++, k++) {
              const v128_t v = wasm_v128_load(xr + w * ch);
              const v128_t gt = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, gt);
              where = wasm_v128_bitselect(wasm_i32x4_splat(k), where, gt);
            }
          }
          const v128_t gv = wasm_v128_load(g + c);
          k = 0;
          for (int h = hs; h < he; h++) {
            float *dr = dxb + (long)h * rowLen + c;
            for (int w = ws; w < we; w++, k++) {
              const v128_t hit = wasm_i32x4_eq(where, wasm_i32x4_splat(k));
              const v128_t add = wasm_v128_and(gv, hit);
              float *d = dr + w * ch;
              /* +0 + add turns a -0 gradient into +0, as the accumulation from +0 does. */
              wasm_v128_store(d, wasm_f32x4_add(tiles ? zero : wasm_v128_load(d), add));
            }
          }
        }
        for (; c < ch; c++) {
          float best = -__builtin_inff();
          long where = -1;
          for (int h = hs; h < he; h++)
            for (int w = ws; w < we; w++) {
              const long i = (long)h * rowLen + (long)w * ch + c;
              if (xb[i] > best) {
                best = xb[i];
                where = i;
              }
            }
          if (tiles)
            for (int h = hs; h < he; h++)
              for (int w = ws; w < we; w++) dxb[(long)h * rowLen + (long)w * ch + c] = 0.0f;
          if (where >= 0) dxb[where] += g[c];
        }
      }
    }
    if (!tiles)
      for (; zeroed < inH; zeroed++) zero_f32(dxb + (long)zeroed * rowLen, rowLen);
  }
}

/*
 * Sum (or, with mean != 0, mean) over the leading axis of a rows x cols matrix:
 *   acc[c] = ((0 + x[0, c]) + x[1, c]) + ... in float64 (exactly the sequential float64 sum),
 *   out[c] = (float)acc[c]  or  (float)(acc[c] / rows).
 * `acc` is caller-provided heap scratch of cols doubles. Rows are taken in chunks that stay in
 * cache; within a chunk, blocks of 16 columns keep their accumulators in registers (loaded from
 * and stored back to `acc` around the chunk, so every column still adds its rows in order).
 */
EXPORT void sum_rows(const float *x, double *acc, float *out, int rows, int cols, int mean) {
  if (cols <= 0) return;
  for (int c = 0; c < cols; c++) acc[c] = 0.0;
  const int chunk = cols >= 4096 ? 1 : 4096 / cols;
  for (int r0 = 0; r0 < rows; r0 += chunk) {
    const int r1 = r0 + chunk < rows ? r0 + chunk : rows;
    int c = 0;
    for (; c + 16 <= cols; c += 16) {
      v128_t a0 = wasm_v128_load(acc + c), a1 = wasm_v128_load(acc + c + 2);
      v128_t a2 = wasm_v128_load(acc + c + 4), a3 = wasm_v128_load(acc + c + 6);
      v128_t a4 = wasm_v128_load(acc + c + 8), a5 = wasm_v128_load(acc + c + 10);
      v128_t a6 = wasm_v128_load(acc + c + 12), a7 = wasm_v128_load(acc + c + 14);
      for (int r = r0; r < r1; r++) {
        const float *p = x + (long)r * cols + c;
        const v128_t v0 = wasm_v128_load(p), v1 = wasm_v128_load(p + 4);
        const v128_t v2 = wasm_v128_load(p + 8), v3 = wasm_v128_load(p + 12);
        a0 = wasm_f64x2_add(a0, wasm_f64x2_promote_low_f32x4(v0));
        a1 = wasm_f64x2_add(a1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v0, v0, 2, 3, 2, 3)));
        a2 = wasm_f64x2_add(a2, wasm_f64x2_promote_low_f32x4(v1));
        a3 = wasm_f64x2_add(a3, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v1, v1, 2, 3, 2, 3)));
        a4 = wasm_f64x2_add(a4, wasm_f64x2_promote_low_f32x4(v2));
        a5 = wasm_f64x2_add(a5, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v2, v2, 2, 3, 2, 3)));
        a6 = wasm_f64x2_add(a6, wasm_f64x2_promote_low_f32x4(v3));
        a7 = wasm_f64x2_add(a7, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v3, v3, 2, 3, 2, 3)));
      }
      wasm_v128_store(acc + c, a0), wasm_v128_store(acc + c + 2, a1);
      wasm_v128_store(acc + c + 4, a2), wasm_v128_store(acc + c + 6, a3);
      wasm_v128_store(acc + c + 8, a4), wasm_v128_store(acc + c + 10, a5);
      wasm_v128_store(acc + c + 12, a6), wasm_v128_store(acc + c + 14, a7);
    }
    for (; c + 4 <= cols; c += 4) {
      v128_t a0 = wasm_v128_load(acc + c), a1 = wasm_v128_load(acc + c + 2);
      for (int r = r0; r < r1; r++) {
        const v128_t v = wasm_v128_load(x + (long)r * cols + c);
        a0 = wasm_f64x2_add(a0, wasm_f64x2_promote_low_f32x4(v));
        a1 = wasm_f64x2_add(a1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 2, 3)));
      }
      wasm_v128_store(acc + c, a0), wasm_v128_store(acc + c + 2, a1);
    }
    for (; c < cols; c++) {
      double a = acc[c];
      for (int r = r0; r < r1; r++) a += (double)x[(long)r * cols + c];
      acc[c] = a;
    }
  }
  for (int c = 0; c < cols; c++) out[c] = (float)(mean ? acc[c] / (double)rows : acc[c]);
}

/* For each of `batch` stacked rows x cols matrices: dst[c * rows + r] = src[r * cols + c]. */
EXPORT void transpose2d(const float *src, float *dst, int rows, int cols, int batch) {
  const int size = rows * cols;
  for (int b = 0; b < batch; b++) {
    const float *s = src + (long)b * size;
    float *d = dst + (long)b * size;
    for (int r0 = 0; r0 < rows; r0 += 32) {
      const int r1 = r0 + 32 < rows ? r0 + 32 : rows;
      for (int c0 = 0; c0 < cols; c0 += 32) {
        const int c1 = c0 + 32 < cols ? c0 + 32 : cols;
        int r = r0;
        for (; r + 4 <= r1; r += 4) {
          int c = c0;
          for (; c + 4 <= c1; c += 4) {
            v128_t a = wasm_v128_load(s + r * cols + c);
            v128_t b1 = wasm_v128_load(s + (r + 1) * cols + c);
            v128_t c2 = wasm_v128_load(s + (r + 2) * cols + c);
            v128_t d3 = wasm_v128_load(s + (r + 3) * cols + c);
            v128_t t0 = wasm_i32x4_shuffle(a, b1, 0, 4, 1, 5);
            v128_t t1 = wasm_i32x4_shuffle(a, b1, 2, 6, 3, 7);
            v128_t t2 = wasm_i32x4_shuffle(c2, d3, 0, 4, 1, 5);
            v128_t t3 = wasm_i32x4_shuffle(c2, d3, 2, 6, 3, 7);
            wasm_v128_store(d + c * rows + r, wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5));
            wasm_v128_store(d + (c + 1) * rows + r, wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7));
            wasm_v128_store(d + (c + 2) * rows + r, wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5));
            wasm_v128_store(d + (c + 3) * rows + r, wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7));
          }
          for (; c < c1; c++)
            for (int k = 0; k < 4; k++) d[c * rows + r + k] = s[(r + k) * cols + c];
        }
        for (; r < r1; r++)
          for (int c = c0; c < c1; c++) d[c * rows + r] = s[r * cols + c];
      }
    }
  }
}

/*
 * im2col rows for output pixels p0..p1 of an NHWC input:
 *   P[p - p0, (kh * kW + kw) * inC + ci] = x[b, oh*sH + kh*dH - padT, ow*sW + kw*dW - padL, ci]
 * (0 outside the input).
 */
EXPORT void im2col(const float *x, float *P, int inH, int inW, int inC, int outH, int outW, int kH,
                   int kW, int sH, int sW, int dH, int dW, int padT, int padL, int p0, int p1) {
  const int rowLen = kH * kW * inC;
  const int kwRun = kW * inC;
  const int perImage = outH * outW;
  for (int p = p0; p < p1; p++) {
    const int b = p / perImage;
    const int rem = p - b * perImage;
    const int oh = rem / outW;
    const int ow = rem - oh * outW;
    float *row = P + (long)(p - p0) * rowLen;
    const int iw0 = ow * sW - padL;
    const int contiguous = dW == 1 && iw0 >= 0 && iw0 + kW <= inW;
    for (int kh = 0; kh < kH; kh++) {
      const int ih = oh * sH + kh * dH - padT;
      float *dst = row + kh * kwRun;
      if (ih < 0 || ih >= inH) {
        zero_f32(dst, kwRun);
        continue;
      }
      const float *src = x + ((long)(b * inH + ih) * inW) * inC;
      if (contiguous) {
        copy_f32(dst, src + (long)iw0 * inC, kwRun);
        continue;
      }
      for (int kw = 0; kw < kW; kw++) {
        const int iw = iw0 + kw * dW;
        if (iw < 0 || iw >= inW)
          zero_f32(dst + kw * inC, inC);
        else
          copy_f32(dst + kw * inC, src + (long)iw * inC, inC);
      }
    }
  }
}

/* The adjoint of im2col: dx[b, ih, iw, ci] += G[p - p0, (kh * kW + kw) * inC + ci]. */
EXPORT void col2im(const float *G, float *dx, int inH, int inW, int inC, int outH, int outW, int kH,
                   int kW, int sH, int sW, int dH, int dW, int padT, int padL, int p0, int p1) {
  const int rowLen = kH * kW * inC;
  const int kwRun = kW * inC;
  const int perImage = outH * outW;
  for (int p = p0; p < p1; p++) {
    const int b = p / perImage;
    const int rem = p - b * perImage;
    const int oh = rem / outW;
    const int ow = rem - oh * outW;
    const float *row = G + (long)(p - p0) * rowLen;
    const int iw0 = ow * sW - padL;
    const int contiguous = dW == 1 && iw0 >= 0 && iw0 + kW <= inW;
    for (int kh = 0; kh < kH; kh++) {
      const int ih = oh * sH + kh * dH - padT;
      if (ih < 0 || ih >= inH) continue;
      const float *src = row + kh * kwRun;
      float *dst = dx + ((long)(b * inH + ih) * inW) * inC;
      if (contiguous) {
        add_f32(dst + (long)iw0 * inC, src, kwRun);
        continue;
      }
      for (int kw = 0; kw < kW; kw++) {
        const int iw = iw0 + kw * dW;
        if (iw >= 0 && iw < inW) add_f32(dst + (long)iw * inC, src + kw * inC, inC);
      }
    }
  }
}

/*
 * C[m, n] += sum_k A[m * sAm + k * sAk] * B[k * ldb + n] for m < M, n < N, k < K, with C
 * row-major (row stride ldc). A has arbitrary strides, so the same kernel serves A (sAm = lda,
 * sAk = 1) and A^T (sAm = 1, sAk = lda); B is row-major. Register tiles of 4 x 8 outputs (four
 * splats of A times two v128 of B per k: 8 accumulators, which V8 keeps in registers; 6 x 8
 * spilled and ran at half the speed), then 4 x 4 and scalar edges. Blocked over k so the slices
 * of A and B that a row of tiles reads stay in cache. The sum over k for one output runs in
 * order, in float32, like a plain dot product.
 */
#define GEMM_KB 128

#define GEMM_SPLAT(i) const v128_t s##i = wasm_v128_load32_splat(a + (long)(i) * sAm);
#define GEMM_ACC8(i)                                                                           \
  c##i##0 = F32X4_MADD(s##i, b0, c##i##0);                                                      \
  c##i##1 = F32X4_MADD(s##i, b1, c##i##1);
#define GEMM_ACC4(i) c##i##0 = F32X4_MADD(s##i, b0, c##i##0);
#define GEMM_LOAD8(i)                                                                          \
  v128_t c##i##0 = wasm_v128_load(C + (long)(m + i) * ldc + n),                                \
         c##i##1 = wasm_v128_load(C + (long)(m + i) * ldc + n + 4);
#define GEMM_LOAD4(i) v128_t c##i##0 = wasm_v128_load(C + (long)(m + i) * ldc + n);
#define GEMM_STORE8(i)                                                                         \
  wasm_v128_store(C + (long)(m + i) * ldc + n, c##i##0);                                       \
  wasm_v128_store(C + (long)(m + i) * ldc + n + 4, c##i##1);
#define GEMM_STORE4(i) wasm_v128_store(C + (long)(m + i) * ldc + n, c##i##0);

static inline float gemm_dot(const float *A, int sAm, int sAk, const float *B, int ldb, int m,
                             int n, int k0, int k1) {
  float s = 0.0f;
  for (int k = k0; k < k1; k++) s += A[(long)m * sAm + (long)k * sAk] * B[(long)k * ldb + n];
  return s;
}

EXPORT void gemm_acc(const float *A, int sAm, int sAk, const float *B, int ldb, float *C, int ldc,
                     int M, int N, int K) {
  const int N8 = N & ~7;
  const int N4 = N & ~3;
  const int M4 = M & ~3;
  for (int k0 = 0; k0 < K; k0 += GEMM_KB) {
    const int k1 = k0 + GEMM_KB < K ? k0 + GEMM_KB : K;
    for (int m = 0; m < M4; m += 4) {
      int n = 0;
      for (; n < N8; n += 8) {
        GEMM_LOAD8(0) GEMM_LOAD8(1) GEMM_LOAD8(2) GEMM_LOAD8(3)
        for (int k = k0; k < k1; k++) {
          const float *b = B + (long)k * ldb + n;
          const v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
          const float *a = A + (long)m * sAm + (long)k * sAk;
          GEMM_SPLAT(0) GEMM_SPLAT(1) GEMM_SPLAT(2) GEMM_SPLAT(3)
          GEMM_ACC8(0) GEMM_ACC8(1) GEMM_ACC8(2) GEMM_ACC8(3)
        }
        GEMM_STORE8(0) GEMM_STORE8(1) GEMM_STORE8(2) GEMM_STORE8(3)
      }
      for (; n < N4; n += 4) {
        GEMM_LOAD4(0) GEMM_LOAD4(1) GEMM_LOAD4(2) GEMM_LOAD4(3)
        for (int k = k0; k < k1; k++) {
          const v128_t b0 = wasm_v128_load(B + (long)k * ldb + n);
          const float *a = A + (long)m * sAm + (long)k * sAk;
          GEMM_SPLAT(0) GEMM_SPLAT(1) GEMM_SPLAT(2) GEMM_SPLAT(3)
          GEMM_ACC4(0) GEMM_ACC4(1) GEMM_ACC4(2) GEMM_ACC4(3)
        }
        GEMM_STORE4(0) GEMM_STORE4(1) GEMM_STORE4(2) GEMM_STORE4(3)
      }
      for (; n < N; n++)
        for (int i = 0; i < 4; i++) C[(long)(m + i) * ldc + n] += gemm_dot(A, sAm, sAk, B, ldb, m + i, n, k0, k1);
    }
    for (int m = M4; m < M; m++)
      for (int n = 0; n < N; n++) C[(long)m * ldc + n] += gemm_dot(A, sAm, sAk, B, ldb, m, n, k0, k1);
  }
}

/*
 * Packed matrix product (the GotoBLAS / BLIS scheme) for BatchMatMul:
 *
 *   C_b[m, n] = sum_k A_b[m * sAm + k * sAk] * B_b[k * sBk + n * sBn]
 *
 * for batches b0..b1 and columns n0..n1 (a thread's share), all rows m < M; C_b row-major with
 * row stride ldc. The strides give A, A^T, B and B^T with no transposed copies. Over blocks of
 * GEMM_PKC steps of k: the block of B (GEMM_PKC x the columns) is packed into panels of 8
 * columns, k-major (Bp[panel][k][8], zero-padded past n1); then for blocks of GEMM_PMC rows, A
 * is packed into tiles of 4 rows, k-major (Ap[tile][k][4], zero-padded past M); then every
 * 4 x 8 tile of C runs the micro-kernel over the block: 8 v128 accumulators, two loads of B and
 * four splats of A per k, each at a constant offset from one of two pointers (see the loop).
 * Wider tiles measured slower (bench/gemm-shapes.ts, an MLP's products: 6 x 8 and 5 x 8 by
 * 6-34 %): V8 gives wasm SIMD 15 xmm registers on x64 and issues a step's loads before its
 * multiply-adds, so 10 or 12 accumulators spill; GEMM_PKC of 128 or 512 changed nothing.
 * The packed B panel (8 KB) stays in L1 across a block's row tiles and
 * the packed A block (240 KB) in L2. Edge tiles (past M or n1) go through the 32-float `tile`
 * scratch. Scratch (floats): GEMM_PKC * round8(n1 - n0) for Bp, GEMM_PMC * GEMM_PKC for Ap, 32.
 * One output's sum runs over k in order, in blocks (so float32 rounding, like a dot product).
 */
#define GEMM_PKC 256
#define GEMM_PMC 240

/* Floats of scratch gemm_packed_2d needs for a share of `columns` output columns (Bp, Ap, tile). */
EXPORT int gemm_packed_scratch_floats(int columns) {
  return GEMM_PKC * ((columns + 7) & ~7) + GEMM_PMC * GEMM_PKC + 32;
}

/* Bp[panel][k][8] = B[(k0 + k) * sBk + (n0 + 8 * panel + j) * sBn], 0 past n1. */
static void gemm_pack_b(const float *B, int sBk, int sBn, int k0, int kc, int n0, int n1, float *Bp) {
  for (int n = n0; n < n1; n += 8, Bp += (long)kc * 8) {
    const int w = n1 - n < 8 ? n1 - n : 8;
    if (w == 8 && sBn == 1) {
      for (int k = 0; k < kc; k++) {
        const float *s = B + (long)(k0 + k) * sBk + n;
        wasm_v128_store(Bp + k * 8, wasm_v128_load(s));
        wasm_v128_store(Bp + k * 8 + 4, wasm_v128_load(s + 4));
      }
    } else if (w == 8 && sBk == 1) {
      /* B^T: column n + j is a contiguous row; 4 x 4 transposes of (j, k) blocks. */
      int k = 0;
      for (; k + 4 <= kc; k += 4)
        for (int h = 0; h < 8; h += 4) {
          const float *s = B + (long)(k0 + k) + (long)(n + h) * sBn;
          const v128_t r0 = wasm_v128_load(s), r1 = wasm_v128_load(s + sBn),
                       r2 = wasm_v128_load(s + 2L * sBn), r3 = wasm_v128_load(s + 3L * sBn);
          const v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7),
                       t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
          wasm_v128_store(Bp + (k + 0) * 8 + h, wasm_i64x2_shuffle(t0, t2, 0, 2));
          wasm_v128_store(Bp + (k + 1) * 8 + h, wasm_i64x2_shuffle(t0, t2, 1, 3));
          wasm_v128_store(Bp + (k + 2) * 8 + h, wasm_i64x2_shuffle(t1, t3, 0, 2));
          wasm_v128_store(Bp + (k + 3) * 8 + h, wasm_i64x2_shuffle(t1, t3, 1, 3));
        }
      for (; k < kc; k++)
        for (int j = 0; j < 8; j++) Bp[k * 8 + j] = B[(long)(k0 + k) + (long)(n + j) * sBn];
    } else {
      for (int k = 0; k < kc; k++)
        for (int j = 0; j < 8; j++)
          Bp[k * 8 + j] = j < w ? B[(long)(k0 + k) * sBk + (long)(n + j) * sBn] : 0.0f;
    }
  }
}

/* Ap[tile][k][4] = A[(m0 + 4 * tile + i) * sAm + (k0 + k) * sAk], 0 past M. */
static void gemm_pack_a(const float *A, int sAm, int sAk, int k0, int kc, int m0, int m1, float *Ap) {
  for (int m = m0; m < m1; m += 4, Ap += (long)kc * 4) {
    const int h = m1 - m < 4 ? m1 - m : 4;
    if (h == 4 && sAm == 1) {
      for (int k = 0; k < kc; k++) wasm_v128_store(Ap + k * 4, wasm_v128_load(A + (long)(k0 + k) * sAk + m));
    } else if (h == 4 && sAk == 1) {
      const float *s = A + (long)m * sAm + k0;
      int k = 0;
      for (; k + 4 <= kc; k += 4) {
        const v128_t r0 = wasm_v128_load(s + k), r1 = wasm_v128_load(s + sAm + k),
                     r2 = wasm_v128_load(s + 2L * sAm + k), r3 = wasm_v128_load(s + 3L * sAm + k);
        const v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7),
                     t2 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
        wasm_v128_store(Ap + (k + 0) * 4, wasm_i64x2_shuffle(t0, t2, 0, 2));
        wasm_v128_store(Ap + (k + 1) * 4, wasm_i64x2_shuffle(t0, t2, 1, 3));
        wasm_v128_store(Ap + (k + 2) * 4, wasm_i64x2_shuffle(t1, t3, 0, 2));
        wasm_v128_store(Ap + (k + 3) * 4, wasm_i64x2_shuffle(t1, t3, 1, 3));
      }
      for (; k < kc; k++)
        for (int i = 0; i < 4; i++) Ap[k * 4 + i] = s[(long)i * sAm + k];
    } else {
      for (int k = 0; k < kc; k++)
        for (int i = 0; i < 4; i++)
          Ap[k * 4 + i] = i < h ? A[(long)(m + i) * sAm + (long)(k0 + k) * sAk] : 0.0f;
    }
  }
}

#define PGEMM_ZERO(i) v128_t c##i##0 = wasm_f32x4_splat(0.0f), c##i##1 = c##i##0;
#define PGEMM_LOAD(i)                                                                          \
  c##i##0 = wasm_v128_load(C + (long)(i) * ldc);                                               \
  c##i##1 = wasm_v128_load(C + (long)(i) * ldc + 4);
#define PGEMM_STEP(i)                                                                          \
  {                                                                                            \
    const v128_t s = wasm_v128_load32_splat(a + i);                                            \
    c##i##0 = F32X4_MADD(s, b0, c##i##0);                                                      \
    c##i##1 = F32X4_MADD(s, b1, c##i##1);                                                      \
  }
#define PGEMM_STORE(i)                                                                         \
  wasm_v128_store(C + (long)(i) * ldc, c##i##0);                                               \
  wasm_v128_store(C + (long)(i) * ldc + 4, c##i##1);

/* C[4 x 8] = (accumulate ? C : 0) + Ap[kc x 4]^T Bp[kc x 8]. */
static inline void gemm_micro_4x8(const float *a, const float *bp, int kc, float *C, long ldc,
                                  int accumulate) {
  PGEMM_ZERO(0) PGEMM_ZERO(1) PGEMM_ZERO(2) PGEMM_ZERO(3)
  if (accumulate) {
    PGEMM_LOAD(0) PGEMM_LOAD(1) PGEMM_LOAD(2) PGEMM_LOAD(3)
  }
  for (int k = 0; k < kc; k++, a += 4, bp += 8) {
    /*
     * An empty asm (no instruction) that "changes" both pointers: LLVM's loop strength
     * reduction then cannot rewrite a + 1 .. a + 3 and bp + 4 as separate i32.adds (which
     * lose the no-wrap flag), so the six loads keep constant offsets (offset=4..16) that V8
     * folds into x64 addressing: no lea per load, about 18 instead of 23 instructions per k,
     * and the loop alone on cached panels runs at 57-59 instead of 54 GFLOP/s here.
     */
    __asm__("" : "+r"(a), "+r"(bp));
    const v128_t b0 = wasm_v128_load(bp), b1 = wasm_v128_load(bp + 4);
    PGEMM_STEP(0) PGEMM_STEP(1) PGEMM_STEP(2) PGEMM_STEP(3)
  }
  PGEMM_STORE(0) PGEMM_STORE(1) PGEMM_STORE(2) PGEMM_STORE(3)
}

/*
 * gemm_micro_4x8 reading B in place: row k of the 4 x 8 block at b + k * ldb (8 consecutive
 * floats). The same multiply-adds in the same order as on a packed panel, so the same bits.
 */
static inline void gemm_micro_4x8_ldb(const float *a, const float *b, long ldb, int kc, float *C,
                                      long ldc, int accumulate) {
  PGEMM_ZERO(0) PGEMM_ZERO(1) PGEMM_ZERO(2) PGEMM_ZERO(3)
  if (accumulate) {
    PGEMM_LOAD(0) PGEMM_LOAD(1) PGEMM_LOAD(2) PGEMM_LOAD(3)
  }
  for (int k = 0; k < kc; k++, a += 4, b += ldb) {
    __asm__("" : "+r"(a), "+r"(b)); /* constant load offsets, as in gemm_micro_4x8 */
    const v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
    PGEMM_STEP(0) PGEMM_STEP(1) PGEMM_STEP(2) PGEMM_STEP(3)
  }
  PGEMM_STORE(0) PGEMM_STORE(1) PGEMM_STORE(2) PGEMM_STORE(3)
}

/*
 * Rows of A up to which gemm_packed_2d reads B's full 8-column panels in place instead of packing
 * them: with so few row tiles each packed value would be used at most 4 times, so the packing
 * pass costs more than the strided loads it saves (a Dense layer's forward pass at batch 12).
 */
#define GEMM_DIRECT_B_ROWS 16

/*
 * gemm_packed_2d for M <= GEMM_DIRECT_B_ROWS rows and B's rows contiguous (sBn == 1): the full
 * 8-column panels of B read in place, the last partial panel packed. Kept out of line so that
 * the packed path's code stays as it was.
 */
__attribute__((noinline)) static void gemm_direct_b(const float *A, int sAm, int sAk,
                                                    const float *B, int sBk, float *C, int ldc,
                                                    int M, int K, int n0, int n1, int accumulate,
                                                    float *Bp, float *Ap, float *tile) {
  for (int k0 = 0; k0 < K; k0 += GEMM_PKC) {
    const int kc = K - k0 < GEMM_PKC ? K - k0 : GEMM_PKC;
    const int acc = accumulate || k0 > 0;
    gemm_pack_a(A, sAm, sAk, k0, kc, 0, M, Ap);
    for (int n = n0; n < n1; n += 8) {
      const int w = n1 - n < 8 ? n1 - n : 8;
      if (w < 8) gemm_pack_b(B, sBk, 1, k0, kc, n, n1, Bp);
      const float *bp = w < 8 ? Bp : B + (long)k0 * sBk + n;
      const long ldb = w < 8 ? 8 : sBk;
      for (int m = 0; m < M; m += 4) {
        const float *ap = Ap + (long)(m / 4) * kc * 4;
        float *c = C + (long)m * ldc + n;
        const int h = M - m < 4 ? M - m : 4;
        if (h == 4 && w == 8) {
          gemm_micro_4x8_ldb(ap, bp, ldb, kc, c, ldc, acc);
        } else {
          for (int i = 0; i < 4; i++)
            for (int j = 0; j < 8; j++)
              tile[i * 8 + j] = acc && i < h && j < w ? c[(long)i * ldc + j] : 0.0f;
          gemm_micro_4x8_ldb(ap, bp, ldb, kc, tile, 8, acc);
          for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) c[(long)i * ldc + j] = tile[i * 8 + j];
        }
      }
    }
  }
}

/*
 * C[m, n] = (accumulate ? C[m, n] : 0) + sum_k A[m * sAm + k * sAk] B[k * sBk + n * sBn] for
 * m < M, n0 <= n < n1 (one matrix of gemm_packed).
 */
static void gemm_packed_2d(const float *A, int sAm, int sAk, const float *B, int sBk, int sBn,
                           float *C, int ldc, int M, int K, int n0, int n1, int accumulate,
                           float *scratch) {
  if (n1 <= n0 || M <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int m = 0; m < M; m++) zero_f32(C + (long)m * ldc + n0, n1 - n0);
    return;
  }
  float *Bp = scratch;
  float *Ap = Bp + (long)GEMM_PKC * ((n1 - n0 + 7) & ~7);
  float *tile = Ap + (long)GEMM_PMC * GEMM_PKC;
  /* Few rows (one row block) and B's rows contiguous: full panels read in place. */
  if (M <= GEMM_DIRECT_B_ROWS && sBn == 1) {
    gemm_direct_b(A, sAm, sAk, B, sBk, C, ldc, M, K, n0, n1, accumulate, Bp, Ap, tile);
    return;
  }
  for (int k0 = 0; k0 < K; k0 += GEMM_PKC) {
    const int kc = K - k0 < GEMM_PKC ? K - k0 : GEMM_PKC;
    const int acc = accumulate || k0 > 0;
    gemm_pack_b(B, sBk, sBn, k0, kc, n0, n1, Bp);
    for (int m0 = 0; m0 < M; m0 += GEMM_PMC) {
      const int m1 = M - m0 < GEMM_PMC ? M : m0 + GEMM_PMC;
      gemm_pack_a(A, sAm, sAk, k0, kc, m0, m1, Ap);
      for (int n = n0; n < n1; n += 8) {
        const float *bp = Bp + (long)((n - n0) / 8) * kc * 8;
        const int w = n1 - n < 8 ? n1 - n : 8;
        for (int m = m0; m < m1; m += 4) {
          const float *ap = Ap + (long)((m - m0) / 4) * kc * 4;
          float *c = C + (long)m * ldc + n;
          const int h = m1 - m < 4 ? m1 - m : 4;
          if (h == 4 && w == 8) {
            gemm_micro_4x8(ap, bp, kc, c, ldc, acc);
          } else {
            for (int i = 0; i < 4; i++)
              for (int j = 0; j < 8; j++)
                tile[i * 8 + j] = acc && i < h && j < w ? c[(long)i * ldc + j] : 0.0f;
            gemm_micro_4x8(ap, bp, kc, tile, 8, acc);
            for (int i = 0; i < h; i++)
              for (int j = 0; j < w; j++) c[(long)i * ldc + j] = tile[i * 8 + j];
          }
        }
      }
    }
  }
}

EXPORT void gemm_packed(const float *A, int sAm, int sAk, int strideA, const float *B, int sBk,
                        int sBn, int strideB, float *C, int ldc, int strideC, int M, int K, int b0,
                        int b1, int n0, int n1, float *scratch) {
  for (int b = b0; b < b1; b++)
    gemm_packed_2d(A + (long)b * strideA, sAm, sAk, B + (long)b * strideB, sBk, sBn,
                   C + (long)b * strideC, ldc, M, K, n0, n1, 0, scratch);
}

/*
 * The weight gradient of a conv2d over output pixels p0..p1, chunk pixels at a time:
 *   dW[(kh * kW + kw) * inC + ci, co] += sum_p P[p, (kh, kw, ci)] dy[p, co]
 * with P the im2col rows of the chunk (written into the caller's scratch P, chunk x kH*kW*inC),
 * then dW += P^T dy_chunk: with `packed`, by the packed product (P read transposed while
 * packing; `scratch` holds its gemmPackedScratchFloats(outC) floats, see native.ts), else by gemm_acc in place
 * (faster while dW stays in cache). The geometry arguments are im2col's, then outC, chunk and
 * packed. Threads split the pixels, each with its own dW, P and scratch.
 */
EXPORT void conv2d_filter_grad(const float *x, const float *dy, float *dW, float *P,
                               float *scratch, int inH, int inW, int inC, int outH, int outW,
                               int kH, int kW, int sH, int sW, int dH, int dW_, int padT, int padL,
                               int p0, int p1, int outC, int chunk, int packed) {
  const int rowLen = kH * kW * inC;
  for (int q0 = p0; q0 < p1; q0 += chunk) {
    const int q1 = q0 + chunk < p1 ? q0 + chunk : p1;
    im2col(x, P, inH, inW, inC, outH, outW, kH, kW, sH, sW, dH, dW_, padT, padL, q0, q1);
    if (packed)
      gemm_packed_2d(P, 1, rowLen, dy + (long)q0 * outC, outC, 1, dW, outC, rowLen, q1 - q0, 0,
                     outC, 1, scratch);
    else
      gemm_acc(P, 1, rowLen, dy + (long)q0 * outC, outC, dW, outC, rowLen, outC, q1 - q0);
  }
}

/*
 * y = act(bias + conv2d(x, W)) for NHWC x and filter W [kH, kW, inC, outC] (any strides,
 * dilations, padding) over output pixels p0..p1, chunk pixels at a time: the chunk's im2col rows
 * P (chunk x kH*kW*inC, the caller's scratch) times W (its layout is already the K x outC
 * matrix) in the packed product (`scratch`: gemm_packed_scratch_floats(outC) floats), then bias
 * (0: none) and ReLU (relu != 0) in one pass over the chunk's outputs. With `direct` (1x1,
 * stride 1, no padding) the rows of x are P and im2col is skipped. Threads split the pixels.
 */
EXPORT void conv2d_im2col(const float *x, const float *W, const float *bias, float *y, float *P,
                          float *scratch, int inH, int inW, int inC, int outH, int outW, int kH,
                          int kW, int sH, int sW, int dH, int dW, int padT, int padL, int p0,
                          int p1, int outC, int chunk, int relu, int direct) {
  const int rowLen = kH * kW * inC;
  for (int q0 = p0; q0 < p1; q0 += chunk) {
    const int q1 = q0 + chunk < p1 ? q0 + chunk : p1;
    const float *rows = x + (long)q0 * inC;
    if (!direct) {
      im2col(x, P, inH, inW, inC, outH, outW, kH, kW, sH, sW, dH, dW, padT, padL, q0, q1);
      rows = P;
    }
    float *out = y + (long)q0 * outC;
    gemm_packed_2d(rows, rowLen, 1, W, outC, 1, out, outC, q1 - q0, rowLen, 0, outC, 0, scratch);
    if (bias || relu) bias_act_f32(out, bias, bias ? 1 : 0, q1 - q0, outC, relu);
  }
}

/*
 * The input gradient of a conv2d (any strides, dilations, padding) for the output pixels p0..p1,
 * chunk pixels at a time: G = dy_chunk W^T (chunk x kH*kW*inC) in the packed product, reading W
 * [kH, kW, inC, outC] transposed through its strides (no copy), into the caller's scratch G, then
 * col2im adds G into dx. Callers zero dx first and split whole images over threads (windows of
 * neighbouring pixels overlap in dx, those of different images do not). `scratch`:
 * gemm_packed_scratch_floats(kH*kW*inC) floats.
 */
EXPORT void conv2d_input_grad_im2col(const float *dy, const float *W, float *dx, float *G,
                                     float *scratch, int inH, int inW, int inC, int outH,
                                     int outW, int kH, int kW, int sH, int sW, int dH, int dW,
                                     int padT, int padL, int p0, int p1, int outC, int chunk) {
  const int rowLen = kH * kW * inC;
  for (int q0 = p0; q0 < p1; q0 += chunk) {
    const int q1 = q0 + chunk < p1 ? q0 + chunk : p1;
    gemm_packed_2d(dy + (long)q0 * outC, outC, 1, W, 1, outC, G, rowLen, q1 - q0, outC, 0, rowLen,
                   0, scratch);
    col2im(G, dx, inH, inW, inC, outH, outW, kH, kW, sH, sW, dH, dW, padT, padL, q0, q1);
  }
}

/*
 * Winograd F(2x2, 3x3) for 3x3, stride-1, dilation-1 conv2d (NHWC x, filter [3, 3, inC, outC]):
 *   y = A^T [ (G g G^T) . (B^T d B) ] A   for each 4x4 input patch d -> 2x2 outputs,
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * (Lavin & Gray 2016). The elementwise products summed over input channels become 16 matrix
 * products, M[xi] = V[xi] U[xi] (tiles x inC times inC x outC), 2.25x fewer multiplications
 * than the direct form.
 */

/*
 * The filter transforms write 16 (F(2x2, 3x3)) or 36 (F(4x4, 3x3)) planes of inC * outC floats.
 * When a plane is a multiple of 1024 floats (every layer from 32 x 32 channels up), all of them
 * fall into the same cache sets, so writing one element of every plane at a time evicts each line
 * long before it is full (measured: ~50 ns per filter element for 64 x 64 and 512 x 512, 6.6 ns
 * for 128 x 130). So both transforms take WG_FILTER_BLOCK consecutive elements at once (four
 * vectors; the values live in wasm locals) and then write each plane's 64 bytes together. Every
 * element gets exactly the operations of the scalar loop, which runs the remainder.
 */
#define WG_FILTER_BLOCK 16

/* U[xi][ci][co] = (G g G^T)[xi] for g = W[:, :, ci, co]. */
static inline void winograd_filter1(const float *W, float *U, long plane, long e) {
  float g[3][3];
  for (int kh = 0; kh < 3; kh++)
    for (int kw = 0; kw < 3; kw++) g[kh][kw] = W[(kh * 3 + kw) * plane + e];
  float q[4][3];
  for (int j = 0; j < 3; j++) {
    q[0][j] = g[0][j];
    q[1][j] = 0.5f * (g[0][j] + g[1][j] + g[2][j]);
    q[2][j] = 0.5f * (g[0][j] - g[1][j] + g[2][j]);
    q[3][j] = g[2][j];
  }
  for (int i = 0; i < 4; i++) {
    U[(i * 4 + 0) * plane + e] = q[i][0];
    U[(i * 4 + 1) * plane + e] = 0.5f * (q[i][0] + q[i][1] + q[i][2]);
    U[(i * 4 + 2) * plane + e] = 0.5f * (q[i][0] - q[i][1] + q[i][2]);
    U[(i * 4 + 3) * plane + e] = q[i][2];
  }
}

EXPORT void winograd_filter(const float *W, float *U, int inC, int outC) {
  const long plane = (long)inC * outC;
  const long blocked = plane - plane % WG_FILTER_BLOCK;
  const v128_t half = wasm_f32x4_splat(0.5f);
  for (long e = 0; e < blocked; e += WG_FILTER_BLOCK) {
    v128_t u[16][4];
    _Pragma("clang loop unroll(full)") for (int l = 0; l < 4; l++) {
      v128_t g[3][3];
      _Pragma("clang loop unroll(full)") for (int k = 0; k < 9; k++) g[k / 3][k % 3] =
          wasm_v128_load(W + k * plane + e + 4 * l);
      v128_t q[4][3];
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 3; j++) {
        q[0][j] = g[0][j];
        q[1][j] = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_add(g[0][j], g[1][j]), g[2][j]));
        q[2][j] = wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_sub(g[0][j], g[1][j]), g[2][j]));
        q[3][j] = g[2][j];
      }
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 4; i++) {
        u[i * 4 + 0][l] = q[i][0];
        u[i * 4 + 1][l] =
            wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_add(q[i][0], q[i][1]), q[i][2]));
        u[i * 4 + 2][l] =
            wasm_f32x4_mul(half, wasm_f32x4_add(wasm_f32x4_sub(q[i][0], q[i][1]), q[i][2]));
        u[i * 4 + 3][l] = q[i][2];
      }
    }
    _Pragma("clang loop unroll(full)") for (int p = 0; p < 16; p++)
        _Pragma("clang loop unroll(full)") for (int l = 0; l < 4; l++)
            wasm_v128_store(U + p * plane + e + 4 * l, u[p][l]);
  }
  for (long e = blocked; e < plane; e++) winograd_filter1(W, U, plane, e);
}

/*
 * Distance in floats between the transform positions xi of the scratch V, M and Mg (each n tiles
 * x channels): one cache line more than n * channels, which for ResNet's layers is a multiple of
 * 1024 floats and would put the 16 or 36 rows a tile writes (or reads) in one cache set.
 * Callers allocate positions * (chunk * channels + 16) floats (winogradScratchFloats).
 */
static inline long wg_stride(int n, int channels) { return (long)n * channels + 16; }

/* Input patch of tile (b, th, tw), channels c..c+3, as four v128 rows x four columns. */
static inline v128_t patch_load4(const float *x, int inH, int inW, int inC, int b, int ih, int iw,
                                 int c) {
  if (ih < 0 || ih >= inH || iw < 0 || iw >= inW) return wasm_f32x4_splat(0.0f);
  return wasm_v128_load(x + (((long)b * inH + ih) * inW + iw) * inC + c);
}

static inline float patch_load1(const float *x, int inH, int inW, int inC, int b, int ih, int iw,
                                int c) {
  if (ih < 0 || ih >= inH || iw < 0 || iw >= inW) return 0.0f;
  return x[(((long)b * inH + ih) * inW + iw) * inC + c];
}

/* Output tile `tile` (index over batch x tilesH x tilesW): its image and first output row/column. */
struct tile_origin {
  int b, oh, ow;
};
static inline struct tile_origin tile_origin_of(int tile, int outH, int outW) {
  const int tilesW = (outW + 1) / 2, perImage = ((outH + 1) / 2) * tilesW;
  const int b = tile / perImage, r = tile - b * perImage;
  const int th = r / tilesW;
  const struct tile_origin o = {b, 2 * th, 2 * (r - th * tilesW)};
  return o;
}

/*
 * V[xi][t][c] = (B^T d B)[xi] for the 4x4 input patches d of output tiles q0..q0+n (tile index
 * over batch x tilesH x tilesW; the patch of tile (th, tw) starts at input row 2 th - padT,
 * column 2 tw - padL; zeros outside x).
 */
static void winograd_input(const float *x, float *V, int inH, int inW, int inC, int outH,
                           int outW, int padT, int padL, int q0, int n) {
  const int C4 = inC & ~3;
  for (int t = 0; t < n; t++) {
    const struct tile_origin o = tile_origin_of(q0 + t, outH, outW);
    const int b = o.b, ih0 = o.oh - padT, iw0 = o.ow - padL;
    int c = 0;
    for (; c < C4; c += 4) {
      v128_t d[4][4], s[4][4];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) d[i][j] = patch_load4(x, inH, inW, inC, b, ih0 + i, iw0 + j, c);
      for (int j = 0; j < 4; j++) {
        s[0][j] = wasm_f32x4_sub(d[0][j], d[2][j]);
        s[1][j] = wasm_f32x4_add(d[1][j], d[2][j]);
        s[2][j] = wasm_f32x4_sub(d[2][j], d[1][j]);
        s[3][j] = wasm_f32x4_sub(d[1][j], d[3][j]);
      }
      for (int i = 0; i < 4; i++) {
        const long step = wg_stride(n, inC);
        float *v = V + (long)(i * 4) * step + (long)t * inC + c;
        wasm_v128_store(v, wasm_f32x4_sub(s[i][0], s[i][2]));
        wasm_v128_store(v + step, wasm_f32x4_add(s[i][1], s[i][2]));
        wasm_v128_store(v + 2 * step, wasm_f32x4_sub(s[i][2], s[i][1]));
        wasm_v128_store(v + 3 * step, wasm_f32x4_sub(s[i][1], s[i][3]));
      }
    }
    for (; c < inC; c++) {
      float d[4][4], s[4][4];
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) d[i][j] = patch_load1(x, inH, inW, inC, b, ih0 + i, iw0 + j, c);
      for (int j = 0; j < 4; j++) {
        s[0][j] = d[0][j] - d[2][j];
        s[1][j] = d[1][j] + d[2][j];
        s[2][j] = d[2][j] - d[1][j];
        s[3][j] = d[1][j] - d[3][j];
      }
      for (int i = 0; i < 4; i++) {
        const long step = wg_stride(n, inC);
        float *v = V + (long)(i * 4) * step + (long)t * inC + c;
        v[0] = s[i][0] - s[i][2];
        v[step] = s[i][1] + s[i][2];
        v[2 * step] = s[i][2] - s[i][1];
        v[3 * step] = s[i][1] - s[i][3];
      }
    }
  }
}

/*
 * y (NHWC) = bias + conv2d(x, W) (then ReLU if relu) for the output tiles t0..t1 (tile index
 * over batch x tilesH x tilesW, 2x2 outputs each), chunk tiles at a time, with U from
 * winograd_filter and the caller's scratch V and M (16 rows of chunk x inC or outC, wg_stride apart).
 * bias: heap offset or 0 for none. With `packed`, the 16 products run in the packed product
 * (`scratch`: gemm_packed_scratch_floats(outC) floats), which reads each U[xi] (inC x outC) once
 * per chunk into cache-sized panels; else in gemm_acc, which re-reads U[xi] for every 4 rows of
 * tiles and wins while U[xi] stays in cache. Threads split the tiles (disjoint outputs).
 */
EXPORT void conv2d_winograd(const float *x, const float *U, const float *bias, float *y, float *V,
                            float *M, int inH, int inW, int inC, int outH, int outW, int outC,
                            int padT, int padL, int t0, int t1, int chunk, int relu,
                            float *scratch, int packed) {
  const int O4 = outC & ~3;
  for (int q0 = t0; q0 < t1; q0 += chunk) {
    const int q1 = q0 + chunk < t1 ? q0 + chunk : t1;
    const int n = q1 - q0;
    winograd_input(x, V, inH, inW, inC, outH, outW, padT, padL, q0, n);
    /* M[xi] = V[xi] U[xi] */
    if (packed) {
      for (int xi = 0; xi < 16; xi++)
        gemm_packed_2d(V + xi * wg_stride(n, inC), inC, 1, U + (long)xi * inC * outC, outC, 1,
                       M + xi * wg_stride(n, outC), outC, n, inC, 0, outC, 0, scratch);
    } else {
      zero_f32(M, (int)(16 * wg_stride(n, outC)));
      for (int xi = 0; xi < 16; xi++)
        gemm_acc(V + xi * wg_stride(n, inC), inC, 1, U + (long)xi * inC * outC, outC,
                 M + xi * wg_stride(n, outC), outC, n, outC, inC);
    }
    /* y = A^T m A (+ bias, ReLU) */
    for (int t = 0; t < n; t++) {
      const struct tile_origin to = tile_origin_of(q0 + t, outH, outW);
      const int b = to.b, oh = to.oh, ow = to.ow;
      const int h2 = oh + 1 < outH, w2 = ow + 1 < outW;
      float *y00 = y + (((long)b * outH + oh) * outW + ow) * outC;
      float *y01 = y00 + outC;
      float *y10 = y00 + (long)outW * outC;
      float *y11 = y10 + outC;
      int o = 0;
      for (; o < O4; o += 4) {
        v128_t m[4][4];
        for (int i = 0; i < 4; i++)
          for (int j = 0; j < 4; j++)
            m[i][j] = wasm_v128_load(M + (i * 4 + j) * wg_stride(n, outC) + (long)t * outC + o);
        v128_t s0[4], s1[4];
        for (int j = 0; j < 4; j++) {
          s0[j] = wasm_f32x4_add(wasm_f32x4_add(m[0][j], m[1][j]), m[2][j]);
          s1[j] = wasm_f32x4_sub(wasm_f32x4_sub(m[1][j], m[2][j]), m[3][j]);
        }
        v128_t a = wasm_f32x4_add(wasm_f32x4_add(s0[0], s0[1]), s0[2]);
        v128_t bq = wasm_f32x4_sub(wasm_f32x4_sub(s0[1], s0[2]), s0[3]);
        v128_t cq = wasm_f32x4_add(wasm_f32x4_add(s1[0], s1[1]), s1[2]);
        v128_t dq = wasm_f32x4_sub(wasm_f32x4_sub(s1[1], s1[2]), s1[3]);
        if (bias) {
          const v128_t bv = wasm_v128_load(bias + o);
          a = wasm_f32x4_add(a, bv);
          bq = wasm_f32x4_add(bq, bv);
          cq = wasm_f32x4_add(cq, bv);
          dq = wasm_f32x4_add(dq, bv);
        }
        if (relu) {
          a = relu4(a);
          bq = relu4(bq);
          cq = relu4(cq);
          dq = relu4(dq);
        }
        wasm_v128_store(y00 + o, a);
        if (w2) wasm_v128_store(y01 + o, bq);
        if (h2) wasm_v128_store(y10 + o, cq);
        if (h2 && w2) wasm_v128_store(y11 + o, dq);
      }
      for (; o < outC; o++) {
        float m[4][4];
        for (int i = 0; i < 4; i++)
          for (int j = 0; j < 4; j++) m[i][j] = M[(i * 4 + j) * wg_stride(n, outC) + (long)t * outC + o];
        float s0[4], s1[4];
        for (int j = 0; j < 4; j++) {
          s0[j] = m[0][j] + m[1][j] + m[2][j];
          s1[j] = m[1][j] - m[2][j] - m[3][j];
        }
        float out[4] = {s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3], s1[0] + s1[1] + s1[2],
                        s1[1] - s1[2] - s1[3]};
        for (int k = 0; k < 4; k++) {
          if (bias) out[k] += bias[o];
          if (relu) out[k] = relu1(out[k]);
        }
        y00[o] = out[0];
        if (w2) y01[o] = out[1];
        if (h2) y10[o] = out[2];
        if (h2 && w2) y11[o] = out[3];
      }
    }
  }
}

/*
 * The weight gradient of the same 3x3, stride-1 convolution by Winograd F(3x3, 2x2): for an
 * output tile's 2x2 block of dy, g, and its 4x4 input patch d,
 *   dW[kh, kw] += sum_{i,j} d[i + kh, j + kw] g[i, j] = (A^T [ (G g G^T) . (B^T d B) ] A)[kh, kw]
 * with the forward pass's B^T (so V is the same input transform), G = [1 0; .5 .5; .5 -.5;
 * 0 -1] and A^T = [1 1 1 0; 0 1 -1 0; 0 1 1 1]. Summed over tiles, the 16 elementwise products
 * are 16 matrix products acc[xi] += V[xi]^T Mg[xi] (inC x tiles times tiles x outC): 16
 * multiplications per tile and channel pair instead of 36.
 */

/* Mg[xi][t][o] = (G g G^T)[xi] for the 2x2 blocks g of dy of tiles q0..q0+n (0 past the edge). */
static void winograd_dy(const float *dy, float *Mg, int outH, int outW, int outC, int q0, int n) {
  const int O4 = outC & ~3;
  const long step = wg_stride(n, outC);
  const v128_t half = wasm_f32x4_splat(0.5f), z = wasm_f32x4_splat(0.0f);
  for (int t = 0; t < n; t++) {
    const struct tile_origin to = tile_origin_of(q0 + t, outH, outW);
    const int b = to.b, oh = to.oh, ow = to.ow;
    const int h2 = oh + 1 < outH, w2 = ow + 1 < outW;
    const float *g00 = dy + (((long)b * outH + oh) * outW + ow) * outC;
    const float *g01 = g00 + outC;
    const float *g10 = g00 + (long)outW * outC;
    const float *g11 = g10 + outC;
    int o = 0;
    for (; o < O4; o += 4) {
      const v128_t a0 = wasm_v128_load(g00 + o), a1 = w2 ? wasm_v128_load(g01 + o) : z;
      const v128_t b0 = h2 ? wasm_v128_load(g10 + o) : z;
      const v128_t b1 = h2 && w2 ? wasm_v128_load(g11 + o) : z;
      /* rows of G g: g0, (g0 + g1) / 2, (g0 - g1) / 2, -g1 (g0, g1: the rows of g) */
      v128_t q[4][2];
      q[0][0] = a0;
      q[0][1] = a1;
      q[1][0] = wasm_f32x4_mul(half, wasm_f32x4_add(a0, b0));
      q[1][1] = wasm_f32x4_mul(half, wasm_f32x4_add(a1, b1));
      q[2][0] = wasm_f32x4_mul(half, wasm_f32x4_sub(a0, b0));
      q[2][1] = wasm_f32x4_mul(half, wasm_f32x4_sub(a1, b1));
      q[3][0] = wasm_f32x4_neg(b0);
      q[3][1] = wasm_f32x4_neg(b1);
      for (int i = 0; i < 4; i++) {
        float *m = Mg + (long)(i * 4) * step + (long)t * outC + o;
        wasm_v128_store(m, q[i][0]);
        wasm_v128_store(m + step, wasm_f32x4_mul(half, wasm_f32x4_add(q[i][0], q[i][1])));
        wasm_v128_store(m + 2 * step, wasm_f32x4_mul(half, wasm_f32x4_sub(q[i][0], q[i][1])));
        wasm_v128_store(m + 3 * step, wasm_f32x4_neg(q[i][1]));
      }
    }
    for (; o < outC; o++) {
      const float a0 = g00[o], a1 = w2 ? g01[o] : 0.0f;
      const float b0 = h2 ? g10[o] : 0.0f, b1 = h2 && w2 ? g11[o] : 0.0f;
      const float q[4][2] = {{a0, a1},
                             {0.5f * (a0 + b0), 0.5f * (a1 + b1)},
                             {0.5f * (a0 - b0), 0.5f * (a1 - b1)},
                             {-b0, -b1}};
      for (int i = 0; i < 4; i++) {
        float *m = Mg + (long)(i * 4) * step + (long)t * outC + o;
        m[0] = q[i][0];
        m[step] = 0.5f * (q[i][0] + q[i][1]);
        m[2 * step] = 0.5f * (q[i][0] - q[i][1]);
        m[3 * step] = -q[i][1];
      }
    }
  }
}

/*
 * acc[xi] (inC x outC) = sum of V[xi]^T Mg[xi] over the output tiles t0..t1, chunk tiles at a time:
 * tile 2, F(3x3, 2x2) (16 positions xi, tiles of 2x2 outputs), tile 3, F(3x3, 3x3) transposed
 * (25 positions, tiles of 3x3), or tile 4, F(3x3, 4x4) (36 positions, tiles of 4x4; both defined
 * below with their forward transforms). The caller's scratch V (positions x
 * chunk x inC), Mg (positions x chunk x outC), rows wg_stride apart, and, when packed, `scratch` for the packed product
 * (gemmPackedScratchFloats(outC) floats; else gemm_acc). acc need not be zeroed: the first chunk
 * writes it. Threads split the tiles, each into its own acc; winograd_filter_grad_output
 * (winograd3_filter_grad_output, winograd4_filter_grad_output) makes dW of the sum.
 */
static void winograd4_input(const float *x, float *V, int inH, int inW, int inC, int outH,
                            int outW, int padT, int padL, int q0, int n);
static void winograd4_dy(const float *dy, float *Mg, int outH, int outW, int outC, int q0, int n);
static void winograd3_input(const float *x, float *V, int inH, int inW, int inC, int outH,
                            int outW, int padT, int padL, int q0, int n);
static void winograd3_dy(const float *dy, float *Mg, int outH, int outW, int outC, int q0, int n);

EXPORT void conv2d_winograd_filter_grad(const float *x, const float *dy, float *acc, float *V,
                                        float *Mg, float *scratch, int inH, int inW, int inC,
                                        int outH, int outW, int outC, int padT, int padL, int t0,
                                        int t1, int chunk, int packed, int tile) {
  const long plane = (long)inC * outC;
  const int points = (tile + 2) * (tile + 2);
  for (int q0 = t0; q0 < t1; q0 += chunk) {
    const int q1 = q0 + chunk < t1 ? q0 + chunk : t1;
    const int n = q1 - q0;
    if (tile == 4) {
      winograd4_input(x, V, inH, inW, inC, outH, outW, padT, padL, q0, n);
      winograd4_dy(dy, Mg, outH, outW, outC, q0, n);
    } else if (tile == 3) {
      winograd3_input(x, V, inH, inW, inC, outH, outW, padT, padL, q0, n);
      winograd3_dy(dy, Mg, outH, outW, outC, q0, n);
    } else {
      winograd_input(x, V, inH, inW, inC, outH, outW, padT, padL, q0, n);
      winograd_dy(dy, Mg, outH, outW, outC, q0, n);
    }
    /* The first chunk writes acc (its sums start from +0, as when adding into zeros). */
    const int first = q0 == t0;
    for (int xi = 0; xi < points; xi++) {
      const float *v = V + xi * wg_stride(n, inC);
      const float *m = Mg + xi * wg_stride(n, outC);
      float *a = acc + xi * plane;
      if (packed) {
        gemm_packed_2d(v, 1, inC, m, outC, 1, a, outC, inC, n, 0, outC, !first, scratch);
      } else {
        if (first) zero_f32(a, (int)plane);
        gemm_acc(v, 1, inC, m, outC, a, outC, inC, outC, n);
      }
    }
  }
  if (t1 <= t0) zero_f32(acc, (int)(points * plane));
}

/* dW[kh][kw][ci][co] = (A^T acc[.][ci][co] A)[kh][kw], A^T = [1 1 1 0; 0 1 -1 0; 0 1 1 1]. */
EXPORT void winograd_filter_grad_output(const float *acc, float *dW, int inC, int outC) {
  const long plane = (long)inC * outC;
  const long P4 = plane & ~3L;
  long e = 0;
  for (; e < P4; e += 4) {
    v128_t m[4][4];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) m[i][j] = wasm_v128_load(acc + (i * 4 + j) * plane + e);
    v128_t q[3][4];
    for (int j = 0; j < 4; j++) {
      q[0][j] = wasm_f32x4_add(wasm_f32x4_add(m[0][j], m[1][j]), m[2][j]);
      q[1][j] = wasm_f32x4_sub(m[1][j], m[2][j]);
      q[2][j] = wasm_f32x4_add(wasm_f32x4_add(m[1][j], m[2][j]), m[3][j]);
    }
    for (int k = 0; k < 3; k++) {
      wasm_v128_store(dW + (k * 3 + 0) * plane + e,
                      wasm_f32x4_add(wasm_f32x4_add(q[k][0], q[k][1]), q[k][2]));
      wasm_v128_store(dW + (k * 3 + 1) * plane + e, wasm_f32x4_sub(q[k][1], q[k][2]));
      wasm_v128_store(dW + (k * 3 + 2) * plane + e,
                      wasm_f32x4_add(wasm_f32x4_add(q[k][1], q[k][2]), q[k][3]));
    }
  }
  for (; e < plane; e++) {
    float m[4][4];
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) m[i][j] = acc[(i * 4 + j) * plane + e];
    for (int k = 0; k < 3; k++) {
      float q[4];
      for (int j = 0; j < 4; j++)
        q[j] = k == 0 ? m[0][j] + m[1][j] + m[2][j]
               : k == 1 ? m[1][j] - m[2][j]
                        : m[1][j] + m[2][j] + m[3][j];
      dW[(k * 3 + 0) * plane + e] = q[0] + q[1] + q[2];
      dW[(k * 3 + 1) * plane + e] = q[1] - q[2];
      dW[(k * 3 + 2) * plane + e] = q[1] + q[2] + q[3];
    }
  }
}

/*
 * Elementwise float32 arithmetic with the broadcasts training needs, for the Add, Sub, Multiply
 * and RealDiv kernels: out[r, c] = a[.] op b[.] over a rows x cols grid, where each operand is
 * read by its mode:
 *   0: full     a[r * cols + c]
 *   1: columns  a[c]            (a vector along the last axis: bias, BatchNorm's channel vectors)
 *   2: rows     a[r]            (one value per row: [N, 1] against [N, C])
 *   3: scalar   a[0]
 * op: 0 add, 1 sub, 2 mul, 3 div. One IEEE float32 operation per element (no fused forms), so
 * results equal any other correctly rounded float32 implementation. Callers split rows (or, for
 * modes 0 and 3 alone, one long row) over threads by offsetting the pointers.
 */
static inline v128_t binary_v(int op, v128_t x, v128_t y) {
  switch (op) {
    case 0: return wasm_f32x4_add(x, y);
    case 1: return wasm_f32x4_sub(x, y);
    case 2: return wasm_f32x4_mul(x, y);
    default: return wasm_f32x4_div(x, y);
  }
}
static inline float binary_s(int op, float x, float y) {
  switch (op) {
    case 0: return x + y;
    case 1: return x - y;
    case 2: return x * y;
    default: return x / y;
  }
}

/* One row: a and b advance by sa, sb (1 or 0) per element. */
static inline void binary_row(int op, const float *a, int sa, const float *b, int sb, float *out,
                              int n) {
  int i = 0;
  if (sa && sb) {
    for (; i + 8 <= n; i += 8) {
      wasm_v128_store(out + i, binary_v(op, wasm_v128_load(a + i), wasm_v128_load(b + i)));
      wasm_v128_store(out + i + 4, binary_v(op, wasm_v128_load(a + i + 4), wasm_v128_load(b + i + 4)));
    }
    for (; i + 4 <= n; i += 4)
      wasm_v128_store(out + i, binary_v(op, wasm_v128_load(a + i), wasm_v128_load(b + i)));
    for (; i < n; i++) out[i] = binary_s(op, a[i], b[i]);
  } else if (sa) {
    const v128_t y = wasm_f32x4_splat(b[0]);
    for (; i + 8 <= n; i += 8) {
      wasm_v128_store(out + i, binary_v(op, wasm_v128_load(a + i), y));
      wasm_v128_store(out + i + 4, binary_v(op, wasm_v128_load(a + i + 4), y));
    }
    for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, binary_v(op, wasm_v128_load(a + i), y));
    for (; i < n; i++) out[i] = binary_s(op, a[i], b[0]);
  } else if (sb) {
    const v128_t x = wasm_f32x4_splat(a[0]);
    for (; i + 8 <= n; i += 8) {
      wasm_v128_store(out + i, binary_v(op, x, wasm_v128_load(b + i)));
      wasm_v128_store(out + i + 4, binary_v(op, x, wasm_v128_load(b + i + 4)));
    }
    for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, binary_v(op, x, wasm_v128_load(b + i)));
    for (; i < n; i++) out[i] = binary_s(op, a[0], b[i]);
  } else {
    const float v = binary_s(op, a[0], b[0]);
    for (; i < n; i++) out[i] = v;
  }
}

static inline void binary_grid(int op, const float *a, int am, const float *b, int bm, float *out,
                               int rows, int cols) {
  const int sa = am <= 1, sb = bm <= 1;
  for (int r = 0; r < rows; r++) {
    const float *pa = am == 0 ? a + (long)r * cols : am == 2 ? a + r : a;
    const float *pb = bm == 0 ? b + (long)r * cols : bm == 2 ? b + r : b;
    binary_row(op, pa, sa, pb, sb, out + (long)r * cols, cols);
  }
}

EXPORT void binary_f32(int op, const float *a, int am, const float *b, int bm, float *out,
                       int rows, int cols) {
  /* One specialisation per op, so the inner loops carry no switch. */
  switch (op) {
    case 0: binary_grid(0, a, am, b, bm, out, rows, cols); break;
    case 1: binary_grid(1, a, am, b, bm, out, rows, cols); break;
    case 2: binary_grid(2, a, am, b, bm, out, rows, cols); break;
    default: binary_grid(3, a, am, b, bm, out, rows, cols); break;
  }
}

/*
 * The FusedBatchNorm forward (inference form, also what tfjs-layers trains through) over a
 * rows x C grid (C: the last axis): out[r, c] = (x[r, c] - mean[c]) * k[c] + offset[c], where the
 * caller passes k[c] = scale[c] / sqrt(variance[c] + epsilon) (computed in float64) and the
 * per-channel vectors as C floats. With a residual (rows x C, else 0), out = that + residual (one
 * float32 addition, as the Add kernel), the training BatchNorm's fused residual sum; with
 * relu != 0, out = relu(that) as relu_f32 in the same pass (the training BatchNorm's fused ReLU).
 * Rows split over threads.
 */
EXPORT void batch_norm_f32(const float *x, const float *mean, const float *k, const float *offset,
                           const float *residual, float *out, int rows, int C, int relu) {
  const int C4 = C & ~3;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * C;
    const float *rr = residual ? residual + (long)r * C : 0;
    float *o = out + (long)r * C;
    int c = 0;
    for (; c < C4; c += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(xr + c), wasm_v128_load(mean + c));
      v128_t y = wasm_f32x4_add(wasm_f32x4_mul(d, wasm_v128_load(k + c)),
                                wasm_v128_load(offset + c));
      if (rr) y = wasm_f32x4_add(y, wasm_v128_load(rr + c));
      wasm_v128_store(o + c, relu ? relu4(y) : y);
    }
    for (; c < C; c++) {
      float y = (xr[c] - mean[c]) * k[c] + offset[c];
      if (rr) y = y + rr[c];
      o[c] = relu ? relu1(y) : y;
    }
  }
}

/* out[i] = max(x[i], 0) (relu1's semantics). */
EXPORT void relu_f32(const float *x, float *out, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    wasm_v128_store(out + i, relu4(wasm_v128_load(x + i)));
    wasm_v128_store(out + i + 4, relu4(wasm_v128_load(x + i + 4)));
  }
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, relu4(wasm_v128_load(x + i)));
  for (; i < n; i++) out[i] = relu1(x[i]);
}

/*
 * The epilogue of _FusedMatMul, in place on a rows x cols product y: y[r, c] = act(y[r, c] + bias)
 * with bias read by biasMode (0: none, 1: bias[c], 3: bias[0]) and act ReLU (relu != 0, as
 * relu_f32) or the identity.
 */
EXPORT void bias_act_f32(float *y, const float *bias, int biasMode, int rows, int cols, int relu) {
  for (int r = 0; r < rows; r++) {
    float *row = y + (long)r * cols;
    int c = 0;
    for (; c + 4 <= cols; c += 4) {
      v128_t v = wasm_v128_load(row + c);
      if (biasMode == 1) v = wasm_f32x4_add(v, wasm_v128_load(bias + c));
      else if (biasMode == 3) v = wasm_f32x4_add(v, wasm_f32x4_splat(bias[0]));
      if (relu) v = relu4(v);
      wasm_v128_store(row + c, v);
    }
    for (; c < cols; c++) {
      float v = row[c];
      if (biasMode == 1) v += bias[c];
      else if (biasMode == 3) v += bias[0];
      row[c] = relu ? relu1(v) : v;
    }
  }
}

/*
 * A float32 from its bit pattern: kernels that run on helper threads take float scalars as bit
 * patterns, since the threads' argument slots are integers (src/native-threads.ts).
 */
static inline float float_of_bits(int b) {
  union { int i; float f; } u;
  u.i = b;
  return u.f;
}

/*
 * The Step kernel (ReLU's gradient mask): out[i] = NaN if x[i] is NaN, 1 if x[i] > 0, else
 * alpha (given as its float32 bit pattern, alphaBits).
 */
EXPORT void step_f32(const float *x, float *out, int n, int alphaBits) {
  const float alpha = float_of_bits(alphaBits);
  const v128_t one = wasm_f32x4_splat(1.0f), a = wasm_f32x4_splat(alpha);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    const v128_t v = wasm_v128_load(x + i);
    const v128_t r = wasm_v128_bitselect(one, a, wasm_f32x4_gt(v, wasm_f32x4_splat(0.0f)));
    wasm_v128_store(out + i, wasm_v128_bitselect(v, r, wasm_f32x4_ne(v, v)));
  }
  for (; i < n; i++) out[i] = x[i] != x[i] ? x[i] : x[i] > 0.0f ? 1.0f : alpha;
}

/*
 * The fused SGD-with-momentum update (the IgmSgdMomentumUpdate kernel of @igm/core) over n
 * elements, in the op chain's order, each step one IEEE float32 multiply or add:
 *
 *   d = decay ? g + theta * wd : g;   buf' = buf * mu + d;   out = nesterov ? d + buf' * mu : buf';
 *   u = out * negLr
 *
 * so the result equals addDecayedWeights -> traceMomentum -> scaleByLearningRate bit for bit.
 * Never a fused multiply-add, in every build: wasm_f32x4_mul then wasm_f32x4_add (not
 * F32X4_MADD), and contraction off for the scalar tail. wd, mu and negLr (the float32 of -lr)
 * arrive as their float32 bit patterns, so helper threads can take them in their integer
 * argument slots; theta is read only when decay is set. Callers split n in groups of 4 over
 * threads by offsetting the pointers.
 */

static inline void sgd_momentum(const float *g, const float *theta, const float *buf, float *nextBuf,
                                float *update, int n, int decay, int nesterov, float wd, float mu,
                                float negLr) {
#pragma clang fp contract(off)
  const v128_t wd4 = wasm_f32x4_splat(wd), mu4 = wasm_f32x4_splat(mu);
  const v128_t lr4 = wasm_f32x4_splat(negLr);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t d = wasm_v128_load(g + i);
    if (decay) d = wasm_f32x4_add(d, wasm_f32x4_mul(wasm_v128_load(theta + i), wd4));
    const v128_t b = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(buf + i), mu4), d);
    wasm_v128_store(nextBuf + i, b);
    const v128_t out = nesterov ? wasm_f32x4_add(d, wasm_f32x4_mul(b, mu4)) : b;
    wasm_v128_store(update + i, wasm_f32x4_mul(out, lr4));
  }
  for (; i < n; i++) {
    float d = g[i];
    if (decay) {
      const float decayTerm = theta[i] * wd;
      d = d + decayTerm;
    }
    const float kept = buf[i] * mu;
    const float b = kept + d;
    nextBuf[i] = b;
    float out = b;
    if (nesterov) {
      const float ahead = b * mu;
      out = d + ahead;
    }
    update[i] = out * negLr;
  }
}

EXPORT void sgd_momentum_f32(const float *g, const float *theta, const float *buf, float *nextBuf,
                             float *update, int n, int decay, int nesterov, int wdBits, int muBits,
                             int negLrBits) {
  const float wd = float_of_bits(wdBits), mu = float_of_bits(muBits);
  const float negLr = float_of_bits(negLrBits);
  /* One specialisation per flag pair, so the loop carries no branch. */
  if (decay && nesterov) sgd_momentum(g, theta, buf, nextBuf, update, n, 1, 1, wd, mu, negLr);
  else if (decay) sgd_momentum(g, theta, buf, nextBuf, update, n, 1, 0, wd, mu, negLr);
  else if (nesterov) sgd_momentum(g, theta, buf, nextBuf, update, n, 0, 1, wd, mu, negLr);
  else sgd_momentum(g, theta, buf, nextBuf, update, n, 0, 0, wd, mu, negLr);
}

/*
 * The benchmark's ceiling probe (bench/training-step.ts), not a kernel: n rounds of 12
 * independent F32X4_MADD chains (12 * 8 * n flops), so the time measures the core's peak
 * multiply-add throughput for 128-bit wasm SIMD (two FMA ports, four-cycle latency: 8 chains in
 * flight needed). Returns a lane of the sum so the work is not optimised away.
 */
EXPORT float madd_peak_f32x4(int n, float x) {
  v128_t a0 = wasm_f32x4_splat(x), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0,
         a8 = a0, a9 = a0, a10 = a0, a11 = a0;
  const v128_t m = wasm_f32x4_splat(0.999f), c = wasm_f32x4_splat(0.001f);
  for (int i = 0; i < n; i++) {
    a0 = F32X4_MADD(a0, m, c), a1 = F32X4_MADD(a1, m, c), a2 = F32X4_MADD(a2, m, c);
    a3 = F32X4_MADD(a3, m, c), a4 = F32X4_MADD(a4, m, c), a5 = F32X4_MADD(a5, m, c);
    a6 = F32X4_MADD(a6, m, c), a7 = F32X4_MADD(a7, m, c), a8 = F32X4_MADD(a8, m, c);
    a9 = F32X4_MADD(a9, m, c), a10 = F32X4_MADD(a10, m, c), a11 = F32X4_MADD(a11, m, c);
  }
  const v128_t s = wasm_f32x4_add(
      wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_add(a0, a1), wasm_f32x4_add(a2, a3)),
                     wasm_f32x4_add(wasm_f32x4_add(a4, a5), wasm_f32x4_add(a6, a7))),
      wasm_f32x4_add(wasm_f32x4_add(a8, a9), wasm_f32x4_add(a10, a11)));
  return wasm_f32x4_extract_lane(s, 0);
}

/*
 * Winograd F(4x4, 3x3) (Lavin & Gray 2016): each 6x6 input patch d gives a 4x4 output block,
 *   y = A^T [ (G g G^T) . (B^T d B) ] A,
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
 *   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]:
 * 36 matrix products M[xi] = V[xi] U[xi] for 16 outputs, 4x fewer multiplications than the
 * direct form (F(2x2, 3x3): 2.25x), at the cost of larger transforms and a little float32
 * accuracy (the points +-2 and 1/2: ~1e-6 relative here, tested against the cpu backend).
 */

/* U[xi][ci][co] = (G g G^T)[xi] for g = W[:, :, ci, co] (blocked as winograd_filter). */
static inline void winograd4_filter1(const float *W, float *U, long plane, long e) {
  float g[3][3];
  for (int kh = 0; kh < 3; kh++)
    for (int kw = 0; kw < 3; kw++) g[kh][kw] = W[(kh * 3 + kw) * plane + e];
  float q[6][3];
  for (int j = 0; j < 3; j++) {
    q[0][j] = g[0][j] / 4.0f;
    q[1][j] = -(g[0][j] + g[1][j] + g[2][j]) / 6.0f;
    q[2][j] = -(g[0][j] - g[1][j] + g[2][j]) / 6.0f;
    q[3][j] = g[0][j] / 24.0f + g[1][j] / 12.0f + g[2][j] / 6.0f;
    q[4][j] = g[0][j] / 24.0f - g[1][j] / 12.0f + g[2][j] / 6.0f;
    q[5][j] = g[2][j];
  }
  for (int i = 0; i < 6; i++) {
    float *u = U + (long)(i * 6) * plane + e;
    u[0] = q[i][0] / 4.0f;
    u[plane] = -(q[i][0] + q[i][1] + q[i][2]) / 6.0f;
    u[2 * plane] = -(q[i][0] - q[i][1] + q[i][2]) / 6.0f;
    u[3 * plane] = q[i][0] / 24.0f + q[i][1] / 12.0f + q[i][2] / 6.0f;
    u[4 * plane] = q[i][0] / 24.0f - q[i][1] / 12.0f + q[i][2] / 6.0f;
    u[5 * plane] = q[i][2];
  }
}

/*
 * G applied to three vectors, six out, with winograd4_filter1's operations: quarters by a
 * multiplication (exact, as x / 4), sixths, twelfths and 24ths by true divisions (the scalar
 * code's x / 6.0f is not x * (1 / 6.0f)); x / 24, x / 12 and x / 6 are shared by rows 3 and 4.
 */
static inline void wg4_g(v128_t g0, v128_t g1, v128_t g2, v128_t *q) {
  const v128_t six = wasm_f32x4_splat(6.0f);
  const v128_t a = wasm_f32x4_div(g0, wasm_f32x4_splat(24.0f));
  const v128_t b = wasm_f32x4_div(g1, wasm_f32x4_splat(12.0f));
  const v128_t c = wasm_f32x4_div(g2, six);
  q[0] = wasm_f32x4_mul(g0, wasm_f32x4_splat(0.25f));
  q[1] = wasm_f32x4_div(wasm_f32x4_neg(wasm_f32x4_add(wasm_f32x4_add(g0, g1), g2)), six);
  q[2] = wasm_f32x4_div(wasm_f32x4_neg(wasm_f32x4_add(wasm_f32x4_sub(g0, g1), g2)), six);
  q[3] = wasm_f32x4_add(wasm_f32x4_add(a, b), c);
  q[4] = wasm_f32x4_add(wasm_f32x4_sub(a, b), c);
  q[5] = g2;
}

EXPORT void winograd4_filter(const float *W, float *U, int inC, int outC) {
  const long plane = (long)inC * outC;
  const long blocked = plane - plane % WG_FILTER_BLOCK;
  for (long e = 0; e < blocked; e += WG_FILTER_BLOCK) {
    v128_t u[36][4];
    _Pragma("clang loop unroll(full)") for (int l = 0; l < 4; l++) {
      v128_t g[9];
      _Pragma("clang loop unroll(full)") for (int k = 0; k < 9; k++) g[k] =
          wasm_v128_load(W + k * plane + e + 4 * l);
      v128_t q[3][6]; /* q[j][i]: column j of the filter, transformed */
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 3; j++) wg4_g(g[j], g[3 + j], g[6 + j], q[j]);
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) {
        v128_t r[6];
        wg4_g(q[0][i], q[1][i], q[2][i], r);
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) u[i * 6 + j][l] = r[j];
      }
    }
    _Pragma("clang loop unroll(full)") for (int p = 0; p < 36; p++)
        _Pragma("clang loop unroll(full)") for (int l = 0; l < 4; l++)
            wasm_v128_store(U + p * plane + e + 4 * l, u[p][l]);
  }
  for (long e = blocked; e < plane; e++) winograd4_filter1(W, U, plane, e);
}

/* Output tile (4x4 outputs) `tile` over batch x tilesH x tilesW: its image and first output. */
static inline struct tile_origin tile4_origin_of(int tile, int outH, int outW) {
  const int tilesW = (outW + 3) / 4, perImage = ((outH + 3) / 4) * tilesW;
  const int b = tile / perImage, r = tile - b * perImage;
  const int th = r / tilesW;
  const struct tile_origin o = {b, 4 * th, 4 * (r - th * tilesW)};
  return o;
}

/* B^T applied to six values (v128 lanes: four channels). */
static inline void wg4_bt(const v128_t *d, v128_t *t) {
  const v128_t four = wasm_f32x4_splat(4.0f), five = wasm_f32x4_splat(5.0f),
               two = wasm_f32x4_splat(2.0f);
  t[0] = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_mul(four, d[0]), wasm_f32x4_mul(five, d[2])), d[4]);
  const v128_t p = wasm_f32x4_sub(d[4], wasm_f32x4_mul(four, d[2]));
  const v128_t q = wasm_f32x4_sub(d[3], wasm_f32x4_mul(four, d[1]));
  t[1] = wasm_f32x4_add(p, q);
  t[2] = wasm_f32x4_sub(p, q);
  const v128_t r = wasm_f32x4_sub(d[4], d[2]);
  const v128_t u = wasm_f32x4_mul(two, wasm_f32x4_sub(d[3], d[1]));
  t[3] = wasm_f32x4_add(r, u);
  t[4] = wasm_f32x4_sub(r, u);
  t[5] = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_mul(four, d[1]), wasm_f32x4_mul(five, d[3])), d[5]);
}
static inline void wg4_bt1(const float *d, float *t) {
  t[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  const float p = d[4] - 4.0f * d[2], q = d[3] - 4.0f * d[1];
  t[1] = p + q;
  t[2] = p - q;
  const float r = d[4] - d[2], u = 2.0f * (d[3] - d[1]);
  t[3] = r + u;
  t[4] = r - u;
  t[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
}

/* V[xi][t][c] = (B^T d B)[xi] for the 6x6 input patches of output tiles q0..q0+n. */
static void winograd4_input(const float *x, float *V, int inH, int inW, int inC, int outH,
                            int outW, int padT, int padL, int q0, int n) {
  const int C4 = inC & ~3;
  const long step = wg_stride(n, inC);
  for (int t = 0; t < n; t++) {
    const struct tile_origin o = tile4_origin_of(q0 + t, outH, outW);
    const int b = o.b, ih0 = o.oh - padT, iw0 = o.ow - padL;
    int c = 0;
    for (; c < C4; c += 4) {
      v128_t d[6][6], s[6][6];
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++)
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) d[i][j] = patch_load4(x, inH, inW, inC, b, ih0 + i, iw0 + j, c);
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) {
        v128_t col[6], out[6];
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) col[i] = d[i][j];
        wg4_bt(col, out);
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) s[i][j] = out[i];
      }
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) {
        v128_t out[6];
        wg4_bt(s[i], out);
        float *v = V + (long)(i * 6) * step + (long)t * inC + c;
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) wasm_v128_store(v + j * step, out[j]);
      }
    }
    for (; c < inC; c++) {
      float d[6][6], s[6][6];
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++)
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) d[i][j] = patch_load1(x, inH, inW, inC, b, ih0 + i, iw0 + j, c);
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) {
        float col[6], out[6];
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) col[i] = d[i][j];
        wg4_bt1(col, out);
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) s[i][j] = out[i];
      }
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) {
        float out[6];
        wg4_bt1(s[i], out);
        float *v = V + (long)(i * 6) * step + (long)t * inC + c;
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) v[j * step] = out[j];
      }
    }
  }
}

/* A^T applied to six values: four outputs. */
static inline void wg4_at(const v128_t *m, v128_t *o) {
  const v128_t a = wasm_f32x4_add(m[1], m[2]), d = wasm_f32x4_sub(m[1], m[2]);
  const v128_t p = wasm_f32x4_add(m[3], m[4]), q = wasm_f32x4_sub(m[3], m[4]);
  o[0] = wasm_f32x4_add(wasm_f32x4_add(m[0], a), p);
  o[1] = wasm_f32x4_add(d, wasm_f32x4_mul(wasm_f32x4_splat(2.0f), q));
  o[2] = wasm_f32x4_add(a, wasm_f32x4_mul(wasm_f32x4_splat(4.0f), p));
  o[3] = wasm_f32x4_add(wasm_f32x4_add(d, wasm_f32x4_mul(wasm_f32x4_splat(8.0f), q)), m[5]);
}
static inline void wg4_at1(const float *m, float *o) {
  const float a = m[1] + m[2], d = m[1] - m[2], p = m[3] + m[4], q = m[3] - m[4];
  o[0] = m[0] + a + p;
  o[1] = d + 2.0f * q;
  o[2] = a + 4.0f * p;
  o[3] = d + 8.0f * q + m[5];
}

/*
 * y (NHWC) = bias + conv2d(x, W) (then ReLU if relu) for 3x3, stride 1, dilation 1 by
 * F(4x4, 3x3) over the output tiles t0..t1 (4x4 outputs each), chunk tiles at a time, with U
 * from winograd4_filter and the caller's scratch V and M (36 rows, wg_stride apart);
 * bias, scratch and packed as for conv2d_winograd. Threads split the tiles.
 */
EXPORT void conv2d_winograd4(const float *x, const float *U, const float *bias, float *y, float *V,
                             float *M, int inH, int inW, int inC, int outH, int outW, int outC,
                             int padT, int padL, int t0, int t1, int chunk, int relu,
                             float *scratch, int packed) {
  const int O4 = outC & ~3;
  const v128_t z = wasm_f32x4_splat(0.0f);
  for (int q0 = t0; q0 < t1; q0 += chunk) {
    const int q1 = q0 + chunk < t1 ? q0 + chunk : t1;
    const int n = q1 - q0;
    winograd4_input(x, V, inH, inW, inC, outH, outW, padT, padL, q0, n);
    if (packed) {
      for (int xi = 0; xi < 36; xi++)
        gemm_packed_2d(V + xi * wg_stride(n, inC), inC, 1, U + (long)xi * inC * outC, outC, 1,
                       M + xi * wg_stride(n, outC), outC, n, inC, 0, outC, 0, scratch);
    } else {
      zero_f32(M, (int)(36 * wg_stride(n, outC)));
      for (int xi = 0; xi < 36; xi++)
        gemm_acc(V + xi * wg_stride(n, inC), inC, 1, U + (long)xi * inC * outC, outC,
                 M + xi * wg_stride(n, outC), outC, n, outC, inC);
    }
    const long step = wg_stride(n, outC);
    for (int t = 0; t < n; t++) {
      const struct tile_origin to = tile4_origin_of(q0 + t, outH, outW);
      const int rows = outH - to.oh < 4 ? outH - to.oh : 4;
      const int cols = outW - to.ow < 4 ? outW - to.ow : 4;
      float *y0 = y + (((long)to.b * outH + to.oh) * outW + to.ow) * outC;
      int o = 0;
      for (; o < O4; o += 4) {
        const float *mp = M + (long)t * outC + o;
        v128_t s[4][6];
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) {
          v128_t col[6], out[4];
          _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) col[i] = wasm_v128_load(mp + (long)(i * 6 + j) * step);
          wg4_at(col, out);
          _Pragma("clang loop unroll(full)") for (int i = 0; i < 4; i++) s[i][j] = out[i];
        }
        const v128_t bv = bias ? wasm_v128_load(bias + o) : z;
        /* Fixed trip counts (registers, no stack): all 16 outputs, stored where inside y. */
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 4; i++) {
          v128_t out[4];
          wg4_at(s[i], out);
          float *yr = y0 + (long)i * outW * outC + o;
          _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; j++) {
            v128_t v = wasm_f32x4_add(out[j], bv);
            if (relu) v = relu4(v);
            if (i < rows && j < cols) wasm_v128_store(yr + (long)j * outC, v);
          }
        }
      }
      for (; o < outC; o++) {
        const float *mp = M + (long)t * outC + o;
        float s[4][6];
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) {
          float col[6], out[4];
          _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) col[i] = mp[(long)(i * 6 + j) * step];
          wg4_at1(col, out);
          _Pragma("clang loop unroll(full)") for (int i = 0; i < 4; i++) s[i][j] = out[i];
        }
        const float bv = bias ? bias[o] : 0.0f;
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 4; i++) {
          float out[4];
          wg4_at1(s[i], out);
          float *yr = y0 + (long)i * outW * outC + o;
          _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; j++) {
            const float v = out[j] + bv;
            if (i < rows && j < cols) yr[(long)j * outC] = relu ? relu1(v) : v;
          }
        }
      }
    }
  }
}

/*
 * The 3x3 stride-1 weight gradient by Winograd F(3x3, 4x4), the transpose of F(4x4, 3x3): with
 * the forward pass's B^T d B of each 6x6 input patch d (winograd4_input) and the 4x4 block h of
 * dy of the same output tile,
 *   dW += G^T [ (A h A^T) . (B^T d B) ] G     (A, B, G: those of F(4x4, 3x3) above),
 * because sum_k y[k] h[k] = g^T G^T [(A h) . (B^T d)] for the forward y = A^T [(G g) . (B^T d)].
 * Summed over tiles: 36 products acc[xi] += V[xi]^T Mg[xi] per 16 outputs' worth of dy (F(3x3,
 * 2x2): 16 per 4). Mg[xi][t][o] = (A h A^T)[xi], A h: h0, h0+h1+h2+h3, h0-h1+h2-h3,
 * h0+2h1+4h2+8h3, h0-2h1+4h2-8h3, h3.
 */
static inline void wg4_a(const v128_t *h, v128_t *o) {
  const v128_t e = wasm_f32x4_add(h[0], h[2]), od = wasm_f32x4_add(h[1], h[3]);
  const v128_t e4 = wasm_f32x4_add(h[0], wasm_f32x4_mul(wasm_f32x4_splat(4.0f), h[2]));
  const v128_t o2 = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_splat(2.0f), h[1]),
                                   wasm_f32x4_mul(wasm_f32x4_splat(8.0f), h[3]));
  o[0] = h[0];
  o[1] = wasm_f32x4_add(e, od);
  o[2] = wasm_f32x4_sub(e, od);
  o[3] = wasm_f32x4_add(e4, o2);
  o[4] = wasm_f32x4_sub(e4, o2);
  o[5] = h[3];
}
static inline void wg4_a1(const float *h, float *o) {
  const float e = h[0] + h[2], od = h[1] + h[3];
  const float e4 = h[0] + 4.0f * h[2], o2 = 2.0f * h[1] + 8.0f * h[3];
  o[0] = h[0];
  o[1] = e + od;
  o[2] = e - od;
  o[3] = e4 + o2;
  o[4] = e4 - o2;
  o[5] = h[3];
}

static inline v128_t dy_load4(const float *dy, int outH, int outW, int outC, int b, int oh, int ow,
                              int o) {
  if (oh >= outH || ow >= outW) return wasm_f32x4_splat(0.0f);
  return wasm_v128_load(dy + (((long)b * outH + oh) * outW + ow) * outC + o);
}
static inline float dy_load1(const float *dy, int outH, int outW, int outC, int b, int oh, int ow,
                             int o) {
  if (oh >= outH || ow >= outW) return 0.0f;
  return dy[(((long)b * outH + oh) * outW + ow) * outC + o];
}

/* Mg[xi][t][o] = (A h A^T)[xi] for the 4x4 blocks h of dy of tiles q0..q0+n (0 past the edge). */
static void winograd4_dy(const float *dy, float *Mg, int outH, int outW, int outC, int q0, int n) {
  const int O4 = outC & ~3;
  const long step = wg_stride(n, outC);
  for (int t = 0; t < n; t++) {
    const struct tile_origin to = tile4_origin_of(q0 + t, outH, outW);
    int o = 0;
    for (; o < O4; o += 4) {
      v128_t s[6][4];
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; j++) {
        v128_t col[4], out[6];
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 4; i++) col[i] =
            dy_load4(dy, outH, outW, outC, to.b, to.oh + i, to.ow + j, o);
        wg4_a(col, out);
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) s[i][j] = out[i];
      }
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) {
        v128_t out[6];
        wg4_a(s[i], out);
        float *m = Mg + (long)(i * 6) * step + (long)t * outC + o;
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) wasm_v128_store(m + j * step, out[j]);
      }
    }
    for (; o < outC; o++) {
      float s[6][4];
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 4; j++) {
        float col[4], out[6];
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 4; i++) col[i] =
            dy_load1(dy, outH, outW, outC, to.b, to.oh + i, to.ow + j, o);
        wg4_a1(col, out);
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) s[i][j] = out[i];
      }
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) {
        float out[6];
        wg4_a1(s[i], out);
        float *m = Mg + (long)(i * 6) * step + (long)t * outC + o;
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) m[j * step] = out[j];
      }
    }
  }
}

/* G^T applied to six values: three. G^T = [1/4 -1/6 -1/6 1/24 1/24 0; 0 -1/6 1/6 1/12 -1/12 0;
 * 0 -1/6 -1/6 1/6 1/6 1]. */
static inline void wg4_gt(const v128_t *m, v128_t *o) {
  const v128_t s12 = wasm_f32x4_add(m[1], m[2]), d21 = wasm_f32x4_sub(m[2], m[1]);
  const v128_t s34 = wasm_f32x4_add(m[3], m[4]), d34 = wasm_f32x4_sub(m[3], m[4]);
  const v128_t sixth = wasm_f32x4_splat(1.0f / 6.0f);
  o[0] = wasm_f32x4_add(wasm_f32x4_sub(wasm_f32x4_mul(wasm_f32x4_splat(0.25f), m[0]),
                                       wasm_f32x4_mul(sixth, s12)),
                        wasm_f32x4_mul(wasm_f32x4_splat(1.0f / 24.0f), s34));
  o[1] = wasm_f32x4_add(wasm_f32x4_mul(sixth, d21),
                        wasm_f32x4_mul(wasm_f32x4_splat(1.0f / 12.0f), d34));
  o[2] = wasm_f32x4_add(wasm_f32x4_mul(sixth, wasm_f32x4_sub(s34, s12)), m[5]);
}
static inline void wg4_gt1(const float *m, float *o) {
  const float s12 = m[1] + m[2], d21 = m[2] - m[1], s34 = m[3] + m[4], d34 = m[3] - m[4];
  o[0] = 0.25f * m[0] - s12 / 6.0f + s34 / 24.0f;
  o[1] = d21 / 6.0f + d34 / 12.0f;
  o[2] = (s34 - s12) / 6.0f + m[5];
}

/* dW[kh][kw][ci][co] = (G^T acc[.][ci][co] G)[kh][kw] for the 36 sums of F(3x3, 4x4). */
EXPORT void winograd4_filter_grad_output(const float *acc, float *dW, int inC, int outC) {
  const long plane = (long)inC * outC;
  const long P4 = plane & ~3L;
  long e = 0;
  for (; e < P4; e += 4) {
    v128_t q[3][6];
    _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) {
      v128_t col[6], out[3];
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) col[i] =
          wasm_v128_load(acc + (i * 6 + j) * plane + e);
      wg4_gt(col, out);
      _Pragma("clang loop unroll(full)") for (int k = 0; k < 3; k++) q[k][j] = out[k];
    }
    _Pragma("clang loop unroll(full)") for (int k = 0; k < 3; k++) {
      v128_t out[3];
      wg4_gt(q[k], out);
      _Pragma("clang loop unroll(full)") for (int l = 0; l < 3; l++)
          wasm_v128_store(dW + (k * 3 + l) * plane + e, out[l]);
    }
  }
  for (; e < plane; e++) {
    float q[3][6];
    _Pragma("clang loop unroll(full)") for (int j = 0; j < 6; j++) {
      float col[6], out[3];
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 6; i++) col[i] = acc[(i * 6 + j) * plane + e];
      wg4_gt1(col, out);
      _Pragma("clang loop unroll(full)") for (int k = 0; k < 3; k++) q[k][j] = out[k];
    }
    _Pragma("clang loop unroll(full)") for (int k = 0; k < 3; k++) {
      float out[3];
      wg4_gt1(q[k], out);
      _Pragma("clang loop unroll(full)") for (int l = 0; l < 3; l++) dW[(k * 3 + l) * plane + e] = out[l];
    }
  }
}

/*
 * Winograd F(3x3, 3x3): each 5x5 input patch d gives a 3x3 output block,
 *   y = A^T [ (G g G^T) . (B^T d B) ] A,
 * from the points 0, 1, -1, 2 and infinity (the Toom-Cook construction, as F(4x4, 3x3)):
 *   B^T = [2 -1 -2 1 0; 0 2 1 -1 0; 0 -2 3 -1 0; 0 -1 0 1 0; 0 2 -1 -2 1],
 *   G = [1/2 0 0; 1/2 1/2 1/2; 1/6 -1/6 1/6; 1/6 1/3 2/3; 0 0 1],
 *   A^T = [1 1 1 1 0; 0 1 -1 2 0; 0 1 1 4 1]:
 * 25 matrix products per 9 outputs, 3.24x fewer multiplications than the direct form. It is the
 * tile for outputs that 4x4 and 2x2 tiles cover badly: ResNet-18's last stage at 257x188 inputs
 * is 9x6, which 3x3 tiles cover exactly (150 products per image) where F(4x4, 3x3) needs 216
 * (tiles past the edge) and F(2x2, 3x3) 240. Float32 error of a tile, relative to the outputs'
 * RMS (NumPy, 2000 random tiles): 7e-7 mean, 5e-6 at worst, as F(4x4, 3x3).
 */

/* G applied to three vectors, five out: halves by a multiplication (exact), sixths divided. */
static inline void wg3_g(v128_t g0, v128_t g1, v128_t g2, v128_t *q) {
  const v128_t half = wasm_f32x4_splat(0.5f), six = wasm_f32x4_splat(6.0f);
  const v128_t s = wasm_f32x4_add(g0, g2);
  q[0] = wasm_f32x4_mul(half, g0);
  q[1] = wasm_f32x4_mul(half, wasm_f32x4_add(s, g1));
  q[2] = wasm_f32x4_div(wasm_f32x4_sub(s, g1), six);
  q[3] = wasm_f32x4_div(
      wasm_f32x4_add(wasm_f32x4_add(g0, wasm_f32x4_add(g1, g1)), wasm_f32x4_mul(wasm_f32x4_splat(4.0f), g2)),
      six);
  q[4] = g2;
}
static inline void wg3_g1(float g0, float g1, float g2, float *q) {
  const float s = g0 + g2;
  q[0] = 0.5f * g0;
  q[1] = 0.5f * (s + g1);
  q[2] = (s - g1) / 6.0f;
  q[3] = (g0 + (g1 + g1) + 4.0f * g2) / 6.0f;
  q[4] = g2;
}

/* U[xi][ci][co] = (G g G^T)[xi] for g = W[:, :, ci, co] (blocked as winograd_filter). */
EXPORT void winograd3_filter(const float *W, float *U, int inC, int outC) {
  const long plane = (long)inC * outC;
  const long blocked = plane - plane % WG_FILTER_BLOCK;
  for (long e = 0; e < blocked; e += WG_FILTER_BLOCK) {
    v128_t u[25][4];
    _Pragma("clang loop unroll(full)") for (int l = 0; l < 4; l++) {
      v128_t g[9];
      _Pragma("clang loop unroll(full)") for (int k = 0; k < 9; k++) g[k] =
          wasm_v128_load(W + k * plane + e + 4 * l);
      v128_t q[3][5]; /* q[j][i]: column j of the filter, transformed */
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 3; j++) wg3_g(g[j], g[3 + j], g[6 + j], q[j]);
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) {
        v128_t r[5];
        wg3_g(q[0][i], q[1][i], q[2][i], r);
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 5; j++) u[i * 5 + j][l] = r[j];
      }
    }
    _Pragma("clang loop unroll(full)") for (int p = 0; p < 25; p++)
        _Pragma("clang loop unroll(full)") for (int l = 0; l < 4; l++)
            wasm_v128_store(U + p * plane + e + 4 * l, u[p][l]);
  }
  for (long e = blocked; e < plane; e++) {
    float g[9], q[3][5];
    for (int k = 0; k < 9; k++) g[k] = W[k * plane + e];
    for (int j = 0; j < 3; j++) wg3_g1(g[j], g[3 + j], g[6 + j], q[j]);
    for (int i = 0; i < 5; i++) {
      float r[5];
      wg3_g1(q[0][i], q[1][i], q[2][i], r);
      for (int j = 0; j < 5; j++) U[(i * 5 + j) * plane + e] = r[j];
    }
  }
}

/* Output tile (3x3 outputs) `tile` over batch x tilesH x tilesW: its image and first output. */
static inline struct tile_origin tile3_origin_of(int tile, int outH, int outW) {
  const int tilesW = (outW + 2) / 3, perImage = ((outH + 2) / 3) * tilesW;
  const int b = tile / perImage, r = tile - b * perImage;
  const int th = r / tilesW;
  const struct tile_origin o = {b, 3 * th, 3 * (r - th * tilesW)};
  return o;
}

/* B^T applied to five values: t3 = d3 - d1 is shared by the other rows. */
static inline void wg3_bt(const v128_t *d, v128_t *t) {
  const v128_t two = wasm_f32x4_splat(2.0f);
  const v128_t e = wasm_f32x4_sub(d[3], d[1]);
  t[0] = wasm_f32x4_add(wasm_f32x4_mul(two, wasm_f32x4_sub(d[0], d[2])), e);
  t[1] = wasm_f32x4_sub(wasm_f32x4_add(d[1], d[2]), e);
  t[2] = wasm_f32x4_sub(wasm_f32x4_mul(wasm_f32x4_splat(3.0f), d[2]),
                        wasm_f32x4_add(wasm_f32x4_add(d[1], d[1]), d[3]));
  t[3] = e;
  t[4] = wasm_f32x4_sub(wasm_f32x4_sub(d[4], d[2]), wasm_f32x4_mul(two, e));
}
static inline void wg3_bt1(const float *d, float *t) {
  const float e = d[3] - d[1];
  t[0] = 2.0f * (d[0] - d[2]) + e;
  t[1] = (d[1] + d[2]) - e;
  t[2] = 3.0f * d[2] - ((d[1] + d[1]) + d[3]);
  t[3] = e;
  t[4] = (d[4] - d[2]) - 2.0f * e;
}

/* V[xi][t][c] = (B^T d B)[xi] for the 5x5 input patches of output tiles q0..q0+n. */
static void winograd3_input(const float *x, float *V, int inH, int inW, int inC, int outH,
                            int outW, int padT, int padL, int q0, int n) {
  const int C4 = inC & ~3;
  const long step = wg_stride(n, inC);
  for (int t = 0; t < n; t++) {
    const struct tile_origin o = tile3_origin_of(q0 + t, outH, outW);
    const int b = o.b, ih0 = o.oh - padT, iw0 = o.ow - padL;
    int c = 0;
    for (; c < C4; c += 4) {
      v128_t d[5][5], s[5][5];
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++)
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 5; j++) d[i][j] = patch_load4(x, inH, inW, inC, b, ih0 + i, iw0 + j, c);
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 5; j++) {
        v128_t col[5], out[5];
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) col[i] = d[i][j];
        wg3_bt(col, out);
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) s[i][j] = out[i];
      }
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) {
        v128_t out[5];
        wg3_bt(s[i], out);
        float *v = V + (long)(i * 5) * step + (long)t * inC + c;
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 5; j++) wasm_v128_store(v + j * step, out[j]);
      }
    }
    for (; c < inC; c++) {
      float d[5][5], s[5][5];
      for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) d[i][j] = patch_load1(x, inH, inW, inC, b, ih0 + i, iw0 + j, c);
      for (int j = 0; j < 5; j++) {
        float col[5], out[5];
        for (int i = 0; i < 5; i++) col[i] = d[i][j];
        wg3_bt1(col, out);
        for (int i = 0; i < 5; i++) s[i][j] = out[i];
      }
      for (int i = 0; i < 5; i++) {
        float out[5];
        wg3_bt1(s[i], out);
        float *v = V + (long)(i * 5) * step + (long)t * inC + c;
        for (int j = 0; j < 5; j++) v[j * step] = out[j];
      }
    }
  }
}

/* A^T applied to five values: three outputs. */
static inline void wg3_at(const v128_t *m, v128_t *o) {
  const v128_t a = wasm_f32x4_add(m[1], m[2]);
  o[0] = wasm_f32x4_add(wasm_f32x4_add(m[0], a), m[3]);
  o[1] = wasm_f32x4_add(wasm_f32x4_sub(m[1], m[2]), wasm_f32x4_mul(wasm_f32x4_splat(2.0f), m[3]));
  o[2] = wasm_f32x4_add(wasm_f32x4_add(a, wasm_f32x4_mul(wasm_f32x4_splat(4.0f), m[3])), m[4]);
}
static inline void wg3_at1(const float *m, float *o) {
  const float a = m[1] + m[2];
  o[0] = (m[0] + a) + m[3];
  o[1] = (m[1] - m[2]) + 2.0f * m[3];
  o[2] = (a + 4.0f * m[3]) + m[4];
}

/*
 * y (NHWC) = bias + conv2d(x, W) (then ReLU if relu) for 3x3, stride 1, dilation 1 by
 * F(3x3, 3x3) over the output tiles t0..t1 (3x3 outputs each), chunk tiles at a time, with U
 * from winograd3_filter and the caller's scratch V and M (25 rows, wg_stride apart);
 * bias, scratch and packed as for conv2d_winograd. Threads split the tiles.
 */
EXPORT void conv2d_winograd3(const float *x, const float *U, const float *bias, float *y, float *V,
                             float *M, int inH, int inW, int inC, int outH, int outW, int outC,
                             int padT, int padL, int t0, int t1, int chunk, int relu,
                             float *scratch, int packed) {
  const int O4 = outC & ~3;
  const v128_t z = wasm_f32x4_splat(0.0f);
  for (int q0 = t0; q0 < t1; q0 += chunk) {
    const int q1 = q0 + chunk < t1 ? q0 + chunk : t1;
    const int n = q1 - q0;
    winograd3_input(x, V, inH, inW, inC, outH, outW, padT, padL, q0, n);
    if (packed) {
      for (int xi = 0; xi < 25; xi++)
        gemm_packed_2d(V + xi * wg_stride(n, inC), inC, 1, U + (long)xi * inC * outC, outC, 1,
                       M + xi * wg_stride(n, outC), outC, n, inC, 0, outC, 0, scratch);
    } else {
      zero_f32(M, (int)(25 * wg_stride(n, outC)));
      for (int xi = 0; xi < 25; xi++)
        gemm_acc(V + xi * wg_stride(n, inC), inC, 1, U + (long)xi * inC * outC, outC,
                 M + xi * wg_stride(n, outC), outC, n, outC, inC);
    }
    const long step = wg_stride(n, outC);
    for (int t = 0; t < n; t++) {
      const struct tile_origin to = tile3_origin_of(q0 + t, outH, outW);
      const int rows = outH - to.oh < 3 ? outH - to.oh : 3;
      const int cols = outW - to.ow < 3 ? outW - to.ow : 3;
      float *y0 = y + (((long)to.b * outH + to.oh) * outW + to.ow) * outC;
      int o = 0;
      for (; o < O4; o += 4) {
        const float *mp = M + (long)t * outC + o;
        v128_t s[3][5];
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 5; j++) {
          v128_t col[5], out[3];
          _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) col[i] = wasm_v128_load(mp + (long)(i * 5 + j) * step);
          wg3_at(col, out);
          _Pragma("clang loop unroll(full)") for (int i = 0; i < 3; i++) s[i][j] = out[i];
        }
        const v128_t bv = bias ? wasm_v128_load(bias + o) : z;
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 3; i++) {
          v128_t out[3];
          wg3_at(s[i], out);
          float *yr = y0 + (long)i * outW * outC + o;
          _Pragma("clang loop unroll(full)") for (int j = 0; j < 3; j++) {
            v128_t v = wasm_f32x4_add(out[j], bv);
            if (relu) v = relu4(v);
            if (i < rows && j < cols) wasm_v128_store(yr + (long)j * outC, v);
          }
        }
      }
      for (; o < outC; o++) {
        const float *mp = M + (long)t * outC + o;
        float s[3][5];
        for (int j = 0; j < 5; j++) {
          float col[5], out[3];
          for (int i = 0; i < 5; i++) col[i] = mp[(long)(i * 5 + j) * step];
          wg3_at1(col, out);
          for (int i = 0; i < 3; i++) s[i][j] = out[i];
        }
        const float bv = bias ? bias[o] : 0.0f;
        for (int i = 0; i < 3; i++) {
          float out[3];
          wg3_at1(s[i], out);
          float *yr = y0 + (long)i * outW * outC + o;
          for (int j = 0; j < 3; j++) {
            const float v = out[j] + bv;
            if (i < rows && j < cols) yr[(long)j * outC] = relu ? relu1(v) : v;
          }
        }
      }
    }
  }
}

/*
 * The weight gradient by F(3x3, 3x3) transposed, as F(3x3, 4x4) above: with V = B^T d B of each
 * 5x5 input patch and the 3x3 block h of dy of the same output tile,
 *   dW += G^T [ (A h A^T) . (B^T d B) ] G,
 * A h: h0, h0+h1+h2, h0-h1+h2, h0+2h1+4h2, h2.
 */
static inline void wg3_a(const v128_t *h, v128_t *o) {
  const v128_t s = wasm_f32x4_add(h[0], h[2]);
  o[0] = h[0];
  o[1] = wasm_f32x4_add(s, h[1]);
  o[2] = wasm_f32x4_sub(s, h[1]);
  o[3] = wasm_f32x4_add(wasm_f32x4_add(h[0], wasm_f32x4_add(h[1], h[1])),
                        wasm_f32x4_mul(wasm_f32x4_splat(4.0f), h[2]));
  o[4] = h[2];
}
static inline void wg3_a1(const float *h, float *o) {
  const float s = h[0] + h[2];
  o[0] = h[0];
  o[1] = s + h[1];
  o[2] = s - h[1];
  o[3] = (h[0] + (h[1] + h[1])) + 4.0f * h[2];
  o[4] = h[2];
}

/* Mg[xi][t][o] = (A h A^T)[xi] for the 3x3 blocks h of dy of tiles q0..q0+n (0 past the edge). */
static void winograd3_dy(const float *dy, float *Mg, int outH, int outW, int outC, int q0, int n) {
  const int O4 = outC & ~3;
  const long step = wg_stride(n, outC);
  for (int t = 0; t < n; t++) {
    const struct tile_origin to = tile3_origin_of(q0 + t, outH, outW);
    int o = 0;
    for (; o < O4; o += 4) {
      v128_t s[5][3];
      _Pragma("clang loop unroll(full)") for (int j = 0; j < 3; j++) {
        v128_t col[3], out[5];
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 3; i++) col[i] =
            dy_load4(dy, outH, outW, outC, to.b, to.oh + i, to.ow + j, o);
        wg3_a(col, out);
        _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) s[i][j] = out[i];
      }
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) {
        v128_t out[5];
        wg3_a(s[i], out);
        float *m = Mg + (long)(i * 5) * step + (long)t * outC + o;
        _Pragma("clang loop unroll(full)") for (int j = 0; j < 5; j++) wasm_v128_store(m + j * step, out[j]);
      }
    }
    for (; o < outC; o++) {
      float s[5][3];
      for (int j = 0; j < 3; j++) {
        float col[3], out[5];
        for (int i = 0; i < 3; i++) col[i] = dy_load1(dy, outH, outW, outC, to.b, to.oh + i, to.ow + j, o);
        wg3_a1(col, out);
        for (int i = 0; i < 5; i++) s[i][j] = out[i];
      }
      for (int i = 0; i < 5; i++) {
        float out[5];
        wg3_a1(s[i], out);
        float *m = Mg + (long)(i * 5) * step + (long)t * outC + o;
        for (int j = 0; j < 5; j++) m[j * step] = out[j];
      }
    }
  }
}

/* G^T applied to five values: three. G^T = [1/2 1/2 1/6 1/6 0; 0 1/2 -1/6 1/3 0;
 * 0 1/2 1/6 2/3 1]. */
static inline void wg3_gt(const v128_t *m, v128_t *o) {
  const v128_t half = wasm_f32x4_splat(0.5f), sixth = wasm_f32x4_splat(1.0f / 6.0f);
  o[0] = wasm_f32x4_add(wasm_f32x4_mul(half, wasm_f32x4_add(m[0], m[1])),
                        wasm_f32x4_mul(sixth, wasm_f32x4_add(m[2], m[3])));
  o[1] = wasm_f32x4_add(wasm_f32x4_mul(half, m[1]),
                        wasm_f32x4_mul(sixth, wasm_f32x4_sub(wasm_f32x4_add(m[3], m[3]), m[2])));
  o[2] = wasm_f32x4_add(
      wasm_f32x4_add(wasm_f32x4_mul(half, m[1]),
                     wasm_f32x4_mul(sixth, wasm_f32x4_add(m[2], wasm_f32x4_mul(wasm_f32x4_splat(4.0f), m[3])))),
      m[4]);
}
static inline void wg3_gt1(const float *m, float *o) {
  const float sixth = 1.0f / 6.0f;
  o[0] = 0.5f * (m[0] + m[1]) + sixth * (m[2] + m[3]);
  o[1] = 0.5f * m[1] + sixth * ((m[3] + m[3]) - m[2]);
  o[2] = (0.5f * m[1] + sixth * (m[2] + 4.0f * m[3])) + m[4];
}

/* dW[kh][kw][ci][co] = (G^T acc[.][ci][co] G)[kh][kw] for the 25 sums of F(3x3, 3x3). */
EXPORT void winograd3_filter_grad_output(const float *acc, float *dW, int inC, int outC) {
  const long plane = (long)inC * outC;
  const long P4 = plane & ~3L;
  long e = 0;
  for (; e < P4; e += 4) {
    v128_t q[3][5];
    _Pragma("clang loop unroll(full)") for (int j = 0; j < 5; j++) {
      v128_t col[5], out[3];
      _Pragma("clang loop unroll(full)") for (int i = 0; i < 5; i++) col[i] =
          wasm_v128_load(acc + (i * 5 + j) * plane + e);
      wg3_gt(col, out);
      _Pragma("clang loop unroll(full)") for (int k = 0; k < 3; k++) q[k][j] = out[k];
    }
    _Pragma("clang loop unroll(full)") for (int k = 0; k < 3; k++) {
      v128_t out[3];
      wg3_gt(q[k], out);
      _Pragma("clang loop unroll(full)") for (int l = 0; l < 3; l++)
          wasm_v128_store(dW + (k * 3 + l) * plane + e, out[l]);
    }
  }
  for (; e < plane; e++) {
    float q[3][5];
    for (int j = 0; j < 5; j++) {
      float col[5], out[3];
      for (int i = 0; i < 5; i++) col[i] = acc[(i * 5 + j) * plane + e];
      wg3_gt1(col, out);
      for (int k = 0; k < 3; k++) q[k][j] = out[k];
    }
    for (int k = 0; k < 3; k++) {
      float out[3];
      wg3_gt1(q[k], out);
      for (int l = 0; l < 3; l++) dW[(k * 3 + l) * plane + e] = out[l];
    }
  }
}

/* ==== Training-mode BatchNorm (IgmBatchNormTraining / IgmBatchNormTrainingGrad) ==============
 *
 * x, dy, dx are rows x C row-major (channels last). The reductions accumulate each channel in
 * float64 in row order (as sum_rows, the Sum and Mean kernels the tf.moments + tf.batchNorm
 * composition runs), for channels c0..c1 only, so helper threads can take disjoint channel
 * ranges with unchanged bits; c0 is a multiple of 4. Every float32 operation is the
 * composition's, one IEEE rounding each: no fused multiply-add. Contraction is off in this block
 * (wasm has no scalar FMA and plain SIMD none either; the relaxed build's relaxed_madd only comes
 * from F32X4_MADD, unused here: llvm-objdump of the relaxed build shows no relaxed instruction
 * in the bn_* functions). See src/batch-norm.ts for the formulas.
 */
#pragma clang fp contract(off)

/* Rows of one chunk: the accumulators of a 4-channel block stay in registers over a chunk. */
static inline int bn_chunk(int C) { return C >= 4096 ? 1 : 4096 / C; }

static inline v128_t f64_lo(v128_t v) { return wasm_f64x2_promote_low_f32x4(v); }
static inline v128_t f64_hi(v128_t v) {
  return wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 2, 3));
}

/*
 * The gradient through a ReLU fused into the forward (activation 'relu'): dy * step(out) with
 * step = NaN for NaN, 1 where out > 0, else 0: step_f32 with alpha 0, then the float32 product of
 * binary_f32 (dy first), as tfjs-core's Relu gradient dy * cast(step(x)) runs on this package's
 * kernels. dy * 0 keeps dy's sign (-3 * 0 = -0). The backward passes below form it on the fly
 * where they read dy, when given the forward's output (out != 0).
 */
static inline v128_t bn_relu_grad4(v128_t dy, v128_t out) {
  const v128_t zero = wasm_f32x4_splat(0.0f);
  const v128_t s = wasm_v128_bitselect(wasm_f32x4_splat(1.0f), zero, wasm_f32x4_gt(out, zero));
  return wasm_f32x4_mul(dy, wasm_v128_bitselect(out, s, wasm_f32x4_ne(out, out)));
}
static inline float bn_relu_grad1(float dy, float out) {
  const float m = out != out ? out : out > 0.0f ? 1.0f : 0.0f;
  return dy * m;
}

/*
 * mean[c] = float32(sum_r x[r, c] / rows), then var[c] = float32(sum_r d * d / rows) with
 * d = x[r, c] - mean[c] (float32): the Mean kernel twice, as tf.moments. acc: C doubles scratch.
 */
EXPORT void bn_moments_f32(const float *x, double *acc, float *mean, float *var, int rows, int C,
                           int c0, int c1) {
  for (int pass = 0; pass < 2; pass++) {
    for (int c = c0; c < c1; c++) acc[c] = 0.0;
    const int chunk = bn_chunk(C);
    for (int r0 = 0; r0 < rows; r0 += chunk) {
      const int r1 = r0 + chunk < rows ? r0 + chunk : rows;
      int c = c0;
      for (; c + 4 <= c1; c += 4) {
        v128_t a0 = wasm_v128_load(acc + c), a1 = wasm_v128_load(acc + c + 2);
        const v128_t m = pass ? wasm_v128_load(mean + c) : wasm_f32x4_splat(0.0f);
        for (int r = r0; r < r1; r++) {
          v128_t v = wasm_v128_load(x + (long)r * C + c);
          if (pass) {
            const v128_t d = wasm_f32x4_sub(v, m);
            v = wasm_f32x4_mul(d, d);
          }
          a0 = wasm_f64x2_add(a0, f64_lo(v));
          a1 = wasm_f64x2_add(a1, f64_hi(v));
        }
        wasm_v128_store(acc + c, a0), wasm_v128_store(acc + c + 2, a1);
      }
      for (; c < c1; c++) {
        double a = acc[c];
        for (int r = r0; r < r1; r++) {
          float v = x[(long)r * C + c];
          if (pass) {
            const float d = v - mean[c];
            v = d * d;
          }
          a += (double)v;
        }
        acc[c] = a;
      }
    }
    float *out = pass ? var : mean;
    for (int c = c0; c < c1; c++) out[c] = (float)(acc[c] / (double)rows);
  }
}

/*
 * The backward's first pass over channels c0..c1, into sums (4 C doubles, zeroed here):
 * [0, C) sum (-r) * g, [C, 2C) sum (h * d) * g, [2C, 3C) sum dy * (d * r), [3C, 4C) sum dy,
 * with d = x - mean and g = dy * scale (float32); with out != 0, dy * step(out) in place of dy.
 */
EXPORT void bn_grad_sums_f32(const float *dy, const float *out, const float *x, const float *mean,
                             const float *scale, const float *r, const float *h, double *sums,
                             int rows, int C, int c0, int c1) {
  double *sMean = sums, *sVar = sums + C, *sScale = sums + 2 * C, *sOffset = sums + 3 * C;
  for (int c = c0; c < c1; c++) sMean[c] = sVar[c] = sScale[c] = sOffset[c] = 0.0;
  const int chunk = bn_chunk(C);
  for (int r0 = 0; r0 < rows; r0 += chunk) {
    const int r1 = r0 + chunk < rows ? r0 + chunk : rows;
    int c = c0;
    for (; c + 4 <= c1; c += 4) {
      v128_t m0 = wasm_v128_load(sMean + c), m1 = wasm_v128_load(sMean + c + 2);
      v128_t v0 = wasm_v128_load(sVar + c), v1 = wasm_v128_load(sVar + c + 2);
      v128_t s0 = wasm_v128_load(sScale + c), s1 = wasm_v128_load(sScale + c + 2);
      v128_t o0 = wasm_v128_load(sOffset + c), o1 = wasm_v128_load(sOffset + c + 2);
      const v128_t mu = wasm_v128_load(mean + c), ga = wasm_v128_load(scale + c);
      const v128_t rr = wasm_v128_load(r + c), nr = wasm_f32x4_neg(rr);
      const v128_t hh = wasm_v128_load(h + c);
      for (int k = r0; k < r1; k++) {
        const long i = (long)k * C + c;
        v128_t g = wasm_v128_load(dy + i);
        if (out) g = bn_relu_grad4(g, wasm_v128_load(out + i));
        const v128_t d = wasm_f32x4_sub(wasm_v128_load(x + i), mu);
        const v128_t gs = wasm_f32x4_mul(g, ga);
        const v128_t tm = wasm_f32x4_mul(nr, gs);
        const v128_t tv = wasm_f32x4_mul(wasm_f32x4_mul(hh, d), gs);
        const v128_t ts = wasm_f32x4_mul(g, wasm_f32x4_mul(d, rr));
        m0 = wasm_f64x2_add(m0, f64_lo(tm)), m1 = wasm_f64x2_add(m1, f64_hi(tm));
        v0 = wasm_f64x2_add(v0, f64_lo(tv)), v1 = wasm_f64x2_add(v1, f64_hi(tv));
        s0 = wasm_f64x2_add(s0, f64_lo(ts)), s1 = wasm_f64x2_add(s1, f64_hi(ts));
        o0 = wasm_f64x2_add(o0, f64_lo(g)), o1 = wasm_f64x2_add(o1, f64_hi(g));
      }
      wasm_v128_store(sMean + c, m0), wasm_v128_store(sMean + c + 2, m1);
      wasm_v128_store(sVar + c, v0), wasm_v128_store(sVar + c + 2, v1);
      wasm_v128_store(sScale + c, s0), wasm_v128_store(sScale + c + 2, s1);
      wasm_v128_store(sOffset + c, o0), wasm_v128_store(sOffset + c + 2, o1);
    }
    for (; c < c1; c++) {
      double am = sMean[c], av = sVar[c], as = sScale[c], ao = sOffset[c];
      for (int k = r0; k < r1; k++) {
        const long i = (long)k * C + c;
        const float g = out ? bn_relu_grad1(dy[i], out[i]) : dy[i];
        const float d = x[i] - mean[c], gs = g * scale[c];
        const float tm = -r[c] * gs;
        const float hd = h[c] * d;
        const float tv = hd * gs;
        const float dr = d * r[c];
        const float ts = g * dr;
        am += (double)tm, av += (double)tv, as += (double)ts, ao += (double)g;
      }
      sMean[c] = am, sVar[c] = av, sScale[c] = as, sOffset[c] = ao;
    }
  }
}

/* The backward's second pass: acc[c] = sum_r q[c] * ((x - mean[c]) * 2) for c0..c1 (zeroed here). */
EXPORT void bn_centered_sum_f32(const float *x, const float *mean, const float *q, double *acc,
                                int rows, int C, int c0, int c1) {
  for (int c = c0; c < c1; c++) acc[c] = 0.0;
  const int chunk = bn_chunk(C);
  const v128_t two = wasm_f32x4_splat(2.0f);
  for (int r0 = 0; r0 < rows; r0 += chunk) {
    const int r1 = r0 + chunk < rows ? r0 + chunk : rows;
    int c = c0;
    for (; c + 4 <= c1; c += 4) {
      v128_t a0 = wasm_v128_load(acc + c), a1 = wasm_v128_load(acc + c + 2);
      const v128_t mu = wasm_v128_load(mean + c), qq = wasm_v128_load(q + c);
      for (int k = r0; k < r1; k++) {
        const v128_t d = wasm_f32x4_sub(wasm_v128_load(x + (long)k * C + c), mu);
        const v128_t e = wasm_f32x4_mul(qq, wasm_f32x4_mul(d, two));
        a0 = wasm_f64x2_add(a0, f64_lo(e)), a1 = wasm_f64x2_add(a1, f64_hi(e));
      }
      wasm_v128_store(acc + c, a0), wasm_v128_store(acc + c + 2, a1);
    }
    for (; c < c1; c++) {
      double a = acc[c];
      for (int k = r0; k < r1; k++) {
        const float d = x[(long)k * C + c] - mean[c];
        const float d2 = d * 2.0f;
        const float e = q[c] * d2;
        a += (double)e;
      }
      acc[c] = a;
    }
  }
}

/*
 * The backward's last pass over `rows` rows (helper threads take row ranges):
 * dx = (((dy * r) * scale) + q * ((x - mean) * 2)) + share, per channel vectors r, q, share;
 * with out != 0, dy * step(out) in place of dy, also written to dres when dres != 0 (the
 * gradient of a residual summed before the ReLU).
 */
EXPORT void bn_input_grad_f32(const float *dy, const float *out, const float *x, const float *mean,
                              const float *scale, const float *r, const float *q,
                              const float *share, float *dx, float *dres, int rows, int C) {
  const v128_t two = wasm_f32x4_splat(2.0f);
  for (int k = 0; k < rows; k++) {
    const long o = (long)k * C;
    int c = 0;
    for (; c + 4 <= C; c += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(x + o + c), wasm_v128_load(mean + c));
      const v128_t e = wasm_f32x4_mul(wasm_v128_load(q + c), wasm_f32x4_mul(d, two));
      v128_t g = wasm_v128_load(dy + o + c);
      if (out) g = bn_relu_grad4(g, wasm_v128_load(out + o + c));
      if (dres) wasm_v128_store(dres + o + c, g);
      const v128_t a = wasm_f32x4_mul(wasm_f32x4_mul(g, wasm_v128_load(r + c)),
                                      wasm_v128_load(scale + c));
      wasm_v128_store(dx + o + c,
                      wasm_f32x4_add(wasm_f32x4_add(a, e), wasm_v128_load(share + c)));
    }
    for (; c < C; c++) {
      const float d = x[o + c] - mean[c];
      const float d2 = d * 2.0f;
      const float e = q[c] * d2;
      const float g = out ? bn_relu_grad1(dy[o + c], out[o + c]) : dy[o + c];
      if (dres) dres[o + c] = g;
      const float dr = g * r[c];
      const float a = dr * scale[c];
      const float ae = a + e;
      dx[o + c] = ae + share[c];
    }
  }
}
/* Back to clang's default for C (contraction within expressions) after this block. */
#pragma clang fp contract(on)
