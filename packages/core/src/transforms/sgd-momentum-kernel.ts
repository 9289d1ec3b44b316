/**
 * The SGD-with-momentum tail as one tfjs kernel, `IgmSgdMomentumUpdate`: what
 * `addDecayedWeights(wd)`, `traceMomentum({ momentum, nesterov })` and `scaleByLearningRate(lr)`
 * compute per parameter, in one pass over the tensor instead of six elementwise kernels.
 *
 * `chain()` runs such a run of members through this kernel when the active backend has it
 * registered (see sgd-tail.ts); the result is bit for bit the op chain's, so registering it only
 * changes the speed. @igm/wasm-training registers it on wasm (SIMD);
 * {@link registerCpuSgdMomentumKernel} registers the JavaScript loop below on cpu. This module
 * imports no backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, IgmArgumentError } from '../errors';
import { float32Output, type KernelArgs, type ReadWriteBackend } from '../kernels/kernel-support';

/** The tfjs kernel name of the fused SGD-with-momentum update. */
export const IgmSgdMomentumUpdate = 'IgmSgdMomentumUpdate';

/**
 * Inputs of {@link IgmSgdMomentumUpdate}: float32 tensors of one shape. `param` (theta) is read
 * only when `weightDecay` is not 0 and may be left out then.
 */
export interface SgdMomentumUpdateInputs {
  gradient: tf.TensorInfo;
  param?: tf.TensorInfo;
  buffer: tf.TensorInfo;
}

/** Attributes of {@link IgmSgdMomentumUpdate}, as the transforms were given them. */
export interface SgdMomentumUpdateAttrs {
  /** wd >= 0; 0 skips the decay term entirely (d = g, as `addDecayedWeights(0)`). */
  weightDecay: number;
  /** mu in [0, 1]. */
  momentum: number;
  /** lr >= 0, this step's value (a schedule already evaluated). */
  learningRate: number;
  nesterov: boolean;
}

/**
 * The update, per element, each operation rounded to float32 in this order (the op chain's):
 *
 *   d     = g + theta * wd            (only when wd != 0; else d = g)
 *   buf'  = buf * mu + d
 *   out   = nesterov ? d + buf' * mu : buf'
 *   u     = out * (-lr)
 *
 * where wd, mu and -lr are first rounded to float32 (as `tf.mul(x, number)` does). Writes buf'
 * into `nextBuffer` and u into `update`; `param` may be null when wd is 0. The loop of the cpu
 * kernel and of @igm/wasm-training's fallback when its SIMD module is unavailable. Each
 * `Math.fround` rounds the exact double result of two float32 operands (products are exact in
 * double; sums round twice, which for float32 operands is known to give the correctly rounded
 * float32 sum), so this equals IEEE float32 arithmetic.
 */
export function sgdMomentumUpdateInto(
  gradient: ArrayLike<number>,
  param: ArrayLike<number> | null,
  buffer: ArrayLike<number>,
  nextBuffer: Float32Array,
  update: Float32Array,
  attrs: SgdMomentumUpdateAttrs,
): void {
  const n = nextBuffer.length;
  const mu = Math.fround(attrs.momentum);
  const negLr = Math.fround(-attrs.learningRate);
  const decay = attrs.weightDecay !== 0;
  if (decay && param === null) {
    throw new IgmArgumentError(
      `${IgmSgdMomentumUpdate}: weightDecay=${attrs.weightDecay} needs the param values; got none.`,
    );
  }
  const wd = Math.fround(attrs.weightDecay);
  for (let i = 0; i < n; i++) {
    const g = gradient[i]!;
    const d = decay ? Math.fround(g + Math.fround(param![i]! * wd)) : g;
    const b = Math.fround(Math.fround(buffer[i]! * mu) + d);
    nextBuffer[i] = b;
    update[i] = (attrs.nesterov ? Math.fround(d + Math.fround(b * mu)) : b) * negLr;
  }
}

/**
 * Checks a call of {@link IgmSgdMomentumUpdate} (for kernels of any backend) and returns its
 * inputs and attributes typed: float32 inputs of one shape, `param` present when weightDecay is
 * not 0, numeric attributes finite and in range. Errors name the input or attribute and what was expected.
 */
export function checkSgdMomentumUpdateCall(
  inputs: Record<string, tf.TensorInfo | undefined>,
  attrs: Record<string, unknown> | undefined,
): { inputs: SgdMomentumUpdateInputs; attrs: SgdMomentumUpdateAttrs } {
  const where = IgmSgdMomentumUpdate;
  const a = attrs ?? {};
  const attr = (name: string) => `attribute ${name}`;
  const weightDecay = checkNumber(where, attr('weightDecay'), a['weightDecay'], { min: 0 });
  const momentum = checkNumber(where, attr('momentum'), a['momentum'], { min: 0, max: 1 });
  const learningRate = checkNumber(where, attr('learningRate'), a['learningRate'], { min: 0 });
  const nesterov = a['nesterov'];
  if (typeof nesterov !== 'boolean') {
    throw new IgmArgumentError(
      `${where}: attribute nesterov is ${String(nesterov)}; expected true or false.`,
    );
  }
  const { gradient, param, buffer } = inputs;
  if (gradient === undefined || buffer === undefined) {
    throw new IgmArgumentError(
      `${where}: inputs need gradient and buffer (got ${Object.keys(inputs).join(', ') || 'none'}).`,
    );
  }
  if (weightDecay !== 0 && param === undefined) {
    throw new IgmArgumentError(
      `${where}: weightDecay=${weightDecay} needs the input param (theta); it is missing.`,
    );
  }
  const named: Array<[string, tf.TensorInfo | undefined]> = [
    ['gradient', gradient],
    ['param', param],
    ['buffer', buffer],
  ];
  for (const [name, t] of named) {
    if (t === undefined) continue;
    if (t.dtype !== 'float32') {
      throw new IgmArgumentError(`${where}: input ${name} has dtype ${t.dtype}; expected float32.`);
    }
    if (!tf.util.arraysEqual(t.shape, gradient.shape)) {
      throw new IgmArgumentError(
        `${where}: input ${name} has shape [${t.shape.join(', ')}]; expected the gradient's shape [${gradient.shape.join(', ')}].`,
      );
    }
  }
  return {
    inputs: { gradient, buffer, ...(param !== undefined ? { param } : {}) },
    attrs: { weightDecay, momentum, learningRate, nesterov },
  };
}

const cpuKernelFunc = (args: KernelArgs): tf.TensorInfo[] => {
  const { inputs, attrs } = checkSgdMomentumUpdateCall(args.inputs, args.attrs);
  const backend = args.backend as ReadWriteBackend;
  const values = (t: tf.TensorInfo) => backend.readSync(t.dataId) as Float32Array;
  const shape = inputs.gradient.shape;
  const size = tf.util.sizeFromShape(shape);
  const nextBuffer = new Float32Array(size);
  const update = new Float32Array(size);
  sgdMomentumUpdateInto(
    values(inputs.gradient),
    inputs.param ? values(inputs.param) : null,
    values(inputs.buffer),
    nextBuffer,
    update,
    attrs,
  );
  return [
    float32Output(backend, nextBuffer, [...shape]),
    float32Output(backend, update, [...shape]),
  ];
};

/**
 * Registers {@link IgmSgdMomentumUpdate} on the tfjs `cpu` backend (the JavaScript loop of
 * {@link sgdMomentumUpdateInto}), so `sgd({ momentum })` and every chain ending in
 * `[addDecayedWeights] traceMomentum scaleByLearningRate` update each parameter in one pass
 * there, with the same bits as the op chain. Idempotent; returns whether it registered now.
 * Apps call it when they pick cpu (`useTrainingBackend('cpu')` of @igm/wasm-training does).
 */
export function registerCpuSgdMomentumKernel(): boolean {
  if (tf.getKernel(IgmSgdMomentumUpdate, 'cpu') !== undefined) return false;
  tf.registerKernel({
    kernelName: IgmSgdMomentumUpdate,
    backendName: 'cpu',
    kernelFunc: cpuKernelFunc as unknown as tf.KernelFunc,
  });
  return true;
}

/** Removes the cpu registration again (the op chain runs); returns whether there was one. */
export function unregisterCpuSgdMomentumKernel(): boolean {
  if (tf.getKernel(IgmSgdMomentumUpdate, 'cpu') === undefined) return false;
  tf.unregisterKernel(IgmSgdMomentumUpdate, 'cpu');
  return true;
}
