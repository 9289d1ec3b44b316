/**
 * Encoders: tfjs-layers models mapping one modality's input to a feature vector [B, d].
 * Any `tf.LayersModel` with a rank-2 output works as an encoder; these are the ones the
 * references use, built with PyTorch-aligned layers (explicit symmetric padding + 'valid'
 * convolutions, -inf max-pool padding, PyTorch BatchNorm;
 * docs/algorithms/joint-unimodal.md#shared-resnet-18-encoder,
 * docs/algorithms/optimizers.md#batchnorm-and-padding).
 *
 * Layout is channels-last (tfjs): images [B, H, W, C], spectrograms [B, F, T, 1]. A video input
 * [B, T, H, W, C] is handled by `MultimodalModel`, which folds frames into the batch and
 * averages the per-frame features (as the references do).
 *
 * Layer names follow the PyTorch module names (`conv1`, `layer2.0.downsample.0` ...), so a
 * parameter key `encoder/visual/layer1.0.conv1/kernel` maps to `layer1.0.conv1.weight`.
 */

import type { Rng } from '@igm/core';
import { checkChoice, checkKnownKeys, checkNumber, createRng, IgmArgumentError } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  kaimingNormalFanOut,
  normalValues,
  pytorchDefaultBound,
  uniformValues,
  xavierNormal,
} from './init';
import { BatchNorm, Dense, SymmetricConv2D, SymmetricMaxPool2D } from './layers';

/**
 * Initialisation schemes (docs/algorithms/optimizers.md#initialisation):
 * - `'reference'` (OGM-GE, PMR, MLA): conv Kaiming-normal (fan_out, relu), Dense Xavier-normal
 *   with zero bias, BN gamma 1, beta 0.
 * - `'igm'` (IGM `models/Resnet.py`): conv Kaiming-normal (fan_out, relu), BN gamma ~ N(1, 0.02),
 *   beta 0; Dense layers keep PyTorch's default.
 * - `'pytorch'` (MMPareto, ReconBoost): PyTorch defaults, conv and Dense weight and bias
 *   U(-1/sqrt(fan_in), 1/sqrt(fan_in)), BN 1 / 0.
 */
export type EncoderInit = 'reference' | 'igm' | 'pytorch';
const INITS: readonly EncoderInit[] = ['reference', 'igm', 'pytorch'];

function writeWeight(v: tfl.LayerVariable, values: Float32Array): void {
  const t = tf.tensor(values, v.shape as number[]);
  v.write(t);
  t.dispose();
}

function allLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  for (const layer of model.layers) {
    if (layer instanceof tfl.LayersModel) out.push(...allLayers(layer));
    else out.push(layer);
  }
  return out;
}

/**
 * Re-initialises every Conv2D ({@link SymmetricConv2D} too), Dense (tfjs-layers' and {@link Dense}) and {@link BatchNorm} layer of `model` with the scheme
 * `init`, drawing from `rng` in layer order (reproducible from a seed).
 */
export function initializeEncoder(model: tfl.LayersModel, init: EncoderInit, rng: Rng): void {
  initializeLayers(allLayers(model), init, rng);
}

/**
 * resnet18's layers in creation order: the order of its layer list before a block's second
 * BatchNorm took the shortcut as an input (the shortcut's layers then came after conv2, and
 * downsample.1 after bn2), so a seed draws the same initial weights as then.
 */
function resnetInitOrder(model: tfl.LayersModel): tfl.layers.Layer[] {
  return [...allLayers(model)].sort((a, b) => a.id - b.id);
}

function initializeLayers(layers: tfl.layers.Layer[], init: EncoderInit, rng: Rng): void {
  checkChoice('initializeEncoder', 'init', init, INITS);
  for (const layer of layers) {
    const cls = layer.getClassName();
    const weights = layer.weights;
    const isConv = cls === 'Conv2D' || cls === SymmetricConv2D.className;
    const isDense = cls === 'Dense' || cls === Dense.className;
    if (isConv || isDense) {
      const kernel = weights.find((w) => w.originalName.endsWith('/kernel'));
      const bias = weights.find((w) => w.originalName.endsWith('/bias'));
      if (!kernel) continue;
      const shape = kernel.shape as number[];
      const bound = pytorchDefaultBound(shape);
      if (init === 'pytorch' || (isDense && init === 'igm')) {
        writeWeight(kernel, uniformValues(rng, shape, bound));
        if (bias) writeWeight(bias, uniformValues(rng, bias.shape as number[], bound));
      } else {
        writeWeight(kernel, isConv ? kaimingNormalFanOut(rng, shape) : xavierNormal(rng, shape));
        if (bias) writeWeight(bias, new Float32Array(bias.shape[0] as number));
      }
    } else if (cls === BatchNorm.className) {
      const gamma = weights.find((w) => w.originalName.endsWith('/gamma'))!;
      const n = gamma.shape[0] as number;
      writeWeight(
        gamma,
        init === 'igm' ? normalValues(rng, [n], 0.02, 1) : new Float32Array(n).fill(1),
      );
    }
  }
}

type SpatialShape = readonly [number | null, number | null];

function spatial(
  where: string,
  inputShape: SpatialShape | undefined,
): [number | null, number | null] {
  if (inputShape === undefined) return [null, null];
  if (!Array.isArray(inputShape) || inputShape.length !== 2) {
    throw new IgmArgumentError(
      `${where}: received inputShape=${JSON.stringify(inputShape)}. Expected [height, width] (numbers or null), without channels.`,
    );
  }
  return inputShape.map((v, i) =>
    v == null ? null : checkNumber(where, `inputShape[${i}]`, v, { min: 1, integer: true }),
  ) as [number | null, number | null];
}

/** Conv k x k with PyTorch's symmetric zero padding, no bias ({@link SymmetricConv2D}). */
function conv(
  x: tfl.SymbolicTensor,
  filters: number,
  kernelSize: number,
  strides: number,
  padding: number,
  name: string,
): tfl.SymbolicTensor {
  return new SymmetricConv2D({ filters, kernelSize, strides, padding, name }).apply(
    x,
  ) as tfl.SymbolicTensor;
}

function bn(x: tfl.SymbolicTensor, name: string): tfl.SymbolicTensor {
  return new BatchNorm({ name }).apply(x) as tfl.SymbolicTensor;
}

/** BatchNorm then ReLU as one layer (the ReLU fused into the BatchNorm kernels in training). */
function bnRelu(x: tfl.SymbolicTensor, name: string): tfl.SymbolicTensor {
  return new BatchNorm({ name, activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
}

/** Options of {@link resnet18}. */
export interface ResNet18Options {
  /** Input channels: 1 for a spectrogram, 3 for RGB frames. */
  inChannels: number;
  /** [height, width]; null entries accept any size (global average pooling). Default [null, null]. */
  inputShape?: SpatialShape;
  /** Widths of the four stages. Default [64, 128, 256, 512]; smaller values for tests. */
  widths?: readonly [number, number, number, number];
  /** Default `'reference'`; see {@link EncoderInit}. */
  init?: EncoderInit;
  /** Seed of the initialisation. Default 0. */
  seed?: number;
  /** Model name. Default `'resnet18'`. */
  name?: string;
}

/**
 * ResNet-18 (BasicBlock [2, 2, 2, 2]) without fc, as in OGM-GE/PMR/MLA/IGM
 * (docs/algorithms/joint-unimodal.md#shared-resnet-18-encoder):
 *
 *   pad 3 -> conv 7x7/2 -> BN -> ReLU -> maxpool 3/2 (pad 1, -inf)
 *   -> layer1 (64) -> layer2 (128, /2) -> layer3 (256, /2) -> layer4 (512, /2) -> global avg pool
 *
 * BasicBlock: conv3x3(s) -> BN -> ReLU -> conv3x3 -> BN, plus identity or conv1x1(s) -> BN, then
 * ReLU. BatchNorm is {@link BatchNorm} (PyTorch momentum 0.1, eps 1e-5); a ReLU right after a
 * BatchNorm is that layer's `activation: 'relu'` (layers `bn1`, `layerS.B.bn1`: no separate ReLU
 * layers), and a block's second BatchNorm, shortcut sum and ReLU are one layer `layerS.B.bn2`
 * (`residual: true`: inputs [conv2 output, shortcut]). Output: [B, widths[3]].
 */
export function resnet18(options: ResNet18Options): tfl.LayersModel {
  const where = 'resnet18';
  checkKnownKeys(where, options, ['inChannels', 'inputShape', 'widths', 'init', 'seed', 'name']);
  const inC = checkNumber(where, 'inChannels', options.inChannels, { min: 1, integer: true });
  const [h, w] = spatial(where, options.inputShape);
  const widths = options.widths ?? [64, 128, 256, 512];
  if (!Array.isArray(widths) || widths.length !== 4) {
    throw new IgmArgumentError(
      `${where}: received widths=${JSON.stringify(widths)}. Expected four stage widths, e.g. [64, 128, 256, 512].`,
    );
  }
  widths.forEach((v, i) => {
    checkNumber(where, `widths[${i}]`, v, { min: 1, integer: true });
  });
  const init = checkChoice(where, 'init', options.init ?? 'reference', INITS);
  const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });

  const input = tfl.input({ shape: [h, w, inC], name: 'input' });
  let x = conv(input, widths[0], 7, 2, 3, 'conv1');
  x = bnRelu(x, 'bn1');
  x = new SymmetricMaxPool2D({ poolSize: 3, strides: 2, padding: 1, name: 'maxpool' }).apply(
    x,
  ) as tfl.SymbolicTensor;
  let inPlanes = widths[0];
  for (let stage = 0; stage < 4; stage++) {
    const planes = widths[stage]!;
    for (let block = 0; block < 2; block++) {
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const p = `layer${stage + 1}.${block}`;
      let out = conv(x, planes, 3, stride, 1, `${p}.conv1`);
      out = bnRelu(out, `${p}.bn1`);
      out = conv(out, planes, 3, 1, 1, `${p}.conv2`);
      // relu(bn2(out) + shortcut) as one layer (sum and ReLU fused into its training kernels).
      // Layers are created in the order of the former layout's layer list (conv1, bn1, conv2,
      // downsample.0, bn2, downsample.1), which initialization draws in (resnetInitOrder).
      const downsample = stride !== 1 || inPlanes !== planes;
      const projected = downsample ? conv(x, planes, 1, stride, 0, `${p}.downsample.0`) : x;
      const bn2 = new BatchNorm({ name: `${p}.bn2`, activation: 'relu', residual: true });
      const shortcut = downsample ? bn(projected, `${p}.downsample.1`) : x;
      x = bn2.apply([out, shortcut]) as tfl.SymbolicTensor;
      inPlanes = planes;
    }
  }
  const pooled = tfl.layers
    .globalAveragePooling2d({ name: 'avgpool' })
    .apply(x) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: pooled, name: options.name ?? 'resnet18' });
  initializeLayers(resnetInitOrder(model), init, createRng(seed));
  return model;
}

/** Options of {@link smallCnn}. */
export interface SmallCnnOptions {
  inChannels: number;
  /** [height, width], e.g. [28, 28]; null entries accept any size. Default [null, null]. */
  inputShape?: SpatialShape;
  /** Filters per block. Default [32, 64]. */
  filters?: readonly number[];
  /** Optional Dense(last filters -> outputDim) + ReLU after pooling. Default none. */
  outputDim?: number;
  /** Default `'reference'`. */
  init?: EncoderInit;
  seed?: number;
  name?: string;
}

/**
 * A small CNN for 28x28 images (AV-MNIST) and small spectrograms:
 *
 *   per block i: pad 1 -> conv 3x3 (filters[i], no bias) -> BN -> ReLU -> maxpool 2/2
 *   -> global average pool [-> Dense(outputDim) -> ReLU]
 *
 * BN -> ReLU is one {@link BatchNorm} layer `block<i>.bn` with `activation: 'relu'`. Output:
 * [B, outputDim ?? filters[last]].
 */
export function smallCnn(options: SmallCnnOptions): tfl.LayersModel {
  const where = 'smallCnn';
  checkKnownKeys(where, options, [
    'inChannels',
    'inputShape',
    'filters',
    'outputDim',
    'init',
    'seed',
    'name',
  ]);
  const inC = checkNumber(where, 'inChannels', options.inChannels, { min: 1, integer: true });
  const [h, w] = spatial(where, options.inputShape);
  const filters = options.filters ?? [32, 64];
  if (!Array.isArray(filters) || filters.length === 0) {
    throw new IgmArgumentError(
      `${where}: received filters=${JSON.stringify(filters)}. Expected a non-empty list such as [32, 64].`,
    );
  }
  filters.forEach((v, i) => {
    checkNumber(where, `filters[${i}]`, v, { min: 1, integer: true });
  });
  const init = checkChoice(where, 'init', options.init ?? 'reference', INITS);
  const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });

  const input = tfl.input({ shape: [h, w, inC], name: 'input' });
  let x: tfl.SymbolicTensor = input;
  filters.forEach((f, i) => {
    x = conv(x, f, 3, 1, 1, `block${i}.conv`);
    x = bnRelu(x, `block${i}.bn`);
    x = new SymmetricMaxPool2D({ poolSize: 2, strides: 2, name: `block${i}.pool` }).apply(
      x,
    ) as tfl.SymbolicTensor;
  });
  x = tfl.layers.globalAveragePooling2d({ name: 'avgpool' }).apply(x) as tfl.SymbolicTensor;
  if (options.outputDim !== undefined) {
    const d = checkNumber(where, 'outputDim', options.outputDim, { min: 1, integer: true });
    x = new Dense({
      units: d,
      activation: 'relu',
      kernelInitializer: tfl.initializers.zeros(),
      name: 'fc',
    }).apply(x) as tfl.SymbolicTensor;
  }
  const model = tfl.model({ inputs: input, outputs: x, name: options.name ?? 'small_cnn' });
  initializeEncoder(model, init, createRng(seed));
  return model;
}

/** Options of {@link mlpEncoder}. */
export interface MlpEncoderOptions {
  /** Length of the input feature vector (768 BERT [CLS], 1000 ResNet-50 logits, 1024 I3D). */
  inputDim: number;
  /** Hidden Dense widths, each followed by ReLU. Default [] (identity: features pass through). */
  units?: readonly number[];
  /** Default `'pytorch'` (PyTorch Linear default). */
  init?: EncoderInit;
  seed?: number;
  name?: string;
}

/**
 * An encoder for precomputed feature vectors (docs/datasets.md#precomputed-features):
 * `x -> [Dense(units[i]) -> ReLU]*`. With no units it is the identity, i.e. the frozen
 * BERT/ResNet-50/I3D feature enters the head directly (IGM then trains the head only).
 */
export function mlpEncoder(options: MlpEncoderOptions): tfl.LayersModel {
  const where = 'mlpEncoder';
  checkKnownKeys(where, options, ['inputDim', 'units', 'init', 'seed', 'name']);
  const d = checkNumber(where, 'inputDim', options.inputDim, { min: 1, integer: true });
  const units = options.units ?? [];
  if (!Array.isArray(units)) {
    throw new IgmArgumentError(
      `${where}: received units=${JSON.stringify(units)}. Expected a list of widths such as [256].`,
    );
  }
  units.forEach((v, i) => {
    checkNumber(where, `units[${i}]`, v, { min: 1, integer: true });
  });
  const init = checkChoice(where, 'init', options.init ?? 'pytorch', INITS);
  const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
  const input = tfl.input({ shape: [d], name: 'input' });
  let x: tfl.SymbolicTensor = input;
  if (units.length === 0) {
    x = tfl.layers
      .activation({ activation: 'linear', name: 'identity' })
      .apply(x) as tfl.SymbolicTensor;
  }
  units.forEach((u, i) => {
    x = new Dense({
      units: u,
      activation: 'relu',
      kernelInitializer: tfl.initializers.zeros(),
      name: `fc${i}`,
    }).apply(x) as tfl.SymbolicTensor;
  });
  const model = tfl.model({ inputs: input, outputs: x, name: options.name ?? 'mlp_encoder' });
  initializeEncoder(model, init, createRng(seed));
  return model;
}
