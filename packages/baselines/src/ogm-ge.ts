/**
 * OGM-GE: On-the-fly Gradient Modulation with Generalisation Enhancement (Peng et al., CVPR
 * 2022; docs/algorithms/ogm-ge.md). A gradient transform that reads the per-modality logits of
 * the step (`ctx.outputs['logits/<m>']`, the concat head's weight slices) and scales the
 * dominant modality's encoder gradients:
 *
 *   s_m = sum_i softmax(logits/m)_i[y_i]                       batch sums, no gradient
 *   two modalities (a, v) in order, as the official code:
 *     rho_v = s_v / s_a;  rho_a = 1 / rho_v
 *     rho_v > 1:  k_v = 1 - tanh(alpha rho_v), k_a = 1
 *     else:       k_a = 1 - tanh(alpha rho_a), k_v = 1           (a tie modulates the first)
 *   M >= 3 modalities [project; maintainers' suggestion in OGM-GE #16]: one-versus-others
 *     rho_m = s_m / mean_{k != m} s_k;  k_m = 1 - tanh(alpha rho_m) if rho_m > 1 else 1
 *     (for M = 2 this is the rule above except on an exact tie)
 *   if start <= epoch <= end (0-based, inclusive):
 *     for every selected gradient g of modality m's encoder:
 *       sigma = std(g) + 1e-8        unbiased (N - 1), of the UNSCALED gradient
 *       g <- k_m g + N(0, sigma^2)   GE (default);  g <- k_m g with `noise: false` (plain OGM)
 *
 * Selected gradients: `tensors: 'conv'` (default, the official code) = rank-4 gradients (conv
 * kernels incl. 1x1 downsample) of the `encoder/<m>` groups; BN, biases and the fusion layer are
 * untouched. `tensors: 'encoder'` [project] selects every tensor of the encoders, for encoders
 * without convolutions (MLP encoders on feature vectors). A modality whose encoder has no
 * selected tensor (e.g. `'conv'` on an `mlpEncoder`) is an error at `init` naming the selection
 * and the model's parameter groups: OGM-GE would log coefficients and modulate nothing.
 * GE noise goes to every modality in the window, including the one with k = 1.
 *
 * Placement: with SGD put it before the optimizer, `chain(ogmGe(), sgd(...))`, so weight decay
 * is added after the modulation (PyTorch). With Adam put it between the preconditioning and the
 * learning rate (`ogmGeOptimizer({ optimizer: 'adam' })`), because scaling before Adam is largely
 * cancelled by the normalisation (OGM-GE #26); there the scale and noise act on Adam's direction.
 *
 * Logs `ogm/score/<m>`, `ogm/ratio` (rho of the second modality over the first; M = 2),
 * `ogm/ratio/<m>` (M >= 3) and `ogm/coef/<m>`, every step (also outside the window).
 */
import {
  addDecayedWeights,
  chain,
  checkChoice,
  checkKnownKeys,
  checkNumber,
  emptySelectionError,
  type GradientTransform,
  type Grads,
  IgmArgumentError,
  type Param,
  requireOutput,
  type ScalarOrSchedule,
  type StepContext,
  scaleByAdam,
  scaleByLearningRate,
  sgd,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import { batchScore, checkWindow, type EpochWindow, encoderModality, inWindow } from './common';
import { seededRandomNormal } from './normal-draws';

/**
 * Standard-normal draws for the GE noise of one gradient; default: the values of
 * `tf.randomNormal(shape, 0, 1, 'float32', ctx.rng.nextSeed())`, computed in one loop.
 */
export type NormalDraws = (key: string, shape: readonly number[], ctx: StepContext) => tf.Tensor;

export interface OgmGeOptions {
  /** alpha of 1 - tanh(alpha rho). CREMA-D 0.8 (README tip); BalanceBenchmark KS 0.3. */
  readonly alpha: number;
  /** Modalities in order (the first is "audio" of the reference). Default: the encoder groups in parameter order. */
  readonly modalities?: readonly string[];
  /** Epoch window { start, end }, 0-based inclusive. Default: the whole run. CREMA-D { 0, 50 }. */
  readonly window?: EpochWindow;
  /** GE noise (default true). `false` is plain OGM. */
  readonly noise?: boolean;
  /** 'conv' (default, rank-4 gradients only, as the code) or 'encoder' (every encoder tensor). */
  readonly tensors?: 'conv' | 'encoder';
  /** Source of the N(0, 1) draws (tests inject fixed draws). */
  readonly normalDraws?: NormalDraws;
}

export interface OgmGeDecision {
  readonly scores: Record<string, number>;
  readonly ratios: Record<string, number>;
  readonly coefficients: Record<string, number>;
}

/** The coefficients of one step from the batch scores s_m (module doc). */
export function ogmCoefficients(
  modalities: readonly string[],
  scores: Readonly<Record<string, number>>,
  alpha: number,
): OgmGeDecision {
  const ratios: Record<string, number> = {};
  const coefficients: Record<string, number> = {};
  if (modalities.length === 2) {
    const [a, v] = modalities as [string, string];
    const rhoV = scores[v]! / scores[a]!;
    const rhoA = 1 / rhoV;
    ratios[a] = rhoA;
    ratios[v] = rhoV;
    if (rhoV > 1) {
      coefficients[v] = 1 - Math.tanh(alpha * rhoV);
      coefficients[a] = 1;
    } else {
      coefficients[a] = 1 - Math.tanh(alpha * rhoA);
      coefficients[v] = 1;
    }
  } else {
    const total = modalities.reduce((s, m) => s + scores[m]!, 0);
    for (const m of modalities) {
      const others = (total - scores[m]!) / (modalities.length - 1);
      const rho = scores[m]! / others;
      ratios[m] = rho;
      coefficients[m] = rho > 1 ? 1 - Math.tanh(alpha * rho) : 1;
    }
  }
  return { scores: { ...scores }, ratios, coefficients };
}

/** Unbiased standard deviation of all entries of g (0 for a single entry). */
export function unbiasedStd(g: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const n = g.size;
    if (n < 2) return tf.scalar(0);
    const d = tf.sub(g, tf.mean(g));
    return tf.sqrt(tf.div(tf.sum(tf.square(d)), n - 1)) as tf.Scalar;
  });
}

const KNOWN = ['alpha', 'modalities', 'window', 'noise', 'tensors', 'normalDraws'];

/**
 * The keys OGM-GE modulates: for each modality, the tensors of its `encoder/<m>` group that
 * `tensors` selects (`'conv'`: rank 4; `'encoder'`: all). Throws, naming the selection and the
 * model's parameter groups, when a modality has none.
 */
export function ogmGeSelection(
  params: ReadonlyMap<string, Param>,
  modalities: readonly string[],
  tensors: 'conv' | 'encoder',
  where = 'ogmGe',
): Map<string, string> {
  const modalityOfKey = new Map<string, string>();
  for (const m of modalities) {
    const chosen = [...params.values()].filter(
      (p) => encoderModality(p) === m && (tensors === 'encoder' || p.variable.rank === 4),
    );
    if (chosen.length === 0) {
      throw emptySelectionError(
        where,
        tensors === 'conv'
          ? `tensors: 'conv' (the rank-4 conv kernels of group encoder/${m})`
          : `tensors: 'encoder' (every tensor of group encoder/${m})`,
        params.values(),
        tensors === 'conv'
          ? "For encoders without convolutions (e.g. mlpEncoder) pass tensors: 'encoder'."
          : `OGM-GE modulates encoder gradients: give modality ${m} an encoder with trainable parameters in group "encoder/${m}" (an identity encoder, e.g. mlpEncoder with no units, has none).`,
      );
    }
    for (const p of chosen) modalityOfKey.set(p.key, m);
  }
  return modalityOfKey;
}

export function ogmGe(options: OgmGeOptions): GradientTransform<null> {
  const where = 'ogmGe';
  checkKnownKeys(where, options, KNOWN);
  const alpha = checkNumber(where, 'alpha', options.alpha, { min: 0 });
  const window = checkWindow(where, options.window);
  const noise = options.noise ?? true;
  const tensors = checkChoice(where, 'tensors', options.tensors ?? 'conv', ['conv', 'encoder']);
  const draws: NormalDraws =
    options.normalDraws ?? ((_key, shape, ctx) => seededRandomNormal(shape, ctx.rng.nextSeed()));
  let modalities: readonly string[] | undefined = options.modalities;
  let selected = new Map<string, string>();
  return {
    name: noise ? 'ogmGe' : 'ogm',
    init(params) {
      const groups = [
        ...new Set([...params.values()].map(encoderModality).filter((m) => m !== undefined)),
      ] as string[];
      modalities ??= groups;
      if (modalities.length < 2) {
        throw new IgmArgumentError(
          `${where}: found ${modalities.length} modality encoder(s) (${modalities.join(', ') || 'none'}). OGM-GE compares at least 2 modalities; parameters need groups "encoder/<m>".`,
        );
      }
      const missing = modalities.filter((m) => !groups.includes(m));
      if (missing.length > 0) {
        throw new IgmArgumentError(
          `${where}: modalities ${missing.join(', ')} have no encoder parameters (groups found: ${groups.join(', ')}).`,
        );
      }
      selected = ogmGeSelection(params, modalities, tensors, where);
      return null;
    },
    update(grads, _state, ctx) {
      const mods = modalities!;
      const scores: Record<string, number> = {};
      for (const m of mods)
        scores[m] = batchScore(requireOutput(ctx, `logits/${m}`, where), ctx.labels);
      const d = ogmCoefficients(mods, scores, alpha);
      for (const m of mods) {
        ctx.log(`ogm/score/${m}`, scores[m]!);
        ctx.log(`ogm/coef/${m}`, d.coefficients[m]!);
        if (mods.length > 2) ctx.log(`ogm/ratio/${m}`, d.ratios[m]!);
      }
      if (mods.length === 2) ctx.log('ogm/ratio', d.ratios[mods[1]!]!);
      if (!inWindow(window, ctx.epoch)) return grads;
      const out: Grads = new Map();
      for (const [key, g] of grads) {
        const m = selected.get(key);
        if (m === undefined) {
          out.set(key, g);
          continue;
        }
        const k = d.coefficients[m]!;
        let next = k === 1 ? g : tf.mul(g, k);
        if (noise) {
          const sigma = tf.add(unbiasedStd(g), 1e-8);
          next = tf.add(next, tf.mul(draws(key, g.shape, ctx), sigma));
        }
        out.set(key, next);
      }
      return out;
    },
    state: () => [],
  };
}

export interface OgmGeOptimizerOptions extends OgmGeOptions {
  /** 'sgd' (default, the reference) or 'adam' (modulation between preconditioning and lr). */
  readonly optimizer?: 'sgd' | 'adam';
  readonly learningRate: ScalarOrSchedule;
  /** SGD momentum (default 0.9). */
  readonly momentum?: number;
  /** Coupled L2 (default 1e-4). */
  readonly weightDecay?: number;
  /** Adam betas/eps (default 0.9 / 0.999 / 1e-8). */
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
}

/**
 * OGM-GE with its optimizer, placed as the reference does (SGD) or, with Adam, between the
 * preconditioner and the learning rate (docs/architecture.md#transform-placement):
 *
 *   sgd:  chain(ogmGe, addDecayedWeights(wd), traceMomentum(mu), scaleByLearningRate(lr))
 *   adam: chain(addDecayedWeights(wd), scaleByAdam, ogmGe, scaleByLearningRate(lr))
 */
export function ogmGeOptimizer(options: OgmGeOptimizerOptions): GradientTransform {
  const where = 'ogmGeOptimizer';
  checkKnownKeys(where, options, [
    ...KNOWN,
    'optimizer',
    'learningRate',
    'momentum',
    'weightDecay',
    'beta1',
    'beta2',
    'eps',
  ]);
  const { optimizer, learningRate, momentum, weightDecay, beta1, beta2, eps, ...ogm } = options;
  const kind = checkChoice(where, 'optimizer', optimizer ?? 'sgd', ['sgd', 'adam']);
  const wd = weightDecay ?? 1e-4;
  if (kind === 'sgd') {
    return chain(ogmGe(ogm), sgd({ learningRate, momentum: momentum ?? 0.9, weightDecay: wd }));
  }
  return chain(
    addDecayedWeights(wd),
    scaleByAdam({
      ...(beta1 !== undefined ? { beta1 } : {}),
      ...(beta2 !== undefined ? { beta2 } : {}),
      ...(eps !== undefined ? { eps } : {}),
    }),
    ogmGe(ogm),
    scaleByLearningRate(learningRate),
  );
}
