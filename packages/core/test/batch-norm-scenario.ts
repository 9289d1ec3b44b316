/**
 * Shared by the BatchNorm kernel tests of @igm/core (cpu) and @igm/wasm-training (wasm): a few
 * training steps of one BatchNorm (followed by ReLU and a weighted sum as the loss, so dy is
 * realistic: zero where ReLU is off) through `batchNormTraining`, recording every value the
 * fused kernels produce. Run once with the kernels registered and once without (the composition
 * tf.moments + tf.batchNorm and its autodiff), the records must agree bit for bit.
 */
import { tf } from '@igm/test-utils';
import { expect } from 'vitest';
import { batchNormTraining } from '../src';
import { seededValues } from './sgd-tail-scenario';

export { seededValues };

/** Shapes covering [B, C], [B, H, W, C] and rank 3, channels not a multiple of 4, batch 2 and up. */
export const BN_SHAPES: number[][] = [
  [2, 3],
  [7, 5],
  [16, 12],
  [2, 3, 3, 6],
  [3, 5, 4, 7],
  [4, 9, 8, 16],
  [2, 6, 13],
  [8, 17, 11, 33],
];

export type BnRecord = Record<string, Float32Array>;

/** Options of {@link runBatchNormScenario}. */
export interface BnScenarioOptions {
  /**
   * Fuse the ReLU into the kernels (`activation: 'relu'`): records `out` (the activated output)
   * and no `y`. Otherwise y is recorded and tf.relu(y) runs after it (recorded as `out`).
   */
  fuseRelu?: boolean;
  /**
   * Add a residual r (x's shape, an input with its own gradient, recorded as `dresidual`) before
   * the ReLU: out = relu(y + r). With `fuseRelu` both are the op's options (one kernel);
   * otherwise tf.relu(tf.add(y, r)) after the op, as a ResNet block's Add and ReLU layers.
   */
  residual?: boolean;
  /**
   * Values around zero in the first step: every third channel constant (x - mean = 0, so y is
   * beta exactly), the others x in {-1, 0, 1} (mean 0, y = beta where x = 0), beta alternating
   * +0 and -0 and gamma alternating sign, so y holds +0 and -0 and relu's input sits on its kink.
   */
  nearZero?: boolean;
}

/** The records without the pre-activation output y (to compare with a fused-ReLU run). */
export function withoutPreActivation(records: BnRecord[]): BnRecord[] {
  return records.map(({ y: _, ...rest }) => rest);
}

/**
 * `steps` steps on x of `shape`: each records y, mean, variance, the running mean and variance
 * after the update (momentum 0.9, unbiased variance, as the layer), dx, dgamma, dbeta, then moves
 * x, gamma and beta against their gradients (so later steps see other inputs).
 */
export function runBatchNormScenario(
  shape: number[],
  seed: number,
  steps = 3,
  epsilon = 1e-5,
  options: BnScenarioOptions = {},
): BnRecord[] {
  const size = shape.reduce((a, b) => a * b, 1);
  const channels = shape[shape.length - 1]!;
  const rows = size / channels;
  // An offset and a scale per channel make the statistics non-trivial.
  const xBase = seededValues(size, seed, 2);
  for (let i = 0; i < size; i++) xBase[i] = xBase[i]! * (1 + (i % channels)) + (i % channels) * 0.3;
  const gammaBase = seededValues(channels, seed + 1, 0.5).map((v) => v + 1);
  const betaBase = seededValues(channels, seed + 2, 0.5);
  if (options.nearZero) {
    for (let i = 0; i < size; i++) {
      const c = i % channels;
      xBase[i] = c % 3 === 0 ? 0.75 : (((i - c) / channels) % 3) - 1;
    }
    for (let c = 0; c < channels; c++) {
      gammaBase[c] = c % 2 === 0 ? gammaBase[c]! : -gammaBase[c]!;
      betaBase[c] = c % 2 === 0 ? 0 : -0;
    }
  }
  let x = tf.tensor(xBase, shape);
  let gamma = tf.tensor1d(gammaBase);
  let beta = tf.tensor1d(betaBase);
  let runMean = tf.zeros([channels]) as tf.Tensor1D;
  let runVar = tf.ones([channels]) as tf.Tensor1D;
  const weights = tf.tensor(seededValues(size, seed + 3), shape);
  // Of the scale of y, so the sums cross zero (the ReLU's kink) often.
  let residual = tf.tensor(seededValues(size, seed + 4, 1.5), shape);
  const records: BnRecord[] = [];
  for (let step = 0; step < steps; step++) {
    const record: BnRecord = {};
    const f = (xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, ri?: tf.Tensor) => {
      const r = options.residual ? ri : undefined;
      const { y, mean, variance } = batchNormTraining(
        xi,
        g as tf.Tensor1D,
        b as tf.Tensor1D,
        epsilon,
        options.fuseRelu ? { activation: 'relu', ...(r ? { residual: r } : {}) } : {},
      );
      const out = options.fuseRelu ? y : tf.relu(r ? tf.add(y, r) : y);
      if (!options.fuseRelu) record['y'] = y.dataSync() as Float32Array;
      record['out'] = out.dataSync() as Float32Array;
      record['mean'] = mean.dataSync() as Float32Array;
      record['variance'] = variance.dataSync() as Float32Array;
      const m = 0.9;
      const unbiased = tf.mul(variance, rows / (rows - 1));
      const nextMean = tf.add(tf.mul(runMean, m), tf.mul(mean, 1 - m));
      const nextVar = tf.add(tf.mul(runVar, m), tf.mul(unbiased, 1 - m));
      record['runningMean'] = nextMean.dataSync() as Float32Array;
      record['runningVariance'] = nextVar.dataSync() as Float32Array;
      tf.dispose([runMean, runVar]);
      runMean = tf.keep(nextMean) as tf.Tensor1D;
      runVar = tf.keep(nextVar) as tf.Tensor1D;
      return tf.sum(tf.mul(out, weights));
    };
    const grads = tf.tidy(() =>
      tf.grads(f)(options.residual ? [x, gamma, beta, residual] : [x, gamma, beta]),
    );
    record['dx'] = grads[0]!.dataSync() as Float32Array;
    record['dgamma'] = grads[1]!.dataSync() as Float32Array;
    record['dbeta'] = grads[2]!.dataSync() as Float32Array;
    if (options.residual) {
      record['dresidual'] = grads[3]!.dataSync() as Float32Array;
      const next = tf.tidy(() => tf.sub(residual, tf.mul(grads[3]!, 0.5)));
      residual.dispose();
      residual = next;
    }
    const [nx, ng, nb] = tf.tidy(() => [
      tf.sub(x, tf.mul(grads[0]!, 0.5)),
      tf.sub(gamma, tf.mul(grads[1]!, 0.01)),
      tf.sub(beta, tf.mul(grads[2]!, 0.01)),
    ]);
    tf.dispose([x, gamma, beta, ...grads]);
    x = nx!;
    gamma = ng as tf.Tensor1D;
    beta = nb as tf.Tensor1D;
    records.push(record);
  }
  tf.dispose([x, gamma, beta, runMean, runVar, weights, residual]);
  return records;
}

function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Asserts two runs' records are equal bit for bit, naming the first differing element. With
 * `anyNaN`, a NaN matches any NaN (the sign and payload of a NaN from arithmetic on NaNs is the
 * engine's choice, not the formula's).
 */
export function expectSameBnRecords(
  actual: BnRecord[],
  expected: BnRecord[],
  label: string,
  anyNaN = false,
): void {
  expect(actual.length, `${label}: steps`).toBe(expected.length);
  expected.forEach((step, s) => {
    for (const [name, want] of Object.entries(step)) {
      const got = actual[s]![name]!;
      expect(got.length, `${label}, step ${s}, ${name}: length`).toBe(want.length);
      const a = bitsOf(got);
      const b = bitsOf(want);
      const i = a.findIndex(
        (v, k) => v !== b[k] && !(anyNaN && Number.isNaN(got[k]) && Number.isNaN(want[k])),
      );
      if (i >= 0) {
        expect.fail(
          `${label}, step ${s}, ${name}: element ${i} is ${got[i]} (0x${a[i]!.toString(16)}), the composition gives ${want[i]} (0x${b[i]!.toString(16)})`,
        );
      }
    }
  });
}

/** Kernel names run by `fn` (to check which path ran). */
export async function kernelNamesOf(fn: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const info = await tf.profile(() => fn());
  return info.kernelNames;
}
