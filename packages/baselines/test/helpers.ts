import type { Param } from '@igm/core';
import { type BackendName, tf } from '@igm/test-utils';
import { registerWasmTrainingKernels } from '@igm/wasm-training';

/** Conv2D filter gradients on wasm come from @igm/wasm-training. */
export function trainingKernels(backend: BackendName): void {
  if (backend === 'wasm') registerWasmTrainingKernels();
}

/** Variables from nested number arrays, with keys and groups. */
export function makeParams(
  init: Record<string, unknown>,
  groupOf: (key: string) => string,
): Map<string, Param> {
  const out = new Map<string, Param>();
  for (const [key, value] of Object.entries(init)) {
    out.set(key, {
      key,
      variable: tf.variable(tf.tensor(value as number[]), true, `${key}#${Math.random()}`),
      group: groupOf(key),
    });
  }
  return out;
}

export function disposeParams(params: Map<string, Param>): void {
  for (const p of params.values()) p.variable.dispose();
}

import {
  applyUpdates,
  createRng,
  type GradientTransform,
  type Grads,
  type StepContext,
} from '@igm/core';

export interface TestStepInfo {
  epoch?: number;
  batchIndex?: number;
  batchesPerEpoch?: number;
  labels: tf.Tensor;
}

/**
 * A minimal step driver for tests: like the trainer's, it keeps the loss closure's outputs alive
 * for the transforms (core's GradientOptimizer disposes them inside variableGrads).
 */
export class TestDriver<S> {
  state: S;
  step = 0;
  readonly rng = createRng(0);
  logs: Array<Record<string, number>> = [];
  constructor(
    readonly transform: GradientTransform<S>,
    readonly params: Map<string, Param>,
  ) {
    this.state = transform.init(params);
  }

  minimize(
    lossFn: () => { loss: tf.Scalar; outputs: Record<string, tf.Tensor> },
    info: TestStepInfo,
  ): number {
    const logs: Record<string, number> = {};
    const loss = tf.tidy(() => {
      let outputs: Record<string, tf.Tensor> = {};
      const { value, grads } = tf.variableGrads(
        () => {
          const r = lossFn();
          outputs = Object.fromEntries(Object.entries(r.outputs).map(([k, t]) => [k, tf.keep(t)]));
          return r.loss;
        },
        [...this.params.values()].map((p) => p.variable),
      );
      const byName = new Map([...this.params].map(([k, p]) => [p.variable.name, k]));
      const named: Grads = new Map();
      for (const [n, g] of Object.entries(grads)) named.set(byName.get(n)!, g);
      const ctx: StepContext = {
        step: this.step,
        epoch: info.epoch ?? 0,
        batchIndex: info.batchIndex ?? 0,
        batchesPerEpoch: info.batchesPerEpoch ?? 1,
        params: this.params,
        outputs,
        labels: info.labels,
        rng: this.rng,
        log: (n, v) => {
          logs[n] = typeof v === 'number' ? v : v.dataSync()[0]!;
        },
      };
      applyUpdates(this.params, this.transform.update(named, this.state, ctx));
      tf.dispose(Object.values(outputs));
      return value;
    });
    const v = loss.dataSync()[0]!;
    loss.dispose();
    this.logs.push(logs);
    this.step++;
    return v;
  }

  dispose(): void {
    for (const { variable } of this.transform.state(this.state)) variable.dispose();
  }
}

import type { MultimodalModelLike } from '@igm/core';
import { runTrainerStep, type TrainerStep, TransformDriver } from '@igm/trainer';

/** Runs `step` on fixed batches with the trainer's driver (the run loop's step machinery). */
export function stepRunner(
  model: MultimodalModelLike,
  step: TrainerStep,
  transform: GradientTransform<unknown>,
) {
  const params = new Map(model.params().map((p) => [p.key, p]));
  const logs: Array<Record<string, number>> = [];
  let current: Record<string, number> = {};
  const driver = new TransformDriver(transform, params, createRng(0), (n, v) => {
    current[n] = v;
  });
  return {
    driver,
    logs,
    run(
      batch: { inputs: Record<string, tf.Tensor>; labels: tf.Tensor1D },
      position: {
        epoch?: number;
        batchIndex?: number;
        batchesPerEpoch?: number;
        stage?: string;
      } = {},
    ): number {
      current = {};
      const loss = runTrainerStep(step, {
        model,
        driver,
        batch: { ...batch, ids: [] },
        epoch: position.epoch ?? 0,
        batchIndex: position.batchIndex ?? 0,
        batchesPerEpoch: position.batchesPerEpoch ?? 1,
        ...(position.stage !== undefined ? { stage: position.stage } : {}),
        log: (n, v) => {
          current[n] = v;
        },
      });
      logs.push(current);
      return loss;
    },
    dispose: () => driver.dispose(),
  };
}
