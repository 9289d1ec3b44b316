/**
 * End to end with @igm/core's GradientOptimizer: the model's params() drive the optimizer, the
 * loss closure forwards `pass.batchStatistics`, and a SAM-like transform that re-evaluates
 * with frozen statistics leaves BatchNorm moving averages updated exactly once per step.
 */

import type { GradientTransform, Grads, LossPass } from '@igm/core';
import { GradientOptimizer } from '@igm/core';
import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { BatchNorm, MultimodalModel } from '../src/index';
import { crossEntropy } from './helpers';

function encoder(inputDim: number, name: string) {
  const input = tf.input({ shape: [inputDim] });
  let x = tf.layers.dense({ units: 6, name: `${name}_fc` }).apply(input) as tf.SymbolicTensor;
  x = new BatchNorm({ name: `${name}_bn` }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.reLU().apply(x) as tf.SymbolicTensor });
}

/** Re-evaluates the gradient with frozen BN statistics and steps with -lr * g (SAM's pattern). */
function reevaluatingSgd(lr: number, seen: string[][]): GradientTransform<null> {
  return {
    name: 'reevaluating-sgd',
    init: () => null,
    update(_grads: Grads, _state, ctx) {
      seen.push(Object.keys(ctx.outputs).sort());
      const again = ctx.evaluate!(undefined, { batchStatistics: 'frozen' });
      const out: Grads = new Map();
      for (const [k, g] of again.grads) out.set(k, tf.mul(g, -lr));
      return out;
    },
    state: () => [],
  };
}

describeEachBackend('MultimodalModel with GradientOptimizer', () => {
  it('frozen re-evaluation: moving statistics updated once per step; outputs in ctx', async () => {
    const model = new MultimodalModel({
      encoders: { audio: encoder(5, 'a'), visual: encoder(3, 'v') },
      numClasses: 3,
      head: { type: 'per-modality', hidden: [{ units: 8, activation: 'relu' }, { units: 4 }] },
    });
    const inputs = {
      audio: tf.randomNormal([6, 5], 1, 2, 'float32', 1),
      visual: tf.randomNormal([6, 3], 0, 1, 'float32', 2),
    };
    const labels = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
    const seen: string[][] = [];
    const audioKeys = model
      .params()
      .filter((p) => p.group.endsWith('/audio'))
      .map((p) => p.key);
    const opt = new GradientOptimizer(reevaluatingSgd(0.05, seen), model.params());
    const lossFn = (pass: LossPass) => {
      const outputs = model.forward(inputs, {
        training: true,
        batchStatistics: pass.batchStatistics,
        modalities: ['audio'],
      });
      return { loss: crossEntropy(outputs['logits/audio']!, labels), outputs };
    };
    const mean = model.nonTrainable().find((v) => v.key === 'encoder/audio/a_bn/moving_mean')!;
    const m0 = Array.from(mean.variable.dataSync());
    const batchMean = tf.tidy(() =>
      Array.from(
        tf
          .mean(model.encoderModel('audio').getLayer('a_fc').apply(inputs.audio) as tf.Tensor, 0)
          .dataSync(),
      ),
    );
    opt.minimize(lossFn, { keys: audioKeys, labels });
    // One update (the re-evaluation was frozen): 0.9 * old + 0.1 * batch mean.
    expectAllClose(
      mean.variable,
      m0.map((v, i) => 0.9 * v + 0.1 * batchMean[i]!),
      { atol: 1e-6 },
    );
    expect(seen[0]).toEqual([
      'features/audio',
      'input/head/audio/0',
      'input/head/audio/1',
      'input/head/audio/2',
      'logits/audio',
    ]);
    await expectNoTensorLeak(() => opt.minimize(lossFn, { keys: audioKeys, labels }), {
      steps: 200,
    });
    opt.dispose();
    tf.dispose([labels, ...Object.values(inputs)]);
    model.dispose();
  });
});
