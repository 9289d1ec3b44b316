/**
 * The resolved options every method records in its run config, for every method x preset (as
 * given, and scaled to 3 and 20 epochs by the budget rules), every method's defaults, and
 * options that reach the other branches of the resolution, compared with a fixture captured
 * before the method options moved to one schema per method. It also lists option sets that
 * must be rejected. A change to what runs record is then a visible change to this fixture.
 *
 * Regenerate only when such a change is intended:
 *   IGM_UPDATE_RESOLVED_CONFIGS=1 IGM_TEST_BACKENDS=cpu pnpm exec vitest run test/resolved-configs.test.ts
 */
import { writeFileSync } from 'node:fs';
import { synthetic } from '@igm/datasets';
import { mlpEncoder, smallCnn } from '@igm/models';
import { loadFixture, tf } from '@igm/test-utils';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createMethod,
  getMethod,
  type MethodEnvironment,
  planBudget,
  preset,
  scaleBudget,
} from '../src';

const FIXTURE = new URL('./fixtures/resolved-configs.json', import.meta.url);

function environment(modalities: 2 | 3, conv: boolean): MethodEnvironment {
  const dataset = synthetic({
    modalities,
    classes: 3,
    samples: { train: 16, validation: 8, test: 8 },
    seed: 0,
  });
  const names = dataset.modalities.map((m) => m.name);
  return {
    dataset,
    numClasses: 3,
    batchSize: 8,
    seed: 0,
    encoders: () =>
      Object.fromEntries(
        names.map((m, i) => [
          m,
          conv
            ? smallCnn({ inChannels: 1, inputShape: [8, 8], filters: [4], seed: i, name: `c_${m}` })
            : mlpEncoder({ inputDim: 16, units: [4], seed: i, name: `e_${m}` }),
        ]),
      ),
  };
}

interface Case {
  readonly id: string;
  readonly method: string;
  readonly options: Record<string, unknown>;
  readonly modalities?: 2 | 3;
  readonly conv?: boolean;
}

/** JSON with Infinity kept as a string, so that windows "until the end" compare. */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_k, v) =>
      v === Infinity ? 'Infinity' : v === -Infinity ? '-Infinity' : v,
    ),
  );
}

/** The preset files and methods of the capture (later ones are not in the fixture). */
const CAPTURED_PRESETS = ['cremad', 'kinetics-sounds', 'av-mnist', 'synthetic'];
const CAPTURED_METHODS = [
  'joint',
  'unimodal',
  'ogr-gb',
  'ogm-ge',
  'ogm',
  'mses',
  'pmr',
  'agm',
  'domfn',
  'mslr',
  'mla',
  'mmpareto',
  'reconboost',
  'smv',
  'igm',
  'igm-no-sam',
];

function cases(): Case[] {
  const out: Case[] = [];
  for (const file of CAPTURED_PRESETS) {
    const conv = file !== 'synthetic';
    for (const method of CAPTURED_METHODS) {
      const base = preset(file, method);
      out.push({ id: `${file}/${method}`, method, options: base, conv });
      for (const n of [3, 20]) {
        out.push({
          id: `${file}/${method}/budget-${n}`,
          method,
          options: scaleBudget(method, base, n, ['audio', 'visual']),
          conv,
        });
      }
    }
  }
  for (const method of CAPTURED_METHODS) {
    const options = method.startsWith('igm') ? { epochList: [1, 2] } : {};
    out.push({ id: `${method}/defaults`, method, options });
    if (getMethod(method).modalities.max >= 3) {
      out.push({ id: `${method}/defaults/3`, method, options, modalities: 3 });
    }
  }
  const more: Array<[string, string, Record<string, unknown>, (2 | 3)?]> = [
    ['joint/sum', 'joint', { fusion: 'sum', optimizer: 'adam', beta2: 0.99, lrStepSize: 5 }],
    ['joint/nulls', 'joint', { epochs: null, lrStepSize: null, fusion: null }],
    ['unimodal/poe', 'unimodal', { fusion: 'sum-log-softmax' }],
    ['ogm-ge/adam', 'ogm-ge', { optimizer: 'adam', tensors: 'encoder', window: { end: 3 } }],
    ['ogm/noise', 'ogm', { noise: true, tensors: 'encoder', fusion: 'sum', alpha: 0 }],
    ['pmr/sum', 'pmr', { fusion: 'sum', protoMomentum: 0.5, fraction: 1, window: { start: 2 } }],
    ['agm/window', 'agm', { window: { start: 1, end: 5 }, clip: { threshold: 5 }, cap: -1 }],
    ['agm/open-window', 'agm', { window: { start: 3 }, clip: { maxNorm: 2, threshold: 0 } }],
    ['domfn/sigmoid', 'domfn', { probabilities: 'sigmoid', pretrainEpochs: 3, hidden: 0 }],
    ['smv/modality', 'smv', { variant: 'modality', alpha: 2, partRatio: 0.5, epochs: 4 }],
    ['smv/sgd', 'smv', { optimizer: 'sgd', valuationView: 'deterministic', lrStepSize: null }],
    ['mla/fixed', 'mla', { fusionWeights: 'fixed', normalize: false, projection: 'code' }],
    ['mla/fixed/3', 'mla', { fusionWeights: 'fixed', entropyAxis: 'batch' }, 3],
    ['mla/weights', 'mla', { fusionWeights: 'fixed', fixedWeights: [0.2, 0.8] }],
    ['mla/off', 'mla', { projection: 'off', entropyAxis: 'batch' }],
    ['mmpareto/gamma', 'mmpareto', { gamma: 0, epochs: 3 }],
    ['reconboost/no-correction', 'reconboost', { correctEpochs: 0, stages: 3, w1: 0 }],
    ['ogr-gb/bb', 'ogr-gb', { variant: 'balance-benchmark', superEpoch: 2, maxWeight: 3 }],
    ['mses/accuracy', 'mses', { monitor: 'accuracy', restoreBest: false, globalStop: false }],
    ['mslr/keep', 'mslr', { strategy: 'keep', unimodalEpochs: 0, unimodalLearningRates: [0.1] }],
    [
      'mslr/per-modality',
      'mslr',
      { unimodalLearningRates: { audio: [0.1, 0.2], visual: [0.3] }, history: 2 },
    ],
    ['mslr/default-grid', 'mslr', { learningRate: 0.05, epochs: 7 }],
    [
      'igm/official',
      'igm',
      {
        epochList: [1, 1],
        variant: 'official',
        rho: 1e-15,
        flatRatio: 0.5,
        fusion: 'sum-log-softmax',
      },
    ],
    [
      'igm/paper-options',
      'igm',
      {
        epochList: [2, 1],
        order: ['visual', 'audio'],
        mixup: { alpha: 0.4 },
        tau: 0,
        lrStepSize: null,
        headHidden: [{ units: 8, activation: 'relu' }],
      },
    ],
    ['igm-no-sam/official', 'igm-no-sam', { epochList: [1, 1], variant: 'official' }],
    ['igm/3', 'igm', { epochList: [1, 1, 1] }, 3],
  ];
  for (const [id, method, options, modalities] of more) {
    out.push({ id, method, options, ...(modalities ? { modalities } : {}) });
  }
  return out;
}

/** Option sets every version must reject (the messages may be worded differently). */
const REJECTED: Array<[string, Record<string, unknown>]> = [
  ['joint', { epochs: 0 }],
  ['joint', { epochs: 1.5 }],
  ['joint', { learningRate: -1 }],
  ['joint', { momentum: 2 }],
  ['joint', { optimizer: 'rmsprop' }],
  ['joint', { beta2: 0 }],
  ['joint', { lrStepSize: 0 }],
  ['joint', { fusion: 'mean-softmax' }],
  ['joint', { learingRate: 0.1 }],
  ['unimodal', { fusion: 'concat' }],
  ['ogm-ge', { alpha: -1 }],
  ['ogm-ge', { window: { start: 5, end: 2 } }],
  ['ogm-ge', { window: 3 }],
  ['ogm-ge', { noise: 'yes' }],
  ['ogm-ge', { tensors: 'all' }],
  ['ogm', { alfa: 1 }],
  ['pmr', { protoMomentum: 2 }],
  ['pmr', { fraction: 0 }],
  ['pmr', { window: { start: -1 } }],
  ['agm', { window: { start: 3, end: 2 } }],
  ['agm', { window: { begin: 1 } }],
  ['agm', { clip: { max: 1 } }],
  ['agm', { clip: 3 }],
  ['agm', { cap: 'big' }],
  ['domfn', { pretrainEpochs: 100 }],
  ['domfn', { tau: 0 }],
  ['domfn', { probabilities: 'logits' }],
  ['domfn', { hidden: -1 }],
  ['smv', { warmup: 0 }],
  ['smv', { variant: 'global' }],
  ['smv', { partRatio: 0 }],
  ['smv', { valuationView: 'eval' }],
  ['mla', { projection: 'owm' }],
  ['mla', { normalize: 1 }],
  ['mla', { fusionWeights: 'mean' }],
  ['mla', { entropyAxis: 'class' }],
  ['mmpareto', { gamma: -1 }],
  ['reconboost', { stages: 0 }],
  ['reconboost', { epochsPerStage: 0 }],
  ['reconboost', { correctEpochs: -1 }],
  ['reconboost', { hidden: 0 }],
  ['reconboost', { w2: -1 }],
  ['ogr-gb', { variant: 'bb' }],
  ['ogr-gb', { variant: 'balance-benchmark', superEpoch: 1 }],
  ['ogr-gb', { superEpoch: 0 }],
  ['ogr-gb', { maxWeight: 0 }],
  ['mses', { patience: 0 }],
  ['mses', { monitor: 'f1' }],
  ['mses', { restoreBest: 'yes' }],
  ['mslr', { strategy: 'smooth' }],
  ['mslr', { strategy: 'fast' }],
  ['mslr', { unimodalLearningRates: [] }],
  ['mslr', { unimodalLearningRates: [0.1, -1] }],
  ['mslr', { unimodalLearningRates: { audio: [0.1], video: [0.1] } }],
  ['mslr', { history: 0 }],
  ['igm', {}],
  ['igm', { epochList: [] }],
  ['igm', { epochList: [0] }],
  ['igm', { epochList: [1], tau: -1 }],
  ['igm', { epochList: [1], variant: 'offical' }],
  ['igm', { epochList: [1], mixup: { alpha: 0 } }],
  ['igm', { epochList: [1], flatRatio: 2 }],
  ['igm', { epochList: [1], sam: false }],
  ['igm', { epochList: [1], fusion: 'concat' }],
  ['igm-no-sam', { epochList: [1], rho: 0.05 }],
  ['igm-no-sam', { epochList: [1], flatRatio: 0.3 }],
];

function record(c: Case): unknown {
  const mods = c.modalities === 3 ? ['audio', 'visual', 'text'] : ['audio', 'visual'];
  const run = createMethod(c.method, c.options, environment(c.modalities ?? 2, c.conv ?? true));
  try {
    const t = run.trainOptions();
    return plain({
      options: c.options,
      config: run.config,
      trainConfig: t.config,
      fusionRule: run.fusionRule,
      unimodalProtocol: run.unimodalProtocol,
      epochs: t.epochs,
      stages: t.stages?.map((s) => ({ name: s.name, epochs: s.epochs })),
      plan: planBudget(c.method, c.options, mods),
    });
  } finally {
    run.dispose();
  }
}

function rejectionOf(method: string, options: Record<string, unknown>): string | null {
  try {
    createMethod(method, options, environment(2, true)).dispose();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

describe('resolved method options (run configs) are those captured before the schemas', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  if (process.env['IGM_UPDATE_RESOLVED_CONFIGS']) {
    it('writes the fixture', () => {
      const resolved = Object.fromEntries(cases().map((c) => [c.id, record(c)]));
      const rejected = REJECTED.map(([method, options]) => ({
        method,
        options,
        error: rejectionOf(method, options),
      }));
      // One line per case, so that a change shows as the lines of the cases it touches.
      const lines = (entries: string[]) => entries.map((e) => `  ${e}`).join(',\n');
      const text = [
        '{',
        '"resolved": {',
        lines(
          Object.entries(resolved).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`),
        ),
        '},',
        '"rejected": [',
        lines(rejected.map((r) => JSON.stringify(r))),
        ']',
        '}',
        '',
      ];
      writeFileSync(FIXTURE, text.join('\n'));
    });
    return;
  }

  const fixture = loadFixture<{
    resolved: Record<string, unknown>;
    rejected: Array<{ method: string; options: Record<string, unknown>; error: string | null }>;
  }>(FIXTURE);

  it('covers the same cases as the fixture', () => {
    expect(
      cases()
        .map((c) => c.id)
        .sort(),
    ).toEqual(Object.keys(fixture.resolved).sort());
  });

  for (const c of cases()) {
    it(`${c.id}: same options, run config, stages and budget plan`, () => {
      expect(record(c)).toEqual(fixture.resolved[c.id]);
    });
  }

  it('every option set rejected before is still rejected', () => {
    for (const r of fixture.rejected) {
      expect(r.error, `${r.method} ${JSON.stringify(r.options)} (fixture)`).not.toBeNull();
      expect(
        rejectionOf(r.method, r.options),
        `${r.method} ${JSON.stringify(r.options)}`,
      ).not.toBeNull();
    }
  });
});
