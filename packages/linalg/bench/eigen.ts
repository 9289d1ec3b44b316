/**
 * Benchmark of symmetricEigen (Householder + blocked implicit QL, plain JS float64) against
 * torch.linalg.eigh (LAPACK syevd) in float64 and float32, at d = 128, 512, 1024.
 *
 * Run: pnpm --filter @igm/linalg bench (or `tsx bench/eigen.ts [sizes...]` in packages/linalg).
 * Prints a table, one JSON summary line, and writes bench/results/eigen.json. PyTorch runs in a
 * /usr/bin/python3 subprocess on the same matrices, in the same bench run; it is skipped (and
 * reported as such) if that interpreter or torch is missing. The JS side is single-threaded, so
 * the fair comparison is torch with 1 thread; torch with its default thread count is also shown.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '@igm/core';
import { matmulF64, symmetricEigen } from '../src';

const here = dirname(fileURLToPath(import.meta.url));
const sizes = process.argv.slice(2).map(Number).filter(Boolean);
if (sizes.length === 0) sizes.push(128, 512, 1024);

function randomSymmetric(n: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const v = rng.normal();
      a[i * n + j] = v;
      a[j * n + i] = v;
    }
  }
  return a;
}

function frob(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface JsResult {
  n: number;
  reps: number;
  medianS: number;
  minS: number;
  cpuMedianS: number;
  relResidual: number;
  orthogonality: number;
}

const work = mkdtempSync(join(tmpdir(), 'igm-eigen-bench-'));
const js: JsResult[] = [];
// Warm up the JIT on a small problem so the first size is not penalised.
symmetricEigen(randomSymmetric(96, 1));
for (const n of sizes) {
  const a = randomSymmetric(n, 1000 + n);
  const reps = n <= 128 ? 7 : n <= 512 ? 3 : 1;
  const wall: number[] = [];
  const cpu: number[] = [];
  let result = symmetricEigen(a, n);
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const c0 = cpuMs();
    result = symmetricEigen(a, n);
    cpu.push((cpuMs() - c0) / 1000);
    wall.push((performance.now() - t0) / 1000);
  }
  const { values, vectors } = result;
  const av = matmulF64(a, vectors, n, n, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) av[i * n + j]! -= vectors[i * n + j]! * values[j]!;
  const vt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vt[j * n + i] = vectors[i * n + j]!;
  const vtv = matmulF64(vt, vectors, n, n, n);
  for (let i = 0; i < n; i++) vtv[i * n + i]! -= 1;
  const median = (xs: number[]): number =>
    [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  js.push({
    n,
    reps,
    medianS: median(wall),
    minS: Math.min(...wall),
    cpuMedianS: median(cpu),
    relResidual: frob(av) / frob(a),
    orthogonality: frob(vtv),
  });
  writeFileSync(join(work, `a${n}.f64`), new Uint8Array(a.buffer));
  writeFileSync(join(work, `w${n}.f64`), new Uint8Array(values.buffer));
  console.log(
    `symmetricEigen d=${n}: median ${median(wall).toFixed(3)} s (min ${Math.min(...wall).toFixed(3)} s, cpu ${median(cpu).toFixed(3)} s, ${reps} reps), residual ${frob(av) / frob(a)}, orthogonality ${frob(vtv)}`,
  );
}

const py = spawnSync(
  '/usr/bin/python3',
  [join(here, 'eigen_torch.py'), work, ...sizes.map(String)],
  { encoding: 'utf8', maxBuffer: 1 << 24 },
);
rmSync(work, { recursive: true, force: true });
let torch: {
  torch: string;
  default_threads: number;
  sizes: Record<
    string,
    Record<string, { median_s: number; min_s: number; cpu_median_s: number } | number>
  >;
} | null = null;
if (py.status === 0) {
  torch = JSON.parse(py.stdout.trim().split('\n').pop()!);
} else {
  console.log(`PyTorch comparison skipped: ${py.error?.message ?? py.stderr.slice(-500)}`);
}

const rows = js.map((r) => {
  const t = torch?.sizes[String(r.n)];
  const ratios: Record<string, number> = {};
  const cpuRatios: Record<string, number> = {};
  const torchTimes: Record<string, number> = {};
  const torchCpu: Record<string, number> = {};
  if (t) {
    for (const [key, v] of Object.entries(t)) {
      if (typeof v === 'object') {
        torchTimes[key] = v.median_s;
        torchCpu[key] = v.cpu_median_s;
        ratios[`js_over_${key}`] = r.medianS / v.median_s;
        cpuRatios[`js_over_${key}`] = r.cpuMedianS / v.cpu_median_s;
      }
    }
  }
  return {
    ...r,
    torchMedianS: torchTimes,
    torchCpuMedianS: torchCpu,
    ratios,
    cpuRatios,
    maxAbsEigenvalueDiffVsTorch: t ? (t['max_abs_eigenvalue_diff_vs_ts'] as number) : null,
  };
});

for (const r of rows) {
  const parts = Object.entries(r.torchMedianS).map(
    ([k, v]) => `${k} ${v.toFixed(4)} s (JS/torch ${(r.medianS / v).toFixed(1)}x)`,
  );
  console.log(`d=${r.n}: JS ${r.medianS.toFixed(3)} s | ${parts.join(' | ')}`);
  const cpuParts = Object.entries(r.torchCpuMedianS).map(
    ([k, v]) => `${k} ${v.toFixed(4)} s (${(r.cpuMedianS / v).toFixed(1)}x)`,
  );
  if (cpuParts.length > 0) {
    console.log(`  CPU time: JS ${r.cpuMedianS.toFixed(3)} s | ${cpuParts.join(' | ')}`);
  }
  if (r.maxAbsEigenvalueDiffVsTorch !== null) {
    console.log(`  max |eigenvalue JS - torch float64| = ${r.maxAbsEigenvalueDiffVsTorch}`);
  }
}

const summary = {
  bench: 'eigen',
  date: new Date().toISOString(),
  node: process.version,
  torch: torch?.torch ?? null,
  torchDefaultThreads: torch?.default_threads ?? null,
  loadAverage: loadavg(),
  note: 'JS is single-threaded; compare with float64_t1. medianS: wall-clock seconds; cpuMedianS: process CPU seconds, the robust figure when the (2-core) machine is shared (see loadAverage).',
  results: rows,
};
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'eigen.json'), `${JSON.stringify(summary, null, 2)}\n`);
console.log(JSON.stringify(summary));
