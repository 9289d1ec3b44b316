/**
 * @igm/core's IgmBiasActivation / IgmBiasActivationGrad (a Dense layer's act(z + b) and its
 * gradients) on the wasm heap with the SIMD passes the composition's kernels use here, so the
 * bits are those of this package's Add, Relu, Step, Multiply and Sum:
 *
 *   forward   out = z, then `bias_act_f32` in place (the _FusedMatMul epilogue: f32x4 add of the
 *             bias, then relu4 = the Relu kernel's max(x, 0))
 *   backward  relu: dz = step(out) by `step_f32`, then dz = dy * dz by `binary_f32` (Multiply);
 *             linear: dz = dy (a copy); dBias: the registered Sum kernel over the leading axes
 *
 * (@igm/core's generic kernels read and write through the backend interface, which on wasm copies
 * every tensor between the heap and JavaScript: 2x slower than the composition for a
 * [64, 256] layer; these are not.) Without the SIMD module (the JS fallback) the generic kernels
 * run.
 */
import {
  biasActivationGradInputs,
  biasActivationInputs,
  biasActivationKernels,
  callBackendKernel,
  IgmBiasActivationGrad,
} from '@igm/core';
import { util } from '@tensorflow/tfjs-core';
import { BINARY_OPS } from './binary';
import { nativeKernels, ptr } from './native';
import { f32, type KernelImpl, type WasmBackendLike } from './wasm-backend';

const FULL = 0;
const generic = biasActivationKernels('wasm');

export const biasActivationForward: KernelImpl = (args) => {
  const backend = args.backend as WasmBackendLike;
  const native = nativeKernels(backend);
  if (native === null) return generic.forward(args as never);
  const { z, bias, relu } = biasActivationInputs(args as never);
  const cols = z.shape[z.shape.length - 1]!;
  const out = backend.makeOutput([...z.shape], 'float32');
  const size = util.sizeFromShape(z.shape);
  if (size === 0) return out;
  f32(backend, out).set(f32(backend, z));
  native.bias_act_f32(ptr(backend, out), ptr(backend, bias), 1, size / cols, cols, relu ? 1 : 0);
  return out;
};

export const biasActivationBackward: KernelImpl = (args) => {
  const backend = args.backend as WasmBackendLike;
  const native = nativeKernels(backend);
  if (native === null) return generic.backward(args as never);
  const { dy, out } = biasActivationGradInputs(args as never);
  const shape = [...dy.shape];
  const size = util.sizeFromShape(shape);
  const cols = shape[shape.length - 1]!;
  const dz = backend.makeOutput(shape, 'float32');
  if (out !== undefined) {
    if (size > 0) {
      native.step_f32(ptr(backend, out), ptr(backend, dz), size, 0);
      const p = ptr(backend, dz);
      native.binary_f32(BINARY_OPS.Multiply, ptr(backend, dy), FULL, p, FULL, p, size / cols, cols);
    }
  } else if (size > 0) {
    f32(backend, dz).set(f32(backend, dy));
  }
  if (shape.length < 2) {
    const dBias = backend.makeOutput(shape, 'float32');
    f32(backend, dBias).set(f32(backend, dz));
    return [dz, dBias];
  }
  const dBias = callBackendKernel(
    IgmBiasActivationGrad,
    'wasm',
    backend,
    'Sum',
    { x: dz },
    {
      axis: shape.slice(0, -1).map((_, i) => i),
      keepDims: false,
    },
  );
  return [dz, dBias];
};
