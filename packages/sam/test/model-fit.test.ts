/**
 * SAM inside plain `model.fit`, through @igm/core's `toTfjsOptimizer` (which provides
 * ctx.evaluate and, given `{ model }`, freezes BatchNorm statistics on re-evaluations).
 */
import { chain, GradientOptimizer, sgd, toTfjsOptimizer } from '@igm/core';
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

function mlp(withBatchNorm = false): tf.Sequential {
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      units: 6,
      inputShape: [5],
      activation: withBatchNorm ? 'linear' : 'tanh',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 31 }),
      biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: 32 }),
    }),
  );
  if (withBatchNorm) model.add(tf.layers.batchNormalization({ momentum: 0.9 }));
  model.add(
    tf.layers.dense({
      units: 3,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 33 }),
    }),
  );
  return model;
}

const weightsOf = (m: tf.LayersModel) => m.getWeights().flatMap((w) => Array.from(w.dataSync()));
const samSgd = () =>
  chain(sam({ rho: 0.1 }), sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 }));

describeEachBackend('model.fit with toTfjsOptimizer(chain(sam(), sgd()))', () => {
  it('gives the loss, accuracy and weights of the manual GradientOptimizer run', async () => {
    const { x, y } = data();
    const fitted = mlp();
    const manual = mlp();
    const viaFitWithSam = mlp();
    manual.setWeights(fitted.getWeights());
    viaFitWithSam.setWeights(fitted.getWeights());
    // (compiled first: its unused tf.train.sgd holds a learning-rate tensor until dispose)
    viaFitWithSam.compile({
      optimizer: 'sgd',
      loss: 'categoricalCrossentropy',
      metrics: ['accuracy'],
    });

    const optimizer = toTfjsOptimizer(samSgd(), { model: fitted });
    fitted.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const before = tf.memory().numTensors;
    const history = await fitted.fit(x, y, { epochs: 2, batchSize: 8, shuffle: false, verbose: 0 });

    // The manual run: first-pass loss and accuracy per batch, weighted by batch size.
    const opt = new GradientOptimizer(samSgd(), layersModelParams(manual));
    const expected = { loss: [0, 0], acc: [0, 0] };
    for (let epoch = 0; epoch < 2; epoch++) {
      for (let start = 0; start < N; start += 8) {
        const size = Math.min(8, N - start);
        const bx = tf.slice(x, start, size);
        const by = tf.slice(y, start, size);
        let acc = 0;
        const loss = opt.minimize((pass) => {
          const p = manual.apply(bx, { training: true }) as tf.Tensor;
          if (pass.index === 0) acc = tf.mean(tf.metrics.categoricalAccuracy(by, p)).dataSync()[0]!;
          return tf.mean(tf.losses.softmaxCrossEntropy(by, tf.log(p)));
        });
        expected.loss[epoch]! += (loss * size) / N;
        expected.acc[epoch]! += (acc * size) / N;
        tf.dispose([bx, by]);
      }
    }
    // Same float32 ops on the same data: rounding-level agreement.
    expectAllClose(weightsOf(fitted), weightsOf(manual), { atol: 1e-6, label: 'weights' });
    expectAllClose(history.history['loss'] as number[], expected.loss, {
      atol: 1e-5,
      label: 'loss',
    });
    expectAllClose(history.history['acc'] as number[], expected.acc, { atol: 1e-6, label: 'acc' });
    expect(optimizer.lastLogs['sam/rho']).toBe(0.1);

    // fitWithSam gives the same run.
    const h2 = await fitWithSam(viaFitWithSam, x, y, {
      transform: samSgd(),
      epochs: 2,
      batchSize: 8,
      shuffle: false,
    });
    expectAllClose(weightsOf(viaFitWithSam), weightsOf(fitted), {
      atol: 1e-6,
      label: 'fitWithSam weights',
    });
    expectAllClose(h2.history['loss']!, history.history['loss'] as number[], {
      atol: 1e-6,
      label: 'fitWithSam loss',
    });

    // Tensors kept by fit's second closure call are released by the adapter.
    optimizer.dispose();
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    for (const m of [fitted, manual, viaFitWithSam]) m.dispose();
  });

  it('updates BatchNorm moving statistics once per step when given { model }', async () => {
    const { x, y } = data();
    const model = mlp(true);
    const optimizer = toTfjsOptimizer(samSgd(), { model });
    model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const momentum = 0.9;
    for (let step = 0; step < 3; step++) {
      const [, , mean0, var0] = model.layers[1]!.getWeights().map((w) => Array.from(w.dataSync()));
      const h = model.layers[0]!.apply(x) as tf.Tensor;
      const { mean, variance } = tf.moments(h, 0);
      const mu = Array.from(mean.dataSync());
      const v = Array.from(variance.dataSync());
      tf.dispose([h, mean, variance]);
      await model.fit(x, y, { epochs: 1, batchSize: N, verbose: 0 });
      const [, , mean1, var1] = model.layers[1]!.getWeights().map((w) => Array.from(w.dataSync()));
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
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });

  it('without { model } the frozen second pass fails clearly and the weights are restored', async () => {
    const { x, y } = data();
    const model = mlp();
    const optimizer = toTfjsOptimizer(samSgd());
    model.compile({ optimizer, loss: 'categoricalCrossentropy' });
    const before = weightsOf(model);
    await expect(model.fit(x, y, { epochs: 1, batchSize: N, verbose: 0 })).rejects.toThrow(
      /needs the model: toTfjsOptimizer\(transform, \{ model \}\)/,
    );
    expect(weightsOf(model)).toEqual(before);
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, y]);
  });
});
