import { synthetic } from '@igm/datasets';
import { mlpEncoder } from '@igm/models';
import { describeEachBackend, tf } from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import { expect, it } from 'vitest';
import { createMethod, getMethod, type MethodEnvironment, methods, preset, presets } from '../src';

function env(modalities: 2 | 3, seed = 0): MethodEnvironment {
  const dataset = synthetic({
    modalities,
    classes: 3,
    samples: { train: 48, validation: 24, test: 24 },
    signal: modalities === 2 ? { audio: 0.9, visual: 0.4 } : { audio: 0.9, visual: 0.4, text: 0.6 },
    seed,
  });
  const names = dataset.modalities.map((m) => m.name);
  return {
    dataset,
    numClasses: 3,
    batchSize: 16,
    seed,
    encoders: () =>
      Object.fromEntries(
        names.map((m, i) => [
          m,
          mlpEncoder({ inputDim: 16, units: [8], seed: seed + i, name: `enc_${m}` }),
        ]),
      ),
  };
}

const small = (name: string): Record<string, unknown> =>
  preset(
    'synthetic',
    name,
    name === 'reconboost'
      ? { stages: 2, epochsPerStage: 1, correctEpochs: 1, hidden: 8 }
      : name.startsWith('igm')
        ? { epochList: [1, 1], headHidden: [{ units: 8, activation: 'relu' }] }
        : { epochs: 1 },
  );

describeEachBackend('methods registry', () => {
  for (const name of Object.keys(methods)) {
    it(`${name}: trains a short run from its synthetic preset and logs its decisions`, async () => {
      const e = env(2);
      const run = createMethod(name, small(name), e);
      const before = tf.memory().numTensors;
      const summary = await runTraining({
        ...run.trainOptions(),
        dataset: e.dataset,
        batchSize: 16,
        progress: 'none',
      });
      expect(summary.status).toBe('completed');
      const logs = summary.history[0]!.logs;
      const expected: Record<string, string> = {
        'ogm-ge': 'ogm/coef/audio',
        ogm: 'ogm/ratio',
        pmr: 'pmr/weak/visual',
        agm: 'agm/scale/visual',
        mla: 'mla/fusion/visual',
        mmpareto: 'mmpareto/weight/audio',
        reconboost: 'reconboost/stage',
        'ogr-gb': 'ogr-gb/weight/fused',
        mses: 'mses/active/audio',
        mslr: 'mslr/audio/lr',
      };
      if (expected[name]) expect(Object.keys(logs)).toContain(expected[name]);
      expect(summary.final?.test?.outputs['fused']?.accuracy).toBeGreaterThanOrEqual(0);
      run.dispose();
      expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
    });
  }

  it('three modalities: every method but AGM runs; AGM says why not', async () => {
    for (const name of Object.keys(methods)) {
      const e = env(3);
      if (!getMethod(name).modalities || getMethod(name).modalities.max < 3) {
        expect(() => createMethod(name, small(name), e)).toThrow(
          /three-modality form is not specified/,
        );
        continue;
      }
      const run = createMethod(name, small(name), e);
      const summary = await runTraining({
        ...run.trainOptions(),
        dataset: e.dataset,
        batchSize: 16,
        progress: 'none',
      });
      expect(summary.status).toBe('completed');
      run.dispose();
    }
  });

  it('unknown methods and options are clear errors listing the valid ones', () => {
    const e = env(2);
    expect(() => createMethod('ogmge', {}, e)).toThrow(
      /Unknown method "ogmge". Valid methods: "joint", "unimodal", .*"ogm-ge"/,
    );
    expect(() => createMethod('ogm-ge', { alfa: 1 }, e)).toThrow(/alfa/);
    expect(() => createMethod('ogm-ge', { alfa: 1 }, e)).toThrow(/alpha/);
    expect(() => createMethod('mla', { projection: 'owm' }, e)).toThrow(/"paper", "code", "off"/);
    expect(() => createMethod('pmr', { alpha: -1 }, e)).toThrow(/alpha=-1/);
    expect(() => preset('cifar', 'joint')).toThrow(/cremad/);
  });

  it('every preset entry of a registered method validates', () => {
    const e = env(2);
    for (const [dataset, file] of Object.entries(presets)) {
      for (const name of Object.keys(file.methods)) {
        if (!Object.hasOwn(methods, name)) continue;
        const run = createMethod(name, preset(dataset, name), e);
        expect(run.method).toBe(name);
        run.dispose();
      }
    }
  });
});
