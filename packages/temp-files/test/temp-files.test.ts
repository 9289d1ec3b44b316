import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exitedPid } from '../../test-utils/src/process';
import {
  isDeadLeftover,
  isDeadOwner,
  ownerOf,
  ownerSuffix,
  processAlive,
  removeDeadLeftovers,
  type TempOwner,
  thisHost,
} from '../src';

/** A dead pid: a process that has exited. */
function deadPid(): number {
  const pid = exitedPid();
  expect(processAlive(pid)).toBe(false);
  return pid;
}

const root = mkdtempSync(join(tmpdir(), 'igm-temp-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('owner-tagged temporary names', () => {
  it('ownerSuffix names this process and host; ownerOf reads it back', () => {
    const suffix = ownerSuffix();
    expect(suffix).toMatch(new RegExp(`^-${process.pid}@${thisHost()}-[0-9a-f]{8}$`));
    expect(ownerSuffix()).not.toBe(suffix);
    expect(ownerOf(`.staging-key${suffix}`)).toEqual({ pid: process.pid, host: thisHost() });
    expect(ownerOf('.staging-key-4121-0123abcd')).toEqual({ pid: 4121, host: undefined });
    expect(ownerOf('.staging-key-4121@node-7.example-0123abcd')).toEqual({
      pid: 4121,
      host: 'node-7.example',
    });
    expect(ownerOf('data.bin')).toBeUndefined();
    expect(ownerOf('.staging-key-4121@host-xyz')).toBeUndefined();
  });

  it('thisHost keeps only [A-Za-z0-9.-]', () => {
    expect(thisHost()).toMatch(/^[A-Za-z0-9._-]+$/);
    expect(thisHost()).toBe(hostname().replace(/[^A-Za-z0-9.-]/g, '_'));
  });

  it('processAlive: this process and its parent live, an exited one and bad pids not', () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(process.ppid)).toBe(true);
    expect(processAlive(deadPid())).toBe(false);
    for (const pid of [0, -1, 1.5, Number.NaN]) expect(processAlive(pid)).toBe(false);
  });

  it('isDeadOwner judges only owners of this host, never this process', () => {
    const dead = deadPid();
    expect(isDeadOwner({ pid: dead, host: thisHost() })).toBe(true);
    expect(isDeadOwner({ pid: dead, host: undefined })).toBe(true);
    expect(isDeadOwner({ pid: dead, host: 'another-host.example' })).toBe(false);
    expect(isDeadOwner({ pid: process.pid, host: thisHost() })).toBe(false);
    expect(isDeadOwner({ pid: process.ppid, host: thisHost() })).toBe(false);
    expect(isDeadLeftover(`.tmp-${dead}@${thisHost()}-0123abcd`)).toBe(true);
    expect(isDeadLeftover(`.tmp-${process.ppid}@${thisHost()}-0123abcd`)).toBe(false);
    expect(isDeadLeftover('.tmp-no-owner')).toBe(false);
  });
});

describe('removeDeadLeftovers', () => {
  it('removes the temporary entries of dead owners of this host only', async () => {
    const dir = join(root, 'suffixed');
    mkdirSync(dir);
    const host = thisHost();
    const dead = deadPid();
    const live = process.ppid;
    const names = {
      deadStaging: `.staging-abc-${dead}@${host}-0123abcd`,
      deadFile: `data.json.tmp-${dead}@${host}-89abcdef`,
      legacyDead: `.staging-abc-${dead}-00112233`,
      liveStaging: `.staging-abc-${live}@${host}-44556677`,
      otherHost: `.staging-abc-${dead}@another-host.example-8899aabb`,
      notTemporary: `kept-${dead}@${host}-0123abcd`,
      unparseable: '.staging-abc',
    };
    for (const [k, n] of Object.entries(names)) {
      if (k === 'deadFile') writeFileSync(join(dir, n), 'x');
      else mkdirSync(join(dir, n));
    }
    const isTemporary = (n: string) => n.startsWith('.staging-') || n.includes('.tmp-');
    const removed = await removeDeadLeftovers(dir, isTemporary);
    expect(removed.sort()).toEqual([names.deadStaging, names.deadFile, names.legacyDead].sort());
    expect(readdirSync(dir).sort()).toEqual(
      [names.liveStaging, names.otherHost, names.notTemporary, names.unparseable].sort(),
    );
    expect(await removeDeadLeftovers(join(root, 'missing'), isTemporary)).toEqual([]);
  });

  it('reads owners from other name layouts with a custom parser, and spares a live process', async () => {
    // `.<name>.tmp-<pid>@<host>`: an owner without the random suffix.
    const dir = join(root, 'custom');
    mkdirSync(dir);
    const layout = /^\..+\.tmp-(\d+)(?:@([A-Za-z0-9._-]+))?$/;
    const owner = (n: string): TempOwner | undefined => {
      const m = layout.exec(n);
      return m ? { pid: Number(m[1]), host: m[2] } : undefined;
    };
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      const names = {
        dead: `.last.tmp-${deadPid()}@${thisHost()}`,
        live: `.best.tmp-${sleeper.pid}@${thisHost()}`,
      };
      for (const n of Object.values(names)) mkdirSync(join(dir, n));
      const isTemporary = (n: string) => layout.test(n);
      expect(await removeDeadLeftovers(dir, isTemporary, owner)).toEqual([names.dead]);
      sleeper.kill();
      await new Promise((resolve) => sleeper.once('exit', resolve));
      expect(await removeDeadLeftovers(dir, isTemporary, owner)).toEqual([names.live]);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      sleeper.kill();
    }
  });
});
