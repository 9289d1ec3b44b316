import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeEachBackend, expectAllClose, tf } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import {
  crossEntropy,
  crossEntropyFromProbs,
  formatDuration,
  Progress,
  readCheckpoint,
  removeDeadCheckpointTemps,
  restoreVariables,
  snapshotVariables,
  writeCheckpoint,
} from '../src/node';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'igm-ckpt-'));

describeEachBackend('checkpoints', () => {
  it('removes the temp directories of dead processes, never those of live ones', async () => {
    const dir = tmp();
    // A real dead pid: a child that has exited. A real live one: a child that is still running.
    const exited = spawnSync(
      process.execPath,
      ['-e', 'process.stdout.write(String(process.pid))'],
      {
        encoding: 'utf8',
      },
    );
    const dead = Number(exited.stdout);
    expect(() => process.kill(dead, 0)).toThrow(/ESRCH/);
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], {
      stdio: 'ignore',
    });
    try {
      const live = sleeper.pid!;
      const host = hostname();
      const names = {
        dead: `.last.tmp-${dead}@${host}`,
        legacyDead: `.best.tmp-${dead}`,
        live: `.last.tmp-${live}@${host}`,
        otherHost: `.last.tmp-${dead}@some-other-host`,
      };
      for (const n of Object.values(names)) {
        mkdirSync(join(dir, n));
        writeFileSync(join(dir, n, 'weights.bin'), 'partial');
      }
      const v = tf.variable(tf.tensor1d([1, 2]), false, 'ck_leftover');
      await writeCheckpoint(
        dir,
        'last',
        (await snapshotVariables([{ name: 'v', variable: v }])).values(),
        {
          k: 1,
        },
      );
      const left = readdirSync(dir).sort();
      expect(left).toEqual(['last', names.live, names.otherHost].sort());
      // The live process's temp directory is intact.
      expect(readFileSync(join(dir, names.live, 'weights.bin'), 'utf8')).toBe('partial');
      sleeper.kill();
      await new Promise((resolve) => sleeper.once('exit', resolve));
      expect(await removeDeadCheckpointTemps(dir)).toEqual([names.live]);
      v.dispose();
    } finally {
      sleeper.kill();
    }
  });

  it('round-trips float32 and int32 variables with a manifest and sha256', async () => {
    const a = tf.variable(
      tf.tensor2d([
        [1.5, -2],
        [3, 4.25],
      ]),
      false,
      'ck_a',
    );
    const n = tf.variable(tf.scalar(7, 'int32'), false, 'ck_n');
    const dir = tmp();
    const named = [
      { name: 'model/a', variable: a },
      { name: 'transform/count', variable: n },
    ];
    await writeCheckpoint(dir, 'last', (await snapshotVariables(named)).values(), { position: 3 });
    const manifest = JSON.parse(readFileSync(join(dir, 'last', 'manifest.json'), 'utf8'));
    expect(
      manifest.tensors.map((t: { name: string; offset: number }) => [t.name, t.offset]),
    ).toEqual([
      ['model/a', 0],
      ['transform/count', 16],
    ]);
    expect(manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
    a.assign(tf.zeros([2, 2]));
    n.assign(tf.scalar(0, 'int32'));
    const ck = await readCheckpoint<{ position: number }>(dir, 'last');
    expect(ck!.state.position).toBe(3);
    restoreVariables(tf, ck!.tensors, named, 'test');
    expectAllClose(
      a,
      [
        [1.5, -2],
        [3, 4.25],
      ],
      { atol: 0 },
    );
    expect(n.dataSync()[0]).toBe(7);
    a.dispose();
    n.dispose();
  });

  it('replaces atomically, falls back to the moved-aside copy, and detects corruption', async () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]), false, 'ck_v');
    const named = [{ name: 'v', variable: v }];
    const dir = tmp();
    await writeCheckpoint(dir, 'last', (await snapshotVariables(named)).values(), { k: 1 });
    v.assign(tf.tensor1d([4, 5, 6]));
    await writeCheckpoint(dir, 'last', (await snapshotVariables(named)).values(), { k: 2 });
    expect(existsSync(join(dir, '.last.old'))).toBe(false);
    expect((await readCheckpoint<{ k: number }>(dir, 'last'))!.state.k).toBe(2);
    // A kill between the two renames leaves only the moved-aside copy: it is still readable.
    renameSync(join(dir, 'last'), join(dir, '.last.old'));
    expect((await readCheckpoint<{ k: number }>(dir, 'last'))!.state.k).toBe(2);
    renameSync(join(dir, '.last.old'), join(dir, 'last'));
    const bin = join(dir, 'last', 'weights.bin');
    const bytes = readFileSync(bin);
    bytes[0] = bytes[0]! ^ 1;
    writeFileSync(bin, bytes);
    await expect(readCheckpoint(dir, 'last')).rejects.toThrow(/weights.bin is corrupt/);
    expect(await readCheckpoint(dir, 'nothing')).toBeNull();
    const w = tf.variable(tf.zeros([2]), false, 'ck_w');
    expect(() =>
      restoreVariables(
        tf,
        new Map([['v', { name: 'v', shape: [3], dtype: 'float32', values: new Float32Array(3) }]]),
        [{ name: 'v', variable: w }],
        'where',
      ),
    ).toThrow(/"v" has shape \[3\] in the checkpoint but \[2\] in the model/);
    expect(() => restoreVariables(tf, new Map(), [{ name: 'x', variable: w }], 'where')).toThrow(
      /no value for x/,
    );
    v.dispose();
    w.dispose();
  });

  it('cross-entropy helpers match hand-computed values', () => {
    const logits = tf.tensor2d([
      [2, 0, 0],
      [0, 1, 0],
    ]);
    const labels = tf.tensor1d([0, 2], 'int32');
    const lse0 = Math.log(Math.exp(2) + 2);
    const lse1 = Math.log(Math.exp(1) + 2);
    expectAllClose(crossEntropy(logits, labels), (lse0 - 2 + lse1) / 2, { atol: 1e-6 });
    const probs = tf.tensor2d([
      [0.5, 0.25, 0.25],
      [0.1, 0.1, 0.8],
    ]);
    expectAllClose(crossEntropyFromProbs(probs, labels), -(Math.log(0.5) + Math.log(0.8)) / 2, {
      atol: 1e-6,
    });
    expect(() => crossEntropy(logits, tf.tensor1d([0], 'int32'))).toThrow(
      /Expected integer labels of shape \[2\]/,
    );
  });
});

describe('progress', () => {
  it('draws a bar with ETA on a TTY and plain lines otherwise', () => {
    let t = 0;
    const tty = {
      out: '',
      isTTY: true,
      columns: 200,
      write(s: string) {
        this.out += s;
      },
    };
    const bar = new Progress('auto', 100, tty, () => t);
    bar.start(0);
    t = 10_000;
    bar.step(50, 'epoch 1/2', 0.5);
    expect(tty.out).toMatch(/\r\[#{12}\.{12}\] 50\/100 epoch 1\/2 loss 0\.5000 ETA 00:10/);
    const plain = {
      out: '',
      isTTY: false,
      write(s: string) {
        this.out += s;
      },
    };
    const lines = new Progress('auto', 100, plain, () => t);
    lines.start(0);
    t = 20_000;
    lines.step(50, 'x', 1);
    expect(plain.out).toBe('');
    lines.epoch(50, 'epoch 1/2 loss 1.0');
    expect(plain.out).toBe('epoch 1/2 loss 1.0 ETA 00:10\n');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(Number.NaN)).toBe('--:--');
  });
});
