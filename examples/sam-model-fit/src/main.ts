/**
 * SAM in an ordinary tfjs LayersModel.
 *
 * A tf.sequential MLP learns a noisy three-arm spiral (3 classes, 2 informative inputs plus 6
 * pure-noise inputs, few training samples: easy to overfit). The same model, from the same
 * initial weights, is trained three ways with the same base optimizer (SGD, momentum 0.9):
 *
 *   sgd          model.compile({ optimizer: toTfjsOptimizer(sgd(...)) }) + model.fit
 *   sam (fit)    model.compile({ optimizer: toTfjsOptimizer(chain(sam(), sgd(...)), { model }) })
 *                + model.fit                                   -- a few lines in an existing app
 *   fitWithSam   fitWithSam(model, x, y, { transform: chain(sam(), sgd(...)) })
 *                                                              -- @igm/sam's path for any model,
 *                                                                 BatchNorm included
 *
 * and the final train/test loss and accuracy are printed, with a sharpness probe: the mean
 * increase of the training loss when every weight w is moved by N(0, (0.05 |w|)^2).
 *
 *   pnpm start            (or: pnpm start -- --backend cpu)
 *   pnpm tiny             a few seconds; what `pnpm test` runs
 */
import { pathToFileURL } from 'node:url';
import { chain, createRng, type Rng, sgd, toTfjsOptimizer } from '@igm/core';
import { fitWithSam, sam } from '@igm/sam';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, parseArgs, useBackend } from './backend';

export interface ExampleOptions {
  /** Small data and few epochs (CI). */
  tiny?: boolean;
  backend?: BackendName;
  /** Where progress lines go. Default console.log. */
  log?: (line: string) => void;
}

export interface RunResult {
  method: string;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  /** Training loss after the first epoch (logged by fit at the weights before each step). */
  firstEpochLoss: number;
  /** Mean training-loss increase under random relative weight noise (lower = flatter). */
  sharpness: number;
  seconds: number;
}

export interface ExampleResult {
  backend: string;
  runs: RunResult[];
}

const CLASSES = 3;
const NOISE_DIMS = 6;

/** A noisy 3-arm spiral in the first two inputs; the other inputs are pure noise. */
function spiral(n: number, rng: Rng): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const dim = 2 + NOISE_DIMS;
  const xs = new Float32Array(n * dim);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % CLASSES;
    const r = rng.uniform(); // radius in [0, 1)
    const angle = (2 * Math.PI * c) / CLASSES + 3.5 * r + 0.25 * rng.normal();
    xs[i * dim] = r * Math.cos(angle);
    xs[i * dim + 1] = r * Math.sin(angle);
    for (let k = 2; k < dim; k++) xs[i * dim + k] = 0.5 * rng.normal();
    labels[i] = c;
  }
  return tf.tidy(() => ({
    x: tf.tensor2d(xs, [n, dim]),
    y: tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES) as tf.Tensor2D,
  }));
}

function buildModel(): tf.Sequential {
  // Seeded initialisers: every method starts from the same weights.
  const dense = (
    units: number,
    seed: number,
    extra: Partial<Parameters<typeof tf.layers.dense>[0]> = {},
  ) =>
    tf.layers.dense({
      units,
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      ...extra,
    });
  return tf.sequential({
    layers: [
      dense(64, 1, { inputShape: [2 + NOISE_DIMS], activation: 'relu' }),
      dense(64, 2, { activation: 'relu' }),
      dense(CLASSES, 3, { activation: 'softmax' }),
    ],
  });
}

function lossAndAccuracy(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): [number, number] {
  return tf.tidy(() => {
    const p = model.predict(x) as tf.Tensor;
    const loss = tf.losses.softmaxCrossEntropy(y, tf.log(tf.add(p, 1e-7))).dataSync()[0]!;
    const acc = tf.mean(tf.cast(tf.equal(tf.argMax(p, 1), tf.argMax(y, 1)), 'float32'));
    return [loss, acc.dataSync()[0]!];
  });
}

/** Mean increase of the loss when each weight moves by N(0, (scale |w|)^2), over `draws` draws. */
function sharpness(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, rng: Rng): number {
  const [base] = lossAndAccuracy(model, x, y);
  const saved = model.getWeights().map((w) => tf.clone(w));
  const draws = 8;
  let sum = 0;
  for (let d = 0; d < draws; d++) {
    const noisy = saved.map((w) =>
      tf.tidy(() => {
        const noise = tf.randomNormal(w.shape, 0, 1, 'float32', rng.int(2 ** 31));
        return tf.add(w, tf.mul(tf.mul(noise, tf.abs(w)), 0.05));
      }),
    );
    model.setWeights(noisy);
    tf.dispose(noisy);
    sum += lossAndAccuracy(model, x, y)[0] - base;
  }
  model.setWeights(saved);
  tf.dispose(saved);
  return sum / draws;
}

export async function runExample(options: ExampleOptions = {}): Promise<ExampleResult> {
  const log = options.log ?? console.log;
  const backend = await useBackend(options.backend ?? 'wasm');
  const tiny = options.tiny ?? false;
  const trainSize = tiny ? 240 : 480;
  const epochs = tiny ? 15 : 80;
  const batchSize = 32;
  const rng = createRng(7);
  const train = spiral(trainSize, rng.fork('train'));
  const test = spiral(1500, rng.fork('test'));
  // The base optimizer shared by every method; weight decay and momentum belong to it, not to SAM.
  const base = () => sgd({ learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const rho = 0.1;

  log(
    `backend ${backend}; ${trainSize} training samples, ${epochs} epochs, batch ${batchSize}, SGD(lr 0.05, momentum 0.9, wd 1e-4), SAM rho ${rho}`,
  );
  const runs: RunResult[] = [];
  const methods = ['sgd', 'sam (model.fit)', 'fitWithSam'] as const;
  for (const method of methods) {
    const started = performance.now();
    const model = buildModel();
    let losses: number[];
    if (method === 'fitWithSam') {
      // @igm/sam's loop: takes the compiled loss and metrics, ignores the compiled optimizer.
      model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      const history = await fitWithSam(model, train.x, train.y, {
        transform: chain(sam({ rho }), base()),
        epochs,
        batchSize,
        shuffle: false, // as the model.fit runs below, so all three see the same batches
      });
      losses = history.history['loss']!;
    } else {
      // A few lines in an existing tfjs app: the chain becomes a tf.Optimizer. `model` gives the
      // adapter stable weight keys and lets SAM's second pass freeze BatchNorm statistics.
      const transform = method === 'sgd' ? base() : chain(sam({ rho }), base());
      const optimizer = toTfjsOptimizer(transform, { model, seed: 1 });
      model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
      const history = await model.fit(train.x, train.y, {
        epochs,
        batchSize,
        verbose: 0,
        // model.fit shuffles with Math.random (unseeded); the samples are already in random
        // order, so keep them in order and the run is reproducible.
        shuffle: false,
        callbacks: [optimizer.callbacks()], // keeps optimizer.epoch in sync for schedules
      });
      losses = history.history['loss'] as number[];
      optimizer.dispose();
    }
    const [trainLoss, trainAccuracy] = lossAndAccuracy(model, train.x, train.y);
    const [testLoss, testAccuracy] = lossAndAccuracy(model, test.x, test.y);
    const run: RunResult = {
      method,
      trainLoss,
      trainAccuracy,
      testLoss,
      testAccuracy,
      firstEpochLoss: losses[0]!,
      sharpness: sharpness(model, train.x, train.y, createRng(99)),
      seconds: (performance.now() - started) / 1000,
    };
    runs.push(run);
    log(
      `${method.padEnd(16)} epoch-1 loss ${run.firstEpochLoss.toFixed(4)}  train loss ${trainLoss.toFixed(4)} acc ${trainAccuracy.toFixed(3)}  test loss ${testLoss.toFixed(4)} acc ${testAccuracy.toFixed(3)}  sharpness ${run.sharpness.toFixed(4)}  ${run.seconds.toFixed(1)} s`,
    );
    model.dispose();
  }
  tf.dispose([train.x, train.y, test.x, test.y]);
  return { backend, runs };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runExample(parseArgs(process.argv.slice(2)));
}
