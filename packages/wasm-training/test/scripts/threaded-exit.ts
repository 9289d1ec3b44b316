/** Trains a conv layer on the threaded backend, then returns: the process must exit by itself. */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels, useThreadedWasmBackend } from '../../src/node';

const threads = await useThreadedWasmBackend({ threads: 2 });
registerWasmTrainingKernels();
const x = tf.randomNormal([4, 16, 16, 8]) as tf.Tensor4D;
const w = tf.randomNormal([3, 3, 8, 16]) as tf.Tensor4D;
tf.grad((v: tf.Tensor) => tf.sum(tf.conv2d(x, v as tf.Tensor4D, 1, 'same')))(w).dataSync();
console.log(`trained on ${threads} threads`);
