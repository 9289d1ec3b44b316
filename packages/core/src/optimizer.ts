/**
 * `GradientOptimizer`: the smallest driver of a {@link GradientTransform}. It owns the transform
 * state for a fixed set of parameters, builds the {@link StepContext} (with `evaluate`, so
 * closure transforms such as SAM work) and applies the resulting updates.
 *
 *   grads = d loss / d theta            (one forward + backward)
 *   u     = transform.update(grads, state, ctx)
 *   theta = theta + u
 *
 * Trainers in other packages build richer contexts (outputs, stages); this class is what a tfjs
 * user reaches for to train any model with a chain of transforms.
 */
import * as tf from '@tensorflow/tfjs-core';
import { applyUpdates, disposeState } from './chain';
import { IgmArgumentError } from './errors';
import { createRng } from './rng';
import type {
  EvaluateOptions,
  Evaluation,
  GradientTransform,
  Grads,
  NamedVariable,
  Param,
  Rng,
  StepContext,
} from './types';

/** What a loss closure is told about the pass it runs. */
export interface LossPass {
  /** 'frozen' on re-evaluations that must not update BatchNorm moving statistics. */
  readonly batchStatistics: 'update' | 'frozen';
  /** Set when a transform asks for a named loss (EvaluateOptions.loss). */
  readonly loss?: string;
  /** 0 for the step's first pass, 1.. for re-evaluations. */
  readonly index: number;
}

/** A loss closure: returns the loss, optionally with named outputs for the context. */
export type LossFn = (
  pass: LossPass,
) => tf.Tensor | { loss: tf.Tensor; outputs?: Record<string, tf.Tensor> };

export interface StepInfo {
  /** Keys to differentiate and update this step (default: every parameter). */
  keys?: readonly string[];
  epoch?: number;
  batchIndex?: number;
  batchesPerEpoch?: number;
  stage?: string;
  labels?: tf.Tensor;
}

export interface GradientOptimizerOptions {
  /** Seed of the RNG handed to transforms (GE noise, mixup...). Default 0. */
  seed?: number;
  /** Receives every value transforms log, once per step. */
  onLog?: (values: Record<string, number>, step: number) => void;
}

export function toParamMap(
  params: Iterable<Param> | ReadonlyMap<string, Param>,
): Map<string, Param> {
  if (params instanceof Map) return new Map(params);
  const map = new Map<string, Param>();
  for (const p of params as Iterable<Param>) {
    if (map.has(p.key)) {
      throw new IgmArgumentError(`Parameter key "${p.key}" appears twice; keys must be unique.`);
    }
    map.set(p.key, p);
  }
  return map;
}

/**
 * `d loss / d theta` for the parameters `keys` (all of `params` by default): the one
 * differentiation every driver uses (`GradientOptimizer`, the trainer's driver).
 *
 * `tf.variableGrads` runs `lossFn` in a tidy of its own, so the closure's named outputs are
 * handed back as kept clones (a clone shares the data: disposing it never frees a tensor the
 * caller owns). They are pushed onto `kept`; the driver disposes them when the step ends.
 */
export function lossGradients(
  params: ReadonlyMap<string, Param>,
  lossFn: LossFn,
  keys: readonly string[] | undefined,
  pass: LossPass,
  kept: tf.Tensor[],
): Evaluation {
  const selected = keys ?? [...params.keys()];
  const keyOfVariable = new Map<string, string>();
  const vars = selected.map((k) => {
    const p = params.get(k);
    if (!p) {
      throw new IgmArgumentError(
        `unknown parameter key "${k}". Known keys: ${[...params.keys()].join(', ')}.`,
      );
    }
    keyOfVariable.set(p.variable.name, k);
    return p.variable;
  });
  let outputs: Record<string, tf.Tensor> = {};
  const { value, grads } = tf.variableGrads(() => {
    const r = lossFn(pass);
    const loss = r instanceof tf.Tensor ? r : r.loss;
    if (!(r instanceof tf.Tensor)) {
      outputs = {};
      for (const [name, t] of Object.entries(r.outputs ?? {})) {
        const clone = tf.keep(tf.clone(t));
        outputs[name] = clone;
        kept.push(clone);
      }
    }
    if (loss.rank !== 0) {
      throw new IgmArgumentError(
        `the loss closure returned a tensor of shape [${loss.shape}]; expected a scalar (reduce it with tf.mean).`,
      );
    }
    return loss as tf.Scalar;
  }, vars);
  const named: Grads = new Map();
  for (const [varName, g] of Object.entries(grads)) {
    const key = keyOfVariable.get(varName);
    if (key !== undefined) named.set(key, g);
  }
  return { loss: value, grads: named, outputs };
}

export class GradientOptimizer<S = unknown> {
  readonly params: ReadonlyMap<string, Param>;
  readonly rng: Rng;
  private transformState: S | undefined;
  private stepCount = 0;
  /** Forward outputs kept alive across `variableGrads`' inner tidy until the step ends. */
  private keptOutputs: tf.Tensor[] = [];
  /** Values logged during the last step. */
  lastLogs: Record<string, number> = {};

  constructor(
    readonly transform: GradientTransform<S>,
    params: Iterable<Param> | ReadonlyMap<string, Param>,
    private readonly options: GradientOptimizerOptions = {},
  ) {
    this.params = toParamMap(params);
    this.rng = createRng(options.seed ?? 0);
    this.transformState = transform.init(this.params);
  }

  get step(): number {
    return this.stepCount;
  }

  get state(): S {
    if (this.transformState === undefined) {
      throw new IgmArgumentError(`${this.transform.name}: the optimizer was disposed.`);
    }
    return this.transformState;
  }

  /** Named state variables (for checkpoints). */
  stateVariables(): NamedVariable[] {
    return this.transform.state(this.state);
  }

  /** Gradients of `lossFn` w.r.t. the parameters `keys` (all by default); see {@link lossGradients}. */
  gradients(lossFn: LossFn, keys: readonly string[] | undefined, pass: LossPass): Evaluation {
    return lossGradients(this.params, lossFn, keys, pass, this.keptOutputs);
  }

  /**
   * One step: differentiate `lossFn`, run the transform, apply the updates. Returns the loss of
   * the first pass.
   */
  minimize(lossFn: LossFn, info: StepInfo = {}): number {
    const logs: Record<string, number> = {};
    let loss: tf.Tensor;
    try {
      loss = tf.tidy(() => {
        const first = this.gradients(lossFn, info.keys, { batchStatistics: 'update', index: 0 });
        let passes = 0;
        const evaluate = (keys?: readonly string[], opts: EvaluateOptions = {}): Evaluation =>
          this.gradients(lossFn, keys ?? info.keys, {
            batchStatistics: opts.batchStatistics ?? 'update',
            index: ++passes,
            ...(opts.loss !== undefined ? { loss: opts.loss } : {}),
          });
        const ctx = this.context(info, first.outputs, logs, evaluate);
        const updates = this.transform.update(first.grads, this.state, ctx);
        applyUpdates(this.params, updates);
        return first.loss;
      });
    } finally {
      tf.dispose(this.keptOutputs);
      this.keptOutputs = [];
    }
    const value = loss.dataSync()[0]!;
    loss.dispose();
    this.finishStep(logs);
    return value;
  }

  /** One step on gradients computed elsewhere (no `evaluate`: SAM cannot run here). */
  applyGradients(grads: Grads, info: StepInfo = {}, outputs: Record<string, tf.Tensor> = {}): void {
    const logs: Record<string, number> = {};
    tf.tidy(() => {
      const ctx = this.context(info, outputs, logs, undefined);
      applyUpdates(this.params, this.transform.update(grads, this.state, ctx));
    });
    this.finishStep(logs);
  }

  /** Re-creates the state (PyTorch: a new optimizer), as IGM does at each stage boundary. */
  reset(): void {
    disposeState(this.transform, this.state);
    this.transformState = this.transform.init(this.params);
    this.stepCount = 0;
  }

  dispose(): void {
    if (this.transformState !== undefined) disposeState(this.transform, this.transformState);
    this.transformState = undefined;
  }

  private context(
    info: StepInfo,
    outputs: Record<string, tf.Tensor>,
    logs: Record<string, number>,
    evaluate: StepContext['evaluate'],
  ): StepContext {
    return {
      step: this.stepCount,
      epoch: info.epoch ?? 0,
      batchIndex: info.batchIndex ?? this.stepCount,
      ...(info.batchesPerEpoch !== undefined ? { batchesPerEpoch: info.batchesPerEpoch } : {}),
      ...(info.stage !== undefined ? { stage: info.stage } : {}),
      params: this.params,
      outputs,
      labels: info.labels ?? (outputs['labels'] as tf.Tensor) ?? tf.scalar(0),
      ...(evaluate ? { evaluate } : {}),
      rng: this.rng,
      log: (name, value) => {
        logs[name] = typeof value === 'number' ? value : value.dataSync()[0]!;
      },
    };
  }

  private finishStep(logs: Record<string, number>): void {
    this.lastLogs = logs;
    this.options.onLog?.(logs, this.stepCount);
    this.stepCount++;
  }
}
