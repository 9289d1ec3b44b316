// SAM in plain model.compile / model.fit, through @igm/core's toTfjsOptimizer adapter.
import { chain, sgd, toTfjsOptimizer } from '@igm/core';
import { sam } from '@igm/sam';
import * as tf from '@tensorflow/tfjs';

const x = tf.randomNormal([256, 8], 0, 1, 'float32', 1);
const labels = tf.cast(tf.greater(tf.sum(tf.slice(x, [0, 0], [-1, 2]), 1), 0), 'int32');
const y = tf.oneHot(labels as tf.Tensor1D, 2);

const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 16, inputShape: [8] }),
    tf.layers.batchNormalization(),
    tf.layers.activation({ activation: 'relu' }),
    tf.layers.dense({ units: 2, activation: 'softmax' }),
  ],
});
// { model } lets SAM's second pass freeze the BatchNorm moving statistics.
const optimizer = toTfjsOptimizer(
  chain(sam({ rho: 0.05 }), sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4 })),
  { model },
);
model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
const history = await model.fit(x, y, {
  epochs: 5,
  batchSize: 32,
  validationData: [x, y],
  verbose: 0,
});
console.log(history.history);
