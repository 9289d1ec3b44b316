/**
 * Registers the kernels of this package on the tfjs wasm backend.
 */
import {
  checkKnownKeys,
  IgmArgumentError,
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  IgmBiasActivation,
  IgmBiasActivationGrad,
  IgmSgdMomentumUpdate,
  IgmSoftmaxCrossEntropy,
  IgmSoftmaxCrossEntropyGrad,
  softmaxCrossEntropyBackward,
  softmaxCrossEntropyForward,
} from '@igm/core';
import {
  _FusedMatMul,
  Add,
  BatchMatMul,
  Cast,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  FusedBatchNorm,
  FusedConv2D,
  GatherV2,
  getKernel,
  Identity,
  type KernelConfig,
  type KernelFunc,
  MaxPoolGrad,
  Mean,
  Multiply,
  RealDiv,
  Relu,
  registerKernel,
  Slice,
  SplitV,
  Step,
  Sub,
  Sum,
  Tile,
  UnsortedSegmentSum,
  unregisterKernel,
} from '@tensorflow/tfjs-core';
import { makeBatchMatMul, makeFusedMatMul } from './batch-mat-mul';
import { batchNormTrainingBackward, batchNormTrainingForward } from './batch-norm';
import { biasActivationBackward, biasActivationForward } from './bias-activation';
import { makeBinary, makeCast, makeFusedBatchNorm, makeRelu, makeStep } from './binary';
import { makeConv2DBackpropFilter, makeConv2DBackpropInput } from './conv2d';
import { makeConv2D, makeFusedConv2D } from './conv2d-forward';
import { depthwiseBackpropFilter, depthwiseBackpropInput } from './depthwise';
import { makeIdentity, makeSum, makeTile, maxPoolGrad } from './elementwise';
import { sgdMomentumUpdate } from './sgd-momentum';
import { makeGatherV2, makeSlice, makeSplitV } from './slice';
import { unsortedSegmentSum } from './unsorted-segment-sum';
import type { KernelImpl } from './wasm-backend';

/** The kernels this package can register, by tfjs kernel name. */
export const WASM_TRAINING_KERNELS = [
  BatchMatMul,
  Conv2D,
  FusedConv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  UnsortedSegmentSum,
  MaxPoolGrad,
  Sum,
  Mean,
  Tile,
  Identity,
  Add,
  Sub,
  Multiply,
  RealDiv,
  Cast,
  FusedBatchNorm,
  Relu,
  Step,
  _FusedMatMul,
  Slice,
  SplitV,
  GatherV2,
  IgmSgdMomentumUpdate,
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  IgmSoftmaxCrossEntropy,
  IgmSoftmaxCrossEntropyGrad,
  IgmBiasActivation,
  IgmBiasActivationGrad,
] as const;

export type WasmTrainingKernel = (typeof WASM_TRAINING_KERNELS)[number];

export interface RegisterWasmTrainingOptions {
  /** Which kernels to register (default: all of WASM_TRAINING_KERNELS). */
  kernels?: readonly WasmTrainingKernel[];
}

export interface RegisteredKernel {
  kernelName: WasmTrainingKernel;
  /** 'override' replaced a stock wasm kernel; 'added' filled a kernel the wasm backend lacks. */
  action: 'override' | 'added';
}

/** The stock wasm configs we replaced, to call from our kernels and to restore. */
const stock = new Map<string, KernelConfig | undefined>();
const ours = new Map<string, KernelConfig>();

function stockImpl(name: string): KernelImpl {
  const cfg = stock.get(name) ?? getKernel(name, 'wasm');
  if (cfg === undefined) {
    throw new IgmArgumentError(
      `registerWasmTrainingKernels: the wasm backend has no ${name} kernel. Import '@tensorflow/tfjs-backend-wasm' (version ^4.22.0) before calling it.`,
    );
  }
  return cfg.kernelFunc as unknown as KernelImpl;
}

function build(name: WasmTrainingKernel): KernelImpl {
  switch (name) {
    case BatchMatMul:
      return makeBatchMatMul(stockImpl(BatchMatMul));
    case Conv2D:
      return makeConv2D(stockImpl(Conv2D));
    case FusedConv2D:
      return makeFusedConv2D(stockImpl(FusedConv2D));
    case Conv2DBackpropFilter:
      return makeConv2DBackpropFilter(makeBatchMatMul(stockImpl(BatchMatMul)));
    case Conv2DBackpropInput:
      return makeConv2DBackpropInput(makeBatchMatMul(stockImpl(BatchMatMul)));
    case DepthwiseConv2dNativeBackpropFilter:
      return depthwiseBackpropFilter;
    case DepthwiseConv2dNativeBackpropInput:
      return depthwiseBackpropInput;
    case UnsortedSegmentSum:
      return unsortedSegmentSum;
    case MaxPoolGrad:
      return maxPoolGrad;
    case Sum:
      return makeSum(stockImpl(Sum));
    case Mean:
      return makeSum(stockImpl(Mean), true);
    case Tile:
      return makeTile(stockImpl(Tile));
    case Identity:
      return makeIdentity(stockImpl(Identity));
    case Add:
    case Sub:
    case Multiply:
    case RealDiv:
      return makeBinary(stockImpl(name), name);
    case Cast:
      return makeCast(stockImpl(Cast));
    case FusedBatchNorm:
      return makeFusedBatchNorm(stockImpl(FusedBatchNorm));
    case Relu:
      return makeRelu(stockImpl(Relu));
    case Step:
      return makeStep(stockImpl(Step));
    case _FusedMatMul:
      return makeFusedMatMul(stockImpl(_FusedMatMul), makeBatchMatMul(stockImpl(BatchMatMul)));
    case Slice:
      return makeSlice(stockImpl(Slice));
    case SplitV:
      return makeSplitV(stockImpl(SplitV));
    case GatherV2:
      return makeGatherV2(stockImpl(GatherV2));
    case IgmSgdMomentumUpdate:
      return sgdMomentumUpdate;
    case IgmBatchNormTraining:
      return batchNormTrainingForward;
    case IgmBatchNormTrainingGrad:
      return batchNormTrainingBackward;
    case IgmSoftmaxCrossEntropy:
      return softmaxCrossEntropyForward('wasm') as unknown as KernelImpl;
    case IgmSoftmaxCrossEntropyGrad:
      return softmaxCrossEntropyBackward('wasm') as unknown as KernelImpl;
    case IgmBiasActivation:
      return biasActivationForward;
    case IgmBiasActivationGrad:
      return biasActivationBackward;
  }
}

/**
 * Registers faster or missing training kernels on the tfjs wasm backend and returns what it
 * registered. Call it once after importing '@tensorflow/tfjs-backend-wasm' (before or after
 * `tf.setBackend('wasm')`). Idempotent: a second call changes nothing and returns the same list.
 *
 * - BatchMatMul (override): with the relaxed-SIMD kernels, one packed fused multiply-add
 *   product (transposes read through strides, split over the helper threads); else transposed
 *   and batched products become plain XNNPACK products.
 * - Conv2D, FusedConv2D (override): 3x3 stride-1 convolutions by Winograd F(2x2, 3x3) in SIMD
 *   (split over the helper threads on the threaded backend); others: the stock XNNPACK kernel.
 * - Conv2DBackpropFilter (added), Conv2DBackpropInput (override): 3x3 stride 1 by Winograd
 *   (weight gradient F(3x3, 2x2); input gradient as a convolution with the flipped filter);
 *   others im2col + products.
 * - DepthwiseConv2dNativeBackpropFilter / Input (added): direct loops.
 * - UnsortedSegmentSum (added): the gradient of gather (embeddings).
 * - MaxPoolGrad (override): a direct loop instead of the slow stock kernel.
 * - Sum (override): reductions over leading axes (bias gradients) without a full transpose.
 * - Mean (override): leading-axes means (BatchNorm statistics) without a full transpose.
 * - Tile (override): block copies (BatchNorm's gradient tiles channel vectors).
 * - Identity (override): shares the input's heap data instead of copying it.
 * - Add, Sub, Multiply, RealDiv (override): float32 with full, last-axes-vector, per-row or
 *   scalar operands in one SIMD pass (large tensors over the helper threads); others: stock.
 * - Cast (override): to the tensor's own dtype shares its data instead of copying it.
 * - FusedBatchNorm (override): (x - mean) * scale / sqrt(variance + eps) + offset in one SIMD pass.
 * - Relu, Step (override): one SIMD pass each (large tensors over the helper threads).
 * - _FusedMatMul (override): the product on this package's BatchMatMul, then bias and ReLU in
 *   one pass; other activations: stock.
 * - Slice, SplitV (override): copy only the slice from the heap (the stock kernels first copy
 *   the whole input into JavaScript on every call); strings: stock.
 * - GatherV2 (override): one run of the trailing axes per index, from the heap (the stock
 *   kernel computes each element's address); batched gathers and strings: stock.
 * - IgmSgdMomentumUpdate (added): @igm/core's fused SGD-with-momentum update, so `sgd()` and
 *   every chain ending in `[addDecayedWeights] traceMomentum scaleByLearningRate` update each
 *   parameter in one SIMD pass (large tensors over the helper threads), bit for bit as the op
 *   chain.
 * - IgmBatchNormTraining, IgmBatchNormTrainingGrad (added): @igm/core's training-mode BatchNorm
 *   (`batchNormTraining`, the BatchNorm layer of @igm/models) in two kernels per layer instead
 *   of the ~25 of tf.moments + tf.batchNorm and their autodiff, bit for bit that composition
 *   as it runs with the kernels above (the reductions keep float64 sums per channel in row
 *   order; helper threads take channel ranges).
 * - IgmSoftmaxCrossEntropy, IgmSoftmaxCrossEntropyGrad (added): @igm/core's mean softmax
 *   cross-entropy with integer labels (`softmaxCrossEntropy`, @igm/trainer's `crossEntropy`) in
 *   two kernels instead of ~30 engine calls forward and backward, bit for bit the composition:
 *   its reductions, exp and log are the registered wasm kernels, called without the engine.
 * - IgmBiasActivation, IgmBiasActivationGrad (added): @igm/core's `biasActivation`, act(z + b) of
 *   a Dense layer after its product (@igm/models' Dense layers and heads): one kernel forward
 *   (copy, then the SIMD bias + ReLU pass) and one backward (Step and Multiply passes, the bias
 *   gradient by the registered Sum) instead of ~11 engine calls, bit for bit the composition.
 */
export function registerWasmTrainingKernels(
  options: RegisterWasmTrainingOptions = {},
): RegisteredKernel[] {
  checkKnownKeys('registerWasmTrainingKernels', options, ['kernels']);
  const wanted = options.kernels ?? WASM_TRAINING_KERNELS;
  for (const k of wanted) {
    if (!(WASM_TRAINING_KERNELS as readonly string[]).includes(k)) {
      throw new IgmArgumentError(
        `registerWasmTrainingKernels: kernels contains "${String(k)}"; expected names from WASM_TRAINING_KERNELS (${WASM_TRAINING_KERNELS.join(', ')})`,
      );
    }
  }
  if (getKernel(BatchMatMul, 'wasm') === undefined && !stock.has(BatchMatMul)) {
    throw new IgmArgumentError(
      `registerWasmTrainingKernels: no wasm kernels are registered. Import '@tensorflow/tfjs-backend-wasm' (version ^4.22.0) before calling it.`,
    );
  }
  const result: RegisteredKernel[] = [];
  for (const name of wanted) {
    if (!ours.has(name)) {
      const existing = getKernel(name, 'wasm');
      stock.set(name, existing);
      const config: KernelConfig = {
        kernelName: name,
        backendName: 'wasm',
        kernelFunc: build(name) as unknown as KernelFunc,
      };
      // Keep the stock setup (it binds the C function the stock kernel needs) so the backend
      // still initialises it when wasm is set up after this call.
      if (existing?.setupFunc) config.setupFunc = existing.setupFunc;
      if (existing) unregisterKernel(name, 'wasm');
      registerKernel(config);
      ours.set(name, config);
    }
    result.push({ kernelName: name, action: stock.get(name) ? 'override' : 'added' });
  }
  return result;
}

/** Puts back the stock wasm kernels (and removes the added ones). Returns the names restored. */
export function unregisterWasmTrainingKernels(): WasmTrainingKernel[] {
  const names = [...ours.keys()] as WasmTrainingKernel[];
  for (const name of names) {
    unregisterKernel(name, 'wasm');
    const original = stock.get(name);
    if (original) registerKernel(original);
    ours.delete(name);
    stock.delete(name);
  }
  return names;
}
