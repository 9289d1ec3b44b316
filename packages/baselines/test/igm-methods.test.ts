import { sgd } from '@igm/core';
import { synthetic } from '@igm/datasets';
import { igm } from '@igm/igm';
import { mlpEncoder } from '@igm/models';
import { describeEachBackend } from '@igm/test-utils';
import { jointStep } from '@igm/trainer';
import { expect, it } from 'vitest';
import { createMethod, type IgmFactory, methods, preset, registerIgmMethods } from '../src';

describeEachBackend('igm registry entries', () => {
  it('registers igm and igm-no-sam, passing sam and the options to the igm() composition', () => {
    const calls: Array<Record<string, unknown>> = [];
    // A stand-in for @igm/igm's igm(): records its options (the real one is tested in @igm/igm).
    const factory: IgmFactory = (options) => {
      calls.push(options);
      return {
        compose: (model) => ({
          order: model.modalities,
          step: jointStep(),
          transform: sgd({ learningRate: 0.01 }),
          beforeStage: async () => {},
          config: { method: options['sam'] ? 'igm' : 'igm-without-sam' },
        }),
      };
    };
    registerIgmMethods(factory);
    expect(Object.keys(methods)).toEqual(expect.arrayContaining(['igm', 'igm-no-sam']));
    const dataset = synthetic({ classes: 3, samples: { train: 32, validation: 8, test: 8 } });
    const env = {
      dataset,
      numClasses: 3,
      batchSize: 8,
      encoders: () => ({
        audio: mlpEncoder({ inputDim: 16, units: [8] }),
        visual: mlpEncoder({ inputDim: 16, units: [8] }),
      }),
    };
    const run = createMethod('igm', preset('synthetic', 'igm'), env);
    expect(calls[0]!['sam']).toBe(true);
    expect(calls[0]!['tau']).toBe(0.4);
    expect(run.stages!.map((s) => s.name)).toEqual(['audio', 'visual', 'audio', 'visual']);
    expect(run.fusionRule).toBe('mean softmax');
    run.dispose();
    const noSam = createMethod('igm-no-sam', { epochList: [1, 1] }, env);
    expect(calls[1]!['sam']).toBe(false);
    noSam.dispose();
    expect(() => createMethod('igm-no-sam', { epochList: [1], rho: 0.05 }, env)).toThrow(/rho/);
    expect(() => createMethod('igm', {}, env)).toThrow(/epochList is required/);
    registerIgmMethods(igm as unknown as IgmFactory);
  });
});
