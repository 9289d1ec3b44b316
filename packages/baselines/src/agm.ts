/**
 * AGM: Adaptive Gradient Modulation (Li et al., ICCV 2023; ALGORITHMS.md 6), two modalities.
 *
 * Model ({@link AgmModel}, wrapping a concat-fusion model f):
 *   total = f(x_a, x_v)                          training mode
 *   only_a = f(x_a, 0);  only_v = f(0, x_v)       BatchNorm in inference mode, gradients flowing
 *   m_a = (total - only_v + only_a) / 2;  m_v = (total - only_a + only_v) / 2   Shapley-style logits
 *   out = total (forward); backward reweighted with tf.customGrad:
 *     dL/dtotal = (s_a + s_v)/2 g;  dL/donly_a = (s_a - s_v)/2 g;  dL/donly_v = (s_v - s_a)/2 g
 *   (f(0, 0) of the reference is unused and not computed.)
 *
 * Step ({@link agmStep} with an {@link AgmController}):
 *   sc_m = mean_i -log(max(softmax(m_m)_i[y_i], 1e-8))              no gradient
 *   r_a = exp(sc_v - sc_a);  r_v = exp(sc_a - sc_v)
 *   rbar_a = exp(S_v - S_a); rbar_v = exp(S_a - S_v)                  S = running means (before this step)
 *   c_m = exp(alpha min(rbar_m - r_m, 10))
 *   t = epoch * n_batches + batchIndex + 1 (0-based epoch);  S_m <- S_m (t - 1)/t + sc_m / t   (across epochs)
 *   in the window s_m <- c_m (outside it the last scales remain; initially 1)
 *   loss = CE(out, y);  {@link agmClip}: if any |entry| of the fusion kernel gradient > 1, clip the
 *   global gradient norm (all parameters) to 1;  optimizer step
 *
 * The running scores and scales are the controller's state: it is a Callback whose
 * getState/setState go into the run's checkpoints, so a resumed run continues them exactly.
 * Three or more modalities: not supported (the reference's 3-modality form lives in a separate
 * model file that ALGORITHMS.md does not specify); constructing it with M != 2 throws.
 * Logs `agm/score/<m>`, `agm/running/<m>`, `agm/scale/<m>`, `agm/clipped`.
 */
import {
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
  type Param,
} from '@igm/core';
import type { TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import { checkModalityCount, checkWindow, crossEntropy, inWindow, oneHot } from './common';

/** The AGM forward wrapper around a (concat) fusion model (module doc). */
export class AgmModel implements MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  constructor(readonly inner: MultimodalModelLike) {
    checkModalityCount(
      'AgmModel',
      inner.modalities,
      { min: 2, max: 2 },
      "AGM's three-modality form is not specified (ALGORITHMS.md 6.3).",
    );
    this.modalities = inner.modalities;
    this.numClasses = inner.numClasses;
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
  /**
   * Outputs: the inner model's (features, `logits/fused` = total) with `logits/<m>` replaced by
   * the Shapley-style logits m_m, plus `agm/only/<m>` = f with the other modality zeroed.
   */
  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: ForwardOptions,
  ): Record<string, tf.Tensor> {
    const run = options.modalities ?? this.modalities;
    if (run.length !== 2 || (options.zeroed?.length ?? 0) > 0)
      return this.inner.forward(inputs, options);
    const [a, v] = this.modalities as [string, string];
    const out = this.inner.forward(inputs, options);
    const total = out['logits/fused'];
    if (!total) {
      throw new IgmArgumentError(
        `AgmModel: the inner model produced no "logits/fused". AGM needs a fusion head (head: { type: 'concat' } or 'sum').`,
      );
    }
    const onlyA = this.inner.forward(inputs, { training: false, zeroed: [v] })['logits/fused']!;
    const onlyV = this.inner.forward(inputs, { training: false, zeroed: [a] })['logits/fused']!;
    out[`agm/only/${a}`] = onlyA;
    out[`agm/only/${v}`] = onlyV;
    out[`logits/${a}`] = tf.mul(tf.add(tf.sub(total, onlyV), onlyA), 0.5);
    out[`logits/${v}`] = tf.mul(tf.add(tf.sub(total, onlyA), onlyV), 0.5);
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
 * out = total in the forward pass; the backward pass sends (s_a + s_v)/2 g to total,
 * (s_a - s_v)/2 g to only_a and (s_v - s_a)/2 g to only_v (tf.customGrad).
 */
export function agmScaledOutput(
  total: tf.Tensor,
  onlyA: tf.Tensor,
  onlyV: tf.Tensor,
  scaleA: number,
  scaleV: number,
): tf.Tensor {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const t = args[0] as tf.Tensor;
    return {
      value: tf.clone(t),
      gradFunc: (dy: tf.Tensor) => [
        tf.mul(dy, 0.5 * (scaleA + scaleV)),
        tf.mul(dy, 0.5 * (scaleA - scaleV)),
        tf.mul(dy, 0.5 * (scaleV - scaleA)),
      ],
    };
  });
  return f(total, onlyA, onlyV);
}

/** Mean -log(max(p_y, 1e-8)) of softmax(logits), read to the host. */
export function agmScore(logits: tf.Tensor, labels: tf.Tensor): number {
  return tf.tidy(() => {
    const p = tf.sum(
      tf.mul(tf.softmax(logits as tf.Tensor2D), oneHot(labels, logits.shape[1]!)),
      1,
    );
    return tf.mean(tf.neg(tf.log(tf.maximum(p, 1e-8)))).dataSync()[0]!;
  });
}

export interface AgmControllerOptions {
  /** alpha (code default 1.0; authors: CREMA-D 1.5, AV-MNIST 2.5). */
  readonly alpha: number;
  /** Epoch window, 0-based inclusive (code 0-20; authors: whole run). Default: whole run. */
  readonly window?: { readonly start?: number; readonly end?: number };
  /** The two modalities in order. */
  readonly modalities: readonly [string, string] | readonly string[];
}

export interface AgmControllerState {
  running: Record<string, number>;
  scales: Record<string, number>;
}

/** AGM's running scores and scales (a Callback so that checkpoints hold them). */
export class AgmController implements Callback {
  readonly name = 'agm';
  readonly alpha: number;
  readonly modalities: readonly [string, string];
  private readonly window: { start: number; end: number };
  running: Record<string, number>;
  scales: Record<string, number>;
  constructor(options: AgmControllerOptions) {
    checkKnownKeys('AgmController', options, ['alpha', 'window', 'modalities']);
    this.alpha = checkNumber('AgmController', 'alpha', options.alpha, { min: 0 });
    this.window = checkWindow('AgmController', options.window);
    checkModalityCount(
      'AGM',
      options.modalities ?? [],
      { min: 2, max: 2 },
      "AGM's three-modality form is not specified (ALGORITHMS.md 6.3).",
    );
    this.modalities = [options.modalities[0]!, options.modalities[1]!];
    this.running = Object.fromEntries(this.modalities.map((m) => [m, 0]));
    this.scales = Object.fromEntries(this.modalities.map((m) => [m, 1]));
  }

  /** One step's decision from the scores sc_m; returns the scales to use in this backward pass. */
  observe(
    scores: Readonly<Record<string, number>>,
    position: { epoch: number; batchIndex: number; batchesPerEpoch: number },
  ): Record<string, number> {
    const [a, v] = this.modalities;
    const scA = scores[a]!;
    const scV = scores[v]!;
    const rA = Math.exp(scV - scA);
    const rV = Math.exp(scA - scV);
    const rbA = Math.exp(this.running[v]! - this.running[a]!);
    const rbV = Math.exp(this.running[a]! - this.running[v]!);
    const cA = Math.exp(this.alpha * Math.min(rbA - rA, 10));
    const cV = Math.exp(this.alpha * Math.min(rbV - rV, 10));
    const t = position.epoch * position.batchesPerEpoch + position.batchIndex + 1;
    this.running[a] = (this.running[a]! * (t - 1)) / t + scA / t;
    this.running[v] = (this.running[v]! * (t - 1)) / t + scV / t;
    if (inWindow(this.window, position.epoch)) this.scales = { [a]: cA, [v]: cV };
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
  const [a, v] = controller.modalities;
  return {
    name: 'agm',
    describe: () => ({ step: 'agm', alpha: controller.alpha, modalities: [a, v] }),
    validate(model: MultimodalModelLike) {
      if (!(model instanceof AgmModel)) {
        throw new IgmArgumentError(
          'agmStep: the model must be an AgmModel (new AgmModel(concatModel)), which adds the zeroed passes.',
        );
      }
    },
    run(tools) {
      const { inputs, labels } = tools.batch;
      let scales: Record<string, number> | undefined;
      const lossFn: LossFn = (pass) => {
        const outputs = tools.model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
        });
        if (!scales) {
          const scores = {
            [a]: agmScore(outputs[`logits/${a}`]!, labels),
            [v]: agmScore(outputs[`logits/${v}`]!, labels),
          };
          scales = controller.observe(scores, {
            epoch: tools.globalEpoch,
            batchIndex: tools.batchIndex,
            batchesPerEpoch: tools.batchesPerEpoch,
          });
          for (const m of [a, v]) {
            tools.log(`agm/score/${m}`, scores[m]!);
            tools.log(`agm/running/${m}`, controller.running[m]!);
            tools.log(`agm/scale/${m}`, scales[m]!);
          }
        }
        const out = agmScaledOutput(
          outputs['logits/fused']!,
          outputs[`agm/only/${a}`]!,
          outputs[`agm/only/${v}`]!,
          scales[a]!,
          scales[v]!,
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
