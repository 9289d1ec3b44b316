// SAM for a tfjs-layers model: compile for the loss and metrics, train with fitWithSam.
import { chain, sgd } from '@igm/core';
import { fitWithSam, sam } from '@igm/sam';
import * as tf from '@tensorflow/tfjs';

const x = tf.randomNormal([256, 8], 0, 1, 'float32', 1);
const labels = tf.cast(tf.greater(tf.sum(tf.slice(x, [0, 0], [-1, 2]), 1), 0), 'int32');
const y = tf.oneHot(labels as tf.Tensor1D, 2);

const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 16, inputShape: [8] }),
    tf.layers.batchNormalization(), // moving statistics update once per step, not twice
    tf.layers.activation({ activation: 'relu' }),
    tf.layers.dense({ units: 2, activation: 'softmax' }),
  ],
});
// The compiled optimizer is not used by fitWithSam; the loss and metrics are.
model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

const history = await fitWithSam(model, x, y, {
  transform: chain(
    sam({ rho: 0.05 }),
    sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4 }),
  ),
  epochs: 5,
  batchSize: 32,
  validationData: [x, y],
});
console.log(history.history);
