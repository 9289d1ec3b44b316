/**
 * `threads` on the wasm backend (own file: the threaded build replaces the process's 'wasm'
 * backend, and vitest runs each file in its own process).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../src/backend';
import { resolveCompareConfig } from '../src/config';
import { withoutNode } from './importers';

describe('selectBackend with threads', () => {
  it('rejects a bad thread count, naming it', async () => {
    await expect(selectBackend('wasm', withoutNode, { threads: 0 })).rejects.toThrow(
      /threads is 0; expected an integer from 1 to 64 or "auto"/,
    );
  });

  it('falls back to one thread, saying why, when the threaded build is unavailable', async () => {
    const noThreads = async (specifier: string) => {
      const mod = await withoutNode(specifier);
      if (specifier !== '@igm/wasm-training') return mod;
      const { registerWasmTrainingKernels } = mod as { registerWasmTrainingKernels: unknown };
      return { registerWasmTrainingKernels };
    };
    const choice = await selectBackend('wasm', noThreads, { threads: 2 });
    expect(choice.threads).toBe(1);
    expect(choice.label).toBe('wasm + @igm/wasm-training kernels');
    expect(choice.reasons).toEqual([
      '2 wasm threads: this version has no threaded backend (running on one)',
    ]);
  });

  it('starts the threaded wasm build and trains a conv layer on it', async () => {
    const choice = await selectBackend('auto', withoutNode, { threads: 2 });
    expect(choice.backend).toBe('wasm');
    expect(choice.threads).toBe(2);
    const { relaxedSimdSupported } = await import('@igm/wasm-training');
    const relaxed = relaxedSimdSupported() ? ' (relaxed SIMD)' : '';
    expect(choice.label).toBe(`wasm + @igm/wasm-training kernels${relaxed}, 2 threads`);
    expect(choice.kernels).toContain('Conv2DBackpropFilter');
    expect(tf.getBackend()).toBe('wasm');
    const x = tf.ones([2, 6, 6, 1]) as tf.Tensor4D;
    const w = tf.ones([3, 3, 1, 2]) as tf.Tensor4D;
    const gw = tf.grad((v: tf.Tensor) => tf.sum(tf.conv2d(x, v as tf.Tensor4D, 1, 'valid')))(w);
    // Each weight sees every one of the 2 x 4 x 4 valid output positions once, with x = 1.
    expect(Array.from(gw.dataSync())).toEqual(new Array(18).fill(32));
  });
});

describe('threads in the compare config', () => {
  const base = { dataset: 'synthetic', methods: ['joint'], out: 'runs/x' };
  const defaults = { seeds: 1, preset: 'quick', backend: 'auto' };
  it('defaults to 1 and accepts a count or auto', () => {
    expect(resolveCompareConfig(base, defaults).threads).toBe(1);
    expect(resolveCompareConfig({ ...base, threads: 'auto' }, defaults).threads).toBe('auto');
    expect(resolveCompareConfig({ ...base, threads: 2 }, defaults).threads).toBe(2);
  });
  it('names the field when the value is wrong', () => {
    expect(() => resolveCompareConfig({ ...base, threads: 0 }, defaults)).toThrow(/threads/);
  });
});
