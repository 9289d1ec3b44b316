/** The benchmark models, built with tfjs-layers (same architectures as tools/reference/wasm-training/torch_step.py). */
import * as tf from '@tensorflow/tfjs';

/** MLP 512-512-512-10 (ReLU). */
export function mlp(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [512], units: 512, activation: 'relu' }),
      tf.layers.dense({ units: 512, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
}

/** conv3x3 c32, conv3x3 c64 (ReLU, 'same'), 2x2 max pool, dense 10, on 64x64x1. */
export function cnn(): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [64, 64, 1],
        filters: 32,
        kernelSize: 3,
        padding: 'same',
        activation: 'relu',
      }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 10 }),
    ],
  });
}

function block(x: tf.SymbolicTensor, filters: number, stride: number): tf.SymbolicTensor {
  const conv = (k: number, s: number, f: number) =>
    tf.layers.conv2d({ filters: f, kernelSize: k, strides: s, padding: 'same', useBias: false });
  let h = conv(3, stride, filters).apply(x) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  h = conv(3, 1, filters).apply(h) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
  let skip = x;
  if (stride !== 1 || x.shape[3] !== filters) {
    skip = conv(1, stride, filters).apply(x) as tf.SymbolicTensor;
    skip = tf.layers.batchNormalization().apply(skip) as tf.SymbolicTensor;
  }
  return tf.layers
    .reLU()
    .apply(tf.layers.add().apply([h, skip]) as tf.SymbolicTensor) as tf.SymbolicTensor;
}

/** ResNet-18 (BasicBlock x [2, 2, 2, 2], BatchNorm) for 257x188x1 spectrograms, 6 classes (CREMA-D audio). */
export function resnet18(): tf.LayersModel {
  const input = tf.input({ shape: [257, 188, 1] });
  let h = tf.layers
    .conv2d({ filters: 64, kernelSize: 7, strides: 2, padding: 'same', useBias: false })
    .apply(input) as tf.SymbolicTensor;
  h = tf.layers.batchNormalization().apply(h) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(h) as tf.SymbolicTensor;
  h = tf.layers
    .maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' })
    .apply(h) as tf.SymbolicTensor;
  for (const [filters, stride] of [
    [64, 1],
    [128, 2],
    [256, 2],
    [512, 2],
  ] as const) {
    h = block(h, filters, stride);
    h = block(h, filters, 1);
  }
  h = tf.layers.globalAveragePooling2d({}).apply(h) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 6 }).apply(h) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** One SGD training step (forward, softmax cross-entropy, backward, update) as a closure. */
export function trainingStep(model: tf.LayersModel, batch: number, classes: number): () => void {
  const inShape = model.inputs[0]!.shape.slice(1) as number[];
  const x = tf.randomNormal([batch, ...inShape]);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: batch }, (_, i) => i % classes),
      'int32',
    ),
    classes,
  );
  const opt = tf.train.sgd(0.01);
  return () => {
    const loss = opt.minimize(
      () =>
        tf.losses.softmaxCrossEntropy(
          labels,
          model.apply(x, { training: true }) as tf.Tensor,
        ) as tf.Scalar,
      true,
    );
    loss?.dataSync();
    loss?.dispose();
  };
}
