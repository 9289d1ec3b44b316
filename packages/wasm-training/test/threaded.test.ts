/**
 * The multithreaded wasm backend (own file: vitest runs each file in its own process, so
 * replacing the 'wasm' backend here does not affect the other suites).
 */
import { expectAllClose, tf } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import {
  nativeKernels,
  registerWasmTrainingKernels,
  threadedWasmBackend,
  useThreadedWasmBackend,
} from '../src/index';
import { onBackend, seeded } from './parity';

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
});
