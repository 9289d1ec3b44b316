/**
 * `fitWithSam`: train a tfjs-layers `LayersModel` with any gradient transform chain (SAM
 * included), with `model.fit`'s loss/metric bookkeeping and BatchNorm statistics updated once
 * per step.
 *
 * Two ways to use SAM with a LayersModel, both tested to give the same weights and logs:
 * - `model.compile({ optimizer: toTfjsOptimizer(chain(sam(), sgd(...)), { model }) })` and plain
 *   `model.fit` (the adapter in @igm/core re-runs fit's loss closure for SAM's second pass,
 *   releases the metric tensors that closure keeps, and with `{ model }` freezes BatchNorm
 *   statistics; without `{ model }` SAM's frozen pass is an error);
 * - `fitWithSam(model, x, y, { transform })` (here): a loop that owns its loss closure, so it
 *   relies on no tfjs-layers internals beyond the compiled loss/metric functions, shuffles with a
 *   seed (reproducible runs), and reports per-step transform logs through `onLog`.
 *
 * Only type imports from `@tensorflow/tfjs-layers`: the model's own methods do the work, so this
 * module adds no runtime dependency on tfjs-layers.
 */
import {
  checkKnownKeys,
  checkNumber,
  createRng,
  GradientOptimizer,
  type GradientOptimizerOptions,
  type GradientTransform,
  IgmArgumentError,
  type LossPass,
  type Param,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** `(yTrue, yPred) => per-sample or scalar tensor`, as tfjs-layers losses and metrics. */
export type LossOrMetric = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/** A subset of tfjs-layers' `CustomCallbackArgs`, awaited in this order. */
export interface SamFitCallbacks {
  onTrainBegin?: (logs?: Record<string, number>) => void | Promise<void>;
  onEpochBegin?: (epoch: number, logs?: Record<string, number>) => void | Promise<void>;
  onBatchEnd?: (batch: number, logs: Record<string, number>) => void | Promise<void>;
  onEpochEnd?: (epoch: number, logs: Record<string, number>) => void | Promise<void>;
  onTrainEnd?: (logs?: Record<string, number>) => void | Promise<void>;
}

export interface FitWithSamOptions {
  /**
   * The update rule, e.g. `chain(sam(), sgd({ learningRate: 0.1, momentum: 0.9 }))`. A fresh
   * {@link GradientOptimizer} is built over `model.trainableWeights` and disposed at the end.
   * Give `optimizer` instead to keep the transform state (momentum...) across calls.
   */
  transform?: GradientTransform<unknown>;
  /** An optimizer built with {@link layersModelParams}(model); not disposed by fitWithSam. */
  optimizer?: GradientOptimizer<unknown>;
  /** Default 1. */
  epochs?: number;
  /** Default 32 (as model.fit). The last batch may be smaller. */
  batchSize?: number;
  /** Shuffle the samples every epoch with a seeded permutation. Default true (as model.fit). */
  shuffle?: boolean;
  /** Seed of the shuffling (and of the transform RNG when `transform` is given). Default 0. */
  seed?: number;
  /** Validation data, evaluated in inference mode after each epoch (`val_*` logs). */
  validationData?: [tf.Tensor | tf.Tensor[], tf.Tensor | tf.Tensor[]];
  callbacks?: SamFitCallbacks;
  /** 1 prints one line per epoch. Default 0. */
  verbose?: 0 | 1;
  /** Param group of each trainable weight (for `sam({ rhoByGroup })`). Default: its layer name. */
  groupOf?: (weightName: string) => string;
  /** Receives the values transforms log (sam/grad_norm, sam/rho ...) after every step. */
  onLog?: GradientOptimizerOptions['onLog'];
}

/** The result, shaped like tfjs-layers' `History`. */
export interface SamHistory {
  epoch: number[];
  history: Record<string, number[]>;
  params: { epochs: number; batchSize: number; samples: number; steps: number; metrics: string[] };
}

const FIT_OPTION_KEYS = [
  'transform',
  'optimizer',
  'epochs',
  'batchSize',
  'shuffle',
  'seed',
  'validationData',
  'callbacks',
  'verbose',
  'groupOf',
  'onLog',
] as const;

/** Default group of a weight: the name of its layer (`dense_Dense1/kernel` -> `dense_Dense1`). */
export function layerGroupOf(weightName: string): string {
  const cut = weightName.lastIndexOf('/');
  return cut > 0 ? weightName.slice(0, cut) : weightName;
}

/**
 * The trainable weights of a LayersModel as {@link Param}s. Keys are the weights' `originalName`
 * (`dense_Dense1/kernel`: stable, without the `_1` suffix tfjs adds to clashing variable names),
 * as `collectParams` and `toTfjsOptimizer` in @igm/core; groups come from `groupOf`.
 */
export function layersModelParams(
  model: LayersModel,
  groupOf: (weightName: string) => string = layerGroupOf,
): Param[] {
  const params = model.trainableWeights.map((w) => ({
    key: w.originalName,
    variable: w.read() as tf.Variable,
    group: groupOf(w.originalName),
  }));
  const seen = new Set<string>();
  for (const p of params) {
    if (seen.has(p.key)) {
      throw new IgmArgumentError(
        `layersModelParams: two trainable weights share the name "${p.key}". Give the layers unique names.`,
      );
    }
    seen.add(p.key);
  }
  return params;
}

/**
 * Runs `fn` in training mode with the model's non-trainable weights (BatchNorm moving mean and
 * variance) restored afterwards: the pass normalises with batch statistics but leaves the moving
 * averages as they were. This is how `batchStatistics: 'frozen'` is implemented for tfjs-layers.
 */
export function withFrozenStatistics<T>(model: LayersModel, fn: () => T): T {
  const vars = model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
  const saved = vars.map((v) => tf.keep(tf.clone(v)));
  try {
    return fn();
  } finally {
    vars.forEach((v, i) => {
      v.assign(saved[i]!);
      saved[i]!.dispose();
    });
  }
}

interface Compiled {
  losses: LossOrMetric[];
  metrics: Array<[LossOrMetric, number]>;
  labels: string[];
}

type CompiledFields = LayersModel & {
  lossFunctions?: LossOrMetric[];
  metricsTensors?: Array<[LossOrMetric, number]>;
  metricsNames?: string[];
  /** A `Sequential` keeps its compiled functional model here. */
  model?: CompiledFields;
};

/** The model that holds the compiled loss (a Sequential's inner model, else the model). */
function compiledModel(model: LayersModel): CompiledFields {
  const m = model as CompiledFields;
  return m.model?.lossFunctions ? m.model : m;
}

function compiledLoss(model: LayersModel): Compiled {
  const m = compiledModel(model);
  if (!m.lossFunctions || m.lossFunctions.length === 0 || !m.metricsNames) {
    throw new IgmArgumentError(
      'fitWithSam: the model is not compiled. Call model.compile({ optimizer: "sgd", loss, metrics }) first: ' +
        'fitWithSam takes the loss and metrics from it (the compiled optimizer is not used; the update rule is options.transform).',
    );
  }
  const labels = m.metricsNames.map((label, i, all) => {
    const before = all.slice(0, i).filter((l) => l === label).length;
    return all.filter((l) => l === label).length > 1 ? `${label}_${before}` : label;
  });
  return { losses: m.lossFunctions, metrics: m.metricsTensors ?? [], labels };
}

const asArray = (x: tf.Tensor | tf.Tensor[]): tf.Tensor[] => (Array.isArray(x) ? x : [x]);

/**
 * Trains `model` on (x, y) with a gradient transform chain, e.g. SAM:
 *
 *   model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
 *   const history = await fitWithSam(model, x, y, {
 *     transform: chain(sam({ rho: 0.05 }), sgd({ learningRate: 0.1, momentum: 0.9 })),
 *     epochs: 5, batchSize: 32,
 *   });
 *
 * Per batch this runs {@link GradientOptimizer.minimize} with a closure that computes
 * `model.fit`'s total loss (compiled loss per output, mean, plus regularisation losses) in
 * training mode. The first pass updates BatchNorm moving statistics; passes the transform asks to
 * be `'frozen'` (SAM's second pass) restore them (see {@link withFrozenStatistics}), so they
 * update exactly once per step. Logged loss and metrics are those of the first pass (at the
 * weights before the step), as in `model.fit`; epoch values are batch-size-weighted means.
 * Dropout draws new masks in each pass, as in davda54/sam.
 */
export async function fitWithSam(
  model: LayersModel,
  x: tf.Tensor | tf.Tensor[],
  y: tf.Tensor | tf.Tensor[],
  options: FitWithSamOptions,
): Promise<SamHistory> {
  const where = 'fitWithSam';
  checkKnownKeys(where, options, FIT_OPTION_KEYS);
  const epochs = checkNumber(where, 'epochs', options.epochs ?? 1, { min: 1, integer: true });
  const batchSize = checkNumber(where, 'batchSize', options.batchSize ?? 32, {
    min: 1,
    integer: true,
  });
  const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
  const shuffle = options.shuffle ?? true;
  if ((options.transform === undefined) === (options.optimizer === undefined)) {
    throw new IgmArgumentError(
      `${where}: give exactly one of options.transform (e.g. chain(sam(), sgd({ learningRate: 0.01 }))) or options.optimizer (a GradientOptimizer over layersModelParams(model)).`,
    );
  }
  const compiled = compiledLoss(model);
  const core = compiledModel(model);
  const xs = asArray(x);
  const ys = asArray(y);
  const samples = xs[0]!.shape[0]!;
  for (const t of [...xs, ...ys]) {
    if (t.shape[0] !== samples) {
      throw new IgmArgumentError(
        `${where}: inputs and targets must have the same number of samples; got first dimensions ${[...xs, ...ys].map((u) => u.shape[0]).join(', ')}.`,
      );
    }
  }
  if (ys.length !== compiled.losses.length) {
    throw new IgmArgumentError(
      `${where}: the model has ${compiled.losses.length} output(s) but ${ys.length} target tensor(s) were given.`,
    );
  }

  const optimizer =
    options.optimizer ??
    new GradientOptimizer(options.transform!, layersModelParams(model, options.groupOf), {
      seed,
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
  const owned = options.optimizer === undefined;
  const rng = createRng(seed).fork('fitWithSam/shuffle');
  const stepsPerEpoch = Math.ceil(samples / batchSize);
  const history: SamHistory = {
    epoch: [],
    history: {},
    params: { epochs, batchSize, samples, steps: stepsPerEpoch, metrics: compiled.labels },
  };
  const cb = options.callbacks ?? {};

  /** Loss and metric tensors of model.fit's train function, for one batch. */
  const forward = (bx: tf.Tensor[], by: tf.Tensor[], training: boolean) => {
    const raw = core.apply(bx.length === 1 ? bx[0]! : bx, { training });
    const outputs = asArray(raw as tf.Tensor | tf.Tensor[]);
    const perOutput: tf.Scalar[] = [];
    let total: tf.Tensor | undefined;
    compiled.losses.forEach((fn, i) => {
      const l = fn(by[i]!, outputs[i]!);
      perOutput.push(tf.mean(l) as tf.Scalar);
      total = total === undefined ? l : tf.add(total, l);
    });
    let loss = tf.mean(total!) as tf.Scalar;
    if (training) for (const r of core.calculateLosses()) loss = tf.add(loss, r) as tf.Scalar;
    const metrics = compiled.metrics.map(([fn, out], i) =>
      outputs.length > 1 && i < outputs.length
        ? perOutput[i]!
        : (tf.mean(fn(by[out]!, outputs[out]!)) as tf.Scalar),
    );
    return { loss, metrics };
  };

  try {
    await cb.onTrainBegin?.();
    for (let epoch = 0; epoch < epochs; epoch++) {
      await cb.onEpochBegin?.(epoch);
      const order = shuffle
        ? rng.permutation(samples)
        : Int32Array.from({ length: samples }, (_, i) => i);
      const totals = new Map<string, number>();
      for (let b = 0; b < stepsPerEpoch; b++) {
        const idx = order.subarray(b * batchSize, Math.min(samples, (b + 1) * batchSize));
        const size = idx.length;
        const indices = tf.tensor1d(idx, 'int32');
        const bx = xs.map((t) => tf.gather(t, indices));
        const by = ys.map((t) => tf.gather(t, indices));
        let kept: tf.Scalar[] = [];
        let lossValue: number;
        try {
          lossValue = optimizer.minimize(
            (pass: LossPass) => {
              if (pass.batchStatistics === 'frozen') {
                return withFrozenStatistics(model, () => forward(bx, by, true).loss);
              }
              const { loss, metrics } = forward(bx, by, true);
              if (pass.index === 0) kept = metrics.map((m) => tf.keep(m));
              return loss;
            },
            { epoch, batchIndex: b, batchesPerEpoch: stepsPerEpoch },
          );
        } finally {
          tf.dispose([indices, ...bx, ...by]);
        }
        const values = [lossValue, ...kept.map((m) => m.dataSync()[0]!)];
        tf.dispose(kept);
        const batchLogs: Record<string, number> = { batch: b, size };
        compiled.labels.forEach((label, i) => {
          batchLogs[label] = values[i]!;
          totals.set(label, (totals.get(label) ?? 0) + values[i]! * size);
        });
        await cb.onBatchEnd?.(b, batchLogs);
      }
      const epochLogs: Record<string, number> = {};
      for (const label of compiled.labels) epochLogs[label] = totals.get(label)! / samples;
      if (options.validationData) {
        const val = evaluateModel(forward, compiled.labels, options.validationData, batchSize);
        for (const [k, v] of Object.entries(val)) epochLogs[`val_${k}`] = v;
      }
      history.epoch.push(epoch);
      for (const [k, v] of Object.entries(epochLogs)) {
        const series = history.history[k] ?? [];
        series.push(v);
        history.history[k] = series;
      }
      if (options.verbose === 1) {
        const line = Object.entries(epochLogs)
          .map(([k, v]) => `${k}=${v.toPrecision(4)}`)
          .join(' ');
        console.log(`Epoch ${epoch + 1}/${epochs} ${line}`);
      }
      await cb.onEpochEnd?.(epoch, epochLogs);
    }
    await cb.onTrainEnd?.();
  } finally {
    if (owned) optimizer.dispose();
  }
  return history;
}

function evaluateModel(
  forward: (
    bx: tf.Tensor[],
    by: tf.Tensor[],
    training: boolean,
  ) => { loss: tf.Scalar; metrics: tf.Scalar[] },
  labels: string[],
  [vx, vy]: [tf.Tensor | tf.Tensor[], tf.Tensor | tf.Tensor[]],
  batchSize: number,
): Record<string, number> {
  const xs = asArray(vx);
  const ys = asArray(vy);
  const n = xs[0]!.shape[0]!;
  const totals = new Array<number>(labels.length).fill(0);
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    const values = tf.tidy(() => {
      const bx = xs.map((t) => tf.slice(t, start, size));
      const by = ys.map((t) => tf.slice(t, start, size));
      const { loss, metrics } = forward(bx, by, false);
      return tf.stack([loss, ...metrics]).dataSync();
    });
    values.forEach((v, i) => {
      totals[i]! += v * size;
    });
  }
  return Object.fromEntries(labels.map((l, i) => [l, totals[i]! / n]));
}
