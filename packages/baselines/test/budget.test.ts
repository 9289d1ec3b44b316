import { synthetic } from '@igm/datasets';
import { mlpEncoder } from '@igm/models';
import { tf } from '@igm/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createMethod,
  type MethodInfo,
  methodBudget,
  methods,
  minModalityEpochs,
  planBudget,
  preset,
  presets,
  registerMethod,
  scaleBudget,
} from '../src';

const AV = ['audio', 'visual'];

describe('epoch budgets', () => {
  it('every registered method has a budget hook', () => {
    for (const [name, info] of Object.entries(methods)) {
      expect(info.budget, name).toBeDefined();
      expect(() => methodBudget(name)).not.toThrow();
    }
  });

  it('a method registered without a hook is an error that says how to add one', () => {
    const info: MethodInfo = {
      ...methods['joint']!,
      name: 'no-budget-test',
      budget: undefined,
    };
    registerMethod(info);
    try {
      expect(() => planBudget('no-budget-test', {}, AV)).toThrow(
        /has no epoch budget \(MethodInfo\.budget\).*singleRunBudget/,
      );
    } finally {
      delete methods['no-budget-test'];
    }
  });

  it('every preset: stage-wise methods give each modality >= the joint-training epochs, IGM keeps [short, long = 2 short]', () => {
    for (const [file, p] of Object.entries(presets)) {
      const joint = planBudget('joint', preset(file, 'joint'), AV);
      for (const name of Object.keys(p.methods)) {
        const plan = planBudget(name, preset(file, name), AV);
        if (methodBudget(name).kind === 'stage-wise') {
          expect(minModalityEpochs(plan), `${file} ${name}`).toBeGreaterThanOrEqual(joint.epochs);
        }
        if (name.startsWith('igm')) {
          const list = preset(file, name)['epochList'] as number[];
          for (let s = 0; s < list.length; s += 2) {
            expect(list[s + 1], `${file} ${name} round ${s / 2}`).toBe(2 * list[s]!);
          }
        }
      }
    }
  });

  it('the CREMA-D preset is the reference: IGM [25, 50] x 6 = 150 / 300 epochs per modality', () => {
    const plan = planBudget('igm', preset('cremad', 'igm'), AV);
    expect(plan.epochs).toBe(450);
    expect(plan.perModality).toEqual({ audio: 150, visual: 300 });
    expect(plan.stages!.slice(0, 3)).toEqual([
      { modality: 'audio', epochs: 25, trains: ['audio'] },
      { modality: 'visual', epochs: 50, trains: ['visual'] },
      { modality: 'audio', epochs: 25, trains: ['audio'] },
    ]);
    expect(planBudget('joint', preset('cremad', 'joint'), AV)).toEqual({
      epochs: 100,
      perModality: { audio: 100, visual: 100 },
    });
  });

  it('the av-mnist-imbalanced preset is the av-mnist one scaled to its converged budget (60)', () => {
    const imbalanced = presets['av-mnist-imbalanced']!;
    const avMnist = presets['av-mnist']!;
    // A method added to av-mnist.json needs its entry here too: the av-mnist options passed
    // through scaleBudget(name, options, 60, ['audio', 'visual']), source + "; budget scaled ...".
    expect(
      Object.keys(imbalanced.methods),
      'presets/av-mnist-imbalanced.json lists the methods of presets/av-mnist.json, in order',
    ).toEqual(Object.keys(avMnist.methods));
    expect(imbalanced.batchSize).toBe(avMnist.batchSize);
    for (const [name, entry] of Object.entries(imbalanced.methods)) {
      expect(entry.options, name).toEqual(scaleBudget(name, preset('av-mnist', name), 60, AV));
      expect(entry.source, name).toContain(avMnist.methods[name]!.source);
      expect(entry.source, name).toMatch(/budget scaled to 60 epochs per modality/);
    }
  });

  it('scale(N): every method and budget gives each modality >= N; single-run methods exactly N', () => {
    for (const file of Object.keys(presets)) {
      for (const name of Object.keys(presets[file]!.methods)) {
        for (const n of [1, 2, 3, 7, 20, 100, 250]) {
          const plan = planBudget(name, scaleBudget(name, preset(file, name), n, AV), AV);
          expect(minModalityEpochs(plan), `${file} ${name} N=${n}`).toBeGreaterThanOrEqual(n);
          if (methodBudget(name).kind === 'single-run') {
            expect(plan.perModality, `${file} ${name} N=${n}`).toEqual({ audio: n, visual: n });
          }
        }
      }
    }
  });

  it('IGM scales the round, keeps the rounds (fewer only below them), never cuts the pattern', () => {
    const list = (n: number, file = 'cremad') =>
      scaleBudget('igm', preset(file, 'igm'), n, AV)['epochList'];
    expect(list(100)).toEqual(Array.from({ length: 6 }, () => [17, 34]).flat());
    expect(list(20)).toEqual(Array.from({ length: 6 }, () => [4, 8]).flat());
    expect(list(1)).toEqual([1, 2]);
    expect(list(4)).toEqual([1, 2, 1, 2, 1, 2, 1, 2]);
    expect(list(10, 'synthetic')).toEqual([5, 10, 5, 10]);
    // A round of other shape keeps its shape (Sarcasm's [2, 30]).
    expect(scaleBudget('igm', { epochList: [2, 30, 2, 30] }, 10, AV)['epochList']).toEqual([
      5, 75, 5, 75,
    ]);
    // Three modalities (NVGesture's [50] x 6 is two rounds of three equal stages).
    expect(
      scaleBudget('igm', { epochList: [50, 50, 50, 50, 50, 50] }, 20, ['a', 'b', 'c'])['epochList'],
    ).toEqual([10, 10, 10, 10, 10, 10]);
    // Not one repeated round: every stage x budget / smallest per-modality total, rounded up.
    expect(scaleBudget('igm', { epochList: [25, 50, 30, 50] }, 10, AV)['epochList']).toEqual([
      5, 10, 6, 10,
    ]);
    const three = ['audio', 'visual', 'text'];
    const o3 = scaleBudget('igm', preset('synthetic', 'igm'), 10, three);
    expect(o3['epochList']).toEqual([10, 20, 10, 20]);
    expect(planBudget('igm', o3, three).perModality).toEqual({ audio: 30, visual: 20, text: 10 });
    expect(() => scaleBudget('igm', { epochList: [25, 50] }, 10, three)).toThrow(
      /epochList \[25,50\] has no stage for text/,
    );
    // Other options are untouched.
    const o = scaleBudget('igm', preset('cremad', 'igm'), 20, AV);
    expect(o['tau']).toBe(0.4);
    expect(o['lrStepSize']).toBe(40);
  });

  it('ReconBoost keeps boosting : correction and the rounds; corrections count for every modality', () => {
    const scaled = (n: number) => scaleBudget('reconboost', preset('cremad', 'reconboost'), n, AV);
    expect(planBudget('reconboost', preset('cremad', 'reconboost'), AV).perModality).toEqual({
      audio: 15 * 4 + 30 * 4,
      visual: 15 * 4 + 30 * 4,
    });
    expect(scaled(100)).toMatchObject({ stages: 30, epochsPerStage: 3, correctEpochs: 3 });
    expect(planBudget('reconboost', scaled(100), AV).perModality).toEqual({
      audio: 135,
      visual: 135,
    });
    expect(scaled(20)).toMatchObject({ stages: 14, epochsPerStage: 1, correctEpochs: 1 });
    expect(scaled(1)).toMatchObject({ stages: 2, epochsPerStage: 1, correctEpochs: 1 });
    const plan = planBudget('reconboost', { stages: 2, epochsPerStage: 1, correctEpochs: 1 }, AV);
    expect(plan.stages).toEqual([
      { modality: 'audio', epochs: 1, trains: ['audio'] },
      { modality: 'ensemble', epochs: 1, trains: AV },
      { modality: 'visual', epochs: 1, trains: ['visual'] },
      { modality: 'ensemble', epochs: 1, trains: AV },
    ]);
  });

  it('epoch windows cover the same fraction of the run after scaling', () => {
    expect(scaleBudget('ogm-ge', preset('cremad', 'ogm-ge'), 20, AV)['window']).toEqual({
      start: 0,
      end: 9,
    });
    expect(scaleBudget('ogm-ge', preset('kinetics-sounds', 'ogm-ge'), 10, AV)['window']).toEqual({
      start: 1,
      end: 7,
    });
    expect(scaleBudget('pmr', preset('cremad', 'pmr'), 200, AV)['window']).toEqual({
      start: 0,
      end: 141,
    });
    expect(scaleBudget('mmpareto', preset('cremad', 'mmpareto'), 10, AV)['epochs']).toBe(10);
    expect(planBudget('mmpareto', {}, AV).epochs).toBe(50);
  });
});

describe('budget plans match the runs the methods build', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  const dataset = synthetic({ classes: 3, samples: { train: 16, validation: 8, test: 8 } });
  const env = {
    dataset,
    numClasses: 3,
    batchSize: 8,
    encoders: () => ({
      audio: mlpEncoder({ inputDim: 16, units: [4], seed: 1, name: 'enc_audio' }),
      visual: mlpEncoder({ inputDim: 16, units: [4], seed: 2, name: 'enc_visual' }),
    }),
  };
  for (const name of Object.keys(methods)) {
    it(`${name}: plan(options) = the trainer's epochs / stages`, () => {
      for (const n of [undefined, 3]) {
        const base = preset('synthetic', name);
        const options = n === undefined ? base : scaleBudget(name, base, n, AV);
        const plan = planBudget(name, options, AV);
        const run = createMethod(name, options, env);
        const t = run.trainOptions();
        if (t.stages) {
          expect(plan.stages!.map((s) => ({ name: s.modality, epochs: s.epochs }))).toEqual(
            t.stages.map((s) => ({ name: s.name, epochs: s.epochs })),
          );
          expect(plan.epochs).toBe(t.stages.reduce((a, s) => a + s.epochs, 0));
        } else {
          expect(plan.stages).toBeUndefined();
          expect(plan.epochs).toBe(t.epochs);
        }
        run.dispose();
      }
    });
  }
});
