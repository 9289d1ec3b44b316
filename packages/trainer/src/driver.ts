/**
 * The loop's gradient-transform driver: owns the transform state for the model's parameters,
 * counts optimizer steps, builds each {@link StepContext} and applies updates
 * (`theta <- theta + u`). It differentiates with `lossGradients` from `@igm/core`, as
 * `GradientOptimizer` does, and adds a restorable step counter (exact resume) and outputs that
 * stay alive for the whole step.
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
  lossGradients,
  type NamedVariable,
  type Param,
  type Rng,
  type StepContext,
} from '@igm/core';
import type * as tf from '@tensorflow/tfjs-core';

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
    const full: LossPass = {
      batchStatistics: pass.batchStatistics ?? 'update',
      index: pass.index ?? this.passes++,
      ...(pass.loss !== undefined ? { loss: pass.loss } : {}),
    };
    return lossGradients(this.params, lossFn, keys, full, this.kept);
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
}
