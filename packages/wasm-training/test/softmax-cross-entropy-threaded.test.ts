/**
 * The fused softmax cross-entropy on the threaded wasm backend (own file: vitest runs each file
 * in its own process): the kernels call the backend's registered reductions, exp and log, so they
 * keep the composition's bits there too.
 */
import { tf } from '@igm/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  CROSS_ENTROPY_CASES,
  expectSameCrossEntropyRecords,
  runCrossEntropyCase,
} from '../../core/test/softmax-cross-entropy-scenario';
import { nativeThreads, useThreadedWasmBackend } from '../src/node';
import { useFusedCrossEntropy } from './fused-batch-norm';

describe('fused softmax cross-entropy on the threaded wasm backend', () => {
  beforeAll(async () => {
    expect(await useThreadedWasmBackend({ threads: 2 })).toBe(2);
  });

  it('equals the composition bit for bit in every case', () => {
    expect(nativeThreads(tf.backend() as never)?.threads).toBe(2);
    for (const c of CROSS_ENTROPY_CASES) {
      useFusedCrossEntropy('wasm', false);
      const composed = runCrossEntropyCase(c, 7);
      useFusedCrossEntropy('wasm', true);
      const fused = runCrossEntropyCase(c, 7);
      expectSameCrossEntropyRecords(fused, composed, c.name);
    }
  });
});
