/**
 * The fused bias + activation on the threaded wasm backend (own file: vitest runs each file in its
 * own process): the kernels run on the calling thread and keep the composition's bits, whose Add,
 * Relu, Step and Multiply split large tensors over the helper thread.
 */
import { tf } from '@igm/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BIAS_ACTIVATION_CASES,
  expectSameBiasActivationRecords,
  runBiasActivationCase,
} from '../../core/test/bias-activation-scenario';
import { nativeThreads, useThreadedWasmBackend } from '../src/node';
import { useFusedBiasActivation } from './fused-batch-norm';

describe('fused bias + activation on the threaded wasm backend', () => {
  beforeAll(async () => {
    expect(await useThreadedWasmBackend({ threads: 2 })).toBe(2);
  });

  it('equals the composition bit for bit, incl. a layer large enough to split', () => {
    expect(nativeThreads(tf.backend() as never)?.threads).toBe(2);
    const cases = [...BIAS_ACTIVATION_CASES, { name: 'split over threads', shape: [512, 1024] }];
    for (const activation of ['linear', 'relu'] as const) {
      for (const c of cases) {
        useFusedBiasActivation('wasm', false);
        const composed = runBiasActivationCase(c, activation, 7);
        useFusedBiasActivation('wasm', true);
        const fused = runBiasActivationCase(c, activation, 7);
        expectSameBiasActivationRecords(fused, composed, `${activation} ${c.name}`);
      }
    }
  });
});
