/**
 * Per-dataset defaults of the CLI: the encoders each modality gets and the budget of the
 * `quick` preset. The `paper` preset uses @igm/baselines' reference hyper-parameters unchanged.
 */
import type { ModalitySpec, MultimodalDataset } from '@igm/core';
import { mlpEncoder, resnet18, smallCnn } from '@igm/models';
import * as tfl from '@tensorflow/tfjs-layers';

/** Preset files of @igm/baselines, by dataset name. */
export const PRESET_OF_DATASET: Readonly<Record<string, string>> = {
  synthetic: 'synthetic',
  'av-mnist': 'av-mnist',
  'crema-d': 'cremad',
  'kinetics-sounds': 'kinetics-sounds',
};

/**
 * The quick preset's encoder for a 2-D input: flatten -> Dense(64) -> ReLU, with PyTorch's
 * default Linear initialisation. About 8x cheaper than the small CNN on AV-MNIST-style on a CPU,
 * and no less accurate at a few epochs; it has no conv kernels, so the quick preset lets OGM-GE
 * modulate every encoder tensor instead (see quickOverrides).
 */
export function flatDenseEncoder(
  shape: readonly number[],
  units: number,
  seed: number,
  name: string,
): tfl.LayersModel {
  const input = tfl.input({ shape: [...shape] });
  const flat = tfl.layers.flatten({ name: 'flatten' }).apply(input) as tfl.SymbolicTensor;
  const inputDim = shape.reduce((a, b) => a * b, 1);
  const bound = 1 / Math.sqrt(inputDim);
  const h = tfl.layers
    .dense({
      units,
      activation: 'relu',
      kernelInitializer: tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed }),
      biasInitializer: tfl.initializers.randomUniform({
        minval: -bound,
        maxval: bound,
        seed: seed + 1,
      }),
      name: 'fc',
    })
    .apply(flat) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: h, name });
}

/**
 * One encoder for a modality, chosen from its shape: a feature vector gets an MLP, a small 2-D
 * input (<= 64 px a side: AV-MNIST digits and spectrograms) the small CNN, a large one
 * (CREMA-D spectrograms and frames) ResNet-18, as the references.
 */
export function defaultEncoder(spec: ModalitySpec, seed: number, quick: boolean): tfl.LayersModel {
  const name = `enc_${spec.name}`;
  const shape = spec.shape;
  if (shape.length === 1) {
    return mlpEncoder({ inputDim: shape[0]!, units: [quick ? 32 : 256], seed, name });
  }
  const frames = shape.length === 4; // [T, H, W, C]
  const [h, w, c] = frames ? shape.slice(1) : shape;
  if (h === undefined || w === undefined || c === undefined) {
    throw new Error(
      `No default encoder for modality "${spec.name}" of shape [${shape.join(', ')}].`,
    );
  }
  if (quick) return flatDenseEncoder(shape, 64, seed, name);
  if (Math.max(h, w) <= 64) {
    return smallCnn({ inChannels: c, inputShape: [h, w], filters: [32, 64], seed, name });
  }
  return resnet18({ inChannels: c, inputShape: [h, w], seed, name });
}

export function defaultEncoders(dataset: MultimodalDataset, seed: number, quick: boolean) {
  return (): Record<string, tfl.LayersModel> =>
    Object.fromEntries(
      dataset.modalities.map((m, i) => [m.name, defaultEncoder(m, seed * 10 + i + 1, quick)]),
    );
}

/** Epoch budget of the quick preset: a small, real run of every method (minutes on 2 cores). */
export function quickOverrides(
  dataset: string,
  method: string,
  epochs?: number,
): Record<string, unknown> {
  const e = epochs ?? (dataset === 'synthetic' ? 10 : 20);
  if (method === 'reconboost') {
    return {
      stages: Math.max(2, Math.round(e / 2)),
      epochsPerStage: 1,
      correctEpochs: 1,
      learningRate: 0.01,
    };
  }
  if (method === 'igm' || method === 'igm-no-sam') {
    // Two rounds of (audio, visual) stages, the first round longer, as IGM's [25, 50] pattern.
    const first = Math.max(1, Math.round((e * 3) / 10));
    const second = Math.max(1, Math.round(e / 5));
    return { epochList: [first, first, second, second], learningRate: 0.01, lrStepSize: null };
  }
  const o: Record<string, unknown> = { epochs: e, learningRate: 0.01, lrStepSize: null };
  if (method === 'ogm-ge' || method === 'ogm' || method === 'pmr') {
    o['window'] = { start: 0, end: Math.max(0, e - 2) };
  }
  // The quick encoders are dense: OGM-GE modulates every encoder tensor, not only conv kernels.
  if (method === 'ogm-ge' || method === 'ogm') o['tensors'] = 'encoder';
  // Side trainings: OGR-GB re-estimates its blend weights about four times per run (each
  // estimation trains M + 1 scratch copies for one super-epoch); MSLR's unimodal stage 1 trains
  // half the run per grid value, on a grid around the quick learning rate.
  if (method === 'ogr-gb') o['superEpoch'] = Math.max(2, Math.round(e / 4));
  if (method === 'mslr') {
    o['unimodalEpochs'] = Math.max(1, Math.round(e / 2));
    o['unimodalLearningRates'] = [0.003, 0.01, 0.03];
  }
  return o;
}

/** `--epochs N` with the paper preset: scale single-run methods; IGM's stage list is left as given. */
export function epochOverride(method: string, epochs: number): Record<string, unknown> {
  if (method === 'igm' || method === 'igm-no-sam') return {};
  if (method === 'reconboost') return { stages: Math.max(1, Math.round(epochs / 2)) };
  // OGR-GB keeps the reference's ratio of one estimation per 10 % of the run; MSLR's unimodal
  // stage 1 gets the same number of epochs per grid value as its fusion stage.
  if (method === 'ogr-gb') return { epochs, superEpoch: Math.max(1, Math.round(epochs / 10)) };
  if (method === 'mslr') return { epochs, unimodalEpochs: epochs };
  return { epochs };
}
