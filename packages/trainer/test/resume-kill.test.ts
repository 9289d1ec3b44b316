/**
 * A real kill: a child process trains on the cpu backend, is SIGKILLed after its second
 * checkpoint, and is resumed by a second child. The resumed run must end with exactly the
 * metrics of an uninterrupted child run. (cpu only: the child picks its backend itself.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = dirname(dirname(fileURLToPath(import.meta.url)));
const script = join(pkg, 'test', 'child', 'run-child.ts');

function child(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: pkg,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function exited(
  p: ChildProcess,
): Promise<{ code: number | null; signal: string | null; err: string }> {
  let err = '';
  p.stderr!.on('data', (d) => {
    err += String(d);
  });
  return new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, err })));
}

function lastEpoch(ckpt: string): number {
  const file = join(ckpt, 'last', 'state.json');
  if (!existsSync(file)) return -1;
  try {
    return JSON.parse(readFileSync(file, 'utf8')).position.globalEpoch as number;
  } catch {
    return -1; // being renamed into place
  }
}

describe('resume after SIGKILL (cpu, child processes)', () => {
  it('ends with the same metrics as an uninterrupted run', async () => {
    const base = mkdtempSync(join(tmpdir(), 'igm-kill-'));
    // The uninterrupted reference run goes alongside the victim.
    const fullExit = exited(child([join(base, 'full'), join(base, 'full-ckpt'), '0', '0']));
    const out = join(base, 'killed');
    const ckpt = join(base, 'killed-ckpt');
    const victim = child([out, ckpt, '0', '15']);
    const victimExit = exited(victim);
    const deadline = Date.now() + 60_000;
    while (lastEpoch(ckpt) < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(lastEpoch(ckpt)).toBeGreaterThanOrEqual(2);
    victim.kill('SIGKILL');
    const killed = await victimExit;
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(join(out, 'summary.json'))).toBe(false); // it really died mid-run

    const full = await fullExit;
    expect(full.code, full.err).toBe(0);
    const resumed = await exited(child([out, ckpt, '1', '0']));
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toMatch(/resumed from .*last: epoch [2-5]/);

    const a = JSON.parse(readFileSync(join(base, 'full', 'summary.json'), 'utf8'));
    const b = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(b.final).toEqual(a.final);
    expect(b.best).toEqual(a.best);
    expect(b.steps).toBe(a.steps);
    const linesA = readFileSync(join(base, 'full', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n');
    const linesB = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    const strip = (l: string) => {
      const { seconds: _s, ...rest } = JSON.parse(l);
      return rest;
    };
    expect(linesB.map(strip)).toEqual(linesA.map(strip));
  });
});
