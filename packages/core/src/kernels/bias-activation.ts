/**
 * A Dense layer's bias and activation, act(z + b), as two tfjs kernels, bit for bit the op
 * composition's values and gradients.
 *
 * A Dense layer in training runs `relu(add(matMul(x, K), b))`: tfjs-core fuses the bias and the
 * activation into the product only outside a gradient tape, so every training step runs Add and
 * Relu forward (saving three tensors) and Step, Cast, Multiply, Reshape, Sum, Reshape backward.
 * Here, for z [..., N] float32 and b [N]:
 *
 * - {@link IgmBiasActivation}: z, bias -> out = act(z (+) b)   (act: 'linear' or 'relu').
 * - {@link IgmBiasActivationGrad}: dy, out -> dz, dBias.
 *
 * {@link biasActivation} runs them (with a registered gradient) when the active backend has both,
 * else `tf.add` and `tf.relu`. With (+) (*) float32 operations:
 *
 *   forward   out = z (+) b, then relu: max(out, 0) (NaN stays NaN, -0 becomes +0, as the Relu
 *             kernels of cpu and @igm/wasm-training)
 *   backward  dz = dy (*) step(out) for relu (step = 1 where out > 0, NaN where out is NaN, else
 *             0: tfjs's Relu gradient, whose step of the Relu's input is the same mask), dy for
 *             linear; dBias = Sum of dz over the leading axes (the Add gradient's reduction, the
 *             backend's own registered Sum kernel called without the engine).
 *
 * The kernels are written against the tfjs KernelBackend interface (readSync, write,
 * disposeData): {@link registerCpuBiasActivationKernels} registers them on cpu, and
 * @igm/wasm-training's registerWasmTrainingKernels on wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkChoice, IgmArgumentError } from '../errors';
import {
  callBackendKernel,
  float32Output,
  type KernelArgs,
  kernelInput,
  type ReadWriteBackend,
  registerKernelPair,
  requireGradientKernel,
  unregisterKernelPair,
} from './kernel-support';

/** Kernel name: z [..., N], bias [N] (float32) -> act(z + bias). Attribute `activation`. */
export const IgmBiasActivation = 'IgmBiasActivation';
/** Kernel name: dy, out (the forward's output) -> dz, dBias. Attribute `activation`. */
export const IgmBiasActivationGrad = 'IgmBiasActivationGrad';

/** The activations of {@link biasActivation}. */
export type DenseActivation = 'linear' | 'relu';
const ACTIVATIONS: readonly DenseActivation[] = ['linear', 'relu'];

function activationOf(where: string, attrs: Record<string, unknown> | undefined): DenseActivation {
  return checkChoice(where, 'activation', attrs?.['activation'] ?? 'linear', ACTIVATIONS);
}

/**
 * The checked inputs of an {@link IgmBiasActivation} call: x float32 [..., N], bias float32 [N],
 * and whether the activation is relu. Shared with the wasm kernels of @igm/wasm-training.
 */
export function biasActivationInputs(args: KernelArgs): {
  z: tf.TensorInfo;
  bias: tf.TensorInfo;
  relu: boolean;
} {
  const where = IgmBiasActivation;
  const z = kernelInput(where, 'x', args.inputs['x'], 'float32');
  const bias = kernelInput(where, 'bias', args.inputs['bias'], 'float32');
  const units = z.shape[z.shape.length - 1];
  if (z.shape.length < 1 || bias.shape.length !== 1 || bias.shape[0] !== units) {
    throw new IgmArgumentError(
      `${where}: bias has shape [${bias.shape.join(', ')}] for x [${z.shape.join(', ')}]; expected [${units}] (one value per unit of x's last axis).`,
    );
  }
  return { z, bias, relu: activationOf(where, args.attrs) === 'relu' };
}

/**
 * The checked inputs of an {@link IgmBiasActivationGrad} call: dy float32, and for relu the
 * forward's output `out` (float32, dy's shape; undefined for linear). Shared with
 * @igm/wasm-training.
 */
export function biasActivationGradInputs(args: KernelArgs): {
  dy: tf.TensorInfo;
  out: tf.TensorInfo | undefined;
} {
  const where = IgmBiasActivationGrad;
  const dy = kernelInput(where, 'dy', args.inputs['dy'], 'float32');
  if (activationOf(where, args.attrs) !== 'relu') return { dy, out: undefined };
  const out = kernelInput(where, 'out', args.inputs['out'], 'float32');
  if (!tf.util.arraysEqual([...out.shape], [...dy.shape])) {
    throw new IgmArgumentError(
      `${where}: out has shape [${out.shape.join(', ')}]; expected dy's [${dy.shape.join(', ')}].`,
    );
  }
  return { dy, out };
}

const forward = (args: KernelArgs): tf.TensorInfo => {
  const { z, bias, relu } = biasActivationInputs(args);
  const units = z.shape[z.shape.length - 1];
  const backend = args.backend as ReadWriteBackend;
  const zv = backend.readSync(z.dataId) as Float32Array;
  const bv = backend.readSync(bias.dataId) as Float32Array;
  const out = new Float32Array(zv.length);
  const n = units as number;
  for (let r = 0; r < zv.length; r += n) {
    for (let j = 0; j < n; j++) out[r + j] = zv[r + j]! + bv[j]!;
  }
  if (relu) for (let i = 0; i < out.length; i++) out[i] = Math.max(out[i]!, 0);
  return float32Output(backend, out, [...z.shape]);
};

/** The gradient kernel for the backend registered as `backendName` (it calls that Sum). */
function backward(backendName: string) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const where = IgmBiasActivationGrad;
    const { dy, out } = biasActivationGradInputs(args);
    const backend = args.backend as ReadWriteBackend;
    const dyv = backend.readSync(dy.dataId) as Float32Array;
    let dz: Float32Array;
    if (out !== undefined) {
      const ov = backend.readSync(out.dataId) as Float32Array;
      dz = new Float32Array(dyv.length);
      for (let i = 0; i < dz.length; i++) {
        const o = ov[i]!;
        dz[i] = dyv[i]! * (o > 0 ? 1 : Number.isNaN(o) ? Number.NaN : 0);
      }
    } else {
      dz = Float32Array.from(dyv);
    }
    const shape = [...dy.shape];
    const dzT = float32Output(backend, dz, shape);
    const leading = shape.slice(0, -1).map((_, i) => i);
    const dBias =
      leading.length === 0
        ? float32Output(backend, Float32Array.from(dz), shape)
        : callBackendKernel(
            where,
            backendName,
            backend,
            'Sum',
            { x: dzT },
            {
              axis: leading,
              keepDims: false,
            },
          );
    return [dzT, dBias];
  };
}

/**
 * Registers {@link IgmBiasActivation} and {@link IgmBiasActivationGrad} on the backend named
 * `backendName` (cpu, or wasm from @igm/wasm-training). Idempotent; returns whether it registered
 * now.
 */
export function registerBiasActivationKernels(backendName: string): boolean {
  return registerKernelPair(
    [IgmBiasActivation, IgmBiasActivationGrad],
    backendName,
    forward,
    backward(backendName),
  );
}

/** The two kernel functions for `backendName`, for a package that registers them itself. */
export function biasActivationKernels(backendName: string): {
  forward: (args: KernelArgs) => tf.TensorInfo;
  backward: (args: KernelArgs) => tf.TensorInfo[];
} {
  return { forward, backward: backward(backendName) };
}

/** Removes both kernels from `backendName` (the composition runs); returns whether there were any. */
export function unregisterBiasActivationKernels(backendName: string): boolean {
  return unregisterKernelPair([IgmBiasActivation, IgmBiasActivationGrad], backendName);
}

/** {@link registerBiasActivationKernels} on the tfjs `cpu` backend. */
export function registerCpuBiasActivationKernels(): boolean {
  return registerBiasActivationKernels('cpu');
}

let gradientRegistered = false;

function registerBiasActivationGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: IgmBiasActivation,
    inputsToSave: [],
    outputsToSave: [true],
    gradFunc: (dys, saved, attrs) => {
      const dy = Array.isArray(dys) ? dys[0]! : dys;
      const [out] = saved as [tf.Tensor];
      requireGradientKernel(
        [IgmBiasActivation, IgmBiasActivationGrad],
        'registerCpuBiasActivationKernels()',
      );
      const relu = (attrs as Record<string, unknown> | undefined)?.['activation'] === 'relu';
      const [dz, dBias] = tf
        .engine()
        .runKernel(
          IgmBiasActivationGrad,
          relu ? { dy, out } : { dy },
          attrs as tf.NamedAttrMap,
        ) as tf.Tensor[];
      return { x: () => dz!, bias: () => dBias! };
    },
  });
}

type ShapeAndDtype = { dtype: string; shape: readonly number[] };

/**
 * Whether {@link biasActivation} takes the fused kernels on the active backend: both registered,
 * x float32 of rank >= 2 and bias float32 [x's last dimension].
 */
export function fusedBiasActivationAvailable(x: ShapeAndDtype, bias: ShapeAndDtype): boolean {
  const backend = tf.getBackend();
  return (
    x.dtype === 'float32' &&
    x.shape.length >= 2 &&
    bias.dtype === 'float32' &&
    bias.shape.length === 1 &&
    bias.shape[0] === x.shape[x.shape.length - 1] &&
    tf.getKernel(IgmBiasActivation, backend) !== undefined &&
    tf.getKernel(IgmBiasActivationGrad, backend) !== undefined
  );
}

/**
 * act(x + bias) for x [..., N] and bias [N], act 'linear' (identity) or 'relu' (max(., 0)): the
 * bias and activation of a Dense layer, y = act(x K + b), after its product.
 *
 * When the active backend has {@link IgmBiasActivation} and {@link IgmBiasActivationGrad} (and
 * the inputs fit: {@link fusedBiasActivationAvailable}), one kernel computes it and one its
 * gradients (dx and dBias), bit for bit `tf.relu(tf.add(x, bias))` (or `tf.add`) and its autodiff
 * (this module's comment); else it runs that composition.
 */
export function biasActivation(
  x: tf.Tensor,
  bias: tf.Tensor,
  activation: DenseActivation = 'linear',
): tf.Tensor {
  checkChoice('biasActivation', 'activation', activation, ACTIVATIONS);
  if (fusedBiasActivationAvailable(x, bias)) {
    registerBiasActivationGradient();
    return tf.engine().runKernel(IgmBiasActivation, { x, bias }, {
      activation,
    } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  const y = tf.add(x, bias);
  if (activation === 'linear') return y;
  const out = tf.relu(y);
  y.dispose();
  return out;
}
