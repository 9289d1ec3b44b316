/**
 * AV-MNIST-style benchmark: preprocessing of the FSDD recordings cold and warm, batches per
 * second while training-sized batches stream, peak RSS, and unimodal probes (per-modality
 * softmax regression and a one-hidden-layer MLP trained with tfjs on wasm) that tell which
 * modality is weak at the defaults.
 *
 *   FSDD_DIR=/path/to/free-spoken-digit-dataset/recordings pnpm --filter @igm/datasets bench
 *   (options: --fsdd-dir <path>  the recordings folder instead of FSDD_DIR; --snr-sweep  probes
 *   audio at several SNRs; --quick  fewer probe epochs)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { fsddDirFromArgs } from '@igm/test-utils/bench';
import { AV_MNIST_DEFAULT_SNR_DB, type AvMnistOptions, avMnist, disposeBatch } from '../src/node';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const args = new Set(argv);

const fsddDir = fsddDirFromArgs('bench/avmnist.ts', argv);

type Ds = Awaited<ReturnType<typeof avMnist>>;

async function collect(ds: Ds, split: 'train' | 'validation' | 'test', modality: string) {
  const xs: Float32Array[] = [];
  const ys: number[] = [];
  let dim = 0;
  for await (const batch of ds.batches({ split, batchSize: 256 })) {
    const t = batch.inputs[modality]!;
    dim = t.size / t.shape[0]!;
    xs.push(t.dataSync() as Float32Array);
    ys.push(...batch.labels.dataSync());
    disposeBatch(batch);
  }
  const x = new Float32Array(ys.length * dim);
  let off = 0;
  for (const part of xs) {
    x.set(part, off);
    off += part.length;
  }
  return { x, y: Int32Array.from(ys), dim };
}

/** Test accuracy of a probe trained on train (Adam, full-batch epochs), picked at the best validation epoch. */
async function probe(ds: Ds, modality: string, hidden: number, epochs: number): Promise<number> {
  const tr = await collect(ds, 'train', modality);
  const va = await collect(ds, 'validation', modality);
  const te = await collect(ds, 'test', modality);
  const C = 10;
  const rng = tf.randomNormal;
  const params: tf.Variable[] = [];
  const v = (t: tf.Tensor) => {
    const x = tf.variable(t);
    params.push(x);
    return x;
  };
  const layers =
    hidden > 0
      ? [
          [v(rng([tr.dim, hidden], 0, Math.sqrt(2 / tr.dim), 'float32', 1)), v(tf.zeros([hidden]))],
          [v(rng([hidden, C], 0, Math.sqrt(1 / hidden), 'float32', 2)), v(tf.zeros([C]))],
        ]
      : [[v(tf.zeros([tr.dim, C])), v(tf.zeros([C]))]];
  const forward = (x: tf.Tensor2D) => {
    let h: tf.Tensor2D = x;
    layers.forEach(([w, b], i) => {
      h = tf.add(tf.matMul(h, w as tf.Tensor2D), b!);
      if (i < layers.length - 1) h = tf.relu(h);
    });
    return h;
  };
  const xTr = tf.tensor2d(tr.x, [tr.y.length, tr.dim]);
  const yTr = tf.oneHot(tf.tensor1d(tr.y, 'int32'), C);
  const opt = tf.train.adam(1e-3);
  const accuracy = (d: typeof te) =>
    tf.tidy(() => {
      const logits = forward(tf.tensor2d(d.x, [d.y.length, d.dim]));
      const pred = tf.argMax(logits, 1).dataSync();
      let ok = 0;
      pred.forEach((p, i) => {
        if (p === d.y[i]) ok++;
      });
      return ok / d.y.length;
    });
  let bestVal = -1;
  let testAtBest = 0;
  const batch = 128;
  const n = tr.y.length;
  for (let e = 0; e < epochs; e++) {
    const perm = tf.util.createShuffledIndices(n);
    for (let s = 0; s < n; s += batch) {
      const idx = tf.tensor1d(Int32Array.from(perm.slice(s, s + batch)), 'int32');
      tf.tidy(() => {
        const xb = tf.gather(xTr, idx) as tf.Tensor2D;
        const yb = tf.gather(yTr, idx);
        opt.minimize(() => tf.losses.softmaxCrossEntropy(yb, forward(xb)) as tf.Scalar);
      });
      idx.dispose();
    }
    const val = accuracy(va);
    if (val > bestVal) {
      bestVal = val;
      testAtBest = accuracy(te);
    }
  }
  tf.dispose([xTr, yTr, ...params]);
  opt.dispose();
  return testAtBest;
}

async function main() {
  await tf.setBackend('wasm');
  await tf.ready();
  const cacheDir = mkdtempSync(join(tmpdir(), 'igm-bench-avmnist-'));
  const epochs = args.has('--quick') ? 10 : 30;
  const result0 = { probeEpochs: epochs };
  const result: Record<string, unknown> = { fsddDir, backend: tf.getBackend(), ...result0 };
  try {
    const base: AvMnistOptions = { fsddDir, cacheDir, progress: true };
    let t = performance.now();
    const cold = await avMnist(base);
    result['coldSeconds'] = (performance.now() - t) / 1000;
    t = performance.now();
    const ds = await avMnist(base);
    result['warmSeconds'] = (performance.now() - t) / 1000;
    result['builtOnWarm'] = ds.info['builtNow'];
    result['splitSizes'] = ds.splitSizes;
    result['audioShape'] = ds.modalities[0]!.shape;
    result['pca'] = ds.info['pca'];
    result['defaults'] = { snrDb: AV_MNIST_DEFAULT_SNR_DB, pcaEnergyRemoved: 0.75 };
    void cold;
    // Streaming throughput: training-sized batches (64), shuffled, tensors created and disposed.
    t = performance.now();
    let batches = 0;
    let samples = 0;
    for (let epoch = 0; epoch < 3; epoch++) {
      for await (const batch of ds.batches({
        split: 'train',
        batchSize: 64,
        shuffle: true,
        seed: epoch,
      })) {
        batches++;
        samples += batch.ids.length;
        disposeBatch(batch);
      }
    }
    const secs = (performance.now() - t) / 1000;
    result['batchesPerSecond'] = batches / secs;
    result['samplesPerSecond'] = samples / secs;
    result['peakRssMiB'] = process.resourceUsage().maxRSS / 1024;

    // Unimodal probes at the defaults.
    const probes: Record<string, number> = {};
    for (const m of ['audio', 'visual']) {
      probes[`${m}/softmax`] = await probe(ds, m, 0, epochs);
      probes[`${m}/mlp64`] = await probe(ds, m, 64, epochs);
    }
    result['probesAtDefaults'] = probes;
    // Reference points: clean audio, unmodified images.
    const clean = await avMnist({
      ...base,
      audio: { snrDb: null },
      image: { pcaEnergyRemoved: 0 },
      progress: false,
    });
    result['probesClean'] = {
      'audio/mlp64': await probe(clean, 'audio', 64, epochs),
      'visual/mlp64': await probe(clean, 'visual', 64, epochs),
    };
    if (args.has('--snr-sweep')) {
      const sweep: Record<string, number> = {};
      for (const snr of [20, 10, 0, -5, -8, -10]) {
        const d = await avMnist({ ...base, audio: { snrDb: snr }, progress: false });
        sweep[String(snr)] = await probe(d, 'audio', 64, epochs);
        process.stderr.write(`snr ${snr}: audio mlp64 ${sweep[String(snr)]}\n`);
      }
      result['audioSnrSweep/mlp64'] = sweep;
      const pcaSweep: Record<string, number> = {};
      for (const removed of [0.5, 0.75, 0.9]) {
        const d = await avMnist({ ...base, image: { pcaEnergyRemoved: removed }, progress: false });
        pcaSweep[String(removed)] = await probe(d, 'visual', 64, epochs);
        process.stderr.write(`pca ${removed}: visual mlp64 ${pcaSweep[String(removed)]}\n`);
      }
      result['visualPcaSweep/mlp64'] = pcaSweep;
    }
    result['peakRssMiBAfterProbes'] = process.resourceUsage().maxRSS / 1024;
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
  console.log(JSON.stringify(result));
  mkdirSync(join(here, 'results'), { recursive: true });
  writeFileSync(join(here, 'results', 'avmnist.json'), `${JSON.stringify(result, null, 2)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
