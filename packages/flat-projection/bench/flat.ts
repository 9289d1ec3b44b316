/**
 * Benchmark of @igm/flat-projection (run: pnpm --filter @igm/flat-projection bench).
 *
 * 1. Time to build T for d = 128, 512, 1024 with each implementation ('expm': tfjs ops;
 *    'eigen': float64 JS eigensolver), on the wasm and cpu backends, against PyTorch
 *    (torch.linalg.eigh + V diag V^T, float32 and float64, 2 threads) timed in a
 *    /usr/bin/python3 subprocess during the same run. Y = sum of batch-mean outer products of
 *    post-ReLU-like features, n_B = d + 46 (full rank: s_min must be estimated, the harder case)
 *    and n_B = d / 2 (s_min = 0 known, what installProjection passes when n_B < d).
 * 2. Step overhead on a 512-256-64-10 MLP head, batch 64: chain(flatProjection, sgd) vs sgd,
 *    with no T installed (stage 0) and with T installed (stage >= 1).
 *
 * Prints one JSON summary line and writes bench/results/flat.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  chain,
  findState,
  GradientOptimizer,
  type HeadLayerInfo,
  type Param,
  sgd,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import {
  buildFlatProjection,
  type FlatProjectionState,
  flatProjection,
  InputMomentAccumulator,
  installProjection,
} from '../src';

const here = dirname(fileURLToPath(import.meta.url));
const DIMS = [128, 512, 1024];
const BACKENDS = ['wasm', 'cpu'] as const;
const quick = process.env['BENCH_QUICK'] === '1';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function time(fn: () => void, reps: number): number {
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** Y = sum_b xbar_b^T xbar_b over n_B batches of 12 post-ReLU-like samples. */
function makeY(d: number, nB: number, seed: number): tf.Tensor2D {
  const acc = new InputMomentAccumulator();
  for (let b = 0; b < nB; b++) {
    tf.tidy(() =>
      acc.add(
        'k',
        tf.relu(tf.add(tf.randomNormal([12, d], 0, 1, 'float32', seed * 100003 + b), 0.3)),
      ),
    );
  }
  const y = tf.clone(acc.get('k'));
  acc.dispose();
  return y;
}

function torchTimes(): Record<string, { f32: number; f64: number }> {
  const script = `
import json, time, torch
torch.set_num_threads(2)
out = {}
for d in ${JSON.stringify(DIMS)}:
    g = torch.Generator().manual_seed(d)
    res = {}
    for name, dt in (("f32", torch.float32), ("f64", torch.float64)):
        x = torch.relu(torch.randn(d + 46, 12, d, generator=g) + 0.3).mean(1).to(dt)
        y = x.T @ x
        def build():
            s, v = torch.linalg.eigh(y)
            s = s.clamp(min=0)
            return (v * torch.exp(-0.4 * (s - s[0]) / (s[-1] - s[0]))) @ v.T
        build()
        reps = 5 if d <= 512 else 3
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); build(); ts.append((time.perf_counter() - t0) * 1000)
        res[name] = sorted(ts)[len(ts) // 2]
    out[str(d)] = res
print(json.dumps(out))
`;
  const stdout = execFileSync('/usr/bin/python3', ['-c', script], { encoding: 'utf8' });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

function head(modality: string, dims: number[]): HeadLayerInfo[] {
  return dims.slice(0, -1).map((inputDim, index) => ({
    modality,
    index,
    kernelKey: `${modality}/${index}/kernel`,
    biasKey: `${modality}/${index}/bias`,
    inputName: `input/head/${modality}/${index}`,
    inputDim,
    outputDim: dims[index + 1]!,
  }));
}

function stepOverhead(): Record<string, number> {
  const dims = [512, 256, 64, 10];
  const audio = head('audio', dims);
  const video = head('video', dims);
  const params: Param[] = [...audio, ...video].flatMap((l) => [
    {
      key: l.kernelKey,
      group: `head/${l.modality}`,
      variable: tf.variable(
        tf.randomUniform([l.inputDim, l.outputDim], -0.05, 0.05, 'float32', l.index),
      ),
    },
    {
      key: l.biasKey!,
      group: `head/${l.modality}`,
      variable: tf.variable(tf.zeros([l.outputDim])),
    },
  ]);
  const byKey = new Map(params.map((p) => [p.key, p]));
  const x = tf.relu(tf.randomNormal([64, 512], 0, 1, 'float32', 1));
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: 64 }, (_, i) => i % 10),
      'int32',
    ),
    10,
  );
  const forward = (layers: HeadLayerInfo[], input: tf.Tensor) => {
    const inputs: Record<string, tf.Tensor> = {};
    let h = input;
    for (const l of layers) {
      inputs[l.inputName] = h;
      h = tf.add(tf.matMul(h, byKey.get(l.kernelKey)!.variable), byKey.get(l.biasKey!)!.variable);
      if (l.index === 0) h = tf.relu(h);
    }
    return { logits: h, inputs };
  };
  const keys = video.flatMap((l) => [l.kernelKey, l.biasKey!]);
  const loss = () => tf.losses.softmaxCrossEntropy(labels, forward(video, x).logits) as tf.Scalar;
  const fp = flatProjection({ layers: [...audio, ...video] });
  const base = new GradientOptimizer(
    sgd({ learningRate: 1e-3, momentum: 0.9, weightDecay: 1e-4 }),
    params,
  );
  const projected = new GradientOptimizer(
    chain(fp, sgd({ learningRate: 1e-3, momentum: 0.9, weightDecay: 1e-4 })),
    params,
  );
  const steps = quick ? 10 : 60;
  // Paired, interleaved steps (A B A B ...), so machine-load drift hits both arms alike.
  const paired = (): { base: number; projected: number } => {
    for (let i = 0; i < 3; i++) {
      base.minimize(loss, { keys, stage: 'video' });
      projected.minimize(loss, { keys, stage: 'video' });
    }
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < steps; i++) {
      a.push(time(() => base.minimize(loss, { keys, stage: 'video' }), 1));
      b.push(time(() => projected.minimize(loss, { keys, stage: 'video' }), 1));
    }
    return { base: median(a), projected: median(b) };
  };
  const stage0 = paired();
  const acc = new InputMomentAccumulator();
  tf.tidy(() => {
    for (let b = 0; b < 40; b++) {
      acc.addOutputs(
        audio,
        forward(audio, tf.relu(tf.randomNormal([12, 512], 0, 1, 'float32', 100 + b))).inputs,
      );
    }
  });
  installProjection(findState<FlatProjectionState>(projected.state, 'flatProjection')!, acc, audio);
  const withT = paired();
  acc.dispose();
  base.dispose();
  projected.dispose();
  for (const p of params) p.variable.dispose();
  tf.dispose([x, labels]);
  return {
    sgdStepMs: (stage0.base + withT.base) / 2,
    stage0StepMs: stage0.projected,
    withTStepMs: withT.projected,
    stage0Ratio: stage0.projected / stage0.base,
    withTRatio: withT.projected / withT.base,
    // Extra multiply-adds of the projection per step vs forward + backward of the head.
    projectionMacs: 512 * 512 * 256 + 256 * 256 * 64 + 64 * 64 * 10,
    headForwardBackwardMacs: 3 * 64 * (512 * 256 + 256 * 64 + 64 * 10),
  };
}

async function main(): Promise<void> {
  // PyTorch is timed before and after the TF.js runs; the faster of the two is the baseline
  // (the machine is shared, so contention only ever makes a run slower).
  const torchBefore = torchTimes();
  const torch: Record<string, { f32: number; f64: number }> = {};
  const results: Record<string, unknown> = { torchBefore };
  const build: Array<Record<string, unknown>> = [];
  const overhead: Record<string, unknown> = {};
  for (const backend of BACKENDS) {
    await tf.setBackend(backend);
    await tf.ready();
    for (const d of DIMS) {
      for (const [label, nB] of [
        ['full-rank', d + 46],
        ['n_B<d (s_min=0 known)', Math.floor(d / 2)],
      ] as const) {
        const y = makeY(d, nB, d);
        const sMin = nB < d ? { sMin: 0 } : {};
        const slow = backend === 'cpu' && d >= 1024;
        const reps = quick || slow ? 1 : d >= 1024 ? 2 : 3;
        // Warm-up (kernel set-up, first-call costs), as the torch timings warm up too.
        buildFlatProjection(y, 0.4, { method: 'expm', symmetric: true, ...sMin }).matrix.dispose();
        let expmInfo: Record<string, unknown> = {};
        const expmMs = time(() => {
          const r = buildFlatProjection(y, 0.4, { method: 'expm', symmetric: true, ...sMin });
          expmInfo = {
            method: r.method,
            lanczosSteps: r.lanczosSteps,
            degree: r.polynomialDegree,
            sMin: r.sMin,
            sMax: r.sMax,
          };
          r.matrix.dispose();
        }, reps);
        // The eigensolver is JS (backend-independent): time it once per d, on the first backend.
        let eigenMs: number | undefined;
        let maxAbsDiff: number | undefined;
        if (backend === BACKENDS[0]) {
          let eigenT: tf.Tensor2D | undefined;
          eigenMs = time(
            () => {
              eigenT?.dispose();
              eigenT = buildFlatProjection(y, 0.4, { method: 'eigen' }).matrix;
            },
            d >= 1024 ? 1 : 2,
          );
          const a = buildFlatProjection(y, 0.4, {
            method: 'expm',
            symmetric: true,
            ...sMin,
          }).matrix;
          const diff = tf.max(tf.abs(tf.sub(a, eigenT!)));
          maxAbsDiff = diff.dataSync()[0]!;
          tf.dispose([a, eigenT!, diff]);
        }
        y.dispose();
        const row: Record<string, unknown> = {
          backend,
          d,
          Y: label,
          nB,
          expmMs,
          ...(eigenMs !== undefined ? { eigenMs } : {}),
          ...(maxAbsDiff !== undefined ? { maxAbsExpmMinusEigen: maxAbsDiff } : {}),
          expm: expmInfo,
        };
        console.log(JSON.stringify(row));
        build.push(row);
      }
    }
    overhead[backend] = stepOverhead();
    console.log(JSON.stringify({ backend, stepOverhead: overhead[backend] }));
  }
  const torchAfter = torchTimes();
  results['torchAfter'] = torchAfter;
  for (const d of DIMS) {
    const k = String(d);
    torch[k] = {
      f32: Math.min(torchBefore[k]!.f32, torchAfter[k]!.f32),
      f64: Math.min(torchBefore[k]!.f64, torchAfter[k]!.f64),
    };
  }
  results['torch'] = torch;
  for (const row of build) {
    const t = torch[String(row['d'])]!;
    row['torchEighF32Ms'] = t.f32;
    row['torchEighF64Ms'] = t.f64;
    row['expmVsTorchF32'] = (row['expmMs'] as number) / t.f32;
    row['expmVsTorchF64'] = (row['expmMs'] as number) / t.f64;
    if (row['eigenMs'] !== undefined) row['eigenVsTorchF64'] = (row['eigenMs'] as number) / t.f64;
  }
  results['build'] = build;
  results['stepOverhead'] = overhead;
  const os = await import('node:os');
  results['machine'] = {
    cores: os.cpus().length,
    loadAverage: os.loadavg(),
    node: process.version,
    date: new Date().toISOString(),
  };
  const outDir = join(here, 'results');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'flat.json'), `${JSON.stringify(results, null, 2)}\n`);
  const at512 = build.filter((r) => r['d'] === 512 && r['Y'] === 'full-rank');
  console.log(
    JSON.stringify({
      summary: 'flat',
      expmWasm512Ms: at512.find((r) => r['backend'] === 'wasm')?.['expmMs'],
      expmWasm512VsTorchF32: at512.find((r) => r['backend'] === 'wasm')?.['expmVsTorchF32'],
      eigen512Ms: at512.find((r) => r['eigenMs'] !== undefined)?.['eigenMs'],
      torchEighF32_512Ms: torch['512']?.f32,
      torchEighF64_512Ms: torch['512']?.f64,
      stepOverhead: overhead,
    }),
  );
}

await main();
