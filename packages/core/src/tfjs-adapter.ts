/**
 * `toTfjsOptimizer`: any {@link GradientTransform} as a `tf.Optimizer`, so a tfjs-layers model
 * trains with it through `model.compile({ optimizer })` and `model.fit`
 * (docs/architecture.md#tfjs-adapter).
 *
 *   grads = d loss / d theta            (tf.variableGrads of fit's loss closure)
 *   u     = transform.update(grads, state, ctx)
 *   theta = theta + u
 *
 * State is keyed by parameter key: the `originalName` of each layer weight when `model` (or
 * `params` from `collectParams`) is given, otherwise the tf.Variable name. It is created on the
 * first step for the variables fit trains, and saved/restored by `getWeights`/`setWeights` under
 * the transform's state names, so `model.save(handler, { includeOptimizer: true })` and
 * `tf.loadLayersModel` carry it (see {@link IgmTfjsOptimizer.setTransform} for loading).
 *
 * **Closure transforms (SAM) inside `model.fit`.** `minimize(f)` provides `ctx.evaluate`, which
 * re-runs fit's loss closure `f` at the current weights. tfjs-layers' `makeTrainFunction`
 * (tfjs-layers 4.22 `dist/engine/training.js`) builds `f` so that every call computes the metrics
 * (e.g. `metrics: ['accuracy']`), `tf.keep`s them and pushes them onto an array captured by the
 * closure; after `minimize` returns, the train function returns `[loss, ...thatArray]` and the
 * fit loop reads only the first `1 + #metrics` entries. Consequences, checked by tests:
 * - the logged loss and metrics are those of the first pass (at the weights before the step),
 *   exactly as without re-evaluation: re-evaluations only append entries that fit ignores;
 * - those appended tensors are kept, so fit would leak them. The adapter records every tensor
 *   `tf.keep`s during a re-evaluation (by wrapping the engine's `keep` for the duration of that
 *   call) and disposes them at the start of the next step (and in `dispose()`). They cannot be
 *   disposed at once: `model.trainOnBatch` reads all returned values (`await t.data()`) after the
 *   train function returns, so it would fail on a disposed tensor; with the deferral it returns
 *   the extra values at the end of its array (ignore them). Removing the entries from the
 *   closure's array is impossible from outside.
 * - `evaluate(keys, { batchStatistics: 'frozen' })` needs the `model` option: the adapter then
 *   snapshots `model.nonTrainableWeights` (BatchNorm moving statistics) before the re-evaluation
 *   and restores them after, so the extra pass does not move them. Named losses
 *   (`EvaluateOptions.loss`) need a trainer and are an error here.
 *
 * Epoch-based schedules read `optimizer.epoch`; pass `optimizer.callbacks()` to `fit` to keep it
 * (and the batch index) in sync, or set `epoch` yourself.
 */
import * as tf from '@tensorflow/tfjs-core';
import { applyUpdates, disposeState } from './chain';
import type { AnyTransform } from './combinators';
import { IgmArgumentError } from './errors';
import { toParamMap } from './optimizer';
import { collectParams, type LayersModelLike, type LayerVariableLike, variableOf } from './params';
import { createRng } from './rng';
import type {
  EvaluateOptions,
  Evaluation,
  GradientTransform,
  Grads,
  Param,
  Rng,
  StepContext,
} from './types';

/** A LayersModel as the adapter sees it: trainable weights for keys, the rest for BN freezing. */
export interface AdapterModelLike extends LayersModelLike {
  readonly nonTrainableWeights?: readonly LayerVariableLike[];
}

export interface TfjsOptimizerOptions {
  /** Parameters with keys and groups (e.g. `collectParams(model, groups)`); wins over `model`. */
  params?: Iterable<Param> | ReadonlyMap<string, Param>;
  /** The model being trained: keys from `originalName` (group `'all'`), and BN freezing. */
  model?: AdapterModelLike;
  /** Seed of the RNG handed to transforms. Default 0. */
  seed?: number;
  /** Receives every value transforms log, once per step. */
  onLog?: (values: Record<string, number>, step: number) => void;
}

type NamedTensor = { name: string; tensor: tf.Tensor };

function readVar(w: LayerVariableLike): tf.Variable {
  const v = variableOf(w);
  if (!v) throw new IgmArgumentError(`toTfjsOptimizer: weight "${w.originalName}" has no value.`);
  return v;
}

/** The `tf.Optimizer` subclass returned by {@link toTfjsOptimizer}. */
export class IgmTfjsOptimizer extends tf.Optimizer {
  static className = 'IgmTfjsOptimizer';
  /** Epoch read by schedules (0-based). Kept in sync by `callbacks()`. */
  epoch = 0;
  /** Batch index within the epoch. Kept in sync by `callbacks()`. */
  batchIndex = 0;
  /** Stage handed to transforms (`when(..., { stages })`), if any. */
  stage: string | undefined;
  /** Values logged during the last step. */
  lastLogs: Record<string, number> = {};
  readonly rng: Rng;
  private transform: AnyTransform | undefined;
  private options: TfjsOptimizerOptions;
  private params: Map<string, Param> | undefined;
  private keyOfVariable = new Map<string, string>();
  private transformState: unknown;
  private initialised = false;
  private pending: NamedTensor[] | undefined;
  private deferred: tf.Tensor[] = [];

  constructor(transform?: AnyTransform, options: TfjsOptimizerOptions = {}) {
    super();
    this.iterations_ = 0;
    this.options = options;
    this.rng = createRng(options.seed ?? 0);
    if (transform) this.setTransform(transform, options);
  }

  /** The transform's name, or undefined before `setTransform` on a deserialised optimizer. */
  get transformName(): string | undefined {
    return this.transform?.name;
  }

  /**
   * Attaches the transform. Needed after `tf.loadLayersModel` of a model saved with
   * `includeOptimizer: true`: the loaded optimizer holds the saved state but cannot rebuild the
   * transform from JSON, so call `(model.optimizer as IgmTfjsOptimizer).setTransform(sgd(...))`
   * with the same transform; the saved state is loaded into it on the next step.
   */
  setTransform(transform: AnyTransform, options: TfjsOptimizerOptions = this.options): this {
    if (
      !transform ||
      typeof transform.init !== 'function' ||
      typeof transform.update !== 'function'
    ) {
      throw new IgmArgumentError(
        `toTfjsOptimizer: received transform=${String(transform)}; expected a GradientTransform.`,
      );
    }
    if (this.initialised) {
      throw new IgmArgumentError(
        'IgmTfjsOptimizer.setTransform: a transform is already running; create a new optimizer instead.',
      );
    }
    this.transform = transform;
    this.options = options;
    if (options.params) this.params = toParamMap(options.params);
    else if (options.model) this.params = collectParams(options.model);
    if (this.params)
      for (const [key, p] of this.params) this.keyOfVariable.set(p.variable.name, key);
    return this;
  }

  /** tfjs-layers callbacks that keep `epoch` and `batchIndex` in sync during `model.fit`. */
  callbacks(): {
    onEpochBegin: (epoch: number) => Promise<void>;
    onBatchBegin: (batch: number) => Promise<void>;
  } {
    return {
      onEpochBegin: async (epoch) => {
        this.epoch = epoch;
      },
      onBatchBegin: async (batch) => {
        this.batchIndex = batch;
      },
    };
  }

  /** Named state variables of the transform (empty before the first step). */
  stateVariables(): { name: string; variable: tf.Variable }[] {
    return this.initialised && this.transform ? this.transform.state(this.transformState) : [];
  }

  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const list: NamedTensor[] = Array.isArray(variableGradients)
      ? variableGradients
      : Object.entries(variableGradients).map(([name, tensor]) => ({ name, tensor }));
    const registered = tf.engine().registeredVariables;
    const vars = list.map(({ name }) => {
      const v = registered[name];
      if (!v)
        throw new IgmArgumentError(
          `IgmTfjsOptimizer.applyGradients: no variable named "${name}" is registered.`,
        );
      return v;
    });
    this.ensureInit(vars);
    this.releaseDeferred();
    const logs: Record<string, number> = {};
    tf.tidy(() => {
      const grads: Grads = new Map(
        list.map(({ name, tensor }) => [this.keyOfVariable.get(name)!, tensor]),
      );
      this.step(grads, logs, undefined);
    });
    this.finish(logs);
  }

  override minimize(
    f: () => tf.Scalar,
    returnCost = false,
    varList?: tf.Variable[],
  ): tf.Scalar | null {
    const vars =
      varList ?? Object.values(tf.engine().registeredVariables).filter((v) => v.trainable);
    this.ensureInit(vars);
    this.releaseDeferred();
    const logs: Record<string, number> = {};
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(f, vars);
      // Variables the loss does not depend on get no gradient (tf.variableGrads omits them): they
      // are not trained this step and their state is left alone.
      const named: Grads = new Map(
        vars
          .filter((v) => grads[v.name] != null)
          .map((v) => [this.keyOfVariable.get(v.name)!, grads[v.name]!]),
      );
      const trainedKeys = [...named.keys()];
      const evaluate = (keys?: readonly string[], opts: EvaluateOptions = {}): Evaluation =>
        this.reevaluate(f, keys ?? trainedKeys, opts);
      this.step(named, logs, evaluate);
      return value;
    });
    this.finish(logs);
    if (returnCost) return loss;
    loss.dispose();
    return null;
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const iter = await this.saveIterations();
    return [
      iter,
      ...this.stateVariables().map(({ name, variable }) => ({
        name,
        tensor: variable as tf.Tensor,
      })),
    ];
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    if (this.initialised) {
      this.loadState(rest);
    } else {
      this.disposePending();
      this.pending = rest.map(({ name, tensor }) => ({ name, tensor: tf.clone(tensor) }));
    }
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { transform: this.transform?.name ?? null, seed: this.options.seed ?? 0 };
  }

  /** Rebuilds an optimizer without a transform; call `setTransform` before training. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new (cls as unknown as new (t?: GradientTransform, o?: TfjsOptimizerOptions) => T)(
      undefined,
      {
        seed: typeof config['seed'] === 'number' ? config['seed'] : 0,
      },
    );
  }

  override dispose(): void {
    if (this.initialised && this.transform) disposeState(this.transform, this.transformState);
    this.initialised = false;
    this.transformState = undefined;
    this.releaseDeferred();
    this.disposePending();
  }

  private ensureInit(vars: readonly tf.Variable[]): void {
    if (!this.transform) {
      throw new IgmArgumentError(
        'IgmTfjsOptimizer: no transform attached (the optimizer was deserialised). Call setTransform(transform) with the transform it was saved with.',
      );
    }
    if (!this.initialised) {
      if (!this.params) {
        this.params = new Map(
          vars.map((v) => [v.name, { key: v.name, variable: v, group: 'all' }]),
        );
        for (const v of vars) this.keyOfVariable.set(v.name, v.name);
      }
      this.transformState = this.transform.init(this.params);
      this.initialised = true;
      if (this.pending) {
        const pending = this.pending;
        this.pending = undefined;
        try {
          this.loadState(pending);
        } finally {
          for (const { tensor } of pending) tensor.dispose();
        }
      }
    }
    const unknown = vars.filter((v) => !this.keyOfVariable.has(v.name)).map((v) => v.name);
    if (unknown.length > 0) {
      throw new IgmArgumentError(
        `IgmTfjsOptimizer: variable(s) ${unknown.join(', ')} are not among the parameters the transform was initialised with ` +
          `(${[...this.keyOfVariable.keys()].join(', ')}). Pass every trainable variable through the params or model option.`,
      );
    }
  }

  private loadState(values: NamedTensor[]): void {
    const vars = new Map(this.stateVariables().map((v) => [v.name, v.variable]));
    const given = new Set(values.map((v) => v.name));
    const missing = [...vars.keys()].filter((n) => !given.has(n));
    const unknown = [...given].filter((n) => !vars.has(n));
    if (missing.length > 0 || unknown.length > 0) {
      throw new IgmArgumentError(
        `IgmTfjsOptimizer.setWeights: state names do not match the transform ${this.transform!.name}. ` +
          `Missing: ${missing.join(', ') || '(none)'}. Unknown: ${unknown.join(', ') || '(none)'}.`,
      );
    }
    for (const { name, tensor } of values) {
      const v = vars.get(name)!;
      if (!tf.util.arraysEqual(v.shape, tensor.shape)) {
        throw new IgmArgumentError(
          `IgmTfjsOptimizer.setWeights: "${name}" has shape [${tensor.shape}], expected [${v.shape}].`,
        );
      }
      v.assign(tensor);
    }
  }

  private step(
    grads: Grads,
    logs: Record<string, number>,
    evaluate: StepContext['evaluate'],
  ): void {
    const ctx: StepContext = {
      step: this.iterations,
      epoch: this.epoch,
      batchIndex: this.batchIndex,
      ...(this.stage !== undefined ? { stage: this.stage } : {}),
      params: this.params!,
      outputs: {},
      labels: tf.scalar(0),
      ...(evaluate ? { evaluate } : {}),
      rng: this.rng,
      log: (name, value) => {
        logs[name] = typeof value === 'number' ? value : value.dataSync()[0]!;
      },
    };
    applyUpdates(this.params!, this.transform!.update(grads, this.transformState, ctx));
  }

  private reevaluate(
    f: () => tf.Scalar,
    keys: readonly string[],
    opts: EvaluateOptions,
  ): Evaluation {
    if (opts.loss !== undefined) {
      throw new IgmArgumentError(
        `IgmTfjsOptimizer: evaluate asked for the named loss "${opts.loss}", but model.fit has a single loss closure. Use a trainer for named losses.`,
      );
    }
    const vars = keys.map((k) => {
      const p = this.params!.get(k);
      if (!p)
        throw new IgmArgumentError(`IgmTfjsOptimizer.evaluate: unknown parameter key "${k}".`);
      return p.variable;
    });
    let snapshot: Array<[tf.Variable, tf.Tensor]> = [];
    if (opts.batchStatistics === 'frozen') {
      const model = this.options.model;
      if (!model) {
        throw new IgmArgumentError(
          "IgmTfjsOptimizer: evaluate({ batchStatistics: 'frozen' }) needs the model: toTfjsOptimizer(transform, { model }).",
        );
      }
      snapshot = (model.nonTrainableWeights ?? []).map((w) => {
        const v = readVar(w);
        return [v, tf.keep(tf.clone(v))];
      });
    }
    const engine = tf.engine() as unknown as { keep: (t: tf.Tensor) => tf.Tensor };
    const own = Object.hasOwn(engine, 'keep');
    const originalKeep = engine.keep;
    const kept: tf.Tensor[] = [];
    engine.keep = (t: tf.Tensor) => {
      kept.push(t);
      return originalKeep.call(engine, t);
    };
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      result = tf.variableGrads(f, vars);
    } finally {
      if (own) engine.keep = originalKeep;
      else delete (engine as Partial<typeof engine>).keep;
      for (const [v, saved] of snapshot) {
        v.assign(saved);
        saved.dispose();
      }
    }
    const mine = new Set<number>([
      result.value.id,
      ...Object.values(result.grads).map((g) => g.id),
    ]);
    for (const t of kept) if (!mine.has(t.id) && !t.isDisposed) this.deferred.push(t);
    const grads: Grads = new Map(
      vars
        .filter((v) => result.grads[v.name] != null)
        .map((v) => [this.keyOfVariable.get(v.name)!, result.grads[v.name]!]),
    );
    return { loss: result.value, grads, outputs: {} };
  }

  private finish(logs: Record<string, number>): void {
    this.lastLogs = logs;
    this.options.onLog?.(logs, this.iterations);
    this.incrementIterations();
  }

  private releaseDeferred(): void {
    tf.dispose(this.deferred);
    this.deferred = [];
  }

  private disposePending(): void {
    if (this.pending) for (const { tensor } of this.pending) tensor.dispose();
    this.pending = undefined;
  }
}

tf.serialization.registerClass(IgmTfjsOptimizer);

/**
 * Wraps `transform` as a `tf.Optimizer` for `model.compile({ optimizer })`:
 *
 *   const optimizer = toTfjsOptimizer(sgd({ learningRate: 0.01, momentum: 0.9 }), { model });
 *   model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
 *   await model.fit(x, y, { epochs: 5, callbacks: [optimizer.callbacks()] });
 */
export function toTfjsOptimizer(
  transform: AnyTransform,
  options: TfjsOptimizerOptions = {},
): IgmTfjsOptimizer {
  return new IgmTfjsOptimizer(transform, options);
}
