/**
 * Mean softmax cross-entropy with integer labels as two tfjs kernels, bit for bit the op
 * composition's value and gradient.
 *
 *   loss = -(1/B) sum_i log softmax(z_i)[y_i]        (z: logits [B, C], y: labels [B])
 *
 * The tfjs way, `-mean(sum(oneHot(y) * logSoftmax(z), -1))` differentiated by autodiff, runs
 * about 15 kernels forward (logSoftmax's max, sub, cast, exp, sum, log, sub; the labels' casts and
 * one-hot; mul, sum, mean, neg) and 15 backward, each with the engine's bookkeeping and its saved
 * tensors: some 30 % of the kernel calls of a small MLP's training step. Here:
 *
 * - {@link IgmSoftmaxCrossEntropy}: logits, labels -> loss (scalar), logp (log softmax, [B, C]).
 * - {@link IgmSoftmaxCrossEntropyGrad}: dy (the loss's gradient), logp, labels -> dLogits.
 *
 * {@link softmaxCrossEntropy} runs them (with a registered gradient) when the active backend has
 * both, else the composition. The kernels reproduce the composition exactly: its reductions, exp
 * and log are the backend's own kernels (Max, Sum, Mean, Exp, Log, called through the kernel
 * registry without the engine), and what remains are single float32 roundings of a subtraction,
 * a product or a division, which a Float32Array store of the double result gives exactly. With
 * (-) (*) (/) such float32 operations, t_ij = 1 if y_i = j else 0 (a label outside [0, C): a row
 * of zeros, as tf.oneHot), and Max_j, Sum_j, Mean_i, exp, log the backend's kernels:
 *
 * Forward (tf.logSoftmax's customGrad, then the one-hot product, sum, mean and negation):
 *   s_ij = z_ij (-) Max_j z_ij,   logp_ij = s_ij (-) log(Sum_j exp(s_ij))
 *   loss = -Mean_i Sum_j (t_ij (*) logp_ij)
 * Backward (the gradients of Neg, Mean, Sum and Mul in tfjs-core, then logSoftmax's):
 *   m = (-dy) (/) B,   g_ij = m (*) t_ij,   dz_ij = g_ij (-) ((Sum_j g_ij) (*) exp(logp_ij))
 *
 * The kernels are written once against the tfjs KernelBackend interface (readSync, write,
 * disposeData): {@link registerCpuSoftmaxCrossEntropyKernels} registers them on cpu, and
 * @igm/wasm-training's registerWasmTrainingKernels on wasm. Both backends round each float32
 * operation once (cpu in JavaScript doubles stored to float32, wasm in SIMD float32), which is
 * what the stores here do; a backend that does not is not registered.
 */
import * as tf from '@tensorflow/tfjs-core';
import { IgmArgumentError } from '../errors';
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

/** Kernel name: logits [B, C] float32, labels [B] int32 -> loss [] and logp [B, C] float32. */
export const IgmSoftmaxCrossEntropy = 'IgmSoftmaxCrossEntropy';
/** Kernel name: dy [], logp [B, C], labels [B] -> dLogits [B, C] float32. */
export const IgmSoftmaxCrossEntropyGrad = 'IgmSoftmaxCrossEntropyGrad';

function checkLogitsAndLabels(where: string, logits: tf.TensorInfo, labels: tf.TensorInfo): void {
  if (logits.dtype !== 'float32' || logits.shape.length !== 2) {
    throw new IgmArgumentError(
      `${where}: logits are ${logits.dtype} of shape [${logits.shape.join(', ')}]; expected float32 [batch, classes].`,
    );
  }
  if (
    labels.dtype !== 'int32' ||
    labels.shape.length !== 1 ||
    labels.shape[0] !== logits.shape[0]
  ) {
    throw new IgmArgumentError(
      `${where}: labels are ${labels.dtype} of shape [${labels.shape.join(', ')}]; expected int32 [${logits.shape[0]}] (one class index per row of the logits).`,
    );
  }
}

function float32Input(backend: ReadWriteBackend, t: tf.TensorInfo): Float32Array {
  return backend.readSync(t.dataId) as Float32Array;
}

/** Reads a kernel's output and frees it. */
function take(backend: ReadWriteBackend, t: tf.TensorInfo): Float32Array {
  const values = Float32Array.from(backend.readSync(t.dataId) as Float32Array);
  backend.disposeData(t.dataId);
  return values;
}

/** t_ij of a row: the class index of label i, or -1 when it is outside [0, C) (a zero row). */
function labelIndices(
  backend: ReadWriteBackend,
  labels: tf.TensorInfo,
  classes: number,
): Int32Array {
  const raw = backend.readSync(labels.dataId) as Int32Array;
  const out = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const y = raw[i]!;
    out[i] = y >= 0 && y < classes ? y : -1;
  }
  return out;
}

/** The forward kernel for the backend registered as `backendName`. */
export function softmaxCrossEntropyForward(backendName: string) {
  return (args: KernelArgs): tf.TensorInfo[] => {
    const where = IgmSoftmaxCrossEntropy;
    const logits = kernelInput(where, 'logits', args.inputs['logits']);
    const labels = kernelInput(where, 'labels', args.inputs['labels']);
    checkLogitsAndLabels(where, logits, labels);
    const backend = args.backend as ReadWriteBackend;
    const [rows, classes] = logits.shape as [number, number];
    const z = float32Input(backend, logits);
    const y = labelIndices(backend, labels, classes);
    const call = (name: string, x: tf.TensorInfo, attrs?: Record<string, unknown>) =>
      callBackendKernel(where, backendName, backend, name, { x }, attrs);

    const zMax = take(backend, call('Max', logits, { reductionIndices: 1, keepDims: true }));
    const shifted = new Float32Array(rows * classes);
    for (let i = 0; i < rows; i++) {
      const m = zMax[i]!;
      for (let j = i * classes; j < (i + 1) * classes; j++) shifted[j] = z[j]! - m;
    }
    const shiftedT = float32Output(backend, shifted, [rows, classes]);
    const exps = call('Exp', shiftedT);
    backend.disposeData(shiftedT.dataId);
    const sums = call('Sum', exps, { axis: 1, keepDims: true });
    backend.disposeData(exps.dataId);
    const logSums = take(backend, call('Log', sums));
    backend.disposeData(sums.dataId);

    const logp = new Float32Array(rows * classes);
    const picked = new Float32Array(rows * classes);
    for (let i = 0; i < rows; i++) {
      const l = logSums[i]!;
      for (let c = 0; c < classes; c++) {
        const j = i * classes + c;
        logp[j] = shifted[j]! - l;
        picked[j] = (c === y[i] ? 1 : 0) * logp[j]!;
      }
    }
    const pickedT = float32Output(backend, picked, [rows, classes]);
    const rowSums = call('Sum', pickedT, { axis: -1, keepDims: false });
    backend.disposeData(pickedT.dataId);
    const mean = take(backend, call('Mean', rowSums, { axis: null, keepDims: false }));
    backend.disposeData(rowSums.dataId);
    const loss = new Float32Array([-mean[0]!]);
    return [float32Output(backend, loss, []), float32Output(backend, logp, [rows, classes])];
  };
}

/** The gradient kernel for the backend registered as `backendName`. */
export function softmaxCrossEntropyBackward(backendName: string) {
  return (args: KernelArgs): tf.TensorInfo => {
    const where = IgmSoftmaxCrossEntropyGrad;
    const dy = kernelInput(where, 'dy', args.inputs['dy']);
    const logp = kernelInput(where, 'logp', args.inputs['logp']);
    const labels = kernelInput(where, 'labels', args.inputs['labels']);
    checkLogitsAndLabels(where, logp, labels);
    if (dy.dtype !== 'float32' || tf.util.sizeFromShape(dy.shape) !== 1) {
      throw new IgmArgumentError(
        `${where}: dy is ${dy.dtype} of shape [${dy.shape.join(', ')}]; expected a float32 scalar (the loss's gradient).`,
      );
    }
    const backend = args.backend as ReadWriteBackend;
    const [rows, classes] = logp.shape as [number, number];
    const y = labelIndices(backend, labels, classes);
    // Neg's gradient, then Mean's: (-dy (*) 1) (/) B; Sum's broadcasts it; Mul's takes t_ij.
    const m = Math.fround(-float32Input(backend, dy)[0]! / rows);
    const g = new Float32Array(rows * classes);
    for (let i = 0; i < rows; i++) {
      for (let c = 0; c < classes; c++) g[i * classes + c] = m * (c === y[i] ? 1 : 0);
    }
    // logSoftmax's gradient: g - Sum_j(g) * exp(logp).
    const gT = float32Output(backend, g, [rows, classes]);
    const gSums = take(
      backend,
      callBackendKernel(where, backendName, backend, 'Sum', { x: gT }, { axis: 1, keepDims: true }),
    );
    backend.disposeData(gT.dataId);
    const softmax = take(
      backend,
      callBackendKernel(where, backendName, backend, 'Exp', { x: logp }),
    );
    const dz = new Float32Array(rows * classes);
    for (let i = 0; i < rows; i++) {
      const s = gSums[i]!;
      for (let j = i * classes; j < (i + 1) * classes; j++) {
        dz[j] = g[j]! - Math.fround(s * softmax[j]!);
      }
    }
    return float32Output(backend, dz, [rows, classes]);
  };
}

/**
 * Registers {@link IgmSoftmaxCrossEntropy} and {@link IgmSoftmaxCrossEntropyGrad} on the backend
 * named `backendName` (cpu, or wasm from @igm/wasm-training). Idempotent; returns whether it
 * registered now.
 */
export function registerSoftmaxCrossEntropyKernels(backendName: string): boolean {
  return registerKernelPair(
    [IgmSoftmaxCrossEntropy, IgmSoftmaxCrossEntropyGrad],
    backendName,
    softmaxCrossEntropyForward(backendName),
    softmaxCrossEntropyBackward(backendName),
  );
}

/** Removes both kernels from `backendName` (the composition runs); returns whether there were any. */
export function unregisterSoftmaxCrossEntropyKernels(backendName: string): boolean {
  return unregisterKernelPair([IgmSoftmaxCrossEntropy, IgmSoftmaxCrossEntropyGrad], backendName);
}

/** {@link registerSoftmaxCrossEntropyKernels} on the tfjs `cpu` backend. */
export function registerCpuSoftmaxCrossEntropyKernels(): boolean {
  return registerSoftmaxCrossEntropyKernels('cpu');
}

let gradientRegistered = false;

function registerSoftmaxCrossEntropyGradient(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: IgmSoftmaxCrossEntropy,
    inputsToSave: ['labels'],
    outputsToSave: [false, true],
    gradFunc: (dys, saved) => {
      const dy = Array.isArray(dys) ? dys[0]! : dys;
      const [labels, logp] = saved as [tf.Tensor, tf.Tensor];
      requireGradientKernel(
        [IgmSoftmaxCrossEntropy, IgmSoftmaxCrossEntropyGrad],
        'registerCpuSoftmaxCrossEntropyKernels()',
      );
      return {
        logits: () =>
          tf.engine().runKernel(IgmSoftmaxCrossEntropyGrad, { dy, logp, labels }) as tf.Tensor,
        labels: () => tf.zerosLike(labels),
      };
    },
  });
}

type ShapeAndDtype = { dtype: string; shape: readonly number[] };

/**
 * Whether {@link softmaxCrossEntropy} takes the fused kernels on the active backend: both
 * registered, logits float32 [B, C] with C >= 2 (tf.oneHot's minimum depth; the composition
 * reports fewer) and labels int32 [B].
 */
export function fusedSoftmaxCrossEntropyAvailable(
  logits: ShapeAndDtype,
  labels: ShapeAndDtype,
): boolean {
  const backend = tf.getBackend();
  return (
    logits.dtype === 'float32' &&
    logits.shape.length === 2 &&
    logits.shape[1]! >= 2 &&
    labels.dtype === 'int32' &&
    labels.shape.length === 1 &&
    labels.shape[0] === logits.shape[0] &&
    tf.getKernel(IgmSoftmaxCrossEntropy, backend) !== undefined &&
    tf.getKernel(IgmSoftmaxCrossEntropyGrad, backend) !== undefined
  );
}

/**
 * Mean softmax cross-entropy of `logits` [B, C] against integer class `labels` [B]:
 *
 *   loss = -(1/B) sum_i log softmax(logits_i)[labels_i]
 *
 * (a label outside [0, C) contributes 0, as with a one-hot row of zeros). Differentiable w.r.t.
 * the logits: d loss / d logits_ij = (softmax(logits_i)_j - [labels_i = j]) / B.
 *
 * When the active backend has {@link IgmSoftmaxCrossEntropy} and
 * {@link IgmSoftmaxCrossEntropyGrad} (and labels are int32: {@link fusedSoftmaxCrossEntropyAvailable}),
 * one kernel computes the loss and one its gradient, bit for bit as the composition
 * `-mean(sum(oneHot(labels) * logSoftmax(logits), -1))` and its autodiff (this module's comment);
 * else it runs that composition (labels cast to int32 for the one-hot).
 */
export function softmaxCrossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  if (logits.rank !== 2) {
    throw new IgmArgumentError(
      `softmaxCrossEntropy: received logits of shape [${logits.shape.join(', ')}]. Expected [batch, classes].`,
    );
  }
  if (labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new IgmArgumentError(
      `softmaxCrossEntropy: received labels of shape [${labels.shape.join(', ')}] for logits [${logits.shape.join(', ')}]. Expected integer labels of shape [${logits.shape[0]}].`,
    );
  }
  if (fusedSoftmaxCrossEntropyAvailable(logits, labels)) {
    registerSoftmaxCrossEntropyGradient();
    const [loss, logp] = tf
      .engine()
      .runKernel(IgmSoftmaxCrossEntropy, { logits, labels }) as tf.Tensor[];
    logp!.dispose();
    return loss as tf.Scalar;
  }
  return tf.tidy(() => {
    const targets = tf.cast(
      tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, logits.shape[1]!),
      'float32',
    );
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, logp), -1))) as tf.Scalar;
  });
}
