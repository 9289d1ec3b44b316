/**
 * The shared optimizer interface (docs/architecture.md#optimizer-interface).
 *
 * Optax's shape adapted to TensorFlow.js: a {@link GradientTransform} is an `init`/`update`
 * pair whose state lives in non-trainable `tf.Variable`s keyed by a stable parameter key (never
 * by list position), so the trained subset of variables can change between steps, as
 * alternating training requires.
 *
 * Conventions every transform follows:
 * - `update` is called inside a `tf.tidy` owned by the step driver; it returns new gradient
 *   tensors (or the ones it got) and never disposes its inputs.
 * - The output of the last transform of a chain is the *update* that is added to each
 *   parameter (`theta <- theta + u`, as optax's `apply_updates`); `scaleByLearningRate` is the
 *   transform that turns a descent direction into a step (`u = -lr * d`).
 * - State is allocated only in `init`, only as Variables, and changed only with `assign`.
 * - A key missing from `grads` is a parameter that is not trained this step: transforms leave
 *   its state untouched (no decay, no momentum), as PyTorch does for a parameter without grad.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** One trainable tensor with a stable key and the group it belongs to. */
export interface Param {
  /** Stable key, e.g. the tfjs-layers `originalName` (`audio/conv1/kernel`). */
  readonly key: string;
  readonly variable: tf.Variable;
  /** Group name: `'audio'`, `'visual'`, `'head/audio'` ... used by `partition` and trainers. */
  readonly group: string;
}

/** Parameter key -> gradient (or update) tensor. */
export type Grads = Map<string, tf.Tensor>;

/** A seeded random number generator whose state can be saved and restored. */
export interface Rng {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal draw. */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** A uniformly random permutation of 0..n-1. */
  permutation(n: number): Int32Array;
  /** Draw from Beta(a, b) (mixup's lambda). */
  beta(a: number, b: number): number;
  /** A 32-bit seed derived from this stream, for tfjs ops that take a `seed` argument. */
  nextSeed(): number;
  /** An independent child stream, e.g. one per epoch, reproducible from this one's state. */
  fork(label: string): Rng;
  getState(): RngState;
  setState(state: RngState): void;
}

/** Serialisable RNG state (plain JSON). */
export interface RngState {
  readonly algorithm: string;
  readonly words: readonly number[];
}

/** Options of a gradient re-evaluation (SAM's second pass, MMPareto's per-loss gradients). */
export interface EvaluateOptions {
  /**
   * `'frozen'`: BatchNorm layers normalise with the batch statistics but do not update their
   * moving averages (SAM's second pass, `bypass_bn`). Default `'update'`.
   */
  readonly batchStatistics?: 'update' | 'frozen';
  /** A named loss to differentiate instead of the step's main loss (e.g. `'logits/audio'`). */
  readonly loss?: string;
}

/** The result of `StepContext.evaluate`: the loss and the gradients at the current weights. */
export interface Evaluation {
  readonly loss: tf.Scalar;
  readonly grads: Grads;
  /** Named tensors of the re-run forward pass (features, logits, head inputs). */
  readonly outputs: Readonly<Record<string, tf.Tensor>>;
}

/**
 * Everything a transform may read during one step. Extras come through here, so a transform
 * that needs something the driver does not provide fails loudly (see `requireOutput`).
 */
export interface StepContext {
  /** Global optimizer step, 0-based, counted since the transform state was initialised. */
  readonly step: number;
  /** Epoch, 0-based. */
  readonly epoch: number;
  /** Index of the batch within the epoch, 0-based. */
  readonly batchIndex: number;
  /** Batches per epoch, when known. */
  readonly batchesPerEpoch?: number;
  /** The modality being trained, when a trainer alternates (IGM, MLA). */
  readonly stage?: string;
  readonly params: ReadonlyMap<string, Param>;
  /** Named tensors of the step's forward pass: 'logits/audio', 'features/visual', 'input/head/audio/0' ... */
  readonly outputs: Readonly<Record<string, tf.Tensor>>;
  readonly labels: tf.Tensor;
  /**
   * Forward and backward pass at the current weights, for `keys` (default: the keys being
   * updated this step). Provided by drivers that own a loss closure; absent otherwise.
   */
  readonly evaluate?: (keys?: readonly string[], options?: EvaluateOptions) => Evaluation;
  readonly rng: Rng;
  /** Record a value the algorithm decided (learning rate, ratio, coefficient, spectrum...). */
  log(name: string, value: number | tf.Scalar): void;
}

/** A named piece of transform state, for checkpoints, dispose and leak checks. */
export interface NamedVariable {
  readonly name: string;
  readonly variable: tf.Variable;
}

/**
 * A composable gradient transformation.
 *
 * `init` allocates state once for the given parameters; `update` maps gradients to new
 * gradients (or, at the end of a chain, to updates) and may change state with `assign`.
 */
export interface GradientTransform<S = unknown> {
  readonly name: string;
  init(params: ReadonlyMap<string, Param>): S;
  update(grads: Grads, state: S, ctx: StepContext): Grads;
  state(s: S): NamedVariable[];
}

/** A term added to the loss of a step (PMR's prototype loss, IGM's official flatness blend). */
export interface LossTerm {
  readonly name: string;
  /** Returns the term's value for this step's forward outputs; differentiated with the loss. */
  compute(
    outputs: Readonly<Record<string, tf.Tensor>>,
    labels: tf.Tensor,
    ctx: StepContext,
  ): tf.Scalar;
}

/** Epoch/step summary handed to callbacks. */
export type Logs = Record<string, number>;

/**
 * Lifecycle callbacks, named as tfjs-layers' plus stages. Order within a run:
 * onTrainBegin, (onStageBegin, (onEpochBegin, (onBatchBegin, onBatchEnd)*, onEpochEnd)*,
 * onStageEnd)*, onTrainEnd. Runs without stages skip the stage events.
 */
export interface Callback {
  readonly name: string;
  onTrainBegin?(logs?: Logs): void | Promise<void>;
  onTrainEnd?(logs?: Logs): void | Promise<void>;
  onStageBegin?(stage: string, index: number, logs?: Logs): void | Promise<void>;
  onStageEnd?(stage: string, index: number, logs?: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs?: Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs?: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs?: Logs): void | Promise<void>;
  /** JSON-serialisable state saved in checkpoints (tensors go in `stateVariables`). */
  getState?(): unknown;
  setState?(state: unknown): void;
  stateVariables?(): NamedVariable[];
}

/** A value that may change over training; `count` is the step or epoch it is read at. */
export type Schedule = (count: { step: number; epoch: number }) => number;
export type ScalarOrSchedule = number | Schedule;
