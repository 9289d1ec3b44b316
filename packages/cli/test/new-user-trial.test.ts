/**
 * Findings of a new user's trial of the README commands, run through the real built binary:
 * igm train's --method (a mistyped flag named as such), --out naming a file, igm data prepare
 * av-mnist downloading the recordings when no folder is given (as the hint says), pnpm igm's
 * relative paths taken from where it was typed, the help examples accepted as written, config
 * files of the wrong shape, a batch size larger than the training split, igm data info and
 * igm compare on the datasets read from a folder of the user's (each loader gets only options it
 * accepts; a missing folder says how to give it), --threads on the cpu backend (said to be
 * unused), no empty utilization columns with --no-probe, and igm report on a stopped comparison (says so, JSON status "incomplete").
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ResultsJson } from '../src/report';
import { BIN, igm, REPO, startIgmBin, stopBins } from './bin';

const base = mkdtempSync(join(tmpdir(), 'igm-trial-'));

afterAll(stopBins);

describe('igm train --method (the built binary)', () => {
  it('a mistyped flag is named as unknown; a missing or listed --method says what to do', async () => {
    const out = join(base, 'train-bad');
    const tiny = ['--dataset', 'synthetic', '--backend', 'cpu', '--epochs', '1', '--out', out];
    const typo = await igm(['train', '--methods', 'joint', ...tiny]);
    expect(typo.code).toBe(1);
    expect(typo.err).toMatch(/unknown option '--methods'\n\(Did you mean --method\?\)/);

    const missing = await igm(['train', ...tiny]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^igm: igm train needs --method <name>, e\.g\. --method igm/);

    const several = await igm(['train', '--method', 'joint,igm', ...tiny]);
    expect(several.code).toBe(1);
    expect(several.err).toMatch(
      /^igm: --method joint,igm: igm train trains one method; use igm compare --methods joint,igm/,
    );
    for (const r of [typo, missing, several]) expect(r.out).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('--out naming a file: refused naming it, before any training', async () => {
    const path = join(base, 'a-file.txt');
    writeFileSync(path, 'notes\n');
    const r = await igm(
      ['train', '--method', 'joint', '--dataset', 'synthetic', '--epochs', '1'].concat([
        '--backend',
        'cpu',
        '--out',
        path,
      ]),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`igm: --out ${path} is a file, not a folder`));
    expect(r.err).not.toMatch(/EEXIST/);
  });
});

describe('igm data prepare av-mnist without recordings (the built binary)', () => {
  it('downloads them into the cache, as the missing-recordings hint says; info does not', async () => {
    // No network here: a preload makes every fetch fail, naming the URL it was asked for.
    const offline = join(base, 'offline.mjs');
    writeFileSync(
      offline,
      "globalThis.fetch = async (url) => { throw new Error('offline test (' + url + ')'); };\n",
    );
    const env = { FSDD_DIR: '', IGM_CACHE_DIR: join(base, 'cache') };
    const command = [process.execPath, '--import', offline, BIN];
    const prepare = await igm(['data', 'prepare', 'av-mnist'], { env, command });
    expect(prepare.code).toBe(1);
    expect(prepare.err).toMatch(
      /^igm: https:\/\/raw\.githubusercontent\.com\/Jakobovski\/free-spoken-digit-dataset\/[0-9a-f]{40}\/recordings\/\S+\.wav: download failed \(offline test/m,
    );
    const info = await igm(['data', 'info', 'av-mnist'], { env, command });
    expect(info.code).toBe(1);
    expect(info.err).not.toMatch(/offline test/);
    expect(info.err).toMatch(/run "igm data prepare av-mnist" on a machine with internet/);
  });
});

describe('pnpm igm from a folder of the checkout (the real script)', () => {
  it('relative --config and --out are taken from where the command was typed', async () => {
    const results = join(REPO, '.test-results');
    mkdirSync(results, { recursive: true });
    const cwd = mkdtempSync(join(results, 'pnpm-igm-cwd-'));
    try {
      writeFileSync(join(cwd, 'methods.yaml'), 'methods: [joint]\n');
      const r = await igm(
        [
          ...['compare', '--dataset', 'synthetic', '--config', 'methods.yaml', '--epochs', '1'],
          ...['--no-probe', '--backend', 'cpu', '--out', 'runs/here'],
        ],
        { command: ['pnpm', '-s', '-w', 'igm'], cwd },
      );
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain(`Report: ${join(cwd, 'runs', 'here', 'report.html')}`);
      expect(existsSync(join(cwd, 'runs', 'here', 'summary.json'))).toBe(true);
      expect(existsSync(join(REPO, 'runs', 'here'))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('the examples of igm compare --help and igm train --help (the built binary)', () => {
  it('each one is accepted as written (checked with --dry-run: no data, no training)', async () => {
    let checked = 0;
    for (const command of ['compare', 'train']) {
      const help = await igm([command, '--help']);
      const examples = help.out
        .split('\nExamples:\n')[1]!
        .split('\n\n')[0]!
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => /^(\w+=\S+ )*igm /.test(line));
      expect(examples.length, help.out).toBeGreaterThan(0);
      for (const example of examples) {
        // A config file of the user's is not here to read; the shell's redirection is not igm's.
        if (example.includes('--config')) continue;
        const words = example.replace(/\s*>\s*\S+$/, '').split(/\s+/);
        const env: Record<string, string> = {};
        while (/^\w+=/.test(words[0]!)) {
          const [key, ...value] = words.shift()!.split('=');
          env[key!] = value.join('=');
        }
        expect(words.shift()).toBe('igm');
        const args = words.includes('--dry-run') ? words : [...words, '--dry-run'];
        const r = await igm(args, { env });
        expect(r.code, `${example}\n${r.err}`).toBe(0);
        expect(r.out, example).toMatch(/Plan \(dry run|"runs"/);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });
});

describe('config files of the wrong shape (the built binary)', () => {
  it('a list at the top level, or methods as one string: named, with the form expected', async () => {
    const list = join(base, 'list.yaml');
    writeFileSync(list, '- joint\n- igm\n');
    const top = await igm(['compare', '--config', list, '--dry-run']);
    expect(top.code).toBe(1);
    expect(top.err).toBe(
      `igm: Config file ${list} holds a list at the top level; expected a mapping of option names to values (e.g. "dataset: synthetic" and "methods: [joint, igm]" on their own lines).\n`,
    );
    const string = join(base, 'string.yaml');
    writeFileSync(string, 'dataset: synthetic\nmethods: joint,igm\n');
    const methods = await igm(['compare', '--config', string, '--dry-run']);
    expect(methods.code).toBe(1);
    expect(methods.err).toMatch(
      /\n {2}methods: .*expected array, received string; write a list of method names, e\.g\. methods: \[joint, igm\] \(YAML\)/,
    );
  });
});

describe('a batch size larger than the training split (the built binary)', () => {
  it('is refused once the data is loaded, before any run, naming --batch-size and the split', async () => {
    const out = join(base, 'batch');
    const args = ['compare', '--dataset', 'synthetic', '--methods', 'joint', '--epochs', '1'];
    const r = await igm([...args, '--batch-size', '100000', '--backend', 'cpu', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /\nigm: --batch-size 100000 exceeds the 512 training samples of synthetic: an epoch would have no full batch\. Give --batch-size 512 or less\.\n$/,
    );
    expect(r.err).not.toMatch(/runs failed/);
    expect(readdirSync(out)).toEqual([]); // nothing trained, nothing written
  });
});

describe('--threads on a backend that does not use them (the built binary)', () => {
  it('says so next to the backend line; wasm takes them', async () => {
    const run = (backend: string, out: string) =>
      igm([
        ...['compare', '--dataset', 'synthetic', '--methods', 'joint', '--epochs', '1'],
        ...['--no-probe', '--threads', '2', '--backend', backend, '--out', join(base, out)],
      ]);
    const cpu = await run('cpu', 'threads-cpu');
    expect(cpu.code, cpu.err).toBe(0);
    expect(cpu.err).toMatch(
      /^backend: cpu \(pure JavaScript\)\n--threads 2: not used on cpu \(pure JavaScript\); --threads sets the wasm backend's threads \(the cpu backend runs on one\)\n/,
    );
    // --no-probe: no utilization, so no utilization columns (they were all "–").
    expect(cpu.out).toMatch(/^method +seeds +accuracy/m);
    expect(cpu.out).not.toMatch(/utilization/);
    const wasm = await run('wasm', 'threads-wasm');
    expect(wasm.code, wasm.err).toBe(0);
    expect(wasm.err).not.toMatch(/not used on/);
  });
});

describe("datasets read from a folder of the user's (the built binary)", () => {
  const empty = join(base, 'empty-root');
  mkdirSync(empty, { recursive: true });

  it('igm data info reaches every loader with options it accepts', async () => {
    // Each loader then reports the first file it misses under --root (not an option it rejects).
    const expected: Array<[string, RegExp]> = [
      ['twitter-2015', /train\.tsv: file not found; expected a Twitter-2015 TSV/],
      ['sarcasm', /text\/train\.txt: file not found; expected a Sarcasm text file/],
      ['nvgesture', /\.lst: file not found; expected an NVGesture split list/],
      ['kinetics-sounds', /annotations\/train\.csv: file not found; expected a Kinetics-Sounds/],
      ['crema-d', /AudioWAV: folder not found; expected the CREMA-D audio folder/],
    ];
    for (const [name, pattern] of expected) {
      for (const command of ['info', 'prepare']) {
        const r = await igm(['data', command, name, '--root', empty]);
        expect(r.code, `${command} ${name}`).toBe(1);
        expect(r.err, `${command} ${name}`).toMatch(pattern);
        expect(r.err, `${command} ${name}`).not.toMatch(/unknown option/);
      }
    }
  });

  it('no folder given: the loader message and how to give it (--root, or datasetOptions.root)', async () => {
    const info = await igm(['data', 'info', 'crema-d']);
    expect(info.code).toBe(1);
    expect(info.err).toMatch(/cremaD: received root=undefined/);
    expect(info.err).toMatch(
      /The crema-d dataset is read from your copy of it: give its folder with --root <dir>\./,
    );

    const compare = await igm([
      ...['compare', '--dataset', 'crema-d', '--methods', 'joint', '--epochs', '1'],
      ...['--backend', 'cpu', '--out', join(base, 'crema-no-root')],
    ]);
    expect(compare.code).toBe(1);
    expect(compare.err).toMatch(
      /give its folder with datasetOptions: \{ root: <dir> \} in a --config file\./,
    );
  });

  it('igm compare --dataset kinetics-sounds gets to the folder (its loader takes no progress option)', async () => {
    const config = join(base, 'ks.json');
    writeFileSync(config, JSON.stringify({ datasetOptions: { root: empty } }));
    const r = await igm([
      ...['compare', '--dataset', 'kinetics-sounds', '--methods', 'joint', '--epochs', '1'],
      ...['--config', config, '--backend', 'cpu', '--out', join(base, 'ks-run')],
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `${empty}/annotations/train\\.csv: file not found; expected a Kinetics-Sounds CSV`,
      ),
    );
    expect(r.err).not.toMatch(/progress/);
  });
});

describe('igm report on a stopped comparison (the built binary)', () => {
  it('says how many of the planned runs it holds; --json status "incomplete"', async () => {
    const out = join(base, 'stopped');
    const run = startIgmBin([
      ...['compare', '--dataset', 'synthetic', '--methods', 'joint,mla', '--epochs', '100'],
      ...['--no-probe', '--backend', 'cpu', '--jobs', '1', '--out', out],
    ]);
    try {
      // One run after another (--jobs 1): joint's 100 epochs end first; mla is then running.
      await run.waitForErr(/mla seed 0 · epoch/);
      run.child.kill('SIGINT');
      const stopped = await run.exited;
      expect(stopped.code, stopped.err).toBe(130);
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
    }
    expect(readdirSync(out)).toContain('summary.json');

    const text = await igm(['report', out]);
    expect(text.code, text.err).toBe(0);
    expect(text.err).toMatch(
      /igm: .*stopped holds 1 of the 2 planned runs \(the comparison was stopped, or some runs failed\)/,
    );
    expect(text.out).toMatch(/^joint +1 /m);

    // The folder of one run (it has a summary.json of its own): pointed to its comparison.
    const one = await igm(['report', join(out, 'joint', 'seed-0')]);
    expect(one.code).toBe(1);
    expect(one.err).toBe(
      `igm: ${join(out, 'joint', 'seed-0')} is the folder of one run; igm report takes the folder of its comparison (${out}).\n`,
    );

    const json = await igm(['report', out, '--json']);
    expect(json.code, json.err).toBe(0);
    const table = JSON.parse(json.out) as ResultsJson;
    expect(table.status).toBe('incomplete');
    expect(table.rows.map((row) => row.method)).toEqual(['joint']);
    expect(table.columns.filter((c) => c.startsWith('utilization'))).toEqual([]);

    // A finished comparison stays "completed", with nothing on stderr.
    const done = join(base, 'done');
    const finished = await igm([
      ...['compare', '--dataset', 'synthetic', '--methods', 'joint', '--epochs', '1'],
      ...['--no-probe', '--backend', 'cpu', '--out', done],
    ]);
    expect(finished.code, finished.err).toBe(0);
    const again = await igm(['report', done, '--json']);
    expect((JSON.parse(again.out) as ResultsJson).status).toBe('completed');
    expect(again.err).toBe('');

    // Stopped after its last run but before its report (the state such a Ctrl-C leaves): the
    // resume writes the report and says so, instead of "its files are unchanged".
    rmSync(join(done, 'report.html'));
    rmSync(join(done, 'report.md'));
    const resumed = await igm([
      ...['compare', '--dataset', 'synthetic', '--methods', 'joint', '--epochs', '1'],
      ...['--no-probe', '--backend', 'cpu', '--out', done, '--resume'],
    ]);
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toMatch(
      /nothing to do \(its report was missing and is written now; the runs are unchanged\)/,
    );
    expect(existsSync(join(done, 'report.html'))).toBe(true);
  });
});
