/**
 * The multithreaded wasm backend (own file: vitest runs each file in its own process, so
 * replacing the 'wasm' backend here does not affect the other suites).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IgmSgdMomentumUpdate } from '@igm/core';
import { expectAllClose, tf } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import { ptr } from '../src/native';
import {
  nativeKernels,
  nativeThreads,
  registerWasmTrainingKernels,
  setNativeThreadsEnabled,
  splitRange,
  threadedWasmBackend,
  useThreadedWasmBackend,
} from '../src/node';
import type { WasmBackendLike } from '../src/wasm-backend';
import { onBackend, seeded } from './parity';

/**
 * The outputs of `f` on the (threaded) wasm backend with the helper threads on, then off, as
 * flat arrays; checks that neither run leaked tensors or kernel buffers (numDataIds also counts
 * the kernels' internal scratch).
 */
function helpersOnThenOff(f: () => tf.Tensor[]): { split: Float32Array[]; single: Float32Array[] } {
  const run = () => {
    const outs = tf.tidy(f);
    const data = outs.map((o) => o.dataSync() as Float32Array);
    tf.dispose(outs);
    return data;
  };
  const backend = tf.backend() as never as { numDataIds(): number };
  const before = [tf.memory().numTensors, backend.numDataIds()];
  const split = run();
  setNativeThreadsEnabled(false);
  const single = run();
  setNativeThreadsEnabled(true);
  expect([tf.memory().numTensors, backend.numDataIds()]).toEqual(before);
  return { split, single };
}

describe('useThreadedWasmBackend', () => {
  it('rejects a bad thread count, naming it', async () => {
    await expect(useThreadedWasmBackend({ threads: 0 })).rejects.toThrow(/threads/);
  });

  it('starts the threaded build with 2 threads and trains a conv layer like the cpu backend', async () => {
    const f = () => {
      const x = tf.tensor4d(seeded([4, 12, 10, 3], 1), [4, 12, 10, 3]);
      const w = tf.tensor4d(seeded([3, 3, 3, 8], 2), [3, 3, 3, 8]);
      const m = tf.tensor2d(seeded([64, 96], 3), [64, 96]);
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'))),
      )([x, w]);
      return [gx!, gw!, tf.matMul(m, m, false, true)];
    };
    const cpu = await onBackend('cpu', f);
    const threads = await useThreadedWasmBackend({ threads: 2 });
    expect(threads).toBe(2);
    expect(threadedWasmBackend()).toEqual({ threads: 2 });
    expect(tf.getBackend()).toBe('wasm');
    registerWasmTrainingKernels();
    // The SIMD data-movement kernels bind to the threaded build's shared memory too.
    expect(nativeKernels(tf.backend() as never)).not.toBeNull();
    const outs = tf.tidy(f);
    const wasm = outs.map((t) => t.dataSync());
    tf.dispose(outs);
    // Threaded XNNPACK splits the sums differently; gradients here are O(10..100).
    for (let i = 0; i < cpu.length; i++) {
      expectAllClose(wasm[i]!, cpu[i]!, { atol: 1e-3, rtol: 1e-4, label: `output ${i}` });
    }
  });

  // The tests below run on the threaded backend started above (same file, same process).
  it('starts one helper thread for the SIMD kernels next to the calling thread', () => {
    expect(nativeThreads(tf.backend() as never)?.threads).toBe(2);
  });

  it.each([
    // 3x3 stride 1: Winograd F(3x3, 2x2) over 2 x 20 x 20 tiles, split 400 + 400.
    { x: [2, 40, 40, 32], outC: 12, strides: 1 },
    // ... with 370 x 370 channels (> 2^17 per tile position): packed products, 5 + 4 tiles.
    { x: [1, 6, 5, 370], outC: 370, strides: 1 },
    // Stride 2, direct form: 2 x 20 x 20 output pixels x 288 = im2col chunks on both threads.
    { x: [2, 40, 40, 32], outC: 12, strides: 2 },
    // ... dW of 1152 x 130 floats (> 2^17): the packed product, 72 pixels = 36 per thread.
    { x: [2, 12, 11, 128], outC: 130, strides: 2 },
    // 9x6 outputs: Winograd F(3x3, 3x3) transposed, 4 x 6 tiles split 12 + 12.
    { x: [4, 9, 6, 64], outC: 64, strides: 1 },
  ])(
    'splits the conv weight gradient over both threads and matches the cpu backend ($x -> $outC, stride $strides)',
    async ({ x: xShape, outC, strides }) => {
      const f = () => {
        const out = (n: number) => Math.ceil(n / strides);
        const dyShape = [xShape[0]!, out(xShape[1]!), out(xShape[2]!), outC];
        const x = tf.tensor4d(seeded(xShape, 5), xShape as [number, number, number, number]);
        const dy = tf.tensor4d(seeded(dyShape, 6), dyShape as [number, number, number, number]);
        const attrs = {
          strides,
          pad: 'same',
          dataFormat: 'NHWC',
          filterShape: [3, 3, xShape[3]!, outC],
        };
        return [
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as never) as tf.Tensor,
        ];
      };
      const cpu = await onBackend('cpu', f);
      await tf.setBackend('wasm');
      const { split, single } = helpersOnThenOff(f);
      // Sums of up to 3200 products of O(1) terms: float32 rounding ~1e-5 relative.
      expectAllClose(split[0]!, cpu[0]!, { atol: 1e-3, rtol: 1e-4, label: 'two threads vs cpu' });
      expectAllClose(split[0]!, single[0]!, { atol: 1e-3, rtol: 1e-4, label: 'threads vs one' });
    },
  );

  it('splits MaxPoolGrad over whole images on both threads, bit-identical to one thread', async () => {
    const f = () => {
      const x = tf.tensor4d(seeded([5, 9, 8, 6], 7), [5, 9, 8, 6]);
      const dy = tf.tensor4d(seeded([5, 5, 4, 6], 8), [5, 5, 4, 6]);
      const attrs = { filterSize: 3, strides: 2, pad: 'same' };
      const y = tf.maxPool(x, 3, 2, 'same');
      return [
        tf
          .engine()
          .runKernel('MaxPoolGrad', { dy, input: x, output: y }, attrs as never) as tf.Tensor,
      ];
    };
    const cpu = await onBackend('cpu', f);
    await tf.setBackend('wasm');
    const { split, single } = helpersOnThenOff(f);
    expect(Array.from(split[0]!)).toEqual(Array.from(single[0]!));
    // Overlapping windows: the cpu backend adds in float64, the kernels in float32.
    expectAllClose(split[0]!, cpu[0]!, { atol: 1e-6, rtol: 1e-6, label: 'vs cpu' });
  });

  it('splits Winograd 3x3 and im2col convolutions and a strided input gradient over both threads like the cpu backend', async () => {
    const f = () => {
      const x = tf.tensor4d(seeded([3, 21, 17, 12], 51), [3, 21, 17, 12]);
      const w = tf.tensor4d(seeded([3, 3, 12, 20], 52), [3, 3, 12, 20]);
      const b = tf.tensor1d(seeded([20], 53));
      // 64 -> 64 channels: the packed products, 2 x 10 x 11 tiles = 110 per thread.
      const x2 = tf.tensor4d(seeded([2, 20, 21, 64], 54), [2, 20, 21, 64]);
      const w2 = tf.tensor4d(seeded([3, 3, 64, 64], 55), [3, 3, 64, 64]);
      const b2 = tf.tensor1d(seeded([64], 56));
      // 9x9 outputs: F(3x3, 3x3), 4 x 9 tiles = 20 + 16.
      const x3 = tf.tensor4d(seeded([4, 9, 9, 16], 57), [4, 9, 9, 16]);
      const w3 = tf.tensor4d(seeded([3, 3, 16, 24], 58), [3, 3, 16, 24]);
      return [
        tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: b, activation: 'relu' }),
        tf.conv2d(x2, w2, 1, 'same'),
        // Stride 2 (im2col + the packed product): 2 x 10 x 11 = 220 pixels, 110 per thread.
        tf.fused.conv2d({
          x: x2,
          filter: w2,
          strides: 2,
          pad: 'same',
          bias: b2,
          activation: 'relu',
        }),
        // Its input gradient (dy W^T, then col2im): one image per thread.
        tf.grad((a: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, w2, 2, 'same'))))(
          x2,
        ),
        tf.conv2d(x3, w3, 1, 'same'),
      ];
    };
    const cpu = await onBackend('cpu', f);
    await tf.setBackend('wasm');
    const { split, single } = helpersOnThenOff(f);
    for (let i = 0; i < 5; i++) {
      // Tiles, pixels and images are disjoint outputs, each computed whole by one thread in the
      // same order: identical bits.
      expect(Array.from(split[i]!)).toEqual(Array.from(single[i]!));
      // Sums of 108 (576) products of O(1) terms, Winograd-transformed (outputs up to ~50; the
      // gradient sums 576 products of outputs): float32 rounding ~1e-5 relative.
      expectAllClose(split[i]!, cpu[i]!, { atol: 2e-3, rtol: 1e-4, label: `conv ${i} vs cpu` });
    }
  });

  it('splits packed matrix products by column panels and by batches, bit-identical to one thread', async () => {
    // 2 x 130 x 517 x 70: over 2^20 multiply-adds, so the product is split: one batch of
    // columns [0, 32) + [32, 70) (whole 8-column panels); the batched one splits its 2 batches.
    const f = () => {
      const a = tf.tensor2d(seeded([130, 517], 7), [130, 517]);
      const b = tf.tensor2d(seeded([70, 517], 8), [70, 517]);
      const p = tf.tensor3d(seeded([2, 517, 130], 9), [2, 517, 130]);
      const q = tf.tensor3d(seeded([2, 517, 70], 10), [2, 517, 70]);
      return [tf.matMul(a, b, false, true), tf.matMul(p, q, true, false)];
    };
    const cpu = await onBackend('cpu', f);
    await tf.setBackend('wasm');
    const { split, single } = helpersOnThenOff(f);
    for (let i = 0; i < 2; i++) {
      // Sums of 517 products of O(1) terms: float32 rounding ~1e-5 relative.
      expectAllClose(split[i]!, cpu[i]!, { atol: 1e-3, rtol: 1e-4, label: `product ${i} vs cpu` });
      // Each output is summed by one thread in the same order either way.
      expect(Array.from(split[i]!)).toEqual(Array.from(single[i]!));
    }
  });

  it('splits large elementwise arithmetic and batch norm over both threads, bit-identical to one thread and to cpu', async () => {
    // 300 x 1001 = 300300 elements (>= 2^18): split by rows (channel vectors, per-row values)
    // or along the one long row (full and scalar operands; 1001 is not a multiple of 4).
    const f = () => {
      const a = tf.tensor2d(seeded([300, 1001], 11), [300, 1001]);
      const c = tf.tensor2d(seeded([300, 1001], 12), [300, 1001]);
      const v = tf.add(tf.tensor1d(seeded([1001], 13)), 2);
      const r = tf.add(tf.tensor2d(seeded([300, 1], 14), [300, 1]), 2);
      const variance = tf.add(tf.abs(tf.tensor1d(seeded([1001], 15))), 0.5);
      return [
        tf.mul(a, c),
        tf.sub(a, tf.scalar(0.5)),
        tf.div(a, v),
        tf.add(r, a),
        tf.batchNorm(a, v, variance, tf.tensor1d(seeded([1001], 16)), v, 1e-3),
      ];
    };
    const cpu = await onBackend('cpu', f);
    await tf.setBackend('wasm');
    const { split, single } = helpersOnThenOff(f);
    for (let i = 0; i < split.length; i++) {
      expect(Array.from(split[i]!)).toEqual(Array.from(single[i]!));
      // One float32 operation per element (+, -, *, / equal the cpu backend's rounding); batch
      // norm rounds its float32 steps differently from the cpu backend's float64 formula.
      if (i < 4) expect(Array.from(split[i]!)).toEqual(Array.from(cpu[i]!));
      else expectAllClose(split[i]!, cpu[i]!, { atol: 1e-5, rtol: 1e-5, label: 'batch norm' });
    }
  });

  it('splits Step with a fractional alpha over both threads, bit-identical to one thread and to cpu', async () => {
    // 300 x 1001 elements (>= 2^18): alpha 0.5 must reach the helper thread as 0.5, not 0.
    const f = () => {
      const x = tf.tensor2d(seeded([300, 1001], 31), [300, 1001]);
      return [tf.step(x, 0.5), tf.step(x, -0.25)];
    };
    const cpu = await onBackend('cpu', f);
    await tf.setBackend('wasm');
    const { split, single } = helpersOnThenOff(f);
    for (let i = 0; i < split.length; i++) {
      expect(Array.from(split[i]!)).toEqual(Array.from(single[i]!));
      expect(Array.from(split[i]!)).toEqual(Array.from(cpu[i]!));
    }
    expect(new Set(split[0]!)).toEqual(new Set([0.5, 1]));
  });

  it('splits the fused SGD update over both threads, bit-identical to one thread and to the cpu op chain', async () => {
    // 301 x 1001 = 301301 elements (>= 2^18, not a multiple of 4): split in groups of 4.
    const shape = [301, 1001];
    const attrs = { weightDecay: 5e-4, momentum: 0.9, learningRate: 0.03, nesterov: true };
    const inputs = () => ({
      gradient: tf.tensor2d(seeded(shape, 21), shape as [number, number]),
      param: tf.tensor2d(seeded(shape, 22), shape as [number, number]),
      buffer: tf.tensor2d(seeded(shape, 23), shape as [number, number]),
    });
    // The op chain of addDecayedWeights -> traceMomentum(nesterov) -> scaleByLearningRate.
    const cpu = await onBackend('cpu', () => {
      const { gradient: g, param: theta, buffer: buf } = inputs();
      const d = tf.add(g, tf.mul(theta, attrs.weightDecay));
      const next = tf.add(tf.mul(buf, attrs.momentum), d);
      return [next, tf.mul(tf.add(d, tf.mul(next, attrs.momentum)), -attrs.learningRate)];
    });
    await tf.setBackend('wasm');
    const { split, single } = helpersOnThenOff(
      () => tf.engine().runKernel(IgmSgdMomentumUpdate, inputs(), attrs) as tf.Tensor[],
    );
    for (let i = 0; i < 2; i++) {
      const bits = (a: Float32Array) =>
        Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
      expect(bits(split[i]!)).toEqual(bits(single[i]!));
      expect(bits(split[i]!)).toEqual(bits(cpu[i]!));
    }
  });

  it("reports a helper thread's trap as an error naming the thread and the kernel", () => {
    const backend = tf.backend() as never as WasmBackendLike;
    const pool = nativeThreads(backend)!;
    const a = tf.zeros([8]);
    const ok = [ptr(backend, a), ptr(backend, a), 8];
    // Far beyond the heap: the helper's add_inplace traps with an out-of-bounds access.
    expect(() => pool.run(backend, 'add_inplace', [ok, [0x7ffffff0, 0x7ffffff0, 1 << 20]])).toThrow(
      /helper thread 1 failed in add_inplace/,
    );
    // The pool still works afterwards.
    pool.run(backend, 'add_inplace', [ok, ok]);
    a.dispose();
  });
});

describe('process exit', () => {
  it('a script that trained on the threaded backend exits by itself (idle threads are unref-ed)', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const tsx = createRequire(import.meta.url).resolve('tsx/cli');
    const run = spawnSync(process.execPath, [tsx, join(here, 'scripts/threaded-exit.ts')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.error, 'the script did not exit within 60 s').toBeUndefined();
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('trained on 2 threads');
  }, 70_000);
});

describe('relaxed SIMD opt-out', () => {
  it('setRelaxedSimdEnabled(false) first keeps V8 flag off and runs the plain build; enabling later switches', () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const tsx = createRequire(import.meta.url).resolve('tsx/cli');
    const run = spawnSync(process.execPath, [tsx, join(here, 'scripts/relaxed-opt-out.ts')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!);
    const nodeWithFlag =
      (process as unknown as { getBuiltinModule?: unknown }).getBuiltinModule !== undefined;
    // [[1, 2, 3], [4, 5, 6]] x [[1, 0], [0, 1], [1, 1]]
    const want = [4, 5, 10, 11];
    expect(out.plain).toEqual({ product: want, relaxed: false, engineAccepts: out.before });
    expect(out.relaxed.product).toEqual(want);
    // 160-term sums of O(1) products, rounded once or twice per term: ~1e-5.
    expect(out.bigMaxDiff).toBeLessThan(1e-3);
    if (!out.before && nodeWithFlag) {
      // Node 20.16-21: the flag was off and is turned on only when relaxed SIMD is wanted.
      expect(out.relaxed).toEqual({ product: want, relaxed: true, engineAccepts: true });
    }
  }, 70_000);
});

describe('splitRange', () => {
  it('splits into contiguous ranges of whole units, never more parts than units', () => {
    expect(splitRange(10, 2)).toEqual([
      [0, 5],
      [5, 10],
    ]);
    expect(splitRange(10, 3, 4)).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    expect(splitRange(3, 4, 4)).toEqual([[0, 3]]);
    expect(splitRange(7, 1)).toEqual([[0, 7]]);
  });
});
