// SAM with the @igm/core driver: any model whose weights are tf.Variables.
import { chain, GradientOptimizer, sgd } from '@igm/core';
import { sam } from '@igm/sam';
import * as tf from '@tensorflow/tfjs';

const x = tf.randomNormal([64, 4], 0, 1, 'float32', 1);
const y = tf.add(tf.matMul(x, tf.tensor2d([[1], [-2], [0.5], [3]])), 0.1);
const w = tf.variable(tf.zeros([4, 1]), true, 'w');
const b = tf.variable(tf.zeros([1]), true, 'b');

const optimizer = new GradientOptimizer(
  chain(sam({ rho: 0.05 }), sgd({ learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4 })),
  [
    { key: 'w', variable: w, group: 'linear' },
    { key: 'b', variable: b, group: 'linear' },
  ],
);
for (let step = 0; step <= 100; step++) {
  // The closure is evaluated twice per step: at w, then at w + e (SAM's second pass).
  const loss = optimizer.minimize(() => tf.losses.meanSquaredError(y, tf.add(tf.matMul(x, w), b)));
  if (step % 25 === 0) {
    const { 'sam/grad_norm': gradNorm } = optimizer.lastLogs;
    console.log(`step ${step}: loss ${loss.toFixed(5)}, |g| ${gradNorm?.toFixed(4)}`);
  }
}
console.log(
  'w =',
  Array.from(w.dataSync())
    .map((v) => v.toFixed(3))
    .join(', '),
);
optimizer.dispose();
