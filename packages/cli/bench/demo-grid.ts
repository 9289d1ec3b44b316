/**
 * Whole-demo bench (issue 17): the wall time of the demo's grid,
 *
 *   igm compare --dataset av-mnist-imbalanced --methods joint,ogm-ge,pmr,agm,mla,igm
 *               --preset quick --seeds S --backend auto
 *
 * run from the built dist/ as the demo runs it (the build excluded), against the same grid in
 * PyTorch (tools/reference/demo/torch_demo_grid.py: same data, models, epochs, stages, methods
 * and evaluation cadence), in one command, so that the ratios are taken minutes apart on the
 * same machine. Configurations:
 *
 *   ours-sequential   --jobs 1 --threads 1     one process, one wasm thread
 *   ours-jobs2        --jobs 2 --threads 1     two job processes, one thread each
 *   ours-threads2     --jobs 1 --threads 2     one process, two wasm threads
 *   torch-1t          1 process, 1 thread      (torch.set_num_threads + OMP/OpenBLAS/MKL)
 *   torch-2t          1 process, 2 threads
 *   torch-jobs2       2 processes, 1 thread each
 *
 * Each round runs every configuration once, in alternating order (round 2 backwards), as a fresh
 * process; every figure comes with the load average before and after and the fraction of the
 * machine that stayed idle meanwhile. Ratios ours / PyTorch are taken within a round; the JSON
 * keeps every round and the medians.
 *
 *   pnpm build && cd packages/cli && FSDD_DIR=... npx tsx bench/demo-grid.ts \
 *     [--seeds 1] [--rounds 1] [--epochs N] [--configs a,b] [--torch-blas DIR] [--data DIR]
 *     [--count-work] [--out bench/results/demo-grid.json]
 *
 * --torch-blas DIR: a folder put first on PyTorch's LD_LIBRARY_PATH, e.g. the openblas-pthread
 * folder of Debian's libopenblas0-pthread. Debian's python3-torch runs its products on the system
 * libblas.so.3; with only the reference BLAS installed it is not the PyTorch anyone would compare
 * with, and the bench says so (the JSON records which BLAS PyTorch loaded).
 * --count-work: also runs the grid once more, untimed, counting every tfjs kernel call and the
 * FLOPs of the matrix products (bench/demo-grid/count-work.ts), with the multiply-add peak of one
 * wasm thread: `work.productsAtPeakSeconds` is what the products alone would take at that peak,
 * a floor for our grid on one core, set against PyTorch's whole grid. It then replays the
 * grid's matrix products alone, shape by shape, in our wasm kernels and in PyTorch
 * (tools/reference/demo/torch_products.py, one thread each): `work.productsReplay` splits each
 * side's one-thread grid into its products and the rest of the training loop.
 * --epochs N: a shorter budget for a smoke test. The PyTorch script gets the plan of
 * `igm compare ... --dry-run --json` (epochs, windows, IGM's stages, learning rates per run).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MatrixProductShape } from '@igm/test-utils/bench';
import type { ComparisonSummary } from '../src/report';
import { exportDataset } from './demo-grid/export-data';
import { machineLabel, type TimedProcess, timeProcess } from './machine';

const pkg = dirname(dirname(fileURLToPath(import.meta.url)));
const root = resolve(pkg, '..', '..');

function flag(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const METHODS = 'joint,ogm-ge,pmr,agm,mla,igm';
const seeds = Number(flag('seeds', '1'));
const rounds = Number(flag('rounds', '1'));
const epochs = flag('epochs');
const torchBlas = flag('torch-blas');
const outFile = resolve(flag('out', join(pkg, 'bench', 'results', 'demo-grid.json'))!);
const python = flag('python', '/usr/bin/python3')!;
const countWork = process.argv.includes('--count-work');

interface Config {
  readonly name: string;
  readonly side: 'ours' | 'torch';
  readonly jobs: number;
  readonly threads: number;
}
const CONFIGS: readonly Config[] = [
  { name: 'ours-sequential', side: 'ours', jobs: 1, threads: 1 },
  { name: 'ours-jobs2', side: 'ours', jobs: 2, threads: 1 },
  { name: 'ours-threads2', side: 'ours', jobs: 1, threads: 2 },
  { name: 'torch-1t', side: 'torch', jobs: 1, threads: 1 },
  { name: 'torch-2t', side: 'torch', jobs: 1, threads: 2 },
  { name: 'torch-jobs2', side: 'torch', jobs: 2, threads: 1 },
];
const chosen = flag('configs')?.split(',') ?? CONFIGS.map((c) => c.name);
for (const c of chosen) {
  if (!CONFIGS.some((k) => k.name === c)) {
    throw new Error(
      `--configs: unknown configuration "${c}". Known: ${CONFIGS.map((k) => k.name).join(', ')}.`,
    );
  }
}
const configs = CONFIGS.filter((c) => chosen.includes(c.name));

const bin = join(pkg, 'dist', 'bin.js');
if (!existsSync(bin) || !existsSync(join(pkg, 'dist', 'job-child.js'))) {
  throw new Error(`${bin} is missing: run pnpm build first (the bench times the built CLI).`);
}
const fsddDir = process.env['FSDD_DIR'];
if (!fsddDir) throw new Error('Set FSDD_DIR to the FSDD recordings folder.');

const workDir = mkdtempSync(join(tmpdir(), 'igm-demo-grid-'));
process.once('exit', () => rmSync(workDir, { recursive: true, force: true }));
const data = flag('data') ?? join(workDir, 'data');
if (!flag('data')) {
  console.log(`exporting av-mnist-imbalanced to ${data} ...`);
  await exportDataset('av-mnist-imbalanced', data, { fsddDir });
}

/** The grid's plan as the CLI resolves it; the PyTorch script trains exactly these runs. */
const planFile = join(workDir, 'plan.json');
{
  const { execFileSync } = await import('node:child_process');
  const plan = execFileSync(
    process.execPath,
    [bin, 'compare', ...gridFlags(), '--dry-run', '--json'],
    { cwd: root, env: { ...process.env, FSDD_DIR: fsddDir }, encoding: 'utf8' },
  );
  writeFileSync(planFile, plan);
}

/** The demo's flags (scripts/demo.sh) without the output folder and the parallelism. */
function gridFlags(): string[] {
  return [
    '--dataset',
    'av-mnist-imbalanced',
    '--methods',
    METHODS,
    '--seeds',
    String(seeds),
    '--preset',
    'quick',
    '--backend',
    'auto',
    ...(epochs ? ['--epochs', epochs] : []),
  ];
}

function commandOf(
  c: Config,
  out: string,
): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  if (c.side === 'ours') {
    return {
      command: process.execPath,
      args: [
        bin,
        'compare',
        ...gridFlags(),
        '--jobs',
        String(c.jobs),
        '--threads',
        String(c.threads),
        '--out',
        out,
      ],
      env: { FSDD_DIR: fsddDir },
    };
  }
  return {
    command: python,
    args: [
      join(root, 'tools', 'reference', 'demo', 'torch_demo_grid.py'),
      '--data',
      data,
      '--plan',
      planFile,
      '--jobs',
      String(c.jobs),
      '--threads',
      String(c.threads),
      '--json',
      `${out}.json`,
    ],
    env: torchBlas
      ? {
          LD_LIBRARY_PATH: [torchBlas, process.env['LD_LIBRARY_PATH']].filter(Boolean).join(':'),
        }
      : {},
  };
}

interface TorchResult {
  blas: { kind: string; files: string[] };
  torch: string;
  runs: Array<{
    method: string;
    seed: number;
    test: Record<string, number>;
    probe?: Record<string, number>;
  }>;
}

interface Measured {
  seconds: number;
  cpuSeconds?: number;
  idle?: number;
  loadBefore: number;
  loadAfter: number;
  loadMean: number;
}

const rows: Array<Record<string, Measured>> = [];
const accuracy: Record<
  string,
  Record<string, { fused: number; audio: number; visual: number }>
> = {};
let blas: TorchResult['blas'] | undefined;
let torchVersion: string | undefined;
let oursRecords: string | undefined;
let identicalOurs = true;
/** The grid's arithmetic (--count-work), from bench/demo-grid/count-work.ts. */
let work:
  | {
      productFlops: number;
      kernelCalls: number;
      byKernel: Record<string, { calls: number; flops: number }>;
      maddPeakGflopsPerThread: number;
      productsAtPeakSeconds: number;
      dispatchMicrosecondsPerCall: number;
      dispatchSeconds: number;
      matrixProductShapes: number;
      productsReplaySeconds: number;
      productsFile: string;
    }
  | undefined;
/** PyTorch's replay of the same products (--count-work), from torch_products.py. */
let torchProducts:
  | {
      seconds: number;
      blas: TorchResult['blas'];
      /** Each shape with its seconds in our replay and in PyTorch's. */
      shapes: Array<MatrixProductShape & { oursSeconds: number; seconds: number }>;
    }
  | undefined;

function oursAccuracies(
  out: string,
): Record<string, { fused: number; audio: number; visual: number }> {
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as ComparisonSummary;
  const expected = (METHODS.split(',').length + 1) * seeds;
  if (summary.runs.length !== expected) {
    throw new Error(`${out}: ${summary.runs.length} runs finished, expected ${expected}.`);
  }
  const records = JSON.stringify(
    summary.runs.map(({ secondsPerEpoch: _s, peakMemoryMB: _m, ...r }) => r),
  );
  if (oursRecords === undefined) oursRecords = records;
  else if (records !== oursRecords) identicalOurs = false;
  const mean = (
    method: string,
    pick: (t: NonNullable<(typeof summary.runs)[number]['bestOnValidation']>['test']) => number,
  ) => {
    const runs = summary.runs.filter((r) => r.method === method);
    return runs.reduce((a, r) => a + pick((r.bestOnValidation ?? r.final).test), 0) / runs.length;
  };
  return Object.fromEntries(
    [...new Set(summary.runs.map((r) => r.method))].map((m) => [
      m,
      {
        fused: mean(m, (t) => t.accuracy),
        audio: mean(m, (t) => t.perModality['audio']!.accuracy),
        visual: mean(m, (t) => t.perModality['visual']!.accuracy),
      },
    ]),
  );
}

function torchAccuracies(
  result: TorchResult,
): Record<string, { fused: number; audio: number; visual: number }> {
  const out: Record<string, { fused: number; audio: number; visual: number }> = {};
  for (const m of [...new Set(result.runs.map((r) => r.method))]) {
    const runs = result.runs.filter((r) => r.method === m);
    const mean = (k: string) => runs.reduce((a, r) => a + r.test[k]!, 0) / runs.length;
    out[m] = { fused: mean('fused'), audio: mean('audio'), visual: mean('visual') };
  }
  return out;
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
};

function ratiosOf(row: Record<string, Measured>): Record<string, number> {
  const r: Record<string, number> = {};
  const torch = configs.filter((c) => c.side === 'torch' && row[c.name]);
  const ours = configs.filter((c) => c.side === 'ours' && row[c.name]);
  const bestTorch = torch.length ? Math.min(...torch.map((c) => row[c.name]!.seconds)) : Number.NaN;
  for (const o of ours) {
    for (const t of torch) r[`${o.name}/${t.name}`] = row[o.name]!.seconds / row[t.name]!.seconds;
    if (torch.length) r[`${o.name}/torch-best`] = row[o.name]!.seconds / bestTorch;
  }
  if (ours.length && torch.length) {
    r['ours-best/torch-best'] = Math.min(...ours.map((c) => row[c.name]!.seconds)) / bestTorch;
  }
  const seq = row['ours-sequential']?.seconds;
  if (seq !== undefined) {
    if (row['ours-jobs2']) r['speedup ours-jobs2'] = seq / row['ours-jobs2'].seconds;
    if (row['ours-threads2']) r['speedup ours-threads2'] = seq / row['ours-threads2'].seconds;
  }
  const t1 = row['torch-1t']?.seconds;
  if (t1 !== undefined) {
    if (row['torch-2t']) r['speedup torch-2t'] = t1 / row['torch-2t'].seconds;
    if (row['torch-jobs2']) r['speedup torch-jobs2'] = t1 / row['torch-jobs2'].seconds;
  }
  return r;
}

/** The counting run's figures as the JSON keeps them (the replay goes to productsReplay). */
function countedWork(w: NonNullable<typeof work>) {
  const { productsFile: _file, productsReplaySeconds: _replay, ...kept } = w;
  return kept;
}

/**
 * The grid's products replayed alone on each side (one thread) and what remains of each side's
 * one-thread grid once they are taken out.
 */
function productsReplayOf(medians: Record<string, number | undefined>) {
  if (!work || !torchProducts) return undefined;
  const ours = work.productsReplaySeconds;
  const torch = torchProducts.seconds;
  const oursGrid = medians['ours-sequential'];
  const torchGrid = medians['torch-1t'];
  return {
    note: "Every matrix-product shape the counted run executed, timed alone (0.15 s of CPU or its call count, after two warm-up products) and multiplied by its call count, one thread, warm operands: ours through tf.matMul on the wasm kernels, PyTorch's through torch.matmul (tools/reference/demo/torch_products.py) on the BLAS it reports; a _FusedMatMul is replayed without its bias/activation epilogue on both sides. restSeconds: the median one-thread grid minus its products, i.e. everything else the run does (the other kernels, the engine's bookkeeping and autograd, data, evaluation, probes, checkpoints, GC). largestShapes: the products that cost us most (m x k x n, ᵀ: operand stored transposed).",
    shapes: work.matrixProductShapes,
    oursSeconds: ours,
    torchSeconds: torch,
    torchBlas: torchProducts.blas.kind,
    oursOverTorch: ours / torch,
    oursProductsOverTorchGrid1t: torchGrid !== undefined ? ours / torchGrid : undefined,
    oursRestSeconds: oursGrid !== undefined ? oursGrid - ours : undefined,
    torchRestSeconds: torchGrid !== undefined ? torchGrid - torch : undefined,
    restOursOverTorch:
      oursGrid !== undefined && torchGrid !== undefined
        ? (oursGrid - ours) / (torchGrid - torch)
        : undefined,
    largestShapes: [...torchProducts.shapes]
      .sort((a, b) => b.oursSeconds - a.oursSeconds)
      .slice(0, 8)
      .map((p) => {
        const flops = 2 * p.batch * p.m * p.k * p.n * p.calls;
        return {
          product: `${p.batch > 1 ? `${p.batch}x` : ''}${p.m}x${p.k}x${p.n}${p.transposeA ? ' Aᵀ' : ''}${p.transposeB ? ' Bᵀ' : ''}`,
          calls: p.calls,
          oursSeconds: p.oursSeconds,
          torchSeconds: p.seconds,
          oursGflops: flops / p.oursSeconds / 1e9,
          torchGflops: flops / p.seconds / 1e9,
        };
      }),
  };
}

const command = `npx tsx bench/demo-grid.ts --seeds ${seeds} --rounds ${rounds}${epochs ? ` --epochs ${epochs}` : ''}${flag('configs') ? ` --configs ${chosen.join(',')}` : ''}${torchBlas ? ` --torch-blas ${torchBlas}` : ''}${countWork ? ' --count-work' : ''}`;

function save(): Record<string, unknown> {
  const names = configs.map((c) => c.name);
  const medians = Object.fromEntries(names.map((n) => [n, median(rows.map((r) => r[n]!.seconds))]));
  const ratioRows = rows.map(ratiosOf);
  const ratioKeys = [...new Set(ratioRows.flatMap((r) => Object.keys(r)))];
  const summary = {
    command: `cd packages/cli && FSDD_DIR=<recordings> ${command}`,
    grid: `igm compare --dataset av-mnist-imbalanced --methods ${METHODS} --preset quick --seeds ${seeds} --backend auto${epochs ? ` --epochs ${epochs}` : ''} (7 runs per seed with the unimodal probe reference), from dist/, build excluded; PyTorch: tools/reference/demo/torch_demo_grid.py --plan <the dry run's JSON> on the same arrays`,
    machine: `${machineLabel()}, shared with other work unless the load figures say otherwise`,
    node: process.version,
    torch: torchVersion,
    torchBlas: blas,
    note:
      'seconds: wall time of the whole command (process start to exit; ours includes data loading, the linear probes and the HTML report). ' +
      'loadBefore/loadAfter/loadMean: 1-minute load average at the start, at the end, and its mean over samples every 5 s; idle: fraction of the machine idle during the run (near 0: other work took the cores and the two-core configurations cannot show a speed-up). ' +
      'cpuSeconds: user + system CPU of the command and its children. Ratios are taken within a round.',
    rounds: rows.map((row, i) => ({ ...row, ratios: ratioRows[i] })),
    medianSeconds: medians,
    medianRatios: Object.fromEntries(
      ratioKeys.map((k) => [k, median(ratioRows.map((r) => r[k]!).filter(Number.isFinite))]),
    ),
    identicalRecordsAcrossOurConfigurations: identicalOurs,
    ...(work
      ? {
          work: {
            ...countedWork(work),
            note:
              'One untimed sequential run of the grid (wasm, 1 thread) with every kernel call counted. productFlops: the matrix products counted directly (2·m·n·k). ' +
              'productsAtPeakSeconds: productFlops at maddPeakGflopsPerThread (independent 128-bit FMA chains, CPU time), the least time the products alone need on one core. ' +
              "productsAtPeakOverTorch1t: that floor divided by the median wall time of PyTorch's whole grid on one thread. " +
              'productsReplay: the same products timed alone on both sides (its own note).',
            productsAtPeakOverTorch1t:
              medians['torch-1t'] !== undefined
                ? work.productsAtPeakSeconds / medians['torch-1t']
                : undefined,
            floorOverTorch1t:
              medians['torch-1t'] !== undefined
                ? (work.productsAtPeakSeconds + work.dispatchSeconds) / medians['torch-1t']
                : undefined,
            floorTwoCoresOverTorchBest: (() => {
              const torch = configs
                .filter((c) => c.side === 'torch')
                .map((c) => medians[c.name])
                .filter((v): v is number => v !== undefined);
              return torch.length
                ? (work.productsAtPeakSeconds + work.dispatchSeconds) / 2 / Math.min(...torch)
                : undefined;
            })(),
            productsReplay: productsReplayOf(medians),
            kernelCallsPerSecondOfOursSequential:
              medians['ours-sequential'] !== undefined
                ? work.kernelCalls / medians['ours-sequential']
                : undefined,
          },
        }
      : {}),
    testAccuracy: accuracy,
  };
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(summary, null, 2)}\n`);
  return summary;
}

if (countWork) {
  const { execFileSync } = await import('node:child_process');
  console.log("counting the grid's kernel calls and product FLOPs (one untimed run) ...");
  const printed = execFileSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(pkg, 'bench', 'demo-grid', 'count-work.ts'),
      join(workDir, 'count'),
      ...gridFlags(),
    ],
    { cwd: root, env: { ...process.env, FSDD_DIR: fsddDir }, encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  work = JSON.parse(printed.trim().split('\n').pop()!);
  console.log('replaying the same products in PyTorch (one thread) ...');
  execFileSync(
    python,
    [
      join(root, 'tools', 'reference', 'demo', 'torch_products.py'),
      '--products',
      work!.productsFile,
      '--json',
      join(workDir, 'torch-products.json'),
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        ...(torchBlas
          ? {
              LD_LIBRARY_PATH: [torchBlas, process.env['LD_LIBRARY_PATH']]
                .filter(Boolean)
                .join(':'),
            }
          : {}),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  torchProducts = JSON.parse(readFileSync(join(workDir, 'torch-products.json'), 'utf8'));
  console.log(
    `  products alone: ours ${work!.productsReplaySeconds.toFixed(1)} s, PyTorch ${torchProducts!.seconds.toFixed(1)} s (${work!.matrixProductShapes} shapes, BLAS ${torchProducts!.blas.kind})`,
  );
  console.log(
    `  ${(work!.productFlops / 1e12).toFixed(3)} TFLOP in products, ${work!.kernelCalls} kernel calls; products at ${work!.maddPeakGflopsPerThread.toFixed(1)} GFLOP/s (one thread's FMA peak): ${work!.productsAtPeakSeconds.toFixed(1)} s; ${work!.dispatchMicrosecondsPerCall.toFixed(2)} µs per kernel call: ${work!.dispatchSeconds.toFixed(1)} s`,
  );
}

for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? [...configs].reverse() : configs;
  const row: Record<string, Measured> = {};
  for (const c of order) {
    const out = join(workDir, `r${round}-${c.name}`);
    const { command: cmd, args, env } = commandOf(c, out);
    console.log(`round ${round + 1}/${rounds}: ${c.name} ...`);
    const t: TimedProcess = await timeProcess(cmd, args, { cwd: root, env });
    if (t.code !== 0) {
      throw new Error(`${c.name} exited with ${t.code}:\n${t.output.slice(-4000)}`);
    }
    row[c.name] = {
      seconds: t.seconds,
      ...(t.cpuSeconds !== undefined ? { cpuSeconds: t.cpuSeconds } : {}),
      ...(t.idle !== undefined ? { idle: t.idle } : {}),
      loadBefore: t.loadBefore,
      loadAfter: t.loadAfter,
      loadMean: t.loadMean,
    };
    if (c.side === 'ours') {
      accuracy[c.name] ??= oursAccuracies(out);
    } else {
      const result = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as TorchResult;
      blas = result.blas;
      torchVersion = result.torch;
      accuracy[c.name] ??= torchAccuracies(result);
      if (result.blas.kind === 'reference') {
        console.warn(
          'WARNING: PyTorch ran on the reference BLAS (libblas3), ~30x slower on products than OpenBLAS: not a fair reference. Pass --torch-blas <openblas-pthread folder> (see the module doc).',
        );
      }
    }
    console.log(
      `  ${t.seconds.toFixed(1)} s wall, ${t.cpuSeconds?.toFixed(1) ?? '?'} s CPU; load ${t.loadBefore.toFixed(2)} -> ${t.loadAfter.toFixed(2)} (mean ${t.loadMean.toFixed(2)}), machine idle ${t.idle !== undefined ? `${(100 * t.idle).toFixed(0)}%` : '?'}`,
    );
  }
  rows.push(row);
  const ratios = ratiosOf(row);
  console.log(
    `round ${round + 1}: ${Object.entries(ratios)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ')}`,
  );
  save();
}
const summary = save();
console.log(
  JSON.stringify(
    { medianSeconds: summary['medianSeconds'], medianRatios: summary['medianRatios'] },
    null,
    2,
  ),
);
console.log(`wrote ${outFile}`);
