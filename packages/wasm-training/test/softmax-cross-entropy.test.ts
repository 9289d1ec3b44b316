/**
 * IgmSoftmaxCrossEntropy / IgmSoftmaxCrossEntropyGrad on wasm: registered by
 * registerWasmTrainingKernels, one kernel each way instead of the composition's ~30 calls, and bit
 * for bit the composition -mean(sum(oneHot(y) * logSoftmax(z), -1)) and its autodiff on the same
 * backend with this package's other kernels (the reductions, exp and log are the registered wasm
 * kernels, called without the engine). The cpu kernels and the PyTorch parity are tested in
 * @igm/core; the threaded backend in softmax-cross-entropy-threaded.test.ts.
 */
import { IgmSoftmaxCrossEntropy, IgmSoftmaxCrossEntropyGrad } from '@igm/core';
import { expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { softmaxCrossEntropy } from '../../core/src';
import { kernelNamesOf } from '../../core/test/batch-norm-scenario';
import {
  CROSS_ENTROPY_CASES,
  expectSameCrossEntropyRecords,
  runCrossEntropyCase,
} from '../../core/test/softmax-cross-entropy-scenario';
import { useFusedCrossEntropy } from './fused-batch-norm';

describe('fused softmax cross-entropy on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    useFusedCrossEntropy('wasm', true);
  });
  afterAll(() => {
    useFusedCrossEntropy('wasm', true);
  });

  it('is registered and replaces the composition in a training step', async () => {
    expect(tf.getKernel(IgmSoftmaxCrossEntropy, 'wasm')).toBeDefined();
    expect(tf.getKernel(IgmSoftmaxCrossEntropyGrad, 'wasm')).toBeDefined();
    const z = tf.randomNormal([16, 10], 0, 1, 'float32', 4);
    const y = tf.tensor1d(
      [...Array(16).keys()].map((i) => i % 10),
      'int32',
    );
    const count = async () => {
      let calls = 0;
      const names = await kernelNamesOf(() => {
        const engine = tf.engine() as unknown as { runKernel: (...a: unknown[]) => unknown };
        const run = engine.runKernel;
        engine.runKernel = function (this: unknown, ...a: unknown[]) {
          calls++;
          return run.apply(this, a);
        };
        try {
          return tf.grads((zi: tf.Tensor) => softmaxCrossEntropy(zi, y))([z]);
        } finally {
          engine.runKernel = run;
        }
      });
      return { names, calls };
    };
    const fused = await count();
    expect(fused.names).toContain(IgmSoftmaxCrossEntropy);
    expect(fused.names).toContain(IgmSoftmaxCrossEntropyGrad);
    for (const name of ['OneHot', 'Max', 'Exp', 'Log', 'Mean', 'Sum', 'Sub'])
      expect(fused.names).not.toContain(name);
    useFusedCrossEntropy('wasm', false);
    const composed = await count();
    useFusedCrossEntropy('wasm', true);
    expect(composed.names).toContain('OneHot');
    // tf.grads adds the ones for dy; the loss's own calls drop from ~30 to a handful.
    expect(composed.calls).toBeGreaterThanOrEqual(25);
    expect(fused.calls).toBeLessThanOrEqual(6);
    tf.dispose([z, y]);
  });

  for (const c of CROSS_ENTROPY_CASES) {
    it(`equals the composition bit for bit: ${c.name}`, () => {
      for (const seed of [1, 2, 3]) {
        useFusedCrossEntropy('wasm', false);
        const composed = runCrossEntropyCase(c, seed);
        useFusedCrossEntropy('wasm', true);
        const fused = runCrossEntropyCase(c, seed);
        expectSameCrossEntropyRecords(fused, composed, `${c.name} seed ${seed}`);
      }
    });
  }

  it('leaves no tensors behind across training steps', async () => {
    const w = tf.variable(tf.randomNormal([6, 4], 0, 0.1, 'float32', 5), true, 'ce_wasm_leak_w');
    const x = tf.randomNormal([10, 6], 0, 1, 'float32', 6);
    const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 0, 1], 'int32');
    const opt = tf.train.sgd(0.1);
    const before = tf.memory().numBytes;
    await expectNoTensorLeak(() => {
      opt.minimize(() => softmaxCrossEntropy(tf.matMul(x, w) as tf.Tensor2D, y), false, [w]);
    });
    // The kernels' scratch tensors (shifted logits, exp, sums) are freed on the heap too.
    expect(tf.memory().numBytes).toBe(before);
    opt.dispose();
    tf.dispose([w, x, y]);
  });
});
