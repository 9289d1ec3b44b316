/**
 * The fused training BatchNorm on the threaded wasm backend (own file: vitest runs each file in
 * its own process): the reductions split channel ranges and the dx pass splits rows over the
 * helper thread, with the same bits as one thread and as the composition.
 */
import { tf } from '@igm/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectSameBnRecords, runBatchNormScenario } from '../../core/test/batch-norm-scenario';
import { nativeThreads, setNativeThreadsEnabled, useThreadedWasmBackend } from '../src/node';
import { useFusedBatchNorm } from './fused-batch-norm';

describe('fused training BatchNorm on the threaded wasm backend', () => {
  beforeAll(async () => {
    expect(await useThreadedWasmBackend({ threads: 2 })).toBe(2);
  });

  it.each([
    // 2^19 elements, 64 channels: channel ranges [0, 32) + [32, 64), rows split for dx.
    [8, 32, 32, 64],
    // 33 channels (not a multiple of 4): ranges [0, 16) + [16, 33); 2^18+ elements.
    [2, 64, 64, 33],
    // Channel split only (2^16 <= size < 2^18).
    [4, 33, 33, 36],
  ])('equals the composition and one thread bit for bit, x %j', (...shape) => {
    expect(nativeThreads(tf.backend() as never)?.threads).toBe(2);
    useFusedBatchNorm('wasm', false);
    const composed = runBatchNormScenario(shape, 41, 2);
    useFusedBatchNorm('wasm', true);
    const split = runBatchNormScenario(shape, 41, 2);
    setNativeThreadsEnabled(false);
    const single = runBatchNormScenario(shape, 41, 2);
    setNativeThreadsEnabled(true);
    expectSameBnRecords(split, composed, `2 threads ${shape.join('x')}`);
    expectSameBnRecords(single, composed, `1 thread ${shape.join('x')}`);
  });
});
