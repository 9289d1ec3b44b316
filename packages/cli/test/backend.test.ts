import { IgmBatchNormTraining, IgmBatchNormTrainingGrad, IgmSgdMomentumUpdate } from '@igm/core';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, describeBackendChoice, selectBackend } from '../src/backend';
import { withoutNode } from './importers';

describe('selectBackend', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('auto falls back past tfjs-node(-gpu) to wasm and says why', async () => {
    const choice = await selectBackend('auto', withoutNode);
    expect(choice.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.reasons.slice(0, 2)).toEqual([
      '@tensorflow/tfjs-node-gpu: not installed',
      '@tensorflow/tfjs-node: not installed',
    ]);
    expect(describeBackendChoice(choice)).toMatch(/^backend: wasm/);
  });

  it('a requested backend that is not installed is an error with the install command', async () => {
    await expect(selectBackend('cuda', withoutNode)).rejects.toThrow(BackendUnavailableError);
    await expect(selectBackend('tensorflow', withoutNode)).rejects.toThrow(
      /needs @tensorflow\/tfjs-node, which is not installed\. Install it with: pnpm add @tensorflow\/tfjs-node@4\.22\.0/,
    );
    await expect(selectBackend('gpu' as never)).rejects.toThrow(
      /Unknown backend "gpu"\. Expected one of auto, wasm, cpu/,
    );
  });

  it('cpu is always available, with the fused SGD update and BatchNorm registered', async () => {
    const choice = await selectBackend('cpu', withoutNode);
    expect(choice.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(tf.getKernel(IgmSgdMomentumUpdate, 'cpu')).toBeDefined();
    expect(tf.getKernel(IgmBatchNormTraining, 'cpu')).toBeDefined();
    expect(tf.getKernel(IgmBatchNormTrainingGrad, 'cpu')).toBeDefined();
  });
});
