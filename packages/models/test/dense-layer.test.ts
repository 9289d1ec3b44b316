/**
 * Dense (@igm/models): the same layer as tfjs-layers' Dense (weights, names, order, initial values
 * from the same initializers) and the same values and gradients bit for bit, with the fused bias
 * + activation kernels registered (cpu: @igm/core's, wasm: @igm/wasm-training's) and without, in
 * training (on a gradient tape, where tfjs-layers runs MatMul, Add and Relu) and in inference
 * (where it runs one _FusedMatMul); fewer kernel calls per training step; a leak test.
 */
import { IgmBiasActivation } from '@igm/core';
import { describeEachBackend, expectNoTensorLeak, tf } from '@igm/test-utils';
import { countKernelWork } from '@igm/test-utils/bench';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect, it } from 'vitest';
import { useFusedBiasActivation } from '../../wasm-training/test/fused-batch-norm';
import { Dense, mlpEncoder } from '../src/index';

/** Two Dense layers (relu, then linear) built from seeded initializers, as a model. */
function twoLayers(kind: 'ours' | 'tfjs', name: string): tfl.LayersModel {
  const init = (seed: number) =>
    tfl.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });
  const input = tfl.input({ shape: [12] });
  const make = (units: number, activation: 'relu' | 'linear', layer: string, seed: number) =>
    kind === 'ours'
      ? new Dense({
          units,
          activation,
          kernelInitializer: init(seed),
          biasInitializer: init(seed + 1),
          name: layer,
        })
      : tfl.layers.dense({
          units,
          activation,
          kernelInitializer: init(seed),
          biasInitializer: init(seed + 1),
          name: layer,
        });
  const h = make(16, 'relu', `${name}_fc0`, 1).apply(input) as tfl.SymbolicTensor;
  const y = make(5, 'linear', `${name}_fc1`, 3).apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: y, name });
}

function record(model: tfl.LayersModel, x: tf.Tensor, w: tf.Tensor) {
  const vars = model.trainableWeights.map((v) => (v as unknown as { val: tf.Variable }).val);
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(w, model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
    vars,
  );
  const out = {
    loss: value.dataSync()[0]!,
    grads: vars.map((v) => Array.from(grads[v.name]!.dataSync())),
    inference: Array.from((model.predict(x) as tf.Tensor).dataSync()),
  };
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

describeEachBackend('Dense layer', (backend) => {
  it('has tfjs-layers Dense weights, names and initial values', () => {
    const ours = twoLayers('ours', 'a');
    const theirs = twoLayers('tfjs', 'a');
    expect(ours.weights.map((w) => [w.originalName, w.shape])).toEqual(
      theirs.weights.map((w) => [w.originalName, w.shape]),
    );
    ours.weights.forEach((w, i) => {
      expect(Array.from(w.read().dataSync())).toEqual(
        Array.from(theirs.weights[i]!.read().dataSync()),
      );
    });
    ours.dispose();
    theirs.dispose();
  });

  it('gives tfjs-layers Dense values and gradients bit for bit, fused kernels on and off', () => {
    const x = tf.randomNormal([9, 12], 0, 1, 'float32', 11);
    const w = tf.randomNormal([9, 5], 0, 1, 'float32', 12);
    // The reference runs on the same kernels (on wasm: @igm/wasm-training's, which it registers).
    useFusedBiasActivation(backend, true);
    const theirs = twoLayers('tfjs', 'b');
    const reference = record(theirs, x, w);
    for (const fused of [true, false]) {
      useFusedBiasActivation(backend, fused);
      const ours = twoLayers('ours', 'b');
      const got = record(ours, x, w);
      expect(Object.is(got.loss, reference.loss), `loss (fused ${fused})`).toBe(true);
      for (const [i, g] of got.grads.entries()) {
        expect(g, `grad ${i} (fused ${fused})`).toEqual(reference.grads[i]);
      }
      expect(got.inference).toEqual(reference.inference);
      ours.dispose();
    }
    useFusedBiasActivation(backend, true);
    theirs.dispose();
    tf.dispose([x, w]);
  });

  it('runs fewer kernels per training step and leaves no tensors behind', async () => {
    useFusedBiasActivation(backend, true);
    const x = tf.randomNormal([8, 12], 0, 1, 'float32', 13);
    const count = (model: tfl.LayersModel) => {
      const vars = model.trainableWeights.map((v) => (v as unknown as { val: tf.Variable }).val);
      const counter = countKernelWork(tf.engine() as never);
      tf.tidy(() => {
        tf.variableGrads(
          () => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
          vars,
        );
      });
      return counter.stop();
    };
    const ours = twoLayers('ours', 'c');
    const theirs = twoLayers('tfjs', 'c');
    const a = count(ours);
    const b = count(theirs);
    expect(a.byKernel[IgmBiasActivation]?.calls).toBe(2);
    expect(a.kernelCalls).toBeLessThan(b.kernelCalls - 10);
    const opt = tf.train.sgd(0.01);
    await expectNoTensorLeak(
      () => {
        opt.minimize(
          () => tf.sum(tf.square(ours.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
        );
      },
      { steps: 20 },
    );
    opt.dispose();
    ours.dispose();
    theirs.dispose();
    x.dispose();
  });

  it('is what mlpEncoder builds (names unchanged)', () => {
    const enc = mlpEncoder({ inputDim: 10, units: [8, 4], seed: 3 });
    expect(
      enc.layers.filter((l) => l.getClassName() === Dense.className).map((l) => l.name),
    ).toEqual(['fc0', 'fc1']);
    expect(enc.weights.map((w) => w.originalName)).toEqual([
      'fc0/kernel',
      'fc0/bias',
      'fc1/kernel',
      'fc1/bias',
    ]);
    enc.dispose();
  });
});
