/**
 * What a new user meets, run through the real built binary (dist/bin.js, and `pnpm igm` from
 * the checkout): --version, igm methods, --json tables, errors that name the flag as typed, the
 * --out / --resume / --overwrite rules, Ctrl-C (exit 130 and the exact command that continues),
 * the resumed progress, diverged runs, and the FSDD hint only when recordings are missing.
 * Training is tiny (synthetic data, a few epochs, cpu).
 */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMethods } from '@igm/baselines';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResultsJson } from '../src/report';
import { CLI_PACKAGE, igm, REPO, startIgmBin, stopBins } from './bin';
import { lastCheckpointEpoch } from './run-folder';

const base = mkdtempSync(join(tmpdir(), 'igm-conventions-'));
const version = JSON.parse(readFileSync(join(CLI_PACKAGE, 'package.json'), 'utf8')).version;
const TINY = ['--dataset', 'synthetic', '--backend', 'cpu'];

afterAll(stopBins);

function file(name: string, text: string): string {
  const path = join(base, name);
  writeFileSync(path, text);
  return path;
}

/** Every file under `dir` with its bytes and modification time. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, f);
    const s = statSync(path);
    if (s.isFile()) out[f] = `${s.mtimeMs} ${readFileSync(path, 'latin1')}`;
  }
  return out;
}

async function waitForCheckpoint(runDir: string, epoch: number, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (lastCheckpointEpoch(runDir) < epoch) {
    if (Date.now() > deadline) throw new Error(`no checkpoint of epoch ${epoch} in ${runDir}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The command after "continue with:" in a stopped comparison's output. */
function resumeCommandIn(text: string): string {
  const m = /continue with:\n {2}(.+)\n/.exec(text);
  if (!m) throw new Error(`no resume command in:\n${text}`);
  return m[1]!;
}

describe('igm conventions (the built binary)', () => {
  it('--version prints the version; igm methods lists every method with its options', async () => {
    const v = await igm(['--version']);
    expect(v.code).toBe(0);
    expect(v.out).toBe(`${version}\n`);
    const names = describeMethods().map((m) => m.name);
    const list = await igm(['methods']);
    expect(list.code, list.err).toBe(0);
    for (const name of names) expect(list.out).toMatch(new RegExp(`(^|\n)${name}\n {2}\\S`));
    expect(list.out).toMatch(
      /^igm\n {2}IGM: [\s\S]*?\n {2}modalities: 2 or more; epoch budget: stage-wise\n {2}options:\n/m,
    );
    expect(list.out).toContain('    tau: a number >= 0; default 0.4\n');
    const json = await igm(['methods', '--json']);
    const described = JSON.parse(json.out) as Array<{
      name: string;
      options: Array<{ key: string; default?: unknown; description: string }>;
      jsonSchema: object;
    }>;
    expect(described.map((m) => m.name)).toEqual(names);
    const tau = described.find((m) => m.name === 'igm')!.options.find((o) => o.key === 'tau')!;
    expect(tau.default).toBe(0.4);
    expect(tau.description).toMatch(/flat projection/);
    const one = JSON.parse((await igm(['methods', 'mla', '--json'])).out);
    expect(one.map((m: { name: string }) => m.name)).toEqual(['mla']);
    const bad = await igm(['methods', 'mlaa']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/^igm: Unknown method "mlaa"\. Valid methods: "joint"/);
  });

  it('bad input: one line naming the flag as typed, exit 1, nothing written', async () => {
    const typo = file('typo.yaml', 'methodOptions:\n  mlaa: { alpha: 1 }\n');
    const cases: Array<[string[], RegExp]> = [
      [
        ['compare', ...TINY, '--seed', '-1', '--methods', 'joint'],
        /--seed must be an integer >= 0; got "-1"/,
      ],
      [
        ['compare', ...TINY],
        /^igm: No methods to run: give --methods, e.g\. --methods joint,igm \(igm methods lists them\)/,
      ],
      [
        ['compare', ...TINY, '--methods', 'mla,joint,mla'],
        /^igm: --methods lists "mla" more than once \(mla,joint,mla\)/,
      ],
      [
        ['compare', ...TINY, '--methods', 'mla', '--config', typo],
        /^igm: methodOptions\["mlaa"\]: "mlaa" is neither a registered method nor a variant label/,
      ],
      [
        ['compare', '--dataset', 'twitter-2015', '--methods', 'joint'],
        /^igm: --dataset twitter-2015: igm compare and igm train do not offer it .* library loader twitter2015\(\) of @igm\/datasets/,
      ],
      [
        ['compare', ...TINY, '--methods', 'joint', '--resume', '--overwrite'],
        /^igm: --resume and --overwrite exclude each other/,
      ],
    ];
    for (const [args, pattern] of cases) {
      const out = join(base, `bad-${cases.findIndex((c) => c[0] === args)}`);
      const r = await igm([...args, '--out', out]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.err, args.join(' ')).toMatch(pattern);
      expect(r.out, args.join(' ')).toBe('');
      expect(existsSync(out), args.join(' ')).toBe(false);
    }
    // The help lists only the datasets compare runs.
    const help = await igm(['compare', '--help']);
    expect(help.out).toMatch(
      /--dataset <name>\s+dataset: synthetic, av-mnist, av-mnist-imbalanced, crema-d,\s+kinetics-sounds \(/,
    );
    expect(help.out).not.toMatch(/crema-d, kinetics-sounds, twitter-2015/);
  });

  it('--json prints the final table as JSON on stdout, nothing else; igm report --json agrees', async () => {
    const out = join(base, 'json');
    const r = await igm([
      'compare',
      ...TINY,
      '--methods',
      'joint,igm',
      '--epochs',
      '1',
      '--json',
      '--jobs',
      '1',
      '--out',
      out,
    ]);
    expect(r.code, r.err).toBe(0);
    const json = JSON.parse(r.out) as ResultsJson; // the whole of stdout
    expect(r.err).toMatch(/runs 0\/3 · joint seed 0 · epoch/); // progress went to stderr
    expect(json.format).toBe('igm-results-table/1');
    expect(json.status).toBe('completed');
    expect(json.report).toBe(join(out, 'report.html'));
    expect(json.columns.slice(0, 5)).toEqual(['method', 'seeds', 'accuracy', 'macro-F1', 'mAP']);
    expect(json.units['accuracy']).toBe('percent');
    expect(json.units['s / epoch']).toBe('seconds');
    expect(json.rows.map((row) => [row.method, row.role])).toEqual([
      ['joint', undefined],
      ['igm', undefined],
      ['unimodal', 'probe-reference'],
    ]);
    const acc = json.rows[0]!.values['accuracy'] as { mean: number; std: number | null; n: number };
    expect(acc.n).toBe(1);
    expect(acc.std).toBeNull(); // one seed: no spread
    expect(acc.mean).toBeGreaterThan(25); // percent, above chance (4 classes)
    expect(json.rows[0]!.values['seeds']).toBe(1);
    // The same table as the text one, unrounded: each printed cell is the rounded mean.
    const text = await igm(['report', out]);
    const jointLine = text.out.split('\n').find((l) => l.startsWith('joint '))!;
    expect(jointLine.split(/\s{2,}/).slice(0, 3)).toEqual(['joint', '1', acc.mean.toFixed(1)]);
    const again = await igm(['report', out, '--json']);
    expect((JSON.parse(again.out) as ResultsJson).rows).toEqual(json.rows);
  });
});

describe('--out, --resume and --overwrite (the built binary)', () => {
  it('a finished comparison: changed options refused naming each, same options print it unchanged', async () => {
    const out = join(base, 'finished');
    const args = ['compare', ...TINY, '--methods', 'joint', '--no-probe', '--out', out];
    const first = await igm([...args, '--epochs', '2']);
    expect(first.code, first.err).toBe(0);
    const before = snapshot(out);

    const changed = await igm([...args, '--epochs', '5', '--batch-size', '32', '--resume']);
    expect(changed.code).toBe(1);
    expect(changed.err).toContain(
      `igm: --resume: the comparison in ${out} was started with other options; continuing would mix them:\n  --epochs: 2 then, 5 now\n  --batch-size: not given then, 32 now\n`,
    );
    expect(snapshot(out)).toEqual(before);

    const same = await igm([...args, '--epochs', '2', '--resume']);
    expect(same.code, same.err).toBe(0);
    expect(same.err).toContain(
      `The run of ${out} is finished; nothing to do (its files are unchanged).`,
    );
    expect(same.out).toMatch(/joint\s+1\s+\d+\.\d/);
    expect(snapshot(out)).toEqual(before); // no file rewritten, not even its time

    const reuse = await igm([...args, '--epochs', '2']);
    expect(reuse.code).toBe(1);
    expect(reuse.err).toMatch(
      /--out .* already holds a comparison \(1 of 1 planned runs finished\)\. Continue it with --resume \(same options\), replace it with --overwrite, or choose another --out\./,
    );
    expect(snapshot(out)).toEqual(before);

    const replaced = await igm([
      ...['compare', ...TINY, '--methods', 'unimodal', '--no-probe', '--epochs', '1'],
      ...['--out', out, '--overwrite'],
    ]);
    expect(replaced.code, replaced.err).toBe(0);
    expect(existsSync(join(out, 'joint'))).toBe(false);
    expect(existsSync(join(out, 'unimodal', 'seed-0', 'record.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).methods).toEqual([
      'unimodal',
    ]);

    // A folder igm did not write is never replaced; --resume needs a comparison.
    const mine = join(base, 'not-igm');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'mine');
    const foreign = await igm([...args.slice(0, -1), mine, '--epochs', '1', '--overwrite']);
    expect(foreign.code).toBe(1);
    expect(foreign.err).toMatch(/is not empty \(notes\.txt\) and holds no igm comparison/);
    expect(readdirSync(mine)).toEqual(['notes.txt']);
    const nothing = await igm([...args.slice(0, -1), join(base, 'nothing'), '--resume']);
    expect(nothing.code).toBe(1);
    expect(nothing.err).toMatch(/--resume: .* holds no comparison to continue\. Drop --resume/);
  });

  it('SIGTERM stops like Ctrl-C: a checkpoint, exit 143 and the command that continues', async () => {
    const out = join(base, 'sigterm');
    const args = [
      ...['train', '--method', 'joint', '--dataset', 'synthetic', '--epochs', '60'],
      ...['--no-probe', '--backend', 'cpu', '--out', out],
    ];
    const run = startIgmBin(args);
    await waitForCheckpoint(join(out, 'joint', 'seed-0'), 2);
    run.child.kill('SIGTERM');
    const stopped = await run.exited;
    expect(stopped.code, stopped.err).toBe(143);
    expect(stopped.err).toMatch(/Stopping after the current step \(SIGTERM again to force\)/);
    expect(resumeCommandIn(stopped.err)).toBe(`igm ${args.join(' ')} --resume`);
    expect(lastCheckpointEpoch(join(out, 'joint', 'seed-0'))).toBeGreaterThanOrEqual(2);
  });

  it('igm train: Ctrl-C exits 130 with its own resume command; the resumed run says where it continues', async () => {
    const out = join(base, 'train');
    const args = [
      ...['train', '--method', 'joint', '--dataset', 'synthetic', '--epochs', '60'],
      ...['--no-probe', '--backend', 'cpu', '--out', out],
    ];
    const run = startIgmBin(args);
    await waitForCheckpoint(join(out, 'joint', 'seed-0'), 3);
    run.child.kill('SIGINT');
    const stopped = await run.exited;
    expect(stopped.code, stopped.err).toBe(130);
    const command = resumeCommandIn(stopped.err);
    expect(command).toBe(`igm ${args.join(' ')} --resume`);
    const at = lastCheckpointEpoch(join(out, 'joint', 'seed-0'));

    // Continuing with another batch size would mix two runs: refused, naming the flag.
    const mixed = await igm([...args, '--batch-size', '16', '--resume']);
    expect(mixed.code).toBe(1);
    expect(mixed.err).toMatch(/--batch-size: not given then, 16 now/);

    const resumed = await igm(command.split(' ').slice(1));
    expect(resumed.code, resumed.err).toBe(0);
    const where = /joint seed 0: resumed from epoch (\d+) of 60/.exec(resumed.err);
    expect(where, resumed.err).not.toBeNull();
    expect(Number(where![1])).toBe(at);
    // True epoch counters: nothing restarts at 0.
    const epochs = [...resumed.err.matchAll(/epoch (\d+)\/60/g)].map((m) => Number(m[1]));
    expect(Math.min(...epochs)).toBe(at);
    expect(Math.max(...epochs)).toBe(60);
    const lines = readFileSync(join(out, 'joint', 'seed-0', 'metrics.jsonl'), 'utf8').trim();
    expect(lines.split('\n')).toHaveLength(60);
  });

  it('a diverged run: the checkpoint is named only when it exists; the other runs finish; exit 1', async () => {
    const early = file(
      'diverge-early.yaml',
      'methodOptions:\n  joint: { learningRate: 1.0e+30 }\n',
    );
    const out = join(base, 'diverged');
    const r = await igm([
      ...['compare', ...TINY, '--config', early, '--methods', 'joint,unimodal'],
      ...['--epochs', '3', '--no-probe', '--jobs', '1', '--out', out],
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /joint seed 0 failed: training diverged \(loss (NaN|-?Infinity) at epoch 1, batch \d+\)\. It diverged before its first checkpoint \(written at the end of each epoch\), so nothing was saved to continue from\. Lower the learning rate/,
    );
    expect(r.err).not.toMatch(/resume: true|checkpoints[\\/]last/);
    expect(r.out).toMatch(/unimodal\s+1\s+\d/); // the other run's table
    expect(r.err).toMatch(/\nigm: 1 of 2 runs failed: joint seed 0 \(training diverged/);
    // The failure is in summary.json and in the report, not only on the terminal.
    const saved = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
      failures?: { method: string; seed: number; error: string }[];
    };
    expect(saved.failures?.map((f) => `${f.method} ${f.seed}`)).toEqual(['joint 0']);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(
      /## Runs that failed \(1\)[\s\S]*- joint seed 0: training diverged/,
    );
    const rebuilt = await igm(['report', out, '--json']);
    expect(rebuilt.code).toBe(0);
    const json = JSON.parse(rebuilt.out) as {
      status: string;
      failures: { method: string; seed: number; attempts: number }[];
    };
    expect(json.status).toBe('failed');
    expect(json.failures.map((f) => [f.method, f.seed, f.attempts])).toEqual([['joint', 0, 1]]);
    expect(rebuilt.err).toMatch(/1 run of .* failed \(joint seed 0\); the report lists them/);

    // A StepLR factor of 1e12 after epoch 2: the checkpoint of epoch 2 exists and is named.
    const late = file(
      'diverge-late.yaml',
      'methodOptions:\n  joint: { learningRate: 0.01, lrStepSize: 2, lrGamma: 1.0e+12 }\n',
    );
    const t = await igm([
      ...['train', ...TINY, '--config', late, '--method', 'joint', '--epochs', '8'],
      ...['--no-probe', '--out', join(base, 'diverged-late')],
    ]);
    expect(t.code).toBe(1);
    const named =
      /Its last good checkpoint is (\S+); --resume continues from it with the same options/.exec(
        t.err,
      );
    expect(named, t.err).not.toBeNull();
    expect(existsSync(join(named![1]!, 'state.json'))).toBe(true);
  });
});

describe('pnpm igm (from the checkout)', () => {
  it('runs the built command: --json on stdout, Ctrl-C prints a pnpm igm command', async () => {
    const pnpm = { command: ['pnpm', '-s', 'igm'], cwd: REPO };
    const out = join(base, 'pnpm');
    const j = await igm(
      [
        'compare',
        ...TINY,
        '--methods',
        'joint',
        '--epochs',
        '1',
        '--no-probe',
        '--json',
        '--out',
        out,
      ],
      pnpm,
    );
    expect(j.code, j.err).toBe(0);
    expect((JSON.parse(j.out) as ResultsJson).rows[0]!.method).toBe('joint');

    // Ctrl-C in a terminal reaches pnpm and igm (one process group).
    const trainOut = join(base, 'pnpm-train');
    const args = [
      ...['train', '--method', 'joint', '--dataset', 'synthetic', '--epochs', '60'],
      ...['--no-probe', '--backend', 'cpu', '--out', trainOut],
    ];
    const run = startIgmBin(args, { ...pnpm, detached: true });
    try {
      await waitForCheckpoint(join(trainOut, 'joint', 'seed-0'), 2);
      process.kill(-run.child.pid!, 'SIGINT');
      const stopped = await run.exited; // at the close of the output: igm's end, not only pnpm's
      // igm exits 130; pnpm itself dies of the SIGINT, which a shell reports as 130 too.
      expect(stopped.code === 130 || stopped.signal === 'SIGINT', stopped.err).toBe(true);
      expect(stopped.err).toMatch(/Stopping after the current step/);
      expect(resumeCommandIn(stopped.err)).toBe(`pnpm igm ${args.join(' ')} --resume`);
    } finally {
      if (run.child.exitCode === null) process.kill(-run.child.pid!, 'SIGKILL');
    }
  });
});

describe('av-mnist: the FSDD hint only when the recordings are missing', () => {
  it('a bad option over a recordings folder gets no hint; a missing folder does', async () => {
    // Named like FSDD recordings; the validation fraction is checked before any is decoded.
    const fsdd = join(base, 'fsdd', 'recordings');
    mkdirSync(fsdd, { recursive: true });
    for (let d = 0; d < 10; d++) {
      for (let i = 0; i < 10; i++) writeFileSync(join(fsdd, `${d}_george_${i}.wav`), '');
    }
    const cfg = file(
      'fraction.yaml',
      `datasetOptions: { fsddDir: ${fsdd}, validationFraction: 0.0001 }\n`,
    );
    const args = ['compare', '--dataset', 'av-mnist', '--methods', 'joint', '--epochs', '1'];
    const bad = await igm([
      ...args,
      '--config',
      cfg,
      '--backend',
      'cpu',
      '--out',
      join(base, 'vf'),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/validationFraction=0\.0001 holds out no sample/);
    expect(bad.err).not.toMatch(/needs the Free Spoken Digit Dataset recordings/);
    const missing = await igm([
      ...args,
      ...['--fsdd-dir', join(base, 'no-such-folder'), '--backend', 'cpu', '--out', join(base, 'm')],
    ]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/needs the Free Spoken Digit Dataset recordings/);
  });
});
