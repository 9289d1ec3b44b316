/**
 * Grid bench: the wall time of one `igm compare` of 2 methods x 4 seeds on synthetic data, run
 *   sequential   --jobs 1 (one run after another in one process)
 *   jobs-2       --jobs 2 (2 job processes, 1 thread each)
 *   queue-2      --queue with 2 `igm worker`s (concurrency 1) on a local redis-server
 * in one command, so the speed-ups are ratios taken on the same machine minutes apart. Every
 * configuration must end with the same records (timings aside); the bench checks it.
 *
 *   pnpm --filter @igm/cli bench          # builds, then: npx tsx bench/grid.ts [--rounds N]
 *                                         #   [--epochs N] [--train N] [--backend wasm|cpu]
 *
 * Each configuration is a fresh `igm` process, from dist/ when the packages are built (as users
 * run it), else from the sources under tsx (slower to start); the start-up of every process,
 * the parent's and the job processes', is in the time. The queue's workers (and their job
 * processes) are started before its compare is timed, as standing workers would be. Writes
 * bench/results/grid.json with the command and every round.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ComparisonSummary } from '../src/report';
import { startRedis } from '../test/redis-server';
import { cpuTicks, machineLabel } from './machine';

const pkg = dirname(dirname(fileURLToPath(import.meta.url)));

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const rounds = Number(flag('rounds', '1'));
// Large enough that start-up (about 2 s per process from dist) is small beside the work.
const epochs = flag('epochs', '24');
const train = Number(flag('train', '8192'));
const backend = flag('backend', 'wasm');

const built = ['cli', 'baselines', 'trainer', 'datasets', 'igm', 'wasm-training'].every((p) =>
  existsSync(join(pkg, '..', p, 'dist', p === 'cli' ? 'job-child.js' : 'index.js')),
);
const entry = built ? ['dist/bin.js'] : ['--import', 'tsx', 'src/bin.ts'];

const work = mkdtempSync(join(tmpdir(), 'igm-grid-bench-'));
const config = join(work, 'grid.yaml');
writeFileSync(
  config,
  `dataset: synthetic\nmethods: [joint, igm]\nseeds: 4\nepochs: ${epochs}\nbackend: ${backend}\n` +
    `datasetOptions:\n  samples: { train: ${train}, validation: 256, test: 256 }\n`,
);

const live = new Set<ReturnType<typeof spawn>>();

interface Igm {
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  output(): string;
}

/** GNU time, to read the CPU seconds of a compare and the job processes it waited for. */
const gnuTime = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
const CPU_LINE = /^IGM_BENCH_CPU ([\d.]+) ([\d.]+)$/m;

function igm(args: string[], env: NodeJS.ProcessEnv = {}, withCpu = false): Igm {
  const command = [process.execPath, ...entry, ...args];
  const wrapped = withCpu && gnuTime ? [gnuTime, '-f', 'IGM_BENCH_CPU %U %S', ...command] : command;
  const child = spawn(wrapped[0]!, wrapped.slice(1), {
    cwd: pkg,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.on('exit', () => live.delete(child));
  let text = '';
  child.stdout.on('data', (d) => {
    text += String(d);
  });
  child.stderr.on('data', (d) => {
    text += String(d);
  });
  return {
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    kill: (signal) => child.kill(signal),
    output: () => text,
  };
}

/** CPU seconds (user + system) of each timed compare and its job processes (GNU time). */
const cpuDuring: Record<string, number[]> = {};

/** Machine-wide fraction of CPU time that was idle during each timed configuration. */
const idleDuring: Record<string, number[]> = {};

async function timed(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const before = cpuTicks();
  const started = performance.now();
  const run = igm(args, env, true);
  const code = await run.exited;
  if (code !== 0) throw new Error(`igm ${args.join(' ')} exited with ${code}:\n${run.output()}`);
  const seconds = (performance.now() - started) / 1000;
  const after = cpuTicks();
  if (before && after) {
    const total = after.total - before.total;
    idleDuring[name] ??= [];
    idleDuring[name].push(total > 0 ? 1 - (after.busy - before.busy) / total : Number.NaN);
  }
  const cpu = CPU_LINE.exec(run.output());
  if (cpu) {
    cpuDuring[name] ??= [];
    cpuDuring[name].push(Number(cpu[1]) + Number(cpu[2]));
  }
  return seconds;
}

function records(out: string): string {
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ComparisonSummary;
  return JSON.stringify(summary.runs.map(({ secondsPerEpoch: _s, peakMemoryMB: _m, ...r }) => r));
}

const redis = await startRedis();
const results: Array<Record<string, number>> = [];
// Ctrl-C: stop what runs, the server, and leave no folder behind.
process.once('SIGINT', () => {
  for (const child of live) child.kill('SIGKILL');
  void redis.stop().then(() => {
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
});

const range = (key: string) => {
  const v = results.map((r) => r[key]!);
  return { min: Math.min(...v), max: Math.max(...v) };
};
/** Writes the figures so far (after every round, so a stopped bench keeps what it measured). */
function save(): Record<string, unknown> {
  const summary = {
    command: `npx tsx bench/grid.ts --rounds ${rounds} --epochs ${epochs} --train ${train} --backend ${backend}`,
    grid: `synthetic (train ${train}, validation 256, test 256), methods joint + igm, 4 seeds, ${epochs} epochs, ${backend} backend, 1 thread per process`,
    started: built ? 'dist (built packages)' : 'sources under tsx',
    machine: `${machineLabel()}, shared with other work`,
    note:
      'idleCpu*: fraction of the whole machine idle while that configuration ran; near 0 means other work took the cores, and no speed-up can show. ' +
      'cpuSeconds*: user + system CPU of the compare process and the job processes it started (the queue workers run elsewhere: not counted).',
    rounds: results,
    speedupJobs2: range('speedupJobs2'),
    speedupQueue2: range('speedupQueue2'),
    identicalRecords: true,
  };
  mkdirSync(join(pkg, 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(pkg, 'bench', 'results', 'grid.json'),
    `${JSON.stringify(summary, null, 2)}\n`,
  );
  return summary;
}

try {
  for (let round = 0; round < rounds; round++) {
    const outs = {
      sequential: join(work, `r${round}-sequential`),
      jobs2: join(work, `r${round}-jobs-2`),
      queue2: join(work, `r${round}-queue-2`),
    };
    const load = loadavg()[0]!;
    const sequential = await timed('sequential', [
      'compare',
      '--config',
      config,
      '--jobs',
      '1',
      '--out',
      outs.sequential,
    ]);
    const jobs2 = await timed('jobs2', [
      'compare',
      '--config',
      config,
      '--jobs',
      '2',
      '--out',
      outs.jobs2,
    ]);
    const workers = [0, 1].map(() => igm(['worker', '--queue', redis.url]));
    let queue2: number;
    try {
      // Wait until both workers are connected.
      const deadline = Date.now() + 60_000;
      while (!workers.every((w) => /igm worker \S+: queue/.test(w.output()))) {
        if (Date.now() > deadline) throw new Error('the workers did not start');
        await new Promise((r) => setTimeout(r, 100));
      }
      queue2 = await timed('queue2', [
        'compare',
        '--config',
        config,
        '--queue',
        redis.url,
        '--out',
        outs.queue2,
      ]);
    } finally {
      for (const w of workers) w.kill('SIGINT');
      await Promise.all(workers.map((w) => w.exited));
    }
    const reference = records(outs.sequential);
    for (const [name, out] of Object.entries(outs)) {
      if (records(out) !== reference) throw new Error(`${name}: records differ from sequential`);
    }
    const idle = (name: string) => idleDuring[name]![round]!;
    const row = {
      sequentialSeconds: sequential,
      jobs2Seconds: jobs2,
      queue2Seconds: queue2,
      speedupJobs2: sequential / jobs2,
      speedupQueue2: sequential / queue2,
      loadAverageBefore: load,
      idleCpuSequential: idle('sequential'),
      idleCpuJobs2: idle('jobs2'),
      idleCpuQueue2: idle('queue2'),
      ...(cpuDuring['sequential']
        ? {
            cpuSecondsSequential: cpuDuring['sequential'][round]!,
            cpuSecondsJobs2: cpuDuring['jobs2']![round]!,
          }
        : {}),
    };
    results.push(row);
    save();
    console.log(
      `round ${round + 1}/${rounds}: sequential ${sequential.toFixed(1)} s, --jobs 2 ${jobs2.toFixed(1)} s (${row.speedupJobs2.toFixed(2)}x), ` +
        `queue with 2 workers ${queue2.toFixed(1)} s (${row.speedupQueue2.toFixed(2)}x); load average before ${load.toFixed(2)}, ` +
        `machine CPU idle ${[row.idleCpuSequential, row.idleCpuJobs2, row.idleCpuQueue2].map((f) => `${(100 * f).toFixed(0)}%`).join(' / ')}` +
        (row.cpuSecondsSequential !== undefined
          ? `; CPU seconds sequential ${row.cpuSecondsSequential.toFixed(1)}, --jobs 2 ${row.cpuSecondsJobs2!.toFixed(1)}`
          : ''),
    );
  }
} finally {
  await redis.stop();
  rmSync(work, { recursive: true, force: true });
}

const summary = save();
console.log(
  JSON.stringify({
    speedupJobs2: summary['speedupJobs2'],
    speedupQueue2: summary['speedupQueue2'],
  }),
);
