/**
 * The training steps the encoder benches time: each of this package's encoders with a Dense
 * head (no bias), softmax cross-entropy and SGD, on fixed random data, as a closure.
 *
 * - smallCnn: the AV-MNIST image encoder (28x28x1, filters [32, 64]), batch 64, 10 classes;
 * - resnet18: the CREMA-D audio encoder (257x188x1 spectrogram, full width), batch 8, 6 classes.
 *
 * tools/reference/wasm-training/torch_step.py (`--only small_cnn,resnet18`) defines the same
 * architectures in PyTorch (its heads have a bias: 6-10 more parameters).
 */
import * as tf from '@tensorflow/tfjs';
import { resnet18, smallCnn } from '../src/index';

export const ENCODER_MODELS = {
  smallCnn: {
    build: () => smallCnn({ inChannels: 1, inputShape: [28, 28], filters: [32, 64], seed: 1 }),
    input: [64, 28, 28, 1],
    classes: 10,
    torchName: 'small_cnn',
  },
  resnet18: {
    build: () => resnet18({ inChannels: 1, inputShape: [257, 188], seed: 1 }),
    input: [8, 257, 188, 1],
    classes: 6,
    torchName: 'resnet18',
  },
} as const;
export type EncoderModelName = keyof typeof ENCODER_MODELS;

/** The names in a comma list (`--models`), checked. */
export function encoderModelNames(list: string): EncoderModelName[] {
  const names = list.split(',') as EncoderModelName[];
  for (const n of names) {
    if (!(n in ENCODER_MODELS)) {
      throw new Error(
        `--models has "${n}"; expected names from ${Object.keys(ENCODER_MODELS).join(', ')}`,
      );
    }
  }
  return names;
}

/**
 * One training step of `name` (own model, data and optimizer: plain SGD with learning rate
 * 0.01, or momentum 0.9 with `momentum`).
 */
export function makeEncoderStep(
  name: EncoderModelName,
  { momentum = false }: { momentum?: boolean } = {},
): { step: () => void; dispose: () => void } {
  const { build, input, classes } = ENCODER_MODELS[name];
  const encoder = build();
  const width = encoder.outputs[0]!.shape[1] as number;
  const head = tf.variable(tf.randomNormal([width, classes], 0, 0.05, 'float32', 2));
  const x = tf.randomNormal([...input], 0, 1, 'float32', 3);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: input[0] }, (_, i) => i % classes),
      'int32',
    ),
    classes,
  );
  const vars = [...encoder.trainableWeights.map((w) => w.read() as tf.Variable), head];
  const opt = momentum ? tf.train.momentum(0.01, 0.9) : tf.train.sgd(0.01);
  const step = () => {
    const loss = opt.minimize(
      () =>
        tf.losses.softmaxCrossEntropy(
          labels,
          tf.matMul(encoder.apply(x, { training: true }) as tf.Tensor2D, head),
        ) as tf.Scalar,
      true,
      vars,
    );
    loss?.dataSync();
    loss?.dispose();
  };
  const dispose = () => {
    opt.dispose();
    encoder.dispose();
    tf.dispose([head, x, labels]);
  };
  return { step, dispose };
}

/** The value after `--name` on the command line, or `fallback`. */
export function benchArg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** `--name N` as a positive integer (an error naming the flag otherwise). */
export function positiveIntegerArg(name: string, fallback: number): number {
  const v = Number(benchArg(name, String(fallback)));
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`--${name} is "${v}"; expected an integer >= 1`);
  return v;
}

/**
 * tf.profile of one call of `step`: its kernel calls (the ops' `__op` wrappers not counted) and
 * the `top` kernel names by time, with their total ms (of the profiled step) and calls.
 */
export async function profileStep(step: () => void, top = 10) {
  const prof = await tf.profile(() => step());
  const byName = new Map<string, { ms: number; calls: number }>();
  let calls = 0;
  let ms = 0;
  for (const k of prof.kernels) {
    if (k.name.endsWith('__op')) continue;
    calls++;
    ms += k.kernelTimeMs as number;
    const e = byName.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += k.kernelTimeMs as number;
    e.calls++;
    byName.set(k.name, e);
  }
  const kernels = [...byName.entries()]
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, top)
    .map(([kernel, v]) => ({ kernel, ms: Number(v.ms.toFixed(1)), calls: v.calls }));
  return { kernel_calls: calls, kernel_ms: Number(ms.toFixed(1)), top_kernels: kernels };
}

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
