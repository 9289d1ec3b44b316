import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { isDeadLeftover, ownerOf, processAlive } from '@igm/temp-files';
import { exitedPid } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentHashes, RACY_SECONDS } from '../src/content-hash';
import { openCache } from '../src/node';
import { removeDir, tempDir } from './helpers/fixtures';

/** A dead pid: a process that has exited. */
function deadPid(): number {
  const pid = exitedPid();
  expect(processAlive(pid)).toBe(false);
  return pid;
}

/** Sets a file's mtime well in the past, so its hash may be memoised (not "racily" fresh). */
function age(path: string): void {
  const past = new Date(Date.now() - 60_000);
  utimesSync(path, past, past);
}

describe('cache validity from input content', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('cache');
  });
  afterAll(() => removeDir(root));

  /** An entry whose one file is the concatenation of its inputs' bytes. */
  const open = (inputs: string[], reasons: string[] = []) =>
    openCache<{ n: number }>({
      cacheDir: join(root, 'cache'),
      dataset: 'demo',
      version: 'demo/1',
      params: { recipe: 'concat' },
      inputs,
      inputsDescription: 'a demo input',
      onRebuild: (reason) => reasons.push(reason),
      async build(writer) {
        await writer.write('data.bin', Buffer.concat(inputs.map((f) => readFileSync(f))));
        return { n: inputs.length };
      },
    });

  it('rebuilds an entry whose input was overwritten with same-size content, naming the file', async () => {
    const dir = join(root, 'in');
    mkdirSync(dir);
    const files = ['a.wav', 'b.wav', 'c.wav'].map((n) => join(dir, n));
    files.forEach((f, i) => {
      writeFileSync(f, `sample-${i}-original`);
      age(f);
    });
    const first = await open(files);
    expect(first.built).toBe(true);
    expect(first.manifest.inputs?.count).toBe(3);
    const warm = await open(files);
    expect(warm.built).toBe(false);
    // Same size, different bytes (the issue: a key of name + size reused the stale entry).
    const before = statSync(files[1]!).size;
    writeFileSync(files[1]!, 'sample-1-REPLACED');
    expect(statSync(files[1]!).size).toBe(before);
    const reasons: string[] = [];
    const rebuilt = await open(files, reasons);
    expect(rebuilt.built).toBe(true);
    expect(rebuilt.rebuiltBecause).toBe(
      `1 of 3 input files differ from the ones it was built from (e.g. ${files[1]})`,
    );
    expect(reasons).toEqual([rebuilt.rebuiltBecause]);
    expect(readFileSync(rebuilt.path('data.bin'), 'utf8')).toContain('sample-1-REPLACED');
    // Rebuilt in place: one entry, no staging folder left.
    const names = readdirSync(join(root, 'cache', 'demo'));
    expect(names.filter((n) => !n.startsWith('.'))).toEqual([rebuilt.dir.split('/').pop()]);
    expect(names.filter((n) => n.startsWith('.staging'))).toEqual([]);
    // New mtime, same content: re-hashed, still valid.
    age(files[0]!);
    expect((await open(files)).built).toBe(false);
  });

  it('memoises hashes by size, mtime, ctime and inode; recent files are hashed every time', async () => {
    const dir = join(root, 'memo');
    mkdirSync(dir);
    const memo = join(dir, 'memo.json');
    const old = join(dir, 'old.wav');
    const fresh = join(dir, 'fresh.wav');
    writeFileSync(old, 'old bytes');
    // ctime cannot be set back: let the old file's ctime age past the racy window for real.
    await new Promise((resolve) => setTimeout(resolve, (RACY_SECONDS + 0.2) * 1000));
    writeFileSync(fresh, 'fresh bytes');
    const first = await contentHashes([old, fresh], memo, 'a demo input');
    expect(first.hashed).toBe(2);
    // The settled file comes from the memo; the one written just now is hashed again.
    const second = await contentHashes([old, fresh], memo, 'a demo input');
    expect(second.hashes).toEqual(first.hashes);
    expect(second.hashed).toBe(1);
    expect(Object.keys(JSON.parse(readFileSync(memo, 'utf8')).files)).toEqual([old]);
    // Same size and the old mtime restored, new content: ctime gives the change away.
    const { mtime } = statSync(old);
    writeFileSync(old, 'OLD BYTES');
    utimesSync(old, mtime, mtime);
    const third = await contentHashes([old], memo, 'a demo input');
    expect(third.hashed).toBe(1);
    expect(third.hashes[0]).not.toBe(first.hashes[0]);
    await expect(contentHashes([join(dir, 'gone.wav')], memo, 'a demo input')).rejects.toThrow(
      /gone\.wav: file not found; expected a demo input/,
    );
  });

  it('removes staging folders and temp files of dead processes only', async () => {
    const parent = join(root, 'cache', 'demo');
    mkdirSync(parent, { recursive: true });
    const host = hostname();
    const dead = deadPid();
    // A live process other than this one: the parent of the test worker.
    const live = process.ppid;
    expect(processAlive(live)).toBe(true);
    const names = {
      deadStaging: `.staging-abc-${dead}@${host}-0123abcd`,
      deadTemp: `.content-hashes.json.tmp-${dead}@${host}-89abcdef`,
      legacyDead: `.staging-abc-${dead}-00112233`,
      liveStaging: `.staging-abc-${live}@${host}-44556677`,
      otherHost: `.staging-abc-${dead}@another-host.example-8899aabb`,
      entry: 'not-temporary',
    };
    for (const [k, n] of Object.entries(names)) {
      if (k.endsWith('Temp')) writeFileSync(join(parent, n), 'x');
      else mkdirSync(join(parent, n), { recursive: true });
    }
    expect(ownerOf(names.otherHost)).toEqual({ pid: dead, host: 'another-host.example' });
    expect(isDeadLeftover(names.liveStaging)).toBe(false);
    const dir = join(root, 'leftover-inputs');
    mkdirSync(dir);
    writeFileSync(join(dir, 'x.wav'), 'x');
    await open([join(dir, 'x.wav')]);
    const left = readdirSync(parent);
    expect(left).not.toContain(names.deadStaging);
    expect(left).not.toContain(names.deadTemp);
    expect(left).not.toContain(names.legacyDead);
    expect(left).toContain(names.liveStaging);
    expect(left).toContain(names.otherHost);
    expect(left).toContain(names.entry);
  });
});
