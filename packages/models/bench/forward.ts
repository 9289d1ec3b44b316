/**
 * Bench: cost of the pieces of @igm/models against same-process baselines.
 *
 * 1. BatchNorm (PyTorch semantics, this package) vs tfjs `batchNormalization`, training-mode
 *    forward + backward on [16, 28, 28, 32]: ratio ours / tfjs.
 * 2. MultimodalModel step (forward + backward, IGM heads on precomputed 768/1000-d features,
 *    B = 12, text-image shape) vs the same math written with plain tf ops: wrapper overhead ratio.
 * 3. ResNet-18 (full width) inference forward on [2, 128, 128, 1]: milliseconds per backend.
 *
 * Run: pnpm --filter @igm/models bench   (writes bench/results/forward.json)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { BatchNorm, igmHiddenLayers, MultimodalModel, mlpEncoder, resnet18 } from '../src/index';

function time(f: () => void, reps: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) f();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) f();
  return (performance.now() - t0) / reps;
}

const results: Record<string, Record<string, number>> = {};

for (const backend of ['cpu', 'wasm'] as const) {
  await tf.setBackend(backend);
  await tf.ready();
  const r: Record<string, number> = {};

  // 1. BatchNorm vs tfjs BatchNormalization.
  const x = tf.randomNormal([16, 28, 28, 32]);
  const ours = new BatchNorm();
  const stock = tf.layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
  ours.apply(x, { training: false });
  stock.apply(x, { training: false });
  const step = (layer: tf.layers.Layer) => () =>
    tf.tidy(() => {
      tf.variableGrads(
        () => tf.sum(tf.square(layer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
        layer.trainableWeights.map((w) => w.read() as tf.Variable),
      );
    });
  r['batchnorm_ours_ms'] = time(step(ours), 20);
  r['batchnorm_tfjs_ms'] = time(step(stock), 20);
  r['batchnorm_ratio'] = r['batchnorm_ours_ms']! / r['batchnorm_tfjs_ms']!;
  x.dispose();

  // 2. MultimodalModel step vs plain tf ops with the same variables.
  const model = new MultimodalModel({
    encoders: { text: mlpEncoder({ inputDim: 768 }), image: mlpEncoder({ inputDim: 1000 }) },
    numClasses: 3,
    head: {
      type: 'per-modality',
      hidden: { text: igmHiddenLayers(), image: igmHiddenLayers({ inputProjection: 768 }) },
    },
  });
  const inputs = { text: tf.randomNormal([12, 768]), image: tf.randomNormal([12, 1000]) };
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], 'int32'), 3);
  const vars = model.params().map((p) => p.variable);
  const byKey = new Map(model.params().map((p) => [p.key, p.variable]));
  const loss = (lt: tf.Tensor, li: tf.Tensor) =>
    tf.add(
      tf.losses.softmaxCrossEntropy(labels, lt),
      tf.losses.softmaxCrossEntropy(labels, li),
    ) as tf.Scalar;
  r['model_step_ms'] = time(
    () =>
      tf.tidy(() => {
        tf.variableGrads(() => {
          const out = model.forward(inputs, { training: true });
          return loss(out['logits/text']!, out['logits/image']!);
        }, vars);
      }),
    20,
  );
  const plainHead = (m: string, h: tf.Tensor, n: number) => {
    for (let i = 0; i < n; i++) {
      h = tf.add(
        tf.matMul(h, byKey.get(`head/${m}/dense_${i}/kernel`)!),
        byKey.get(`head/${m}/dense_${i}/bias`)!,
      );
      if ((m === 'text' && i === 0) || (m === 'image' && i === 1)) h = tf.relu(h);
    }
    return h;
  };
  r['plain_step_ms'] = time(
    () =>
      tf.tidy(() => {
        tf.variableGrads(
          () => loss(plainHead('text', inputs.text, 3), plainHead('image', inputs.image, 4)),
          vars,
        );
      }),
    20,
  );
  r['model_overhead_ratio'] = r['model_step_ms']! / r['plain_step_ms']!;
  tf.dispose([inputs.text, inputs.image, labels]);
  model.dispose();

  // 3. ResNet-18 inference forward.
  const net = resnet18({ inChannels: 1 });
  const img = tf.randomNormal([2, 128, 128, 1]);
  r['resnet18_forward_ms'] = time(
    () => tf.tidy(() => void net.apply(img, { training: false })),
    3,
    1,
  );
  img.dispose();
  net.dispose();
  results[backend] = r;
  console.log(backend, r);
}

const summary = { bench: 'models-forward', results };
console.log(JSON.stringify(summary));
const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'forward.json'), `${JSON.stringify(summary, null, 2)}\n`);
