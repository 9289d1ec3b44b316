/**
 * Training and measuring outside the run loop, for the methods that train or probe a model on
 * the side: OGR-GB's scratch trainings (each branch trained from a copy of the current weights),
 * MSLR's unimodal stage 1 and the validation passes of MSES and MSLR.
 *
 * - {@link ModelSnapshot} copies every model variable (parameters and BatchNorm statistics) and
 *   puts them back: a scratch training runs in place on the model between `take` and `restore`,
 *   so the run's optimizer and its RNG are never touched.
 * - {@link trainEpoch} runs one pass over the training split with its own `TransformDriver`
 *   (a fresh optimizer state), through the trainer's step machinery.
 * - {@link measureOutputs} runs the model in inference mode over a split and returns, per output,
 *   the summed per-sample cross-entropy, the sum of the batch means and the number of correct
 *   predictions.
 */
import {
  type AnyTransform,
  adam,
  disposeBatch,
  IgmArgumentError,
  type LossFn,
  type MultimodalDataset,
  type MultimodalModelLike,
  type Schedule,
  type Split,
  sgd,
} from '@igm/core';
import {
  crossEntropyPerSample,
  inferenceBatches,
  lossOnOutput,
  runTrainerStep,
  type TrainerStep,
  type TransformDriver,
} from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';

/** Every variable of a model (trainable and not), by key. */
export function modelVariableList(
  model: MultimodalModelLike,
): Array<{ key: string; variable: tf.Variable }> {
  return [
    ...model.params().map((p) => ({ key: p.key, variable: p.variable })),
    ...model.nonTrainable(),
  ];
}

/** A copy of chosen model variables that can be written back. */
export class ModelSnapshot {
  private readonly copies: Array<{ variable: tf.Variable; value: tf.Tensor }>;
  constructor(variables: ReadonlyArray<{ variable: tf.Variable }>) {
    this.copies = variables.map(({ variable }) => ({
      variable,
      value: tf.keep(tf.clone(variable)),
    }));
  }
  /** A snapshot of every variable of `model`. */
  static of(model: MultimodalModelLike): ModelSnapshot {
    return new ModelSnapshot(modelVariableList(model));
  }
  /** Writes the saved values back into the variables. */
  restore(): void {
    for (const { variable, value } of this.copies) variable.assign(value);
  }
  dispose(): void {
    for (const { value } of this.copies) value.dispose();
    this.copies.length = 0;
  }
}

/**
 * A step minimising CE on one output: `output` ('logits/<m>' or 'logits/fused') over the keys
 * `keys`, with the forward restricted to `modalities` and `zeroed` inputs (as the model takes them).
 */
export function outputStep(
  name: string,
  outputs: readonly string[],
  keys: readonly string[],
  forward: { modalities?: readonly string[]; zeroed?: readonly string[] } = {},
): TrainerStep {
  if (keys.length === 0) {
    throw new IgmArgumentError(`${name}: no parameter to train (empty key list).`);
  }
  return {
    name,
    run(tools) {
      const { inputs, labels } = tools.batch;
      const lossFn: LossFn = (pass) => {
        const out = tools.model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
          ...(forward.modalities ? { modalities: forward.modalities } : {}),
          ...(forward.zeroed && forward.zeroed.length > 0 ? { zeroed: forward.zeroed } : {}),
        });
        const parts = outputs.map((o) => lossOnOutput(out, o, labels, name));
        return {
          loss: parts.length === 1 ? parts[0]! : (tf.addN(parts) as tf.Scalar),
          outputs: out,
        };
      };
      return tools.minimize(lossFn, { keys });
    },
  };
}

export interface TrainEpochOptions {
  readonly model: MultimodalModelLike;
  readonly dataset: MultimodalDataset;
  readonly driver: TransformDriver<unknown>;
  readonly step: TrainerStep;
  readonly batchSize: number;
  /** Shuffle seed of this pass. */
  readonly seed: number;
  /** Epoch seen by the transforms (learning-rate schedules). */
  readonly epoch: number;
}

/** One pass over the training split (shuffled, augmented, drop-last); returns the losses. */
export async function trainEpoch(
  o: TrainEpochOptions,
): Promise<{ lossSum: number; steps: number }> {
  const trainSize = o.dataset.splitSizes.train ?? 0;
  const batchesPerEpoch = Math.floor(trainSize / o.batchSize);
  let lossSum = 0;
  let steps = 0;
  for await (const batch of o.dataset.batches({
    split: 'train',
    batchSize: o.batchSize,
    shuffle: true,
    seed: o.seed,
    dropLast: true,
    augment: true,
  })) {
    try {
      if (steps >= batchesPerEpoch) continue;
      const loss = runTrainerStep(o.step, {
        model: o.model,
        driver: o.driver,
        batch,
        epoch: o.epoch,
        batchIndex: steps,
        batchesPerEpoch,
        log: () => {},
      });
      if (!Number.isFinite(loss)) {
        throw new IgmArgumentError(
          `${o.step.name}: the loss is ${loss} at batch ${steps} of a side training pass. Lower the learning rate.`,
        );
      }
      lossSum += loss;
      steps++;
    } finally {
      disposeBatch(batch);
    }
  }
  return { lossSum, steps };
}

/** What {@link measureOutputs} returns for one output. */
export interface OutputMeasure {
  /** Sum over samples of the per-sample cross-entropy (mean CE = ceSum / n). */
  ceSum: number;
  /** Sum over batches of the batch-mean cross-entropy. */
  batchMeanSum: number;
  correct: number;
  n: number;
  batches: number;
}

/** Mean CE of a measure. */
export const meanCe = (m: OutputMeasure): number => (m.n > 0 ? m.ceSum / m.n : Number.NaN);
/** Accuracy of a measure. */
export const accuracyOf = (m: OutputMeasure): number => (m.n > 0 ? m.correct / m.n : Number.NaN);

/**
 * Inference pass over `split` (in order, no augmentation, every sample): per named output
 * (`logits/*`), CE and accuracy sums. `zeroedFor` optionally zeroes inputs per output, which then
 * gets its own forward pass (BalanceBenchmark-style branches).
 */
export async function measureOutputs(
  model: MultimodalModelLike,
  dataset: MultimodalDataset,
  split: Split,
  batchSize: number,
  outputs: readonly string[],
  options: {
    modalities?: readonly string[];
    zeroedFor?: Readonly<Record<string, readonly string[]>>;
  } = {},
): Promise<Record<string, OutputMeasure>> {
  const result: Record<string, OutputMeasure> = Object.fromEntries(
    outputs.map((o) => [o, { ceSum: 0, batchMeanSum: 0, correct: 0, n: 0, batches: 0 }]),
  );
  // Outputs sharing a forward pass: those without zeroed inputs share one.
  const groups = new Map<string, { zeroed: readonly string[]; outputs: string[] }>();
  for (const o of outputs) {
    const zeroed = options.zeroedFor?.[o] ?? [];
    const key = [...zeroed].sort().join(',');
    const g = groups.get(key) ?? { zeroed, outputs: [] };
    g.outputs.push(o);
    groups.set(key, g);
  }
  for await (const batch of inferenceBatches(dataset, split, batchSize)) {
    const stats = tf.tidy(() => {
      const rows: tf.Tensor[] = [];
      for (const g of groups.values()) {
        const out = model.forward(batch.inputs, {
          training: false,
          ...(options.modalities ? { modalities: options.modalities } : {}),
          ...(g.zeroed.length > 0 ? { zeroed: g.zeroed } : {}),
        });
        for (const o of g.outputs) {
          const logits = out[o];
          if (!logits) {
            throw new IgmArgumentError(
              `measureOutputs: the model produced no output "${o}". It produced: ${Object.keys(out).join(', ')}.`,
            );
          }
          const ce = crossEntropyPerSample(logits, batch.labels);
          const hit = tf.cast(
            tf.equal(tf.argMax(logits, 1), tf.cast(batch.labels, 'int32')),
            'float32',
          );
          rows.push(tf.stack([tf.sum(ce), tf.mean(ce), tf.sum(hit)]));
        }
      }
      return tf.stack(rows);
    });
    const values = await stats.data();
    stats.dispose();
    const n = batch.labels.shape[0];
    let i = 0;
    for (const g of groups.values()) {
      for (const o of g.outputs) {
        const r = result[o]!;
        r.ceSum += values[3 * i]!;
        r.batchMeanSum += values[3 * i + 1]!;
        r.correct += values[3 * i + 2]!;
        r.n += n;
        r.batches += 1;
        i++;
      }
    }
  }
  if (outputs.length > 0 && result[outputs[0]!]!.n === 0) {
    throw new IgmArgumentError(
      `measureOutputs: dataset "${dataset.name}" has no "${split}" samples (splitSizes ${JSON.stringify(dataset.splitSizes)}).`,
    );
  }
  return result;
}

/** Throws unless `dataset` has a validation split (the side decisions are taken on it). */
export function requireValidationSplit(who: string, dataset: MultimodalDataset, why: string): void {
  if (!((dataset.splitSizes.validation ?? 0) > 0)) {
    throw new IgmArgumentError(
      `${who}: dataset "${dataset.name}" has no validation split (splitSizes ${JSON.stringify(dataset.splitSizes)}); ${why}. Use a dataset with a validation split.`,
    );
  }
}

/** Parameter keys of the groups `encoder/<m>` and `head/<m>`, or an error naming the groups. */
export function modalityParamKeys(
  who: string,
  model: MultimodalModelLike,
  modality: string,
): string[] {
  const params = model.params();
  const keys = params
    .filter((p) => p.group === `encoder/${modality}` || p.group === `head/${modality}`)
    .map((p) => p.key);
  if (keys.length === 0) {
    throw new IgmArgumentError(
      `${who}: the selection "encoder/${modality}" + "head/${modality}" matches no parameter. The model's parameter groups: ${[...new Set(params.map((p) => p.group))].join(', ')}.`,
    );
  }
  return keys;
}

/** Parameter keys of one group (e.g. 'fusion'), or an error naming the model's groups. */
export function groupParamKeys(who: string, model: MultimodalModelLike, group: string): string[] {
  const params = model.params();
  const keys = params.filter((p) => p.group === group).map((p) => p.key);
  if (keys.length === 0) {
    throw new IgmArgumentError(
      `${who}: the selection "${group}" matches no parameter. The model's parameter groups: ${[...new Set(params.map((p) => p.group))].join(', ')}.`,
    );
  }
  return keys;
}

/** The optimizer settings of a run (its common options), to build side optimizers from. */
export interface OptimizerSettings {
  readonly optimizer: 'sgd' | 'adam';
  readonly momentum: number;
  readonly weightDecay: number;
  readonly beta2: number;
  /** StepLR step (epochs) or null for a constant rate. */
  readonly lrStepSize: number | null;
  readonly lrGamma: number;
}

/** The StepLR factor gamma^floor(epoch / step) (1 without a step). */
export function stepFactor(s: OptimizerSettings, epoch: number): number {
  return s.lrStepSize === null ? 1 : s.lrGamma ** Math.floor(epoch / s.lrStepSize);
}

/** One optimizer of the run's kind with the given learning rate (a number or a schedule). */
export function optimizerWith(s: OptimizerSettings, learningRate: number | Schedule): AnyTransform {
  return s.optimizer === 'sgd'
    ? sgd({ learningRate, momentum: s.momentum, weightDecay: s.weightDecay })
    : adam({ learningRate, beta2: s.beta2, weightDecay: s.weightDecay });
}
