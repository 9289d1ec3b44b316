/**
 * Comparison grids: `igm compare --jobs N` (job processes) and `--queue` with `igm worker`s on a
 * real Redis (Debian's redis-server on a free loopback port). Runs on cpu: each job process picks
 * its own backend, and cpu results repeat bit for bit on one machine, so every grid must end with
 * exactly the records of a sequential in-process comparison (timings aside).
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridIdOf, QUEUE_NAME, QUEUE_PREFIX } from '../src/grid/job';
import { maskSecrets, parseRedisUrl, resolveQueueUrl } from '../src/grid/redis-url';
import type { ComparisonSummary, RunRecord } from '../src/report';
import { isAlive, runMain, sleep, startIgm, stopAll } from './processes';
import { type RedisServer, redisTestsEnabled, startRedis } from './redis-server';
import { lastCheckpointEpoch } from './run-folder';

const base = mkdtempSync(join(tmpdir(), 'igm-grid-'));
/** The grid every test runs: 2 methods x 2 seeds, 4 epochs each (IGM: stages). */
const GRID = [
  'compare',
  '--dataset',
  'synthetic',
  '--methods',
  'joint,igm',
  '--seeds',
  '2',
  '--epochs',
  '4',
  '--backend',
  'cpu',
  '--no-probe',
];

/** joint x 2 seeds, 2 epochs, with the config file `name` holding `yaml`. */
function jointGrid(name: string, yaml: string, out: string): string[] {
  const cfg = join(base, name);
  writeFileSync(cfg, yaml);
  return [
    ...['compare', '--config', cfg, '--dataset', 'synthetic', '--methods', 'joint'],
    ...['--seeds', '2', '--epochs', '2', '--backend', 'cpu', '--no-probe', '--out', out],
  ];
}

/**
 * A grid whose every run fails deterministically where the runs load the data: the dataset
 * options are invalid (a local comparison refuses it before any run, having loaded the data).
 */
const failingGrid = (out: string) =>
  jointGrid('bad-data.yaml', 'datasetOptions:\n  classes: 1\n', out);

/** A grid whose every run fails deterministically in training: joint's loss diverges. */
const divergingGrid = (out: string) =>
  jointGrid('diverging.yaml', 'methodOptions:\n  joint: { learningRate: 1.0e+30 }\n', out);

/** A record without what depends on the machine's load (time, memory). */
function comparable(r: RunRecord): Omit<RunRecord, 'secondsPerEpoch' | 'peakMemoryMB'> {
  const { secondsPerEpoch: _s, peakMemoryMB: _m, ...rest } = r;
  return rest;
}

function summaryOf(dir: string): ComparisonSummary {
  return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as ComparisonSummary;
}

function epochLines(dir: string): unknown[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, ...rest } = JSON.parse(l);
      return rest;
    });
}

function expectSameResults(dir: string, reference: string): void {
  const a = summaryOf(reference).runs.map(comparable);
  const b = summaryOf(dir).runs.map(comparable);
  expect(b.map((r) => `${r.method}/${r.seed}`)).toEqual(a.map((r) => `${r.method}/${r.seed}`));
  expect(b).toEqual(a);
  expect(epochLines(dir)).toEqual(epochLines(reference));
}

/** Every file under `dir`, as text (binary files too: a password would show as its bytes). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile());
}

function expectNoSecret(secret: string, dir: string, logs: Record<string, string>): void {
  for (const file of filesUnder(dir)) {
    expect(readFileSync(file, 'latin1').includes(secret), file).toBe(false);
  }
  for (const [name, text] of Object.entries(logs)) {
    expect(text.includes(secret), `${name} shows the password`).toBe(false);
  }
}

const reference = join(base, 'sequential');

beforeAll(async () => {
  const run = await runMain([...GRID, '--jobs', '1', '--out', reference]);
  expect(run.code, run.err).toBe(0);
}, 300_000);

afterAll(async () => {
  await stopAll();
});

describe('Redis URLs and masking', () => {
  it('parses redis:// and rediss:// URLs, with the password from the URL or the environment', () => {
    const t = parseRedisUrl('redis://:pa%40ss@10.0.0.5:6380/2', {});
    expect(t).toMatchObject({ host: '10.0.0.5', port: 6380, db: 2, tls: false, password: 'pa@ss' });
    expect(t.display).toBe('redis://:***@10.0.0.5:6380/2');
    const tls = parseRedisUrl('rediss://alice:secret-1@redis.example:6390', {});
    expect(tls).toMatchObject({ tls: true, username: 'alice', port: 6390, db: 0 });
    expect(tls.display).toBe('rediss://alice:***@redis.example:6390/0');
    const env = parseRedisUrl('redis://127.0.0.1', { IGM_REDIS_PASSWORD: 'from-env-pw' });
    expect(env).toMatchObject({
      port: 6379,
      password: 'from-env-pw',
      passwordFrom: 'IGM_REDIS_PASSWORD',
    });
    expect(env.display).toBe('redis://:***@127.0.0.1:6379/0');
    expect(parseRedisUrl('redis://[::1]:7000', {}).address).toBe('[::1]:7000');
  });

  it('rejects what is not a Redis URL, without showing the password', () => {
    expect(() => parseRedisUrl('http://:pw-hidden@host:6379', {})).toThrow(/scheme "http"/);
    expect(() => parseRedisUrl('http://:pw-hidden@host:6379', {})).not.toThrow(/pw-hidden/);
    expect(() => parseRedisUrl('redis://:pw-hidden@host:6379/x', {})).toThrow(/database "x"/);
    expect(() => parseRedisUrl('redis://host:6379?tls=1', {})).toThrow(/query parameters/);
    expect(() => parseRedisUrl('not a url', {})).toThrow(/is not a URL/);
    expect(() => resolveQueueUrl(true, '--queue', {})).toThrow(/IGM_REDIS_URL/);
    expect(resolveQueueUrl(true, '--queue', { IGM_REDIS_URL: 'redis://h:1' })).toBe('redis://h:1');
    expect(resolveQueueUrl('redis://x:2', '--queue', { IGM_REDIS_URL: 'redis://h:1' })).toBe(
      'redis://x:2',
    );
  });

  it('masks URL passwords and every password it parsed, anywhere in a text', () => {
    expect(maskSecrets('at redis://:abc@h:1/0 and rediss://u:p%3Aq@h2 ok')).toBe(
      'at redis://:***@h:1/0 and rediss://u:***@h2 ok',
    );
    parseRedisUrl('redis://:registered-pw@h:1', {});
    expect(maskSecrets('error: bad registered-pw here')).toBe('error: bad *** here');
    expect(maskSecrets('redis://h:6379/0 without password')).toBe(
      'redis://h:6379/0 without password',
    );
  });
});

describe('igm compare --jobs (job processes)', () => {
  it('runs 2 jobs at once and ends with exactly the sequential results', async () => {
    const out = join(base, 'jobs-2');
    const run = await runMain([...GRID, '--jobs', '2', '--out', out]);
    expect(run.code, run.err).toBe(0);
    expect(run.err).toMatch(/2 job processes \(1 thread each\), 4 runs to go/);
    expect(run.out).toMatch(/Report: /);
    expectSameResults(out, reference);
    for (const f of ['report.md', 'report.html', 'config.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    // --resume of a finished grid: the table again, nothing run or rewritten.
    const summary = readFileSync(join(out, 'summary.json'), 'utf8');
    const again = await runMain([...GRID, '--jobs', '2', '--out', out, '--resume']);
    expect(again.code, again.err).toBe(0);
    expect(again.err).toMatch(/All 4 runs of .* are finished; nothing to do/);
    expect(again.out).toMatch(/Report: /);
    expect(readFileSync(join(out, 'summary.json'), 'utf8')).toBe(summary);
  }, 300_000);

  it('retries a run whose job process was killed, and continues after Ctrl-C with --resume', async () => {
    const out = join(base, 'jobs-interrupted');
    const cmp = startIgm([...GRID, '--jobs', '2', '--out', out]);
    // SIGKILL a job process (as the out-of-memory killer would) once a run has a checkpoint.
    const deadline = Date.now() + 120_000;
    let killed: number | undefined;
    while (killed === undefined && Date.now() < deadline) {
      const midRun = ['joint', 'igm'].some((m) =>
        [0, 1].some((seed) => {
          const dir = join(out, m, `seed-${seed}`);
          return lastCheckpointEpoch(dir) >= 1 && !existsSync(join(dir, 'record.json'));
        }),
      );
      // The job processes are the compare's children that run job-child (tsx may add esbuild).
      const jobProcesses = spawnSync('ps', ['-o', 'pid=,args=', '--ppid', String(cmp.pid)], {
        encoding: 'utf8',
      })
        .stdout.split('\n')
        .filter((line) => line.includes('job-child'))
        .map((line) => Number.parseInt(line.trim(), 10))
        .filter((pid) => pid > 0);
      if (midRun && jobProcesses.length === 2) {
        killed = jobProcesses[0]!;
        process.kill(killed, 'SIGKILL');
      }
      await sleep(10);
    }
    expect(killed, cmp.output()).toBeDefined();
    await cmp.waitFor(/retrying from its last checkpoint \(attempt 2 of 3\)/, 60_000);
    cmp.child.kill('SIGINT');
    const stopped = await cmp.exited;
    expect(stopped.code, cmp.output()).toBe(130);
    expect(cmp.output()).toContain(
      `continue with:\n  igm ${GRID.join(' ')} --jobs 2 --out ${out} --resume`,
    );
    const resumed = await runMain([...GRID, '--jobs', '2', '--out', out, '--resume']);
    expect(resumed.code, resumed.err).toBe(0);
    expectSameResults(out, reference);
  }, 300_000);

  it('reports a deterministic failure once per run and exits non-zero naming the runs', async () => {
    const run = await runMain([...divergingGrid(join(base, 'jobs-bad')), '--jobs', '2']);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(
      /igm: 2 of 2 runs failed: joint seed 0 \(training diverged.*\); joint seed 1 \(training diverged/,
    );
    expect(run.err).not.toMatch(/retrying/);
    // Bad data is refused before any job process starts, with the loader's one message.
    const data = await runMain([...failingGrid(join(base, 'jobs-bad-data')), '--jobs', '2']);
    expect(data.code).toBe(1);
    expect(data.err).toMatch(/\nigm: synthetic: received classes=1\./);
    expect(data.err).not.toMatch(/job process|runs failed/);
    expect(readdirSync(join(base, 'jobs-bad-data'))).toEqual([]);
  }, 120_000);
});

describe.runIf(redisTestsEnabled())('igm compare --queue with igm workers (Redis)', () => {
  const password = `pw-${Math.random().toString(36).slice(2, 10)}`;
  let redis: RedisServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    redis = await startRedis({ password });
    env = { IGM_REDIS_URL: redis.url };
  }, 30_000);

  afterAll(async () => {
    await stopAll();
    await redis?.stop();
  });

  it('fails fast on a wrong or missing password and on a Redis that is down, naming the host only', async () => {
    const at = `127.0.0.1:${redis.port}`;
    const wrong = await runMain([
      ...GRID,
      '--queue',
      `redis://:wrong-${password}@${at}`,
      '--out',
      join(base, 'never-1'),
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain(`Redis at ${at} refused the password`);
    expect(wrong.err).not.toContain(password);
    expect(wrong.seconds).toBeLessThan(10);
    expect(existsSync(join(base, 'never-1'))).toBe(false); // nothing written before the check

    const none = await runMain([
      ...GRID,
      '--queue',
      `redis://${at}`,
      '--out',
      join(base, 'never-2'),
    ]);
    expect(none.code).toBe(1);
    expect(none.err).toContain(`Redis at ${at} requires a password`);

    const down = await startRedis();
    await down.stop();
    const refused = await runMain([
      ...GRID,
      '--queue',
      `redis://:${password}@127.0.0.1:${down.port}`,
      '--out',
      join(base, 'never-3'),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain(
      `Cannot reach Redis at 127.0.0.1:${down.port}: connection refused`,
    );
    expect(refused.err).not.toContain(password);
    expect(refused.seconds).toBeLessThan(10);

    const worker = startIgm(['worker'], { IGM_REDIS_URL: `redis://:nope-${password}@${at}` });
    const exit = await worker.exited;
    expect(exit.code).toBe(1);
    expect(worker.output()).toContain(`igm worker: Redis at ${at} refused the password`);
    expect(worker.output()).not.toContain(password);
  }, 120_000);

  it('survives a worker killed by SIGKILL mid-run: another worker resumes it and the results equal a local run', async () => {
    const out = join(base, 'queued');
    const a = startIgm(['worker', '--stall-timeout', '2'], env);
    const b = startIgm(['worker', '--stall-timeout', '2'], env);
    await Promise.all([a.waitFor(/igm worker \S+: queue/), b.waitFor(/igm worker \S+: queue/)]);
    const comparing = runMain([...GRID, '--queue', '--out', out], env);

    // Kill worker A once a run of its own has a checkpoint and is not finished.
    let victim: { method: string; seed: string } | undefined;
    const deadline = Date.now() + 180_000;
    while (!victim && Date.now() < deadline) {
      const starts = [...a.output().matchAll(/(\S+) seed (\d+): started \(attempt 1\)/g)];
      const last = starts[starts.length - 1];
      if (last) {
        const dir = join(out, last[1]!, `seed-${last[2]}`);
        if (lastCheckpointEpoch(dir) >= 1 && !existsSync(join(dir, 'record.json'))) {
          a.child.kill('SIGKILL');
          victim = { method: last[1]!, seed: last[2]! };
        }
      }
      await sleep(10);
    }
    expect(victim, `worker A never ran a run long enough:\n${a.output()}`).toBeDefined();
    expect((await a.exited).signal).toBe('SIGKILL');
    const victimDir = join(out, victim!.method, `seed-${victim!.seed}`);
    expect(existsSync(join(victimDir, 'record.json'))).toBe(false); // it died mid-run
    // Its job process exits with it (no orphan keeps training into the folder).
    const orphans = [...a.output().matchAll(/job process (\d+) started/g)].map((m) => Number(m[1]));
    expect(orphans.length).toBeGreaterThan(0);
    const orphanDeadline = Date.now() + 20_000;
    while (orphans.some(isAlive) && Date.now() < orphanDeadline) await sleep(100);
    expect(orphans.filter(isAlive)).toEqual([]);

    const c = startIgm(['worker', '--stall-timeout', '2'], env);
    const result = await comparing;
    expect(result.code, result.err).toBe(0);
    const resumedBy = `${victim!.method} seed ${victim!.seed}: started (attempt 2, continuing from its last checkpoint)`;
    expect(b.output() + c.output()).toContain(resumedBy);
    expectSameResults(out, reference);
    // The interrupted run's own epochs too (its metrics.jsonl continued from the checkpoint).
    const runEpochs = (dir: string) =>
      readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const { seconds: _s, ...rest } = JSON.parse(l);
          return rest;
        });
    expect(runEpochs(victimDir)).toEqual(
      runEpochs(join(reference, victim!.method, `seed-${victim!.seed}`)),
    );

    // The password is nowhere: not in the folder (config.json, reports, runs), not in any log.
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.queue).toBe(`redis://:***@127.0.0.1:${redis.port}/0`);
    b.child.kill('SIGINT');
    c.child.kill('SIGINT');
    expect((await b.exited).code).toBe(0);
    expect((await c.exited).code).toBe(0);
    expectNoSecret(password, out, {
      compare: result.out + result.err,
      workerA: a.output(),
      workerB: b.output(),
      workerC: c.output(),
    });
    // Nothing of this grid is left in Redis.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
    try {
      const left = await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
      expect(left.filter((j) => j.id?.startsWith(gridIdOf(resolve(out))))).toEqual([]);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  }, 400_000);

  it('reports a failing job once with its error, not retried, and exits non-zero naming it', async () => {
    const w = startIgm(['worker', '--stall-timeout', '2'], env);
    await w.waitFor(/igm worker \S+: queue/);
    const run = await runMain([...failingGrid(join(base, 'queued-bad')), '--queue'], env);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/joint seed 0 failed after 1 attempt: .*classes/);
    expect(run.err).toMatch(/igm: 2 of 2 runs failed: joint seed 0 \(.*classes.*\); joint seed 1/);
    expect(w.output().match(/joint seed 0: started/g)).toHaveLength(1);
    expect(w.output()).toMatch(/joint seed 0: failed \(not retried\)/);
    w.child.kill('SIGINT');
    expect((await w.exited).code).toBe(0);
  }, 180_000);

  it('Ctrl-C on compare leaves the queue consistent; --resume finishes the grid, also past a worker stopped mid-run', async () => {
    const out = join(base, 'interrupted');
    const w = startIgm(['worker', '--stall-timeout', '2'], env);
    await w.waitFor(/igm worker \S+: queue/);
    const cmp = startIgm([...GRID, '--queue', '--out', out], env);
    const first = join(out, 'joint', 'seed-0', 'record.json');
    const deadline = Date.now() + 120_000;
    while (!existsSync(first) && Date.now() < deadline) await sleep(50);
    expect(existsSync(first), cmp.output()).toBe(true);
    const firstWritten = statSync(first).mtimeMs;
    cmp.child.kill('SIGINT');
    const stopped = await cmp.exited;
    expect(stopped.code, cmp.output()).toBe(130);
    expect(cmp.output()).toMatch(/Withdrew \d+ queued runs?/);
    expect(cmp.output()).toContain(
      `continue with:\n  igm ${GRID.join(' ')} --queue --out ${out} --resume`,
    );

    // No job of this grid waits in the queue; at most the one the worker runs is active.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAME, { connection, prefix: QUEUE_PREFIX });
    try {
      const grid = gridIdOf(resolve(out));
      const ofGrid = (jobs: { id?: string }[]) => jobs.filter((j) => j.id?.startsWith(grid));
      expect(ofGrid(await queue.getJobs(['waiting', 'delayed', 'prioritized']))).toEqual([]);
      expect(ofGrid(await queue.getJobs(['active'])).length).toBeLessThanOrEqual(1);
    } finally {
      await queue.close();
      connection.disconnect();
    }

    const resuming = runMain([...GRID, '--queue', '--out', out, '--resume'], env);
    // Meanwhile, Ctrl-C on the worker mid-run: its run checkpoints and goes back to the queue,
    // and a second worker continues it.
    let stoppedRun: string | undefined;
    const deadline2 = Date.now() + 180_000;
    while (!stoppedRun && Date.now() < deadline2) {
      // IGM's runs are the longest: the stop lands mid-run there.
      for (const m of w.output().matchAll(/(igm) seed (\d+): started \(attempt/g)) {
        const dir = join(out, m[1]!, `seed-${m[2]}`);
        if (lastCheckpointEpoch(dir) >= 1 && !existsSync(join(dir, 'record.json'))) {
          w.child.kill('SIGINT');
          stoppedRun = `${m[1]} seed ${m[2]}`;
          break;
        }
      }
      await sleep(10);
    }
    expect(stoppedRun, w.output()).toBeDefined();
    expect((await w.exited).code).toBe(0);
    // The run stops after its current step and goes back to the queue, unless its last steps
    // ended first (a fast machine): then it simply completed on this worker.
    const requeued = w
      .output()
      .includes(`${stoppedRun}: stopped with a checkpoint; back in the queue`);
    if (!requeued) expect(w.output()).toContain(`${stoppedRun}: completed`);
    const w2 = startIgm(['worker', '--stall-timeout', '2'], env);
    const resumed = await resuming;
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.err).toMatch(/joint seed 0: already finished, reusing/);
    expect(statSync(first).mtimeMs).toBe(firstWritten); // not redone
    if (requeued) {
      expect(w2.output()).toMatch(
        new RegExp(`${stoppedRun}: started \\(attempt 2, continuing from its last checkpoint\\)`),
      );
    }
    expectSameResults(out, reference);
    w2.child.kill('SIGINT');
    expect((await w2.exited).code).toBe(0);
  }, 500_000);
});
