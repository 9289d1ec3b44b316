import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli';
import { type CompareConfig, resolveCompareConfig } from '../src/config';
import { type DryRun, describeStages, dryRun } from '../src/dry-run';
import { planRuns } from '../src/plan';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => out.push(String(c)) > 0) as never;
  process.stderr.write = ((c: string | Uint8Array) => err.push(String(c)) > 0) as never;
  try {
    const code = await main(['node', 'igm', ...args]);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

async function plan(args: string[]): Promise<DryRun> {
  const r = await run(['compare', ...args, '--dry-run', '--json']);
  expect(r.code, r.err).toBe(0);
  return JSON.parse(r.out) as DryRun;
}

const config = (extra: Record<string, unknown> = {}): CompareConfig =>
  resolveCompareConfig({
    dataset: 'synthetic',
    methods: ['joint', 'igm'],
    seeds: 2,
    preset: 'quick',
    backend: 'cpu',
    out: 'runs/x',
    ...extra,
  });

describe('igm compare --dry-run --json (no data, no backend)', () => {
  it('quick preset: IGM gives each modality >= the joint epochs, in the [short, long] pattern', async () => {
    const p = await plan(['--dataset', 'av-mnist', '--methods', 'joint,igm,reconboost']);
    expect(p.dataset).toBe('av-mnist');
    expect(p.modalities).toEqual(['audio', 'visual']);
    expect(p.budget).toBe(20);
    const [joint, igm, reconboost, reference] = p.runs;
    expect(joint).toMatchObject({ method: 'joint', seed: 0, epochs: 20 });
    expect(joint!.stages).toBeUndefined();
    expect(Object.keys(igm!).slice(0, 4)).toEqual(['method', 'seed', 'epochs', 'stages']);
    expect(igm!.stages!.map((s) => [s.modality, s.epochs])).toEqual(
      Array.from({ length: 6 }, () => [
        ['audio', 4],
        ['visual', 8],
      ]).flat(),
    );
    for (const r of [igm!, reconboost!]) {
      for (const m of p.modalities) {
        expect(r.perModality[m], `${r.method} ${m}`).toBeGreaterThanOrEqual(joint!.epochs);
      }
    }
    expect(reconboost!.stages!.slice(0, 2)).toEqual([
      { modality: 'audio', epochs: 1, trains: ['audio'] },
      { modality: 'ensemble', epochs: 1, trains: ['audio', 'visual'] },
    ]);
    // The probe's reference runs are added and labelled.
    expect(reference).toMatchObject({ method: 'unimodal', role: 'probe-reference', epochs: 20 });
    expect(p.runs).toHaveLength(4);
  });

  it('--epochs N scales every method, stage lists included (paper CREMA-D, N = 1)', async () => {
    const p = await plan([
      '--dataset',
      'crema-d',
      '--preset',
      'paper',
      '--epochs',
      '1',
      '--methods',
      'joint,igm',
      '--seeds',
      '2',
    ]);
    expect(p.budget).toBe(1);
    const igm = p.runs.filter((r) => r.method === 'igm');
    expect(igm.map((r) => r.seed)).toEqual([0, 1]);
    expect(igm[0]!.stages!.map((s) => [s.modality, s.epochs])).toEqual([
      ['audio', 1],
      ['visual', 2],
    ]);
    expect(p.runs.find((r) => r.method === 'joint')!.epochs).toBe(1);
  });

  it('the paper preset as published: IGM [25, 50] x 6 against 100 joint epochs', async () => {
    const p = await plan(['--dataset', 'crema-d', '--preset', 'paper', '--methods', 'joint,igm']);
    expect(p.budget).toBeNull();
    const igm = p.runs.find((r) => r.method === 'igm')!;
    expect(igm.epochs).toBe(450);
    expect(igm.perModality).toEqual({ audio: 150, visual: 300 });
    expect(describeStages(igm.stages!)).toBe('(audio 25, visual 50) x 6');
    expect(p.runs.find((r) => r.method === 'joint')!.epochs).toBe(100);
  });

  it('av-mnist-imbalanced: its own presets, 60 epochs (its converged budget) in both presets', async () => {
    const quick = await plan(['--dataset', 'av-mnist-imbalanced', '--methods', 'joint,ogm-ge']);
    expect(quick.dataset).toBe('av-mnist-imbalanced');
    expect(quick.modalities).toEqual(['audio', 'visual']);
    expect(quick.budget).toBe(60);
    expect(quick.runs.map((r) => [r.method, r.epochs])).toEqual([
      ['joint', 60],
      ['ogm-ge', 60],
      ['unimodal', 60],
    ]);
    const paper = await plan([
      '--dataset',
      'av-mnist-imbalanced',
      '--preset',
      'paper',
      '--methods',
      'joint,igm',
      '--no-probe',
    ]);
    expect(paper.budget).toBeNull();
    expect(paper.runs.find((r) => r.method === 'joint')!.epochs).toBe(60);
    expect(paper.runs.find((r) => r.method === 'igm')!.perModality.audio).toBeGreaterThanOrEqual(
      60,
    );
  });

  it('prints a table without --json, with the batch size of every run', async () => {
    const text = await run(['compare', '--dataset', 'synthetic', '--methods', 'igm', '--dry-run']);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/budget: every modality >= 10 epochs in every method/);
    expect(text.out).toMatch(/method\s+seed\s+batch\s+epochs\s+audio\s+visual\s+stages/);
    expect(text.out).toMatch(/igm\s+0\s+64\s+30\s+10\s+20\s+\(audio 5, visual 10\) x 2/);
    expect(text.out).toMatch(/unimodal \*/);
  });

  it("batch sizes: the paper preset's per method (IGM 12) or per file, 64 quick, --batch-size wins", async () => {
    const batches = (p: DryRun) => p.runs.map((r) => [r.method, r.batchSize]);
    const paper = ['--preset', 'paper', '--methods', 'joint,igm,igm-no-sam', '--no-probe'];
    for (const dataset of ['crema-d', 'kinetics-sounds', 'av-mnist', 'av-mnist-imbalanced']) {
      expect(batches(await plan(['--dataset', dataset, ...paper])), dataset).toEqual([
        ['joint', 64],
        ['igm', 12],
        ['igm-no-sam', 12],
      ]);
    }
    // synthetic.json trains every method at its file's 32.
    expect(batches(await plan(['--dataset', 'synthetic', ...paper]))).toEqual([
      ['joint', 32],
      ['igm', 32],
      ['igm-no-sam', 32],
    ]);
    expect(batches(await plan(['--dataset', 'crema-d', '--methods', 'joint,igm']))).toEqual([
      ['joint', 64],
      ['igm', 64],
      ['unimodal', 64],
    ]);
    expect(batches(await plan(['--dataset', 'crema-d', ...paper, '--batch-size', '16']))).toEqual([
      ['joint', 16],
      ['igm', 16],
      ['igm-no-sam', 16],
    ]);
    const text = await run(['compare', '--dataset', 'crema-d', ...paper, '--dry-run']);
    expect(text.out).toMatch(/igm\s+0\s+12\s+450\s+150\s+300/);
  });

  it('--no-probe adds no reference run; a listed unimodal run is the reference', async () => {
    const none = await plan(['--dataset', 'synthetic', '--methods', 'joint', '--no-probe']);
    expect(none.runs.map((r) => r.method)).toEqual(['joint']);
    const listed = await plan(['--dataset', 'synthetic', '--methods', 'unimodal,joint']);
    expect(listed.runs.map((r) => [r.method, r.role])).toEqual([
      ['unimodal', undefined],
      ['joint', undefined],
    ]);
  });
});

describe('variants (labelled methods with options)', () => {
  it('run a registered method under a label; the ablation grid of IGM', async () => {
    const runs = planRuns(
      config({
        methods: ['igm', 'igm-no-sam', 'igm-no-projection', 'igm-no-sam-no-projection'],
        seeds: 1,
        variants: {
          'igm-no-projection': { method: 'igm', options: { tau: 0 } },
          'igm-no-sam-no-projection': { method: 'igm-no-sam', options: { tau: 0 } },
        },
      }),
    );
    expect(runs.map((r) => [r.method, r.baseMethod, r.options['tau']])).toEqual([
      ['igm', 'igm', 0.4],
      ['igm-no-sam', 'igm-no-sam', 0.4],
      ['igm-no-projection', 'igm', 0],
      ['igm-no-sam-no-projection', 'igm-no-sam', 0],
      ['unimodal', 'unimodal', undefined],
    ]);
    // The budget applies to variants too.
    expect(runs[2]!.options['epochList']).toEqual(runs[0]!.options['epochList']);
  });

  it('are validated at plan time: label, method, option keys and values', () => {
    const v = (variants: unknown) => () => planRuns(config({ variants }));
    expect(v({ igm: { method: 'igm', options: { tau: 0 } } })).toThrow(
      /variants\["igm"\]: "igm" is a registered method/,
    );
    expect(v({ x: { method: 'igmm' } })).toThrow(
      /variants\["x"\]: method "igmm" is not registered/,
    );
    expect(v({ x: { method: 'igm', options: { tua: 0 } } })).toThrow(/tua/);
    // Values go through the method's schema (the preset supplies its required options).
    expect(v({ x: { method: 'igm', options: { tau: -1 } } })).toThrow(
      'variants["x"].options: received tau=-1. Expected a number >= 0.',
    );
    expect(v({ x: { method: 'igm', options: { fusion: 'max' } } })).toThrow(
      /^variants\["x"\]\.options: received fusion="max"\. Expected one of "mean-softmax", "sum-log-softmax"/,
    );
    expect(v({ x: { method: 'igm', options: { tau: 0 } } })).not.toThrow();
    expect(() => config({ variants: { 'bad label': { method: 'igm' } } })).toThrow(/variants/);
    expect(() => planRuns(config({ methods: ['nope'] }))).toThrow(/Unknown method "nope"/);
  });

  it('methodOptions: an unknown method (a typo) and bad values are errors, not ignored', () => {
    const m =
      (methodOptions: unknown, extra: Record<string, unknown> = {}) =>
      () =>
        planRuns(config({ methods: ['mla', 'joint'], methodOptions, ...extra }));
    expect(m({ mlaa: { alpha: 1 } })).toThrow(
      /^methodOptions\["mlaa"\]: "mlaa" is neither a registered method nor a variant label\. Valid methods: joint, .*mla/,
    );
    expect(m({ mla: { learningRate: -1 } })).toThrow(
      /^methodOptions\["mla"\]: received learningRate=-1\. Expected/,
    );
    // A registered method not in the list is allowed (a shared config file), a variant label too.
    expect(m({ igm: { tau: 0.2 } })).not.toThrow();
    expect(
      m(
        { poe: { tau: 0.2 } },
        { variants: { poe: { method: 'igm', options: { fusion: 'sum-log-softmax' } } } },
      ),
    ).not.toThrow();
    expect(m({ poe: { tau: -3 } }, { variants: { poe: { method: 'igm', options: {} } } })).toThrow(
      'methodOptions["poe"]: received tau=-3. Expected a number >= 0.',
    );
  });

  it('a method listed twice is an error naming it (it would train the same seeds again)', () => {
    expect(() => planRuns(config({ methods: ['mla', 'joint', 'mla'] }))).toThrow(
      '--methods lists "mla" more than once (mla,joint,mla); each method runs once per seed: list it once (--seeds sets the seeds).',
    );
  });

  it('Twitter-2015, Sarcasm and NVGesture are not offered; the error says where they are', () => {
    for (const [dataset, loader] of [
      ['twitter-2015', 'twitter2015()'],
      ['sarcasm', 'sarcasm()'],
      ['nvgesture', 'nvGesture()'],
    ] as const) {
      expect(() => planRuns(config({ dataset })), dataset).toThrow(
        new RegExp(
          `^--dataset ${dataset}: igm compare and igm train do not offer it .*library loader ${loader.replace(/[()]/g, '\\$&')} of @igm/datasets and igm data info ${dataset} --root <dir>`,
        ),
      );
    }
    expect(() => planRuns(config({ dataset: 'mnist' }))).toThrow(
      'Unknown dataset "mnist". Datasets for igm compare: synthetic, av-mnist, av-mnist-imbalanced, crema-d, kinetics-sounds.',
    );
  });

  it('methodOptions apply last, unscaled; the rest of the plan comes from the config alone', async () => {
    const runs = planRuns(
      config({ epochs: 3, methods: ['igm', 'joint'], methodOptions: { joint: { epochs: 5 } } }),
    );
    expect(runs.find((r) => r.method === 'joint')!.options['epochs']).toBe(5);
    expect(runs.find((r) => r.method === 'igm')!.options['epochList']).toEqual([2, 4, 2, 4]);
    const dir = await mkdtemp(join(tmpdir(), 'igm-plan-'));
    const file = join(dir, 'c.yaml');
    await writeFile(
      file,
      'dataset: synthetic\nmethods: [igm-poe]\nvariants:\n  igm-poe: { method: igm, options: { fusion: sum-log-softmax } }\n',
    );
    const p = await plan(['--config', file]);
    expect(p.runs[0]).toMatchObject({ method: 'igm-poe', baseMethod: 'igm' });
    expect(p.runs[0]!.options['fusion']).toBe('sum-log-softmax');
  });

  it('dryRun is a pure function of the config', () => {
    const c = config({ dataset: 'synthetic', datasetOptions: { modalities: 3 } });
    const p = dryRun(c);
    expect(p.modalities).toEqual(['audio', 'visual', 'text']);
    expect(p.runs.find((r) => r.method === 'igm')!.stages!.map((s) => s.modality)).toEqual([
      'audio',
      'visual',
      'text',
      'audio',
    ]);
  });
});
