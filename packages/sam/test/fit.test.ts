import { chain, GradientOptimizer, sgd } from '@igm/core';
import { describeEachBackend, expectAllClose, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { fitWithSam, layersModelParams, sam } from '../src';

const N = 20;

function data() {
  const x = tf.randomNormal([N, 5], 0, 1, 'float32', 7);
  const labels = tf.tensor1d(
    Array.from({ length: N }, (_, i) => (i * 7) % 3),
    'int32',
  );
  const y = tf.oneHot(labels, 3);
  labels.dispose();
  return { x, y };
}

let seed = 0;
function mlp(withBatchNorm = false): tf.LayersModel {
  seed++;
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      units: 6,
      inputShape: [5],
      activation: withBatchNorm ? 'linear' : 'tanh',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      biasInitializer: tf.initializers.randomUniform({
        minval: -0.1,
        maxval: 0.1,
        seed: seed + 100,
      }),
    }),
  );
  if (withBatchNorm) model.add(tf.layers.batchNormalization({ momentum: 0.9 }));
  model.add(
    tf.layers.dense({
      units: 3,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 200 }),
    }),
  );
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

const weightsOf = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

describeEachBackend('fitWithSam', () => {
  it('gives the same weights, loss and accuracy as a manual GradientOptimizer loop', async () => {
    const { x, y } = data();
    const a = mlp();
    const b = mlp();
    b.setWeights(a.getWeights());
    const history = await fitWithSam(a, x, y, {
      transform: chain(
        sam({ rho: 0.1 }),
        sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 }),
      ),
      epochs: 2,
      batchSize: 8,
      shuffle: false,
    });

    const opt = new GradientOptimizer(
      chain(sam({ rho: 0.1 }), sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 })),
      layersModelParams(b),
    );
    const expected: Record<string, number[]> = { loss: [], acc: [] };
    for (let epoch = 0; epoch < 2; epoch++) {
      let loss = 0;
      let acc = 0;
      for (let start = 0; start < N; start += 8) {
        const size = Math.min(8, N - start);
        const bx = tf.slice(x, start, size);
        const by = tf.slice(y, start, size);
        let batchAcc = 0;
        loss +=
          size *
          opt.minimize((pass) => {
            const p = b.apply(bx, { training: true }) as tf.Tensor;
            if (pass.index === 0) {
              batchAcc = tf.mean(tf.metrics.categoricalAccuracy(by, p)).dataSync()[0]!;
            }
            return tf.mean(tf.losses.softmaxCrossEntropy(by, tf.log(p)));
          });
        acc += size * batchAcc;
        tf.dispose([bx, by]);
      }
      expected.loss!.push(loss / N);
      expected.acc!.push(acc / N);
    }
    // Same float32 computation in the same order: agreement to rounding.
    expectAllClose(weightsOf(a).flat(), weightsOf(b).flat(), { atol: 1e-6, label: 'weights' });
    expect(history.epoch).toEqual([0, 1]);
    expectAllClose(history.history['loss']!, expected.loss!, { atol: 1e-5, label: 'loss' });
    expect(history.history['acc']).toEqual(expected.acc);
    expect(history.params).toMatchObject({ epochs: 2, batchSize: 8, samples: N, steps: 3 });
    opt.dispose();
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  });

  it('passes groupOf to the params, so rhoByGroup applies per layer, and forwards logs', async () => {
    const { x, y } = data();
    const a = mlp();
    const b = mlp();
    b.setWeights(a.getWeights());
    const firstLayers = [a, b].map((m) => `${m.layers[0]!.name}/`);
    const groupOf = (name: string) =>
      firstLayers.some((f) => name.startsWith(f)) ? 'encoder' : 'head';
    const transform = () =>
      chain(
        sam({ rhoByGroup: { encoder: 0.2, head: 0 }, normalize: 'per-variable' }),
        sgd({ learningRate: 0.1 }),
      );
    const logs: Array<Record<string, number>> = [];
    await fitWithSam(a, x, y, {
      transform: transform(),
      batchSize: N,
      shuffle: false,
      groupOf,
      onLog: (values) => logs.push(values),
    });
    const params = layersModelParams(b, groupOf);
    expect(params.map((p) => p.group)).toEqual(['encoder', 'encoder', 'head', 'head']);
    const opt = new GradientOptimizer(transform(), params);
    opt.minimize(() =>
      tf.mean(
        tf.losses.softmaxCrossEntropy(y, tf.log(b.apply(x, { training: true }) as tf.Tensor)),
      ),
    );
    expectAllClose(weightsOf(a).flat(), weightsOf(b).flat(), { atol: 1e-6, label: 'weights' });
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ 'sam/rho/encoder': 0.2, 'sam/rho/head': 0 });
    opt.dispose();
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  });

  it('without SAM it reproduces model.fit (loss with L2 regulariser, accuracy, weights)', async () => {
    const { x, y } = data();
    const build = () => {
      const m = tf.sequential();
      m.add(
        tf.layers.dense({
          units: 6,
          inputShape: [5],
          activation: 'tanh',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 11 }),
          kernelRegularizer: tf.regularizers.l2({ l2: 0.01 }),
        }),
      );
      m.add(
        tf.layers.dense({
          units: 3,
          activation: 'softmax',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 12 }),
        }),
      );
      return m;
    };
    const a = build();
    const b = build();
    b.setWeights(a.getWeights());
    a.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    b.compile({
      optimizer: tf.train.sgd(0.2),
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    });
    const ours = await fitWithSam(a, x, y, {
      transform: sgd({ learningRate: 0.2, momentum: 0, weightDecay: 0 }),
      epochs: 2,
      batchSize: 8,
      shuffle: false,
    });
    const theirs = await b.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });
    expectAllClose(weightsOf(a).flat(), weightsOf(b).flat(), { atol: 1e-6, label: 'weights' });
    expectAllClose(ours.history['loss']!, theirs.history['loss'] as number[], {
      atol: 1e-6,
      label: 'loss',
    });
    expectAllClose(ours.history['acc']!, theirs.history['acc'] as number[], {
      atol: 1e-6,
      label: 'acc',
    });
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  });

  it('without SAM it reproduces model.fit on a two-input, two-output functional model', async () => {
    const { x, y } = data();
    const x2 = tf.randomNormal([N, 2], 0, 1, 'float32', 9);
    const y2 = tf.randomNormal([N, 1], 0, 1, 'float32', 10);
    const build = () => {
      const in1 = tf.input({ shape: [5] });
      const in2 = tf.input({ shape: [2] });
      const h = tf.layers
        .dense({
          units: 4,
          activation: 'tanh',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 21 }),
        })
        .apply(tf.layers.concatenate().apply([in1, in2])) as tf.SymbolicTensor;
      const cls = tf.layers
        .dense({
          name: 'cls',
          units: 3,
          activation: 'softmax',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 22 }),
        })
        .apply(h) as tf.SymbolicTensor;
      const reg = tf.layers
        .dense({
          name: 'reg',
          units: 1,
          kernelInitializer: tf.initializers.glorotUniform({ seed: 23 }),
        })
        .apply(h) as tf.SymbolicTensor;
      return tf.model({ inputs: [in1, in2], outputs: [cls, reg] });
    };
    const a = build();
    const b = build();
    b.setWeights(a.getWeights());
    const compileArgs = {
      loss: ['categoricalCrossentropy', 'meanSquaredError'],
      metrics: ['accuracy'],
    };
    a.compile({ optimizer: 'sgd', ...compileArgs });
    b.compile({ optimizer: tf.train.sgd(0.1), ...compileArgs });
    const ours = await fitWithSam(a, [x, x2], [y, y2], {
      transform: sgd({ learningRate: 0.1 }),
      epochs: 2,
      batchSize: 8,
      shuffle: false,
    });
    const theirs = await b.fit([x, x2], [y, y2], {
      epochs: 2,
      batchSize: 8,
      shuffle: false,
      verbose: 0,
    });
    expectAllClose(weightsOf(a).flat(), weightsOf(b).flat(), { atol: 1e-6, label: 'weights' });
    expect(Object.keys(ours.history).sort()).toEqual(Object.keys(theirs.history).sort());
    for (const [k, v] of Object.entries(theirs.history)) {
      expectAllClose(ours.history[k]!, v as number[], { atol: 1e-6, label: k });
    }
    tf.dispose([x, y, x2, y2]);
    a.dispose();
    b.dispose();
  });

  it('updates BatchNorm moving statistics once per step (second pass frozen)', async () => {
    const { x, y } = data();
    const model = mlp(true);
    const bn = model.layers[1] as unknown as { getWeights(): tf.Tensor[] };
    const momentum = 0.9;
    for (let step = 0; step < 3; step++) {
      // Expected update from the first pass at the pre-step weights: m <- m - (m - mu)(1 - momentum).
      const [, , mean0, var0] = bn.getWeights().map((w) => Array.from(w.dataSync()));
      const h = model.layers[0]!.apply(x) as tf.Tensor;
      const { mean, variance } = tf.moments(h, 0);
      const mu = Array.from(mean.dataSync());
      const v = Array.from(variance.dataSync());
      tf.dispose([h, mean, variance]);
      await fitWithSam(model, x, y, {
        transform: chain(
          sam({ rho: 0.5 }),
          sgd({ learningRate: 0.1, momentum: 0, weightDecay: 0 }),
        ),
        batchSize: N,
      });
      const [, , mean1, var1] = bn.getWeights().map((w) => Array.from(w.dataSync()));
      expectAllClose(
        mean1!,
        mean0!.map((m, i) => m - (m - mu[i]!) * (1 - momentum)),
        {
          atol: 1e-5,
          label: `moving mean, step ${step}`,
        },
      );
      expectAllClose(
        var1!,
        var0!.map((m, i) => m - (m - v[i]!) * (1 - momentum)),
        {
          atol: 1e-5,
          label: `moving variance, step ${step}`,
        },
      );
    }
    // Control: a loop that ignores batchStatistics updates the moving mean twice per step.
    const naive = mlp(true);
    naive.setWeights(model.getWeights());
    const before = Array.from(naive.layers[1]!.getWeights()[2]!.dataSync());
    const opt = new GradientOptimizer(
      chain(sam({ rho: 0.5 }), sgd({ learningRate: 0.1, momentum: 0, weightDecay: 0 })),
      layersModelParams(naive),
    );
    opt.minimize(() =>
      tf.mean(
        tf.losses.softmaxCrossEntropy(y, tf.log(naive.apply(x, { training: true }) as tf.Tensor)),
      ),
    );
    const h = naive.layers[0]!.apply(x) as tf.Tensor;
    const mu = Array.from(tf.mean(h, 0).dataSync());
    const once = before.map((m, i) => m - (m - mu[i]!) * (1 - momentum));
    const after = Array.from(naive.layers[1]!.getWeights()[2]!.dataSync());
    expect(Math.max(...after.map((a, i) => Math.abs(a - once[i]!)))).toBeGreaterThan(1e-4);
    tf.dispose([h]);
    opt.dispose();
    naive.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });

  it('shuffles reproducibly, reports validation metrics and calls callbacks, without leaking', async () => {
    const { x, y } = data();
    const a = mlp();
    const b = mlp();
    b.setWeights(a.getWeights());
    const batches: number[] = [];
    const epochs: number[] = [];
    const run = (m: tf.LayersModel) =>
      fitWithSam(m, x, y, {
        transform: chain(sam(), sgd({ learningRate: 0.05, momentum: 0.9, weightDecay: 0 })),
        epochs: 2,
        batchSize: 6,
        seed: 3,
        validationData: [x, y],
        callbacks: {
          onBatchEnd: (batch) => {
            batches.push(batch);
          },
          onEpochEnd: (epoch, logs) => {
            epochs.push(epoch);
            expect(Object.keys(logs).sort()).toEqual(['acc', 'loss', 'val_acc', 'val_loss']);
          },
        },
      });
    await run(a);
    const tensors = tf.memory().numTensors;
    const h = await run(b);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(weightsOf(a)).toEqual(weightsOf(b));
    expect(batches).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
    expect(epochs).toEqual([0, 1, 0, 1]);
    // val_loss is model.evaluate's loss on the same data after the epoch.
    const evaluated = b.evaluate(x, y, { batchSize: 6 }) as tf.Scalar[];
    expectAllClose(h.history['val_loss']![1]!, evaluated[0]!.dataSync()[0]!, {
      atol: 1e-5,
      label: 'val_loss',
    });
    expectAllClose(h.history['val_acc']![1]!, evaluated[1]!.dataSync()[0]!, {
      atol: 1e-6,
      label: 'val_acc',
    });
    tf.dispose(evaluated);
    tf.dispose([x, y]);
    a.dispose();
    b.dispose();
  });
});

it('fitWithSam rejects bad arguments clearly', async () => {
  const { x, y } = data();
  const m = mlp();
  await expect(fitWithSam(m, x, y, {})).rejects.toThrow(/give exactly one of options.transform/);
  await expect(fitWithSam(m, x, y, { transform: sam(), epochs: 0 })).rejects.toThrow(/epochs=0/);
  await expect(fitWithSam(m, x, tf.slice(y, 0, 5), { transform: sam() })).rejects.toThrow(
    /same number of samples; got first dimensions 20, 5/,
  );
  const raw = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [5] })] });
  await expect(fitWithSam(raw, x, y, { transform: sam() })).rejects.toThrow(
    /the model is not compiled/,
  );
  await expect(fitWithSam(m, x, y, { transform: sam(), epoch: 2 } as never)).rejects.toThrow(
    /unknown option\(s\) "epoch"/,
  );
  tf.dispose([x, y]);
  m.dispose();
  raw.dispose();
});
