/**
 * IgmSgdMomentumUpdate (added): @igm/core's fused SGD-with-momentum update on the wasm backend.
 *
 * `chain()` in @igm/core runs `[addDecayedWeights(wd)] traceMomentum(mu, nesterov)
 * scaleByLearningRate(lr)` (the tail of `sgd()`) through this kernel when it is registered:
 * one SIMD pass per parameter (`sgd_momentum_f32`, native/kernels.c) producing the next momentum
 * buffer and the update, instead of six elementwise kernels, each a full pass plus the tfjs
 * dispatch. Every element is the same sequence of float32 multiplies and adds as the op chain
 * (no fused multiply-add), so results are bit for bit the op chain's on any backend. Large
 * tensors (>= 2^18 elements) are split over the helper threads, as the other elementwise kernels;
 * without the SIMD module, @igm/core's JavaScript loop runs on the heap views.
 */
import { checkSgdMomentumUpdateCall, IgmSgdMomentumUpdate, sgdMomentumUpdateInto } from '@igm/core';
import { util } from '@tensorflow/tfjs-core';
import { elementwiseThreads } from './binary';
import { float32Bits, nativeKernels, ptr } from './native';
import { runParts, splitRange } from './native-threads';
import { f32, type KernelImpl, type WasmBackendLike } from './wasm-backend';

export const sgdMomentumUpdate: KernelImpl = (args) => {
  const { inputs, attrs } = checkSgdMomentumUpdateCall(args.inputs, args.attrs);
  const backend = args.backend as WasmBackendLike;
  const { gradient, param, buffer } = inputs;
  const shape = gradient.shape;
  const n = util.sizeFromShape(shape);
  const nextBuffer = backend.makeOutput(shape, 'float32');
  const update = backend.makeOutput(shape, 'float32');
  if (n === 0) return [nextBuffer, update];
  const decay = attrs.weightDecay !== 0;
  const native = nativeKernels(backend);
  if (native === null) {
    // Views after the outputs exist: allocating may grow the heap and detach older views.
    sgdMomentumUpdateInto(
      f32(backend, gradient),
      decay ? f32(backend, param!) : null,
      f32(backend, buffer),
      f32(backend, nextBuffer),
      f32(backend, update),
      attrs,
    );
    return [nextBuffer, update];
  }
  const pg = ptr(backend, gradient);
  const pt = decay ? ptr(backend, param!) : 0;
  const pb = ptr(backend, buffer);
  const pn = ptr(backend, nextBuffer);
  const pu = ptr(backend, update);
  const scalars = [
    +decay,
    +attrs.nesterov,
    float32Bits(attrs.weightDecay),
    float32Bits(attrs.momentum),
    float32Bits(-attrs.learningRate),
  ];
  const threads = elementwiseThreads(backend, n);
  runParts(
    backend,
    'sgd_momentum_f32',
    splitRange(n, threads, 4).map(([i0, i1]) => [
      pg + 4 * i0,
      decay ? pt + 4 * i0 : 0,
      pb + 4 * i0,
      pn + 4 * i0,
      pu + 4 * i0,
      i1 - i0,
      ...scalars,
    ]),
  );
  return [nextBuffer, update];
};

export { IgmSgdMomentumUpdate };
