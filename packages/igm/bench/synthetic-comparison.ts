/**
 * Experiment (not a unit test): a synthetic two-modality dataset with a strong modality
 * (audio, shows the true class with probability 0.9) and a weak one (visual, 0.6); 3 seeds x 5
 * configurations on the same architecture (MLP encoder + IGM-style MLP head per modality,
 * mean-of-softmax fusion) and the same SGD:
 *
 *   joint            one loss on the fused output, both modalities every step
 *   alternating      stage-wise alternation, no projection, no SAM
 *   igm-no-sam       stage-wise + flat projection (IGM w/o SAM)
 *   igm-paper        stage-wise + chain(sam(0.05), flatProjection, sgd)
 *   igm-official     stage-wise + official step (mixup a=1, rho 1e-10, flat blend) + projection
 *
 * Each modality gets the same number of epochs: joint E, alternating stages [E/2] x 4 (two per
 * modality). Reports test accuracy of the fused output and of each modality at the epoch chosen
 * on validation macro-F1 (best-on-validation) and after the last epoch, mean +- std over seeds.
 *
 * Two datasets (IGM_BENCH_DATA): 'flip', @igm/datasets synthetic() where a modality shows a
 * random class with probability 1 - signal (the weak modality is confidently wrong), and
 * 'snr', Gaussian class means with a per-modality signal-to-noise ratio (weak = uncertain).
 *
 * Run: pnpm --filter @igm/igm bench   (both datasets, cpu backend; env IGM_BENCH_EPOCHS,
 * IGM_BENCH_SEEDS, IGM_BENCH_DATA=flip|snr, IGM_BENCH_BACKEND)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runStageWise } from '@igm/alternating-trainer';
import { sgd } from '@igm/core';
import { synthetic } from '@igm/datasets';
import { igm } from '@igm/igm';
import { MultimodalModel, mlpEncoder } from '@igm/models';
import { jointStep, type RunSummary, runTraining } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs';
import { gaussianDataset } from './gaussian-dataset';

const here = dirname(fileURLToPath(import.meta.url));
const EPOCHS = Number(process.env['IGM_BENCH_EPOCHS'] ?? 20);
const SEEDS = (process.env['IGM_BENCH_SEEDS'] ?? '1,2,3').split(',').map(Number);
const LR = 0.02;
const BATCH = 16;
const SIGNAL = { audio: 0.9, visual: 0.6 };

await tf.setBackend(process.env['IGM_BENCH_BACKEND'] ?? 'cpu');
await tf.ready();

function makeModel(seed: number): MultimodalModel {
  return new MultimodalModel({
    encoders: {
      audio: mlpEncoder({ inputDim: 32, units: [64], seed: seed * 10 + 1 }),
      visual: mlpEncoder({ inputDim: 32, units: [64], seed: seed * 10 + 2 }),
    },
    numClasses: 4,
    head: {
      type: 'per-modality',
      hidden: [{ units: 32, activation: 'relu' }, { units: 16 }],
    },
    seed,
  });
}

const SETTING = process.env['IGM_BENCH_DATA'] ?? 'flip';
const SNR = { audio: 0.5, visual: 0.3 };

function makeData(seed: number) {
  if (SETTING === 'snr') {
    return gaussianDataset({
      snr: SNR,
      dim: 32,
      classes: 4,
      samples: { train: 512, validation: 256, test: 512 },
      seed: 100 + seed,
    });
  }
  return synthetic({
    modalities: [
      { name: 'audio', shape: [32] },
      { name: 'visual', shape: [32] },
    ],
    classes: 4,
    signal: SIGNAL,
    noise: 1.5,
    samples: { train: 512, validation: 256, test: 512 },
    seed: 100 + seed,
  });
}

const half = Math.max(1, Math.round(EPOCHS / 2));
const epochList = [half, half, half, half];
const base = () => sgd({ learningRate: LR, momentum: 0.9, weightDecay: 1e-4 });

type Config = (seed: number) => Promise<RunSummary>;
const common = (seed: number) => ({
  batchSize: BATCH,
  seed,
  progress: 'none' as const,
  evalBatchSize: 128,
});
const configs: Record<string, Config> = {
  joint: async (seed) => {
    const model = makeModel(seed);
    try {
      return await runTraining({
        model,
        dataset: makeData(seed),
        step: jointStep(),
        transform: base(),
        epochs: EPOCHS,
        fusionRule: 'mean-softmax',
        ...common(seed),
      });
    } finally {
      model.dispose();
    }
  },
  alternating: async (seed) => {
    const model = makeModel(seed);
    try {
      return await runStageWise({
        model,
        dataset: makeData(seed),
        order: ['audio', 'visual'],
        epochList,
        transform: base(),
        fusionRule: 'mean-softmax',
        ...common(seed),
      });
    } finally {
      model.dispose();
    }
  },
  'igm-no-sam': (seed) => runIgm(seed, { sam: false }),
  'igm-paper': (seed) => runIgm(seed, { variant: 'paper' }),
  'igm-official': (seed) => runIgm(seed, { variant: 'official' }),
};

async function runIgm(
  seed: number,
  o: Parameters<typeof igm>[0] extends infer T ? Partial<T> : never,
) {
  const model = makeModel(seed);
  try {
    return await igm({ epochList, order: ['audio', 'visual'], learningRate: LR, ...o }).train({
      model,
      dataset: makeData(seed),
      ...common(seed),
    });
  } finally {
    model.dispose();
  }
}

const stat = (xs: number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
  return { mean, std };
};

const rows: Record<string, Record<string, { mean: number; std: number; values: number[] }>> = {};
const started = performance.now();
for (const [name, run] of Object.entries(configs)) {
  const values: Record<string, number[]> = {};
  const push = (k: string, v: number) => {
    values[k] = [...(values[k] ?? []), v];
  };
  for (const seed of SEEDS) {
    const t0 = performance.now();
    const s = await run(seed);
    const best = s.best!.metrics.test!.outputs;
    const final = s.final!.test!.outputs;
    for (const out of ['fused', 'audio', 'visual']) {
      push(`best/${out}`, best[out]!.accuracy);
      push(`final/${out}`, final[out]!.accuracy);
    }
    push('seconds', (performance.now() - t0) / 1000);
    process.stderr.write(
      `${name} seed ${seed}: best-on-val fused ${best['fused']!.accuracy.toFixed(3)} audio ${best['audio']!.accuracy.toFixed(3)} visual ${best['visual']!.accuracy.toFixed(3)} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`,
    );
  }
  rows[name] = Object.fromEntries(
    Object.entries(values).map(([k, v]) => [k, { ...stat(v), values: v }]),
  );
}

const pct = (s: { mean: number; std: number }) =>
  `${(100 * s.mean).toFixed(1)} ± ${(100 * s.std).toFixed(1)}`;
const header = '| config | fused (best-val) | audio | visual | fused (final) | audio | visual |';
const describeData =
  SETTING === 'snr'
    ? `Gaussian class means, snr ${JSON.stringify(SNR)}`
    : `synthetic() label-flip, signal ${JSON.stringify(SIGNAL)}`;
console.log(
  `\n${describeData}, ${EPOCHS} epochs per modality, seeds ${SEEDS.join(',')}, test accuracy %\n`,
);
console.log(header);
console.log('|---|---|---|---|---|---|---|');
for (const [name, r] of Object.entries(rows)) {
  console.log(
    `| ${name} | ${pct(r['best/fused']!)} | ${pct(r['best/audio']!)} | ${pct(r['best/visual']!)} | ${pct(r['final/fused']!)} | ${pct(r['final/audio']!)} | ${pct(r['final/visual']!)} |`,
  );
}
const summary = {
  bench: `synthetic-comparison-${SETTING}`,
  backend: tf.getBackend(),
  data: describeData,
  epochsPerModality: EPOCHS,
  seeds: SEEDS,
  seconds: (performance.now() - started) / 1000,
  results: rows,
};
console.log(JSON.stringify(summary));
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(
  join(here, 'results', `synthetic-comparison-${SETTING}.json`),
  `${JSON.stringify(summary, null, 2)}\n`,
);
