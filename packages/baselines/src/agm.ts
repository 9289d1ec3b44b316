/**
 * AGM: Adaptive Gradient Modulation (Li et al., ICCV 2023), for M >= 2 modalities.
 *
 * Model ({@link AgmModel}, wrapping a concat-fusion model f):
 *   v(T) = f(x with the modalities outside T zeroed)      for every non-empty subset T of M;
 *          v(M) = total = f(x) in training mode, the others with BatchNorm in inference mode
 *          and gradients flowing
 *   m_m = sum_{T containing m} w_{|T|-1} v(T)  -  sum_{non-empty T without m} w_{|T|} v(T),
 *         w_s = s! (M - s - 1)! / M!            (Shapley-style logits; f(0, ..., 0) cancels)
 *   M = 2: m_a = (total - f(0, v) + f(a, 0)) / 2, as the two-modality reference code; M = 3 gives
 *   the reference's three-modality (UR-Funny) formulas. sum_m m_m = total.
 *   out = total (forward); backward reweighted with tf.customGrad: dL/dm_m = s_m g, i.e.
 *     dL/dv(T) = (sum_m s_m c_{m,T}) g     (c_{m,T} the coefficient of v(T) in m_m)
 *   M = 2: dL/dtotal = (s_a + s_v)/2 g;  dL/df(a,0) = (s_a - s_v)/2 g;  dL/df(0,v) = (s_v - s_a)/2 g
 *
 * Step ({@link agmStep} with an {@link AgmController}):
 *   sc_m = mean_i -log(max(softmax(m_m)_i[y_i], 1e-8))              no gradient
 *   r_m = exp(mean_{k != m} sc_k - sc_m);  rbar_m = exp(mean_{k != m} S_k - S_m)
 *         (S = running means before this step; M = 2: r_a = exp(sc_v - sc_a); the reference's
 *         M = 3 form exp((mean_k sc_k - sc_m) 3/2) is the same number)
 *   c_m = exp(alpha min(rbar_m - r_m, cap))                           cap 10 (UR-Funny code: 7)
 *   t = epoch * n_batches + batchIndex + 1 (0-based epoch);  S_m <- S_m (t - 1)/t + sc_m / t   (across epochs)
 *   in the window s_m <- c_m (outside it the last scales remain; initially 1)
 *   loss = CE(out, y);  {@link agmClip}: if any |entry| of the fusion kernel gradient > 1, clip the
 *   global gradient norm (all parameters) to 1;  optimizer step
 *
 * Window: `{ start, end }` in the reference code's own terms: epochs are counted from 1 and an
 * epoch e is modulated when start <= e <= end (`modulation_starts <= epoch <=
 * modulation_ends`). The code default 0-20 therefore modulates the first 20 epochs (run epochs
 * 0-19 here); omitted, the whole run is modulated (the authors' setting).
 *
 * The running scores and scales are the controller's state: it is a Callback whose
 * getState/setState go into the run's checkpoints, so a resumed run continues them exactly.
 * Cost: 2^M - 1 forward passes per step (3 for two modalities, 7 for three).
 * Logs `agm/score/<m>`, `agm/running/<m>`, `agm/scale/<m>`, `agm/clipped`.
 */
import {
  addOptionProblem,
  type Callback,
  checkKnownKeys,
  checkNumber,
  type ForwardOptions,
  type GradientTransform,
  type Grads,
  type HeadLayerInfo,
  IgmArgumentError,
  type LossFn,
  type MultimodalModelLike,
  numberOption,
  objectOption,
  type Param,
  parseOptionValue,
} from '@igm/core';
import { coalitionKey } from '@igm/metrics';
import { crossEntropy, oneHotTargets, type TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import type { MethodBudget, OptionsReader } from './budget';
import { checkModalityCount } from './common';
import { singleRunBudgetWith } from './scaled-budget';

/** Shapley weights w_s = s! (M - s - 1)! / M! for s = 0 .. M-1. */
function shapleyWeights(M: number): number[] {
  const fact = [1];
  for (let i = 1; i <= M; i++) fact.push(fact[i - 1]! * i);
  return Array.from({ length: M }, (_, s) => (fact[s]! * fact[M - s - 1]!) / fact[M]!);
}

function popcount(x: number): number {
  let c = 0;
  for (let y = x; y; y &= y - 1) c++;
  return c;
}

/**
 * The coefficients c[m][T - 1] of v(T) in AGM's logits m_m, for every non-empty subset T of the
 * M modalities as a bit mask (bit k = modality k; T = 2^M - 1 is the full set, v = total).
 */
export function agmCoefficients(M: number): number[][] {
  checkNumber('agmCoefficients', 'M', M, { min: 2, max: 16, integer: true });
  const w = shapleyWeights(M);
  return Array.from({ length: M }, (_, m) =>
    Array.from({ length: (1 << M) - 1 }, (_, k) => {
      const T = k + 1;
      const size = popcount(T);
      return (T >> m) & 1 ? w[size - 1]! : -w[size]!;
    }),
  );
}

/** The modalities of bit mask T, in `modalities` order. */
function subsetOf(modalities: readonly string[], T: number): string[] {
  return modalities.filter((_, k) => (T >> k) & 1);
}

/** The AGM forward wrapper around a (concat) fusion model (module doc). */
export class AgmModel implements MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  /** c[m][T - 1] (see {@link agmCoefficients}). */
  readonly coefficients: number[][];
  constructor(readonly inner: MultimodalModelLike) {
    checkModalityCount('AgmModel', inner.modalities, { min: 2 });
    this.modalities = inner.modalities;
    this.numClasses = inner.numClasses;
    this.coefficients = agmCoefficients(this.modalities.length);
  }
  params(): Param[] {
    return this.inner.params();
  }
  nonTrainable() {
    return this.inner.nonTrainable();
  }
  featureDim(m: string): number | undefined {
    return (this.inner as { featureDim?: (m: string) => number }).featureDim?.(m);
  }
  /** Output name of v(T) for a proper subset T: `agm/value/<coalitionKey(T)>` (e.g. `agm/value/audio`). */
  valueName(T: number): string {
    return `agm/value/${coalitionKey(subsetOf(this.modalities, T))}`;
  }
  /**
   * Outputs: the inner model's (features, `logits/fused` = total) with `logits/<m>` replaced by
   * the Shapley-style logits m_m, plus `agm/value/<S>` = v(S) for every non-empty proper subset
   * S (the other modalities zeroed; for two modalities `agm/value/audio` = f(a, 0)).
   */
  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: ForwardOptions,
  ): Record<string, tf.Tensor> {
    const run = options.modalities ?? this.modalities;
    if (run.length !== this.modalities.length || (options.zeroed?.length ?? 0) > 0)
      return this.inner.forward(inputs, options);
    const out = this.inner.forward(inputs, options);
    const total = out['logits/fused'];
    if (!total) {
      throw new IgmArgumentError(
        `AgmModel: the inner model produced no "logits/fused". AGM needs a fusion head (head: { type: 'concat' } or 'sum').`,
      );
    }
    const full = (1 << this.modalities.length) - 1;
    const values: tf.Tensor[] = [];
    for (let T = 1; T < full; T++) {
      const zeroed = this.modalities.filter((_, k) => !((T >> k) & 1));
      const v = this.inner.forward(inputs, { training: false, zeroed })['logits/fused']!;
      out[this.valueName(T)] = v;
      values.push(v);
    }
    values.push(total);
    this.modalities.forEach((m, k) => {
      out[`logits/${m}`] = tf.addN(values.map((v, i) => tf.mul(v, this.coefficients[k]![i]!)));
    });
    return out;
  }
  /** v(T) for T = 1 .. 2^M - 1 (the last is total) from this model's outputs. */
  values(outputs: Readonly<Record<string, tf.Tensor>>): tf.Tensor[] {
    const full = (1 << this.modalities.length) - 1;
    const out: tf.Tensor[] = [];
    for (let T = 1; T < full; T++) out.push(outputs[this.valueName(T)]!);
    out.push(outputs['logits/fused']!);
    return out;
  }
  headLayers(modality: string): HeadLayerInfo[] {
    return this.inner.headLayers(modality);
  }
  dispose(): void {
    this.inner.dispose();
  }
}

/**
 * out = v(full) = total in the forward pass; the backward pass sends
 * (sum_m scales[m] coefficients[m][T - 1]) g to v(T) (tf.customGrad). `values` lists v(T) for
 * T = 1 .. 2^M - 1 (bit k = modality k; the last entry is total).
 */
export function agmModulatedOutput(
  values: readonly tf.Tensor[],
  coefficients: readonly (readonly number[])[],
  scales: readonly number[],
): tf.Tensor {
  const weights = values.map((_, i) =>
    coefficients.reduce((sum, c, m) => sum + scales[m]! * c[i]!, 0),
  );
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const total = args[values.length - 1] as tf.Tensor;
    return {
      value: tf.clone(total),
      gradFunc: (dy: tf.Tensor) => weights.map((w) => tf.mul(dy, w)),
    };
  });
  return f(...values);
}

/**
 * Two modalities: out = total in the forward pass; the backward pass sends (s_a + s_v)/2 g to
 * total, (s_a - s_v)/2 g to only_a = f(a, 0) and (s_v - s_a)/2 g to only_v = f(0, v).
 */
export function agmScaledOutput(
  total: tf.Tensor,
  onlyA: tf.Tensor,
  onlyV: tf.Tensor,
  scaleA: number,
  scaleV: number,
): tf.Tensor {
  return agmModulatedOutput([onlyA, onlyV, total], agmCoefficients(2), [scaleA, scaleV]);
}

/** Mean -log(max(p_y, 1e-8)) of softmax(logits), read to the host. */
export function agmScore(logits: tf.Tensor, labels: tf.Tensor): number {
  return tf.tidy(() => {
    const p = tf.sum(
      tf.mul(tf.softmax(logits as tf.Tensor2D), oneHotTargets(labels, logits.shape[1]!)),
      1,
    );
    return tf.mean(tf.neg(tf.log(tf.maximum(p, 1e-8)))).dataSync()[0]!;
  });
}

/** AGM's epoch window in the reference code's terms (module doc). */
export interface AgmWindow {
  /** First modulated epoch, counting epochs from 1 (`modulation_starts`; 0 acts as 1). */
  readonly start?: number;
  /** Last modulated epoch, counting from 1, inclusive (`modulation_ends`); omit for the whole run. */
  readonly end?: number | null;
}

const AGM_WINDOW =
  '{ start, end } as the reference code counts epochs: from 1, both ends inclusive (its default { start: 0, end: 20 } modulates the first 20 epochs); omit end for "until the end"';

/** The run epochs (0-based, inclusive) an AGM window modulates: start <= e + 1 <= end. */
function agmWindowEpochs(w: AgmWindow): { first: number; last: number } {
  const first = Math.max(w.start ?? 0, 1) - 1;
  const last = w.end === undefined || w.end === null ? Infinity : w.end - 1;
  return { first, last };
}

/**
 * AGM's window option in the reference code's terms (module doc): `start` an integer >= 0 (0
 * acts as 1), `end` an integer or null / omitted for "until the end"; it must modulate at least
 * one epoch. The value is kept as written.
 */
export const agmWindowSchema = objectOption(
  {
    start: numberOption({ min: 0, integer: true }).optional(),
    end: numberOption({ integer: true }).nullable().optional(),
  },
  AGM_WINDOW,
).superRefine((w, ctx) => {
  const { first, last } = agmWindowEpochs(w);
  if (last < first) {
    addOptionProblem(
      ctx,
      [],
      `received window=${JSON.stringify(w)}, which modulates no epoch (epochs are counted from 1 and both ends are inclusive). Expected ${AGM_WINDOW}.`,
    );
  }
});

/**
 * Checks an AGM window given in the reference code's terms and returns the run epochs it
 * modulates as 0-based inclusive bounds: epoch e (0-based) is modulated when
 * start <= e + 1 <= end, so { start: 0, end: 20 } gives run epochs 0-19 (20 epochs).
 */
export function checkAgmWindow(where: string, w: unknown): { first: number; last: number } {
  if (w === undefined || w === null) return { first: 0, last: Infinity };
  return agmWindowEpochs(parseOptionValue(where, 'window', agmWindowSchema, w));
}

/**
 * The window `w` (reference terms) scaled by f so that it covers the same share of the run:
 * its run epochs [first, last] become [round(first f), max(that + 1, round((last + 1) f)) - 1].
 */
export function scaleAgmWindow(where: string, w: unknown, f: number): AgmWindow | undefined {
  if (w === undefined || w === null) return undefined;
  const { first, last } = checkAgmWindow(where, w);
  const given = (w as AgmWindow).start ?? 0;
  const s = Math.round(first * f);
  // A window starting at the first epoch keeps the start it was written with (0 or 1).
  const start = s === 0 && given <= 1 ? given : s + 1;
  if (last === Infinity) return { ...(w as AgmWindow), start };
  return { ...(w as AgmWindow), start, end: Math.max(s + 1, Math.round((last + 1) * f)) };
}

/**
 * AGM's epoch budget: `epochs` epochs on every modality (default 100); the window keeps its
 * share of the run, counted in the reference's terms ({@link scaleAgmWindow}).
 */
export function agmBudget(
  where: string,
  read: OptionsReader<{ readonly epochs: number; readonly window?: AgmWindow | undefined }>,
): MethodBudget {
  return singleRunBudgetWith(where, read, (o, out, f) => {
    const window = scaleAgmWindow(where, o.window, f);
    if (window) out['window'] = window;
  });
}

export interface AgmControllerOptions {
  /** alpha (code default 1.0; authors: CREMA-D 1.5, AV-MNIST 2.5, UR-Funny 4.0). */
  readonly alpha: number;
  /**
   * Epoch window in the reference code's terms (epochs counted from 1, both ends inclusive; code
   * default 0-20 = the first 20 epochs; authors: whole run). Default: whole run.
   */
  readonly window?: AgmWindow;
  /** Cap of alpha's argument rbar_m - r_m (two-modality code 10, UR-Funny code 7). Default 10. */
  readonly cap?: number;
  /** The modalities in order (two or more). */
  readonly modalities: readonly string[];
}

export interface AgmControllerState {
  running: Record<string, number>;
  scales: Record<string, number>;
}

/** AGM's running scores and scales (a Callback so that checkpoints hold them). */
export class AgmController implements Callback {
  readonly name = 'agm';
  readonly alpha: number;
  readonly cap: number;
  readonly modalities: readonly string[];
  /** Modulated run epochs, 0-based inclusive (from the window in the reference's terms). */
  readonly epochs: { readonly first: number; readonly last: number };
  running: Record<string, number>;
  scales: Record<string, number>;
  constructor(options: AgmControllerOptions) {
    checkKnownKeys('AgmController', options, ['alpha', 'window', 'cap', 'modalities']);
    this.alpha = checkNumber('AgmController', 'alpha', options.alpha, { min: 0 });
    this.cap = checkNumber('AgmController', 'cap', options.cap ?? 10, {});
    this.epochs = checkAgmWindow('AgmController', options.window);
    checkModalityCount('AGM', options.modalities ?? [], { min: 2 });
    this.modalities = [...options.modalities];
    this.running = Object.fromEntries(this.modalities.map((m) => [m, 0]));
    this.scales = Object.fromEntries(this.modalities.map((m) => [m, 1]));
  }

  /** Whether run epoch `epoch` (0-based) is inside the window. */
  modulates(epoch: number): boolean {
    return epoch >= this.epochs.first && epoch <= this.epochs.last;
  }

  /** One step's decision from the scores sc_m; returns the scales to use in this backward pass. */
  observe(
    scores: Readonly<Record<string, number>>,
    position: { epoch: number; batchIndex: number; batchesPerEpoch: number },
  ): Record<string, number> {
    const mods = this.modalities;
    const M = mods.length;
    const others = (x: Readonly<Record<string, number>>, m: string) =>
      (mods.reduce((s, k) => s + x[k]!, 0) - x[m]!) / (M - 1);
    const coeffs: Record<string, number> = {};
    for (const m of mods) {
      const r = Math.exp(others(scores, m) - scores[m]!);
      const rbar = Math.exp(others(this.running, m) - this.running[m]!);
      coeffs[m] = Math.exp(this.alpha * Math.min(rbar - r, this.cap));
    }
    const t = position.epoch * position.batchesPerEpoch + position.batchIndex + 1;
    const running: Record<string, number> = {};
    for (const m of mods) running[m] = (this.running[m]! * (t - 1)) / t + scores[m]! / t;
    this.running = running;
    if (this.modulates(position.epoch)) this.scales = coeffs;
    return { ...this.scales };
  }

  getState(): AgmControllerState {
    return { running: { ...this.running }, scales: { ...this.scales } };
  }

  setState(state: unknown): void {
    const s = state as AgmControllerState;
    if (!s || typeof s !== 'object' || !s.running || !s.scales) {
      throw new IgmArgumentError(
        `AgmController.setState: received ${JSON.stringify(state)}; expected { running, scales }.`,
      );
    }
    this.running = { ...s.running };
    this.scales = { ...s.scales };
  }
}

/** The AGM trainer step (module doc). The model must be an {@link AgmModel}. */
export function agmStep(controller: AgmController): TrainerStep {
  if (!(controller instanceof AgmController)) {
    throw new IgmArgumentError(
      'agmStep: pass an AgmController (new AgmController({ alpha, modalities })).',
    );
  }
  const mods = controller.modalities;
  return {
    name: 'agm',
    describe: () => ({ step: 'agm', alpha: controller.alpha, modalities: [...mods] }),
    validate(model: MultimodalModelLike) {
      if (!(model instanceof AgmModel)) {
        throw new IgmArgumentError(
          'agmStep: the model must be an AgmModel (new AgmModel(concatModel)), which adds the zeroed passes.',
        );
      }
      if (model.modalities.join() !== mods.join()) {
        throw new IgmArgumentError(
          `agmStep: the controller's modalities (${mods.join(', ')}) differ from the model's (${model.modalities.join(', ')}).`,
        );
      }
    },
    run(tools) {
      const { inputs, labels } = tools.batch;
      const model = tools.model as AgmModel;
      let scales: Record<string, number> | undefined;
      const lossFn: LossFn = (pass) => {
        const outputs = model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
        });
        if (!scales) {
          const scores = Object.fromEntries(
            mods.map((m) => [m, agmScore(outputs[`logits/${m}`]!, labels)]),
          );
          scales = controller.observe(scores, {
            epoch: tools.globalEpoch,
            batchIndex: tools.batchIndex,
            batchesPerEpoch: tools.batchesPerEpoch,
          });
          for (const m of mods) {
            tools.log(`agm/score/${m}`, scores[m]!);
            tools.log(`agm/running/${m}`, controller.running[m]!);
            tools.log(`agm/scale/${m}`, scales[m]!);
          }
        }
        const out = agmModulatedOutput(
          model.values(outputs),
          model.coefficients,
          mods.map((m) => scales![m]!),
        );
        return { loss: crossEntropy(out, labels), outputs };
      };
      return tools.minimize(lossFn);
    },
  };
}

export interface AgmClipOptions {
  /** Keys whose gradient entries are tested (default: kernels of group 'fusion'). */
  readonly testKeys?: readonly string[];
  /** Entry threshold (default 1). */
  readonly threshold?: number;
  /** Global norm bound (default 1.0). */
  readonly maxNorm?: number;
}

/**
 * AGM's conditional clip: if any |g| entry of the fusion kernel exceeds `threshold`, scale every
 * gradient by min(1, maxNorm / (||g||_global + 1e-6)) (torch.nn.utils.clip_grad_norm_).
 * Logs `agm/clipped` (0/1).
 */
export function agmClip(options: AgmClipOptions = {}): GradientTransform<null> {
  checkKnownKeys('agmClip', options, ['testKeys', 'threshold', 'maxNorm']);
  const threshold = checkNumber('agmClip', 'threshold', options.threshold ?? 1, { min: 0 });
  const maxNorm = checkNumber('agmClip', 'maxNorm', options.maxNorm ?? 1, {
    min: 0,
    minExclusive: true,
  });
  let testKeys: readonly string[] = options.testKeys ?? [];
  return {
    name: 'agmClip',
    init(params) {
      if (!options.testKeys) {
        testKeys = [...params.values()]
          .filter((p) => p.group === 'fusion' && p.variable.rank === 2)
          .map((p) => p.key);
      }
      if (testKeys.length === 0) {
        throw new IgmArgumentError(
          'agmClip: found no fusion kernel to test (group "fusion", rank 2). Pass testKeys.',
        );
      }
      return null;
    },
    update(grads, _s, ctx) {
      const tested = testKeys.filter((k) => grads.has(k));
      const big =
        tested.length > 0 &&
        tf.tidy(
          () => tf.max(tf.stack(tested.map((k) => tf.max(tf.abs(grads.get(k)!))))).dataSync()[0]!,
        ) > threshold;
      ctx.log('agm/clipped', big ? 1 : 0);
      if (!big) return grads;
      const norm = tf.tidy(
        () => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))).dataSync()[0]!,
      );
      const coef = maxNorm / (norm + 1e-6);
      if (coef >= 1) return grads;
      const out: Grads = new Map();
      for (const [k, g] of grads) out.set(k, tf.mul(g, coef));
      return out;
    },
    state: () => [],
  };
}
