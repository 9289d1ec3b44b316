import { IgmBatchNormTraining, IgmBatchNormTrainingGrad, IgmSgdMomentumUpdate } from '@igm/core';
import { StreamingDataset } from '@igm/datasets';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type BackendChoice,
  BackendUnavailableError,
  describeBackendChoice,
  gathersBatchesFast,
  placeDatasetSamples,
  selectBackend,
} from '../src/backend';
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

describe('placeDatasetSamples', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  const aChoice = (backend: string, kernels?: string[]): BackendChoice => ({
    backend,
    label: backend,
    reasons: [],
    ...(kernels ? { kernels } : {}),
  });

  it('gathers batches on the backend only where GatherV2 is fast: wasm with @igm/wasm-training', async () => {
    const choice = await selectBackend('wasm', withoutNode);
    expect(gathersBatchesFast(choice)).toBe(true);
    expect(choice.kernels).toContain('GatherV2');
    expect(gathersBatchesFast(aChoice('wasm'))).toBe(false);
    expect(gathersBatchesFast(aChoice('wasm', ['BatchMatMul']))).toBe(false);
    expect(gathersBatchesFast(aChoice('cpu'))).toBe(false);
    expect(gathersBatchesFast(aChoice('tensorflow'))).toBe(false);
  });

  it('turns the in-memory samples of a StreamingDataset on or off, and leaves others alone', () => {
    const inMemory = {
      name: 'rows',
      modalities: [{ name: 'v', kind: 'vector' as const, shape: [2] }],
      classNames: ['a', 'b'],
      ids: (split: string) => (split === 'train' ? ['r0', 'r1'] : undefined),
      labels: () => Int32Array.from([0, 1]),
      readBatch: async (_: unknown, indices: readonly number[]) => ({
        v: Float32Array.from(indices.flatMap((i) => [i, -i])),
      }),
      inMemorySamples: () => ({
        rows: 2,
        values: { v: Float32Array.from([0, -0, 1, -1]) },
        rowsOf: () => Int32Array.from([0, 1]),
      }),
    };
    const ds = new StreamingDataset(inMemory);
    const fast = aChoice('wasm', ['GatherV2']);
    expect(placeDatasetSamples(ds, fast)).toBe(true);
    expect(placeDatasetSamples(ds, aChoice('cpu'))).toBe(false);
    expect(
      placeDatasetSamples(new StreamingDataset({ ...inMemory, inMemorySamples: undefined }), fast),
    ).toBe(false);
    const other = { name: 'x', modalities: [], classNames: [], splitSizes: {}, batches: () => [] };
    expect(placeDatasetSamples(other as never, fast)).toBe(false);
  });
});
