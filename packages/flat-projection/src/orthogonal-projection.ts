/**
 * `orthogonalProjection`: the OWM head projection of MLA (Multimodal Learning with Alternating
 * unimodal adaptation, CVPR 2024; OWM of Zeng et al. 2019;
 * docs/algorithms/mla.md#owm-head-projection):
 *
 *   P <- I (d x d) at init; one P shared by all modalities; never reset
 *   the very first update skips the block below (gradients unchanged, P stays I)
 *   each modality step (modality m = ctx.stage):
 *     r     = mean over the batch of features/<m>           (1 x d, a constant: no gradient)
 *     alpha = 0.1^(1 + batchIndex / batchesPerEpoch)        (default schedule: 0.1 -> ~0.01)
 *     k     = P r^T                                         (d x 1)
 *     'scalar':  P <- P - k k^T / (alpha + r k)             (paper / OWM form, r k a scalar)
 *     'outer':   P_ij <- P_ij - k_i k_j / (alpha + k_i r_j) (released code, elementwise)
 *     normalize: P <- P / ||P||_F                           (as the code; default true)
 *     G_K <- P G_K   for the head kernels (TF.js layout; PyTorch G_W <- G_W P^T); biases untouched
 *
 * P is updated with the current batch before the current gradient is projected. P lives in a
 * non-trainable Variable and is updated with plain ops on the step's outputs (never inside a
 * gradient tape), so no graph grows, unlike the released code's undetached r.
 * Logs `owm/alpha` and `owm/pNorm` (||P||_F before normalisation).
 */
import {
  checkChoice,
  checkKnownKeys,
  type GradientTransform,
  type Grads,
  IgmArgumentError,
  requireOutput,
  type StepContext,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { identity } from './expm';
import { HostMirror } from './mirror';
import { stateVariable } from './state';

/** What an alpha schedule sees of the step. */
export interface OwmStepInfo {
  readonly step: number;
  readonly epoch: number;
  readonly batchIndex: number;
  readonly batchesPerEpoch?: number;
}

export interface OrthogonalProjectionOptions {
  /** Kernel keys projected by P (MLA: the shared head's kernel); all must have input dim d. */
  readonly kernelKeys: readonly string[];
  /** Regulariser alpha: a number or a schedule (default 0.1^(1 + batchIndex / batchesPerEpoch)). */
  readonly alpha?: number | ((step: OwmStepInfo) => number);
  /** `'scalar'` (default, the paper's OWM form) or `'outer'` (the released code's elementwise form). */
  readonly denominator?: 'scalar' | 'outer';
  /** Divide P by its Frobenius norm after each update (default true, as the code). */
  readonly normalize?: boolean;
  /** Output holding modality m's features (default `features/<m>`). */
  readonly featuresOutput?: (modality: string) => string;
}

export interface OrthogonalProjectionState {
  readonly kind: 'orthogonalProjection';
  readonly p: tf.Variable;
  /** 1 after the first update (which skips the block). */
  readonly started: tf.Variable;
  readonly mirror: HostMirror;
}

const KNOWN = ['kernelKeys', 'alpha', 'denominator', 'normalize', 'featuresOutput'];

/** MLA's default schedule: 0.1^(1 + batchIndex / batchesPerEpoch). */
export function mlaAlpha(step: OwmStepInfo): number {
  if (step.batchesPerEpoch === undefined || !(step.batchesPerEpoch > 0)) {
    throw new IgmArgumentError(
      `orthogonalProjection: the default alpha schedule needs ctx.batchesPerEpoch (received ${String(step.batchesPerEpoch)}). Pass batchesPerEpoch to the step, or give alpha as a number or schedule.`,
    );
  }
  return 0.1 ** (1 + step.batchIndex / step.batchesPerEpoch);
}

/** OWM projection of head kernel gradients with a running P (module doc). */
export function orthogonalProjection(
  options: OrthogonalProjectionOptions,
): GradientTransform<OrthogonalProjectionState> {
  const where = 'orthogonalProjection';
  checkKnownKeys(where, options, KNOWN);
  const kernelKeys = options?.kernelKeys;
  if (!Array.isArray(kernelKeys) || kernelKeys.length === 0) {
    throw new IgmArgumentError(
      `${where}: received kernelKeys=${JSON.stringify(kernelKeys)}. Expected a non-empty list of head kernel keys.`,
    );
  }
  const denominator = checkChoice(where, 'denominator', options.denominator ?? 'scalar', [
    'scalar',
    'outer',
  ] as const);
  const normalize = options.normalize ?? true;
  if (typeof normalize !== 'boolean') {
    throw new IgmArgumentError(
      `${where}: received normalize=${String(normalize)}. Expected true or false.`,
    );
  }
  const alphaOption = options.alpha ?? mlaAlpha;
  if (typeof alphaOption === 'number') {
    if (!(Number.isFinite(alphaOption) && alphaOption >= 0)) {
      throw new IgmArgumentError(
        `${where}: received alpha=${alphaOption}. Expected a finite number >= 0 or a schedule.`,
      );
    }
  } else if (typeof alphaOption !== 'function') {
    throw new IgmArgumentError(
      `${where}: received alpha=${String(alphaOption)}. Expected a number or a function of the step.`,
    );
  }
  const featuresOutput = options.featuresOutput ?? ((m: string) => `features/${m}`);
  const projected = new Set(kernelKeys);
  const alphaAt = (ctx: StepContext): number => {
    const a =
      typeof alphaOption === 'number'
        ? alphaOption
        : alphaOption({
            step: ctx.step,
            epoch: ctx.epoch,
            batchIndex: ctx.batchIndex,
            ...(ctx.batchesPerEpoch !== undefined ? { batchesPerEpoch: ctx.batchesPerEpoch } : {}),
          });
    if (!(Number.isFinite(a) && a >= 0)) {
      throw new IgmArgumentError(
        `${where}: the alpha schedule returned ${a} at step ${ctx.step}. Expected a finite number >= 0.`,
      );
    }
    return a;
  };
  return {
    name: 'orthogonalProjection',
    init(params) {
      let d: number | undefined;
      for (const key of kernelKeys) {
        const p = params.get(key);
        if (p?.variable.rank !== 2) {
          throw new IgmArgumentError(
            `${where}: kernel "${key}" is ${p ? `of shape [${p.variable.shape}]` : 'not among the parameters'}. Expected a Dense kernel [in, out]. Known keys: ${[...params.keys()].slice(0, 20).join(', ')}.`,
          );
        }
        const din = p.variable.shape[0]!;
        if (d !== undefined && din !== d) {
          throw new IgmArgumentError(
            `${where}: kernels have input dims ${d} and ${din}; one P (d x d) needs a common input dim.`,
          );
        }
        d = din;
      }
      const started = stateVariable('orthogonalProjection', 'started', tf.scalar(0));
      return {
        kind: 'orthogonalProjection',
        p: stateVariable('orthogonalProjection', 'P', identity(d!)),
        started,
        mirror: new HostMirror(started),
      };
    },
    update(grads, state, ctx) {
      assertState(state);
      const alpha = alphaAt(ctx);
      ctx.log('owm/alpha', alpha);
      if (state.mirror.read()[0] !== 1) {
        // The very first training step skips the projection block (P stays I).
        state.mirror.write(tf.scalar(1), [1]);
        return grads;
      }
      const modality = ctx.stage;
      if (modality === undefined) {
        throw new IgmArgumentError(
          `${where}: the step context has no stage. Run it under an alternating trainer that sets ctx.stage to the modality of the step.`,
        );
      }
      const features = requireOutput(ctx, featuresOutput(modality), where);
      const d = state.p.shape[0]!;
      if (features.rank !== 2 || features.shape[1] !== d) {
        throw new IgmArgumentError(
          `${where}: "${featuresOutput(modality)}" has shape [${features.shape}]; expected [B, ${d}].`,
        );
      }
      const p = state.p as tf.Variable<tf.Rank.R2>;
      const r = tf.reshape(tf.mean(features, 0), [1, d]); // 1 x d
      const k = tf.matMul(p, tf.reshape(r, [d, 1])); // d x 1
      const kk = tf.mul(k, tf.reshape(k, [1, d])); // k k^T, d x d
      const denom =
        denominator === 'scalar'
          ? tf.add(tf.sum(tf.mul(tf.reshape(r, [d, 1]), k)), alpha) // alpha + r k
          : tf.add(tf.mul(k, r), alpha); // alpha + k_i r_j, d x d
      let next = tf.sub(p, tf.div(kk, denom));
      const norm = tf.norm(next) as tf.Scalar;
      ctx.log('owm/pNorm', norm);
      if (normalize) next = tf.div(next, norm);
      p.assign(next as tf.Tensor2D);
      const out: Grads = new Map(grads);
      for (const [key, g] of grads) {
        if (projected.has(key)) out.set(key, tf.matMul(p, g));
      }
      return out;
    },
    state(s) {
      assertState(s);
      return [
        { name: 'P', variable: s.p },
        { name: 'started', variable: s.started },
      ];
    },
  };
}

function assertState(state: unknown): asserts state is OrthogonalProjectionState {
  const s = state as OrthogonalProjectionState | undefined;
  if (s?.kind !== 'orthogonalProjection') {
    throw new IgmArgumentError(
      `orthogonalProjection: got state ${s === undefined ? 'undefined' : 'of another transform'}. Pass the state returned by init(params).`,
    );
  }
}
