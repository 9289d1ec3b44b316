/**
 * Comparison experiment (not a unit test): every registered method on the synthetic imbalanced
 * dataset and on AV-MNIST-style, 3 seeds each, a small budget (wasm backend, 2 cores).
 *
 *   FSDD_DIR=/path/to/free-spoken-digit-dataset/recordings pnpm --filter @igm/baselines bench
 *   # or: npx tsx bench/compare.ts [--quick] [--fsdd-dir <path>]
 *
 * The AV-MNIST-style dataset needs the FSDD recordings folder: --fsdd-dir <path>, else FSDD_DIR;
 * with neither the script stops before any training.
 *
 * Reports per dataset x method (mean +- std over seeds): test fused accuracy and macro-F1 at the
 * best-on-validation epoch and after the last epoch, per-modality test accuracy (final), and
 * seconds per epoch. Writes bench/results/compare.json and prints a JSON summary line.
 *
 * Budget and protocol [project]:
 * - synthetic: synthetic({ signal: audio 0.8, visual 0.6, noise 1.5 }), 4 classes, 512/128/128 samples,
 *   MLP encoders (16 -> 32, ReLU); the `synthetic` presets as shipped (12 epochs; IGM
 *   [6, 12, 6, 12], ReconBoost 4 stages; the README's tables were measured with [6, 6, 6, 6], 3).
 * - AV-MNIST-style: @igm/datasets avMnist (FSDD + MNIST, PCA-degraded images, noisy audio);
 *   encoders flatten -> Dense(64) -> ReLU (a conv encoder costs ~75 s per epoch here, too slow
 *   for 30+ runs), the `av-mnist` presets with the budget overrides below (15 epochs, lr 0.01;
 *   OGM-GE modulates every encoder tensor since there are no conv kernels).
 * - OGR-GB, MSES and MSLR: their presets; on AV-MNIST-style also a budget for their side
 *   trainings (super-epoch 4 of 15; MSLR stage 1: 8 epochs per grid value on
 *   [0.003, 0.01, 0.03]); MSLR's stage 1 is inside its first epoch's time.
 * - IGM and IGM w/o SAM (the registry's entries from @igm/igm's igm()); AV-MNIST-style
 *   epochList [8, 8, 7, 7] (15 epochs per modality, as the 15 joint epochs of the others), heads
 *   Dense(64) -> ReLU -> Dense(32) -> Dense(C); synthetic: the preset.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { avMnist, synthetic } from '@igm/datasets';
import { mlpEncoder } from '@igm/models';
import { fsddDirFromArgs } from '@igm/test-utils/bench';
import { type RunSummary, runTraining } from '@igm/trainer';
import { registerWasmTrainingKernels } from '@igm/wasm-training';
import * as tfl from '@tensorflow/tfjs-layers';
import { createMethod, methods, preset } from '../src';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');

// Checked first: a missing folder must not surface after the synthetic runs.
const fsddDir = fsddDirFromArgs('bench/compare.ts', argv);
const seeds = quick ? [0] : [0, 1, 2];
await tf.setBackend('wasm');
await tf.ready();
registerWasmTrainingKernels();

const igmAvailable = Object.hasOwn(methods, 'igm');
const order = [
  'joint',
  'joint-sum',
  'unimodal',
  'ogr-gb',
  'ogm-ge',
  'ogm',
  'mses',
  'pmr',
  'agm',
  'mslr',
  'mla',
  'mmpareto',
  'reconboost',
  'igm-no-sam',
  'igm',
].filter((m) => m === 'joint-sum' || Object.hasOwn(methods, m));

function flatDense(
  shape: readonly number[],
  units: number,
  seed: number,
  name: string,
): tfl.LayersModel {
  const input = tfl.input({ shape: [...shape] });
  const f = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const h = tfl.layers
    .dense({
      units,
      activation: 'relu',
      kernelInitializer: tfl.initializers.glorotUniform({ seed }),
      name: 'fc',
    })
    .apply(f) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: h, name });
}

interface DatasetSetup {
  name: string;
  dataset: Awaited<ReturnType<typeof avMnist>>;
  preset: string;
  batchSize: number;
  encoders: (seed: number) => () => Record<string, tfl.LayersModel>;
  overrides: (method: string) => Record<string, unknown>;
}

const setups: DatasetSetup[] = [];
{
  const dataset = synthetic({
    classes: 4,
    samples: { train: 512, validation: 128, test: 128 },
    signal: { audio: 0.8, visual: 0.6 },
    noise: 1.5,
    seed: 0,
    name: 'synthetic-imbalanced',
  });
  setups.push({
    name: 'synthetic',
    dataset,
    preset: 'synthetic',
    batchSize: 32,
    encoders: (seed) => () => ({
      audio: mlpEncoder({ inputDim: 16, units: [32], seed: seed * 10 + 1, name: 'enc_audio' }),
      visual: mlpEncoder({ inputDim: 16, units: [32], seed: seed * 10 + 2, name: 'enc_visual' }),
    }),
    overrides: (m) =>
      quick
        ? m === 'reconboost'
          ? { stages: 2 }
          : m.startsWith('igm')
            ? { epochList: [2, 2] }
            : { epochs: 4 }
        : {},
  });
}
{
  const dataset = await avMnist({
    fsddDir,
    progress: false,
  });
  const shapes = Object.fromEntries(dataset.modalities.map((m) => [m.name, m.shape]));
  const epochs = quick ? 2 : 15;
  setups.push({
    name: 'av-mnist',
    dataset,
    preset: 'av-mnist',
    batchSize: 64,
    encoders: (seed) => () => ({
      audio: flatDense(shapes['audio']!, 64, seed * 10 + 1, 'enc_audio'),
      visual: flatDense(shapes['visual']!, 64, seed * 10 + 2, 'enc_visual'),
    }),
    overrides: (m) => {
      if (m === 'reconboost')
        return {
          stages: quick ? 2 : 8,
          epochsPerStage: 1,
          correctEpochs: 1,
          hidden: 64,
          learningRate: 0.01,
        };
      if (m.startsWith('igm'))
        return {
          epochList: quick ? [1, 1] : [8, 8, 7, 7],
          headHidden: [{ units: 64, activation: 'relu' }, { units: 32 }],
        };
      const o: Record<string, unknown> = { epochs, learningRate: 0.01, lrStepSize: null };
      if (m === 'ogm-ge' || m === 'ogm')
        Object.assign(o, { tensors: 'encoder', window: { start: 0, end: epochs - 2 } });
      if (m === 'pmr') o['window'] = { start: 0, end: epochs - 2 };
      // [project] About four OGR-GB estimations per run; MSLR's stage 1 trains half the run per
      // grid value, on a grid around this bench's lr 0.01.
      if (m === 'ogr-gb') o['superEpoch'] = Math.max(2, Math.round(epochs / 4));
      if (m === 'mslr') {
        o['unimodalEpochs'] = Math.max(1, Math.round(epochs / 2));
        o['unimodalLearningRates'] = [0.003, 0.01, 0.03];
      }
      return o;
    },
  });
}

interface Row {
  dataset: string;
  method: string;
  seed: number;
  bestTestAcc: number;
  bestTestF1: number;
  finalTestAcc: number;
  finalTestF1: number;
  finalModalityAcc: Record<string, number>;
  secondsPerEpoch: number;
  epochs: number;
  decisions: Record<string, number>;
}

const rows: Row[] = [];
const started = performance.now();
for (const setup of setups) {
  for (const name of order) {
    const methodName = name === 'joint-sum' ? 'joint' : name;
    for (const seed of seeds) {
      const opts = {
        ...preset(setup.preset, methodName, setup.overrides(methodName)),
        ...(name === 'joint-sum' ? { fusion: 'sum' } : {}),
      };
      const run = createMethod(methodName, opts, {
        dataset: setup.dataset,
        numClasses: setup.dataset.classNames.length,
        batchSize: setup.batchSize,
        seed,
        encoders: setup.encoders(seed),
      });
      const t0 = performance.now();
      const s: RunSummary = await runTraining({
        ...run.trainOptions(),
        dataset: setup.dataset,
        batchSize: setup.batchSize,
        seed,
        progress: 'none',
      });
      const secs = (performance.now() - t0) / 1000;
      const mods = setup.dataset.modalities.map((m) => m.name);
      const final = s.final?.test?.outputs ?? {};
      const best = s.best?.metrics.test?.outputs ?? {};
      const last = s.history[s.history.length - 1]!.logs;
      const decisions = Object.fromEntries(
        Object.entries(last).filter(([k]) =>
          /^(ogm|pmr|agm|mmpareto|owm|reconboost|ogr-gb|mses|mslr)\//.test(k),
        ),
      );
      rows.push({
        dataset: setup.name,
        method: name,
        seed,
        bestTestAcc: best['fused']?.accuracy ?? Number.NaN,
        bestTestF1: best['fused']?.macroF1 ?? Number.NaN,
        finalTestAcc: final['fused']?.accuracy ?? Number.NaN,
        finalTestF1: final['fused']?.macroF1 ?? Number.NaN,
        finalModalityAcc: Object.fromEntries(
          mods.map((m) => [m, final[m]?.accuracy ?? Number.NaN]),
        ),
        secondsPerEpoch: s.history.reduce((a, h) => a + h.seconds, 0) / s.history.length,
        epochs: s.history.length,
        decisions,
      });
      run.dispose();
      console.error(
        `${setup.name} ${name} seed ${seed}: best-on-val test acc ${(100 * rows.at(-1)!.bestTestAcc).toFixed(1)} f1 ${(100 * rows.at(-1)!.bestTestF1).toFixed(1)} final ${(100 * rows.at(-1)!.finalTestAcc).toFixed(1)} (${secs.toFixed(1)} s)`,
      );
    }
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) =>
  xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1));
const summary: Record<string, Array<Record<string, unknown>>> = {};
const lines: string[] = [];
for (const setup of setups) {
  const mods = setup.dataset.modalities.map((m) => m.name);
  const table = order
    .map((method) => {
      const rs = rows.filter((r) => r.dataset === setup.name && r.method === method);
      const agg = (f: (r: Row) => number) => ({ mean: mean(rs.map(f)), std: std(rs.map(f)) });
      return {
        method,
        bestTestAcc: agg((r) => r.bestTestAcc),
        bestTestF1: agg((r) => r.bestTestF1),
        finalTestAcc: agg((r) => r.finalTestAcc),
        finalTestF1: agg((r) => r.finalTestF1),
        ...Object.fromEntries(
          mods.map((m) => [`final ${m} acc`, agg((r) => r.finalModalityAcc[m]!)]),
        ),
        secondsPerEpoch: agg((r) => r.secondsPerEpoch).mean,
        epochs: rs[0]?.epochs,
      };
    })
    .sort((a, b) => b.bestTestAcc.mean - a.bestTestAcc.mean);
  summary[setup.name] = table;
  const pct = (x: { mean: number; std: number }) =>
    `${(100 * x.mean).toFixed(1)} ± ${(100 * x.std).toFixed(1)}`;
  lines.push(
    `\n### ${setup.name} (${seeds.length} seeds; test split; selection on validation macro-F1)\n`,
  );
  lines.push(
    `| rank | method | acc (best-on-val) | macro-F1 (best-on-val) | acc (final) | ${mods.map((m) => `${m} acc (final)`).join(' | ')} | s/epoch |`,
  );
  lines.push(`|---|---|---|---|---|${mods.map(() => '---').join('|')}|---|`);
  table.forEach((r, i) => {
    lines.push(
      `| ${i + 1} | ${r.method} | ${pct(r.bestTestAcc)} | ${pct(r.bestTestF1)} | ${pct(r.finalTestAcc)} | ${mods.map((m) => pct((r as unknown as Record<string, { mean: number; std: number }>)[`final ${m} acc`]!)).join(' | ')} | ${r.secondsPerEpoch.toFixed(2)} |`,
    );
  });
}
const totalSeconds = (performance.now() - started) / 1000;
console.log(lines.join('\n'));
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const out = { backend: tf.getBackend(), seeds, quick, igmAvailable, totalSeconds, summary, rows };
writeFileSync(
  new URL(quick ? './results/compare-quick.json' : './results/compare.json', import.meta.url),
  `${JSON.stringify(out, null, 2)}\n`,
);
console.log(
  JSON.stringify({
    bench: 'compare',
    totalSeconds: Math.round(totalSeconds),
    igmAvailable,
    ranking: Object.fromEntries(
      Object.entries(summary).map(([d, t]) => [d, t.map((r) => r.method)]),
    ),
  }),
);
