import { synthetic } from '@igm/datasets';
import { MultimodalModel, mlpEncoder, smallCnn } from '@igm/models';
import { describeEachBackend, tf } from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import { expect, it, vi } from 'vitest';
import { createMethod, getMethod, type MethodEnvironment, methods, preset, presets } from '../src';

/** The encoders of the conv-net presets (AV-MNIST, CREMA-D, Kinetics-Sounds): small CNNs. */
function convEnv(): MethodEnvironment {
  const e = env(2);
  return {
    ...e,
    encoders: () =>
      Object.fromEntries(
        ['audio', 'visual'].map((m, i) => [
          m,
          smallCnn({ inChannels: 1, inputShape: [8, 8], filters: [4], seed: i, name: `cnn_${m}` }),
        ]),
      ),
  };
}

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
        : name === 'smv'
          ? { epochs: 2, warmup: 1 } // the second epoch is re-sampled
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
        domfn: 'domfn/gated-out',
        smv: 'smv/copies/visual',
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

  it('three modalities: every method that allows them runs; the others say why not', async () => {
    for (const name of Object.keys(methods)) {
      const e = env(3);
      if (!getMethod(name).modalities || getMethod(name).modalities.max < 3) {
        expect(() => createMethod(name, small(name), e)).toThrow(/supports/);
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

  it('a parameter selection that matches nothing fails at createMethod, disposing the model', () => {
    const e = env(2);
    // A disposed model leaves what constructing one leaves (MultimodalModel construction keeps
    // 2 tensors today); a failed createMethod must leave no more than that.
    let before = tf.memory().numTensors;
    createMethod('ogm-ge', { alpha: 0.8, tensors: 'encoder' }, e).dispose();
    const residue = tf.memory().numTensors - before;
    before = tf.memory().numTensors;
    // OGM-GE's default tensors: 'conv' on MLP encoders would modulate nothing (issue: a logged
    // coefficient while 0 of 6 gradient tensors changed).
    for (const name of ['ogm-ge', 'ogm']) {
      expect(() => createMethod(name, { alpha: 0.8 }, e)).toThrow(
        new RegExp(
          `methods\\["${name}"\\]: tensors: 'conv' \\(the rank-4 conv kernels of group encoder/audio\\) selects no parameter, so the method would change nothing\\. The model's parameter groups: encoder/audio: 2 tensors, ranks 2 x1, 1 x1 .*head/shared|fusion.*tensors: 'encoder'`,
        ),
      );
    }
    expect(tf.memory().numTensors).toBe(before + 2 * residue);
    // MLA projects the shared head's kernel; a model whose head layers differ per modality (or
    // are missing) leaves OWM nothing to act on.
    const spy = vi.spyOn(MultimodalModel.prototype, 'headLayers').mockReturnValue([]);
    before = tf.memory().numTensors;
    try {
      expect(() => createMethod('mla', {}, e)).toThrow(
        /methods\["mla"\]: projection \(the OWM projection of the shared head's kernel.*got audio: none, visual: none\) selects no parameter.*groups: encoder\/audio.*head\/shared.*projection: 'off'/,
      );
      expect(tf.memory().numTensors).toBe(before + residue);
      createMethod('mla', { projection: 'off' }, e).dispose();
    } finally {
      spy.mockRestore();
    }
  });

  it('MMPareto needs trainable encoder groups: identity encoders are an error naming the groups', () => {
    const e = env(2);
    const identity: MethodEnvironment = {
      ...e,
      encoders: () =>
        Object.fromEntries(
          ['audio', 'visual'].map((m) => [m, mlpEncoder({ inputDim: 16, name: `id_${m}` })]),
        ),
    };
    const run = createMethod('mmpareto', small('mmpareto'), identity);
    expect(() => run.step.validate!(run.model)).toThrow(
      /mmParetoStep: the encoder of modality audio \(group encoder\/audio\) selects no parameter.*groups: fusion: .*head\/audio: .*mlpEncoder with no units/,
    );
    run.dispose();
  });

  it('every preset entry of a registered method validates', () => {
    for (const [dataset, file] of Object.entries(presets)) {
      const e = dataset === 'synthetic' ? env(2) : convEnv();
      for (const name of Object.keys(file.methods)) {
        if (!Object.hasOwn(methods, name)) continue;
        const run = createMethod(name, preset(dataset, name), e);
        expect(run.method).toBe(name);
        run.dispose();
      }
    }
  });
});
