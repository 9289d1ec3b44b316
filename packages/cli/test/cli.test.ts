import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, resumeCommandOf } from '../src/cli';
import { ConfigError, changedOptions, resolveCompareConfig } from '../src/config';
import type { ComparisonSummary } from '../src/report';
import { captureOutput } from './processes';

/** `fn()` (a call of main) with stdout and stderr captured: its exit code and both streams. */
async function captureMain(
  fn: () => Promise<number>,
): Promise<{ code: number; err: string; out: string }> {
  const { value: code, out, err } = await captureOutput(fn);
  return { code, err, out };
}

describe('config validation', () => {
  const base = {
    dataset: 'synthetic',
    methods: ['joint'],
    seeds: 1,
    preset: 'quick',
    backend: 'cpu',
    out: 'runs/x',
  };
  it('accepts a valid config and fills defaults', () => {
    const c = resolveCompareConfig(base);
    expect(c.selection).toEqual({ split: 'validation', metric: 'macroF1' });
    expect(c.resume).toBe(false);
  });
  it('names unknown keys and bad values', () => {
    expect(() => resolveCompareConfig({ ...base, sedes: 3 }, {}, 'cfg.yaml')).toThrow(
      /Invalid configuration \(cfg\.yaml\):\n {2}\(root\): unknown key\(s\) "sedes"/,
    );
    expect(() => resolveCompareConfig({ ...base, seeds: 0 })).toThrow(ConfigError);
    expect(() => resolveCompareConfig({ ...base, backend: 'gpu' })).toThrow(/backend:/);
  });
  it('names a bad value by the flag it was typed with, by its config key from a file', () => {
    expect(() => resolveCompareConfig({ ...base, seed0: -1 })).toThrow(/\n {2}--seed: /);
    expect(() => resolveCompareConfig(base, { seed0: -1 }, 'c.yaml')).toThrow(
      /\(c\.yaml\):\n {2}seed0: /,
    );
    expect(() => resolveCompareConfig({ ...base, methods: undefined })).toThrow(
      'No methods to run: give --methods',
    );
  });
  it('changedOptions: what --resume compares (result options; data locations and execution may change)', () => {
    const now = resolveCompareConfig({
      ...base,
      epochs: 5,
      batchSize: 32,
      threads: 2,
      datasetOptions: { fsddDir: '/elsewhere', classes: 5 },
      methodOptions: { joint: { learningRate: 0.1 } },
    });
    const saved = {
      ...base,
      epochs: 20,
      backend: { requested: 'wasm' },
      threads: 1,
      datasetOptions: { fsddDir: '/here', classes: 4 },
    };
    expect(changedOptions(saved, now).map((c) => [c.name, c.saved, c.now])).toEqual([
      ['--epochs', 20, 5],
      ['--batch-size', undefined, 32],
      ['datasetOptions.classes', 4, 5],
      ['methodOptions.joint', undefined, { learningRate: 0.1 }],
    ]);
    // Defaults fill what an older config.json did not save; train names the method list --method.
    const same = resolveCompareConfig(base);
    expect(changedOptions({ ...base }, same)).toEqual([]);
    expect(changedOptions({ ...base, methods: ['igm'] }, same, 'train')[0]!.name).toBe('--method');
  });
  it('resumeCommandOf: the invocation as typed, --out added when defaulted, without --overwrite', () => {
    const saved = process.env['IGM_COMMAND'];
    try {
      delete process.env['IGM_COMMAND'];
      expect(
        resumeCommandOf(['node', 'igm', 'train', '--method', 'igm', '--overwrite'], 'runs/a b'),
      ).toBe("igm train --method igm --out 'runs/a b' --resume");
      process.env['IGM_COMMAND'] = 'pnpm igm';
      expect(
        resumeCommandOf(['node', 'x', 'compare', '--methods', 'joint', '--out=r', '--resume'], 'r'),
      ).toBe('pnpm igm compare --methods joint --out=r --resume');
    } finally {
      if (saved === undefined) delete process.env['IGM_COMMAND'];
      else process.env['IGM_COMMAND'] = saved;
    }
  });
  it('file values sit under flags', () => {
    const c = resolveCompareConfig({ ...base, seeds: 2 }, { seeds: 5, epochs: 3 });
    expect(c.seeds).toBe(2);
    expect(c.epochs).toBe(3);
  });
});

describe('igm compare (end to end, tiny synthetic run)', () => {
  it('trains, writes the run directory and the report, and resumes without retraining', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'igm-cli-')), 'run');
    const args = [
      'node',
      'igm',
      'compare',
      '--dataset',
      'synthetic',
      '--methods',
      'joint,igm',
      '--seeds',
      '1',
      '--epochs',
      '2',
      '--backend',
      'cpu',
      // One run after another in this process (the parallel path: grid.test.ts, jobs.test.ts).
      '--jobs',
      '1',
      '--out',
      dir,
    ];
    const first = await captureMain(() => main(args));
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/method\s+seeds\s+accuracy/);
    for (const f of [
      'config.json',
      'summary.json',
      'metrics.jsonl',
      'report.md',
      'report.html',
      'joint/seed-0/record.json',
      'igm/seed-0/record.json',
      'unimodal/seed-0/record.json',
    ]) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const summary = JSON.parse(
      readFileSync(join(dir, 'summary.json'), 'utf8'),
    ) as ComparisonSummary;
    // The unimodal reference of the utilization measure is added and labelled.
    expect(summary.runs.map((r) => [r.method, r.role])).toEqual([
      ['joint', undefined],
      ['igm', undefined],
      ['unimodal', 'probe-reference'],
    ]);
    for (const r of summary.runs) {
      expect(r.final.test.accuracy).toBeGreaterThan(0.25); // 4 classes: above chance
      expect(Object.keys(r.contributions ?? {})).toEqual(['audio', 'visual']);
      expect(r.imbalanceDegree).toBeGreaterThanOrEqual(0);
      expect(Object.keys(r.probe?.accuracy ?? {})).toEqual(['audio', 'visual']);
      expect(Object.keys(r.utilization ?? {})).toEqual(['audio', 'visual']);
    }
    expect(summary.runs[2]!.utilization).toEqual({ audio: 1, visual: 1 });
    expect(first.out).toMatch(/utilization audio/);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toMatch(
      /<th>utilization visual<\/th>[\s\S]*unimodal \(probe reference\)/,
    );
    // All finished: --resume prints the table and rewrites nothing.
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    const finished = await captureMain(() => main([...args, '--resume']));
    expect(finished.code).toBe(0);
    expect(finished.err).toMatch(/All 3 runs of .* are finished; nothing to do/);
    expect(finished.out).toMatch(/method\s+seeds\s+accuracy/);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toBe(html);
    // One run without its record: the others are reused, it continues from its checkpoint.
    rmSync(join(dir, 'igm', 'seed-0', 'record.json'));
    const resumed = await captureMain(() => main([...args, '--resume']));
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toMatch(/joint seed 0: already finished/);
    expect(resumed.err).toMatch(/igm seed 0: resumed from epoch (\d+) of \1\n/);
    expect(existsSync(join(dir, 'igm', 'seed-0', 'record.json'))).toBe(true);
  });

  it('reports bad input as one clear line', async () => {
    const bad = await captureMain(() =>
      main([
        'node',
        'igm',
        'compare',
        '--dataset',
        'synthetic',
        '--methods',
        'jiont',
        '--backend',
        'cpu',
        '--out',
        join(tmpdir(), 'igm-x'),
      ]),
    );
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/Unknown method "jiont"\. Valid methods: "joint"/);
    const cfg = join(await mkdtemp(join(tmpdir(), 'igm-cfg-')), 'c.yaml');
    await writeFile(cfg, 'dataset: synthetic\nmethods: [joint]\nseedz: 2\n');
    const badCfg = await captureMain(() =>
      main(['node', 'igm', 'compare', '--config', cfg, '--backend', 'cpu']),
    );
    expect(badCfg.code).toBe(1);
    expect(badCfg.err).toMatch(/unknown key\(s\) "seedz"/);
  });

  it('av-mnist-imbalanced: FSDD instructions when recordings are missing; its recipe is fixed', async () => {
    const missing = join(tmpdir(), 'igm-no-fsdd-here');
    const info = await captureMain(() =>
      main(['node', 'igm', 'data', 'info', 'av-mnist-imbalanced', '--fsdd-dir', missing]),
    );
    expect(info.code).toBe(1);
    expect(info.err).toContain(missing);
    expect(info.err).toMatch(/needs the Free Spoken Digit Dataset recordings/);
    const cfg = join(await mkdtemp(join(tmpdir(), 'igm-cfg-')), 'c.yaml');
    await writeFile(
      cfg,
      `dataset: av-mnist-imbalanced\nmethods: [joint]\ndatasetOptions: { fsddDir: ${missing}, image: { canvas: 28 } }\n`,
    );
    const fixed = await captureMain(() =>
      main([
        'node',
        'igm',
        'compare',
        '--config',
        cfg,
        '--backend',
        'cpu',
        '--no-probe',
        '--out',
        join(tmpdir(), 'igm-imbalanced-x'),
      ]),
    );
    expect(fixed.code).toBe(1);
    expect(fixed.err).toMatch(/option "image".*fixes.*use the av-mnist dataset/);
  });
});
