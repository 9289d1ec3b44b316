/**
 * Constructing a baseline's model wrapper (or its variable-holding callback) and disposing it
 * leaves no tensor behind: numTensors returns exactly to the count taken before the encoders were
 * built (the wrappers own their inner model, the callbacks only their own variables).
 */
import type { MultimodalModelLike } from '@igm/core';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import { describeEachBackend, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  MsesController,
  MultitaskModel,
  PmrPrototypes,
  ReconBoostModel,
  withAuxiliaryHeads,
} from '../src';
import { fixedDataset } from './small-setup';

function inner(head: 'concat' | 'per-modality'): MultimodalModel {
  return new MultimodalModel({
    encoders: {
      audio: mlpEncoder({ inputDim: 4, units: [3], name: 'a' }),
      visual: mlpEncoder({ inputDim: 5, units: [3], name: 'v' }),
    },
    numClasses: 3,
    head: head === 'concat' ? { type: 'concat' } : { type: 'per-modality', hidden: [] },
  });
}

const split = (n: number) => ({
  inputs: {
    audio: Array.from({ length: n }, (_, i) => [i, 0, 1, 2]),
    visual: Array.from({ length: n }, (_, i) => [0, i, 1, 2, 3]),
  },
  labels: Array.from({ length: n }, (_, i) => i % 3),
});
const dataset = fixedDataset({ train: split(6), validation: split(3) }, 3);

describeEachBackend('construct + dispose releases every tensor', () => {
  const WRAPPERS: Array<{ name: string; build: () => MultimodalModelLike }> = [
    { name: 'withAuxiliaryHeads (MMPareto)', build: () => withAuxiliaryHeads(inner('concat')) },
    {
      name: 'ReconBoostModel',
      build: () => new ReconBoostModel(inner('per-modality'), { hidden: 4, beta: 0.5 }),
    },
    {
      name: 'MultitaskModel (OGR-GB, MSES)',
      build: () => new MultitaskModel(inner('per-modality')),
    },
  ];

  it.each(WRAPPERS)('$name: numTensors returns to the baseline', ({ build }) => {
    const baseline = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const model = build();
      model.dispose();
      expect(tf.memory().numTensors, `after model ${i + 1}`).toBe(baseline);
    }
  });

  it('PmrPrototypes and MsesController release their variables', () => {
    const baseline = tf.memory().numTensors;
    const model = new MultitaskModel(inner('per-modality'));
    const withModel = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      const prototypes = new PmrPrototypes({ model, dataset, batchSize: 2 });
      prototypes.dispose();
      const mses = new MsesController({ model, dataset, batchSize: 2 });
      mses.dispose();
      expect(tf.memory().numTensors, `after round ${i + 1}`).toBe(withModel);
    }
    model.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
  });
});
