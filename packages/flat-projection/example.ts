/**
 * The README example (run: npx tsx example.ts). Two modalities with their own MLP heads, IGM's
 * stage loop reduced to its projection steps: train audio (stage 0, no projection), then build T
 * from one pass over the audio head's inputs and train video with its head gradients projected.
 */
import {
  chain,
  findState,
  GradientOptimizer,
  type HeadLayerInfo,
  type Param,
  sgd,
} from '@igm/core';
import {
  type FlatProjectionState,
  flatProjection,
  InputMomentAccumulator,
  installProjection,
} from '@igm/flat-projection';
import * as tf from '@tensorflow/tfjs';

// Heads Dense(16 -> 8) -> ReLU -> Dense(8 -> 3), one per modality (a model exposes these as
// model.headLayers(m); here they are written out).
const dims = [16, 8, 3];
const layers: HeadLayerInfo[] = ['audio', 'video'].flatMap((m) =>
  dims.slice(0, -1).map((inputDim, index) => ({
    modality: m,
    index,
    kernelKey: `${m}/head/${index}/kernel`,
    biasKey: `${m}/head/${index}/bias`,
    inputName: `input/head/${m}/${index}`,
    inputDim,
    outputDim: dims[index + 1]!,
  })),
);
const params: Param[] = layers.flatMap((l) => [
  {
    key: l.kernelKey,
    group: `head/${l.modality}`,
    variable: tf.variable(
      tf.randomNormal([l.inputDim, l.outputDim], 0, 0.3, 'float32', 7 + l.index),
    ),
  },
  { key: l.biasKey!, group: `head/${l.modality}`, variable: tf.variable(tf.zeros([l.outputDim])) },
]);
const byKey = new Map(params.map((p) => [p.key, p.variable]));
const headOf = (m: string) => layers.filter((l) => l.modality === m);

/** Head forward: logits and the input of each Dense layer (`input/head/<m>/<i>`). */
function head(m: string, x: tf.Tensor) {
  const inputs: Record<string, tf.Tensor> = {};
  let h = x;
  for (const l of headOf(m)) {
    inputs[l.inputName] = h;
    h = tf.add(tf.matMul(h, byKey.get(l.kernelKey)!), byKey.get(l.biasKey!)!);
    if (l.index === 0) h = tf.relu(h);
  }
  return { logits: h, inputs };
}

const features = {
  audio: tf.randomNormal([32, 16], 0, 1, 'float32', 1),
  video: tf.randomNormal([32, 16], 0, 1, 'float32', 2),
};
const labels = tf.oneHot(tf.randomUniform([32], 0, 3, 'int32', 3), 3);
const keysOf = (m: string) => headOf(m).flatMap((l) => [l.kernelKey, l.biasKey!]);
const loss = (m: 'audio' | 'video') => () =>
  tf.losses.softmaxCrossEntropy(labels, head(m, features[m]).logits) as tf.Scalar;

// IGM's optimizer: flat projection before SGD (decay is added by sgd, after the projection).
const opt = new GradientOptimizer(
  chain(
    flatProjection({ layers, tau: 0.4 }),
    sgd({ learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4 }),
  ),
  params,
);
const projection = findState<FlatProjectionState>(opt.state, 'flatProjection')!;

// Stage 0: audio, no T installed -> the projection is the identity.
for (let i = 0; i < 20; i++) opt.minimize(loss('audio'), { keys: keysOf('audio'), stage: 'audio' });

// Stage boundary: one inference pass over the audio head's inputs (one batch mean per batch).
const moments = new InputMomentAccumulator(headOf('audio'));
for (let b = 0; b < 4; b++) {
  tf.tidy(() =>
    moments.addOutputs(headOf('audio'), head('audio', tf.slice(features.audio, b * 8, 8)).inputs),
  );
}
const spectra = installProjection(projection, moments, headOf('audio'));
for (const s of spectra) {
  console.log(
    `${s.layerKey}: n_B=${s.batches} s_min=${s.sMin.toExponential(2)} s_max=${s.sMax.toFixed(3)} method=${s.method} spectrum(T)=[${s.spectrum.min.toFixed(4)}, ${s.spectrum.max}]`,
  );
}

// Stage 1: video, kernel gradients G_K <- T_audio G_K (T of the same-shape audio layer).
for (let i = 0; i < 20; i++) opt.minimize(loss('video'), { keys: keysOf('video'), stage: 'video' });
console.log('kernels projected in the last step:', opt.lastLogs['flatProjection/projectedKernels']);
console.log('video loss after stage 1:', tf.tidy(() => loss('video')().dataSync()[0]!).toFixed(4));

moments.dispose();
opt.dispose();
tf.dispose([features.audio, features.video, labels, ...params.map((p) => p.variable)]);
