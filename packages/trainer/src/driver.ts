/**
 * The loop's gradient-transform driver: owns the transform state for the model's parameters,
 * counts optimizer steps, builds each {@link StepContext} and applies updates
 * (`theta <- theta + u`). Like `GradientOptimizer` from `@igm/core`, but with a restorable step
 * counter (exact resume) and outputs that stay alive for the whole step.
 */

import {
  applyUpdates,
  disposeState,
  type EvaluateOptions,
  type Evaluation,
  type GradientTransform,
  type Grads,
  IgmArgumentError,
  type LossFn,
  type LossPass,
  type NamedVariable,
  type Param,
  type Rng,
  type StepContext,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';

/** Position information the driver puts into each context. */
export interface DriverPosition {
  epoch: number;
  batchIndex: number;
  batchesPerEpoch: number;
  stage?: string;
  labels: tf.Tensor;
}

export class TransformDriver<S = unknown> {
  private transformState: S | undefined;
  private byVariableName = new Map<string, string>();
  /** Optimizer steps since init/reset. */
  step = 0;
  /** Tensors kept alive across nested tidies during a step; disposed by `endStep`. */
  private kept: tf.Tensor[] = [];
  private passes = 0;

  constructor(
    readonly transform: GradientTransform<S>,
    readonly params: ReadonlyMap<string, Param>,
    readonly rng: Rng,
    private readonly log: (name: string, value: number) => void,
  ) {
    for (const [key, p] of params) this.byVariableName.set(p.variable.name, key);
    this.transformState = transform.init(params);
  }

  get state(): S {
    if (this.transformState === undefined) {
      throw new IgmArgumentError(`${this.transform.name}: the driver was disposed.`);
    }
    return this.transformState;
  }

  stateVariables(): NamedVariable[] {
    return this.transform.state(this.state);
  }

  /** A new optimizer: fresh transform state and step counter (IGM's stage boundary). */
  reset(): void {
    disposeState(this.transform, this.state);
    this.transformState = this.transform.init(this.params);
    this.step = 0;
  }

  dispose(): void {
    if (this.transformState !== undefined) disposeState(this.transform, this.transformState);
    this.transformState = undefined;
    this.endStep();
  }

  /** Disposes the outputs kept alive during the step. Call after the step's tidy. */
  endStep(): void {
    for (const t of this.kept) t.dispose();
    this.kept = [];
    this.passes = 0;
  }

  gradients(
    lossFn: LossFn,
    keys: readonly string[] | undefined,
    pass: Partial<LossPass>,
  ): Evaluation {
    const vars = this.variablesFor(keys);
    let outputs: Record<string, tf.Tensor> = {};
    const full: LossPass = {
      batchStatistics: pass.batchStatistics ?? 'update',
      index: pass.index ?? this.passes++,
      ...(pass.loss !== undefined ? { loss: pass.loss } : {}),
    };
    const { value, grads } = tf.variableGrads(() => {
      const r = lossFn(full);
      const loss = r instanceof tf.Tensor ? r : r.loss;
      if (!(r instanceof tf.Tensor) && r.outputs) {
        // Keep outputs alive past variableGrads' inner tidy; disposed in endStep().
        outputs = {};
        for (const [name, t] of Object.entries(r.outputs)) {
          outputs[name] = tf.keep(t);
          this.kept.push(t);
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
      const key = this.byVariableName.get(varName);
      if (key !== undefined) named.set(key, g);
    }
    return { loss: value, grads: named, outputs };
  }

  /** Runs the transform on `grads` and applies the updates. Call inside a tidy. */
  apply(
    grads: Grads,
    position: DriverPosition,
    outputs: Readonly<Record<string, tf.Tensor>>,
    evaluate: StepContext['evaluate'],
  ): void {
    const ctx: StepContext = {
      step: this.step,
      epoch: position.epoch,
      batchIndex: position.batchIndex,
      batchesPerEpoch: position.batchesPerEpoch,
      ...(position.stage !== undefined ? { stage: position.stage } : {}),
      params: this.params,
      outputs,
      labels: position.labels,
      ...(evaluate ? { evaluate } : {}),
      rng: this.rng,
      log: (name, value) =>
        this.log(name, typeof value === 'number' ? value : value.dataSync()[0]!),
    };
    const updates = this.transform.update(grads, this.state, ctx);
    applyUpdates(this.params, updates);
    this.step++;
  }

  /** Differentiate, transform, apply. Returns the first pass's loss. Call inside a tidy. */
  minimize(
    lossFn: LossFn,
    keys: readonly string[] | undefined,
    position: DriverPosition,
  ): tf.Scalar {
    const first = this.gradients(lossFn, keys, { batchStatistics: 'update' });
    const evaluate = (k?: readonly string[], opts: EvaluateOptions = {}): Evaluation =>
      this.gradients(lossFn, k ?? keys, {
        batchStatistics: opts.batchStatistics ?? 'update',
        ...(opts.loss !== undefined ? { loss: opts.loss } : {}),
      });
    this.apply(first.grads, position, first.outputs, evaluate);
    return first.loss;
  }

  private variablesFor(keys: readonly string[] | undefined): tf.Variable[] {
    if (!keys) return [...this.params.values()].map((p) => p.variable);
    return keys.map((k) => {
      const p = this.params.get(k);
      if (!p) {
        throw new IgmArgumentError(
          `unknown parameter key "${k}". Known keys: ${[...this.params.keys()].join(', ')}.`,
        );
      }
      return p.variable;
    });
  }
}
