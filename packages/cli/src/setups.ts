/**
 * Per-dataset defaults of the CLI: the encoders each modality gets and the budget of the
 * `quick` preset. The `paper` preset uses @igm/baselines' reference hyper-parameters unchanged
 * (unless `--epochs` asks for another budget).
 */
import { getMethod } from '@igm/baselines';
import type { ModalitySpec, MultimodalDataset } from '@igm/core';
import { Dense, mlpEncoder, resnet18, smallCnn } from '@igm/models';
import * as tfl from '@tensorflow/tfjs-layers';

export { COMPARE_DATASETS, LIBRARY_ONLY_DATASETS, PRESET_OF_DATASET } from './offered-datasets';

/**
 * The quick preset's encoder for a 2-D input: flatten -> Dense(64) -> ReLU (@igm/models' Dense:
 * the bias and ReLU fused in training), with PyTorch's default Linear initialisation. About 8x cheaper than the small CNN on AV-MNIST-style on a CPU,
 * and no less accurate at a few epochs; it has no conv kernels, so the quick preset lets OGM-GE
 * modulate every encoder tensor instead (see quickSettings).
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
  const h = new Dense({
    units,
    activation: 'relu',
    kernelInitializer: tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed }),
    biasInitializer: tfl.initializers.randomUniform({
      minval: -bound,
      maxval: bound,
      seed: seed + 1,
    }),
    name: 'fc',
  }).apply(flat) as tfl.SymbolicTensor;
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

/**
 * Epoch budget of the quick preset: a small, real run of every method (minutes on 2 cores).
 * Every modality trains at least this many epochs in every method (see @igm/baselines budget.ts).
 */
export function quickBudget(dataset: string): number {
  return QUICK_BUDGET[dataset] ?? 20;
}

/**
 * Quick budgets other than 20 epochs. av-mnist-imbalanced: 60, where its joint and unimodal runs
 * have converged on validation (its slow visual modality needs them; see @igm/datasets README).
 */
const QUICK_BUDGET: Readonly<Record<string, number>> = {
  synthetic: 10,
  'av-mnist-imbalanced': 60,
};

/** The datasets built from the Free Spoken Digit Dataset recordings (`fsddDir`, `FSDD_DIR`). */
export const FSDD_DATASETS: readonly string[] = ['av-mnist', 'av-mnist-imbalanced'];

/**
 * The datasets whose loader shows its preprocessing progress (`progress` option); the other
 * loaders reject the option.
 */
export const PROGRESS_DATASETS: readonly string[] = [...FSDD_DATASETS, 'crema-d'];

/** The datasets read from a folder of the user's (`root`). */
export const ROOT_DATASETS: readonly string[] = [
  'crema-d',
  'kinetics-sounds',
  'twitter-2015',
  'sarcasm',
  'nvgesture',
];

/**
 * What the quick preset changes besides the budget: methods trained for `epochs` epochs use a
 * constant learning rate 0.01 (their reference StepLR steps lie beyond a quick run), and OGM-GE
 * modulates every encoder tensor, as the quick encoders are dense (no conv kernels). Stage-wise
 * methods keep their preset (IGM and ReconBoost already use 0.01). Only keys the method accepts.
 */
export function quickSettings(method: string): Record<string, unknown> {
  const info = getMethod(method);
  const o: Record<string, unknown> =
    info.budget?.kind === 'stage-wise' ? {} : { learningRate: 0.01, lrStepSize: null };
  if (method === 'ogm-ge' || method === 'ogm') o['tensors'] = 'encoder';
  // SMV's presets use Adam at 5e-5 (the reference's Kinetics-Sounds recipe): the quick preset
  // trains it with SGD like every other method (its warm-up is scaled by its budget rule).
  if (method === 'smv') Object.assign(o, { optimizer: 'sgd', momentum: 0.9 });
  return Object.fromEntries(Object.entries(o).filter(([k]) => info.options.includes(k)));
}
