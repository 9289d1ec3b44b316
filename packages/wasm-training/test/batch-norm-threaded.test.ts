/**
 * The fused training BatchNorm on the threaded wasm backend (own file: vitest runs each file in
 * its own process): the reductions split channel ranges and the dx pass splits rows over the
 * helper thread, with the same bits as one thread and as the composition.
 */
import { tf } from '@igm/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectSameBnRecords,
  runBatchNormScenario,
  withoutPreActivation,
} from '../../core/test/batch-norm-scenario';
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
    // With the fused ReLU (relu in place and dy * step(out) split over the threads).
    const relu = { fuseRelu: true };
    const splitRelu = runBatchNormScenario(shape, 41, 2, 1e-5, relu);
    setNativeThreadsEnabled(false);
    const singleRelu = runBatchNormScenario(shape, 41, 2, 1e-5, relu);
    setNativeThreadsEnabled(true);
    const want = withoutPreActivation(composed);
    expectSameBnRecords(splitRelu, want, `2 threads relu ${shape.join('x')}`);
    expectSameBnRecords(singleRelu, want, `1 thread relu ${shape.join('x')}`);
    // With a fused residual (its sum and its gradient split over the threads too).
    const residual = { fuseRelu: true, residual: true };
    useFusedBatchNorm('wasm', false);
    const composedResidual = withoutPreActivation(
      runBatchNormScenario(shape, 41, 2, 1e-5, { residual: true }),
    );
    useFusedBatchNorm('wasm', true);
    const splitResidual = runBatchNormScenario(shape, 41, 2, 1e-5, residual);
    setNativeThreadsEnabled(false);
    const singleResidual = runBatchNormScenario(shape, 41, 2, 1e-5, residual);
    setNativeThreadsEnabled(true);
    expectSameBnRecords(splitResidual, composedResidual, `2 threads residual ${shape.join('x')}`);
    expectSameBnRecords(singleResidual, composedResidual, `1 thread residual ${shape.join('x')}`);
  });
});
