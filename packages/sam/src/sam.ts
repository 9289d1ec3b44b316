/**
 * Sharpness-aware minimisation as a {@link GradientTransform}.
 *
 * SAM (Foret et al., "Sharpness-Aware Minimization for Efficiently Improving Generalization",
 * ICLR 2021) minimises `max_{||e|| <= rho} L(w + e)`. Its first-order solution perturbs the
 * weights along the normalised gradient, re-evaluates the gradient there and hands that gradient
 * to the base optimizer. ASAM (Kwon et al., "ASAM: Adaptive Sharpness-Aware Minimization for
 * Scale-Invariant Learning of Deep Neural Networks", ICML 2021) measures the neighbourhood in
 * the weight-scaled metric `T_w = |w|`, which makes sharpness invariant to weight rescaling.
 *
 * The semantics follow the de-facto reference implementation `davda54/sam` (`sam.py`, commit
 * 3c3afdb): one global L2 norm over every tensor that has a gradient, `eps = 1e-12` added to the
 * norm, the perturbation added in place and the saved weights restored before the base step; weight
 * decay, momentum and the schedule belong to the base transform that follows in the chain.
 */
import {
  checkChoice,
  checkKnownKeys,
  checkNumber,
  emptySelectionError,
  type GradientTransform,
  type Grads,
  IgmArgumentError,
  type Param,
  requireEvaluate,
  type ScalarOrSchedule,
  type StepContext,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';

/** How the perturbation is normalised. */
export type SamNormalize = 'global' | 'per-variable';

export interface SamOptions {
  /**
   * Neighbourhood radius rho (a number or a schedule of the step/epoch). Default 0.05 (SAM; the
   * {@link asam} preset uses 2.0). rho = 0 re-evaluates the gradient at the unperturbed point.
   */
  readonly rho?: ScalarOrSchedule;
  /** ASAM: scale the neighbourhood by |w| (Kwon et al. 2021). Default false. */
  readonly adaptive?: boolean;
  /** Added to the norm in the denominator. Must be > 0. Default 1e-12 (davda54/sam). */
  readonly eps?: number;
  /**
   * `'global'` (default, the paper and davda54/sam): one L2 norm over all trained tensors, so
   * `e` lies on the sphere of radius rho in the full parameter space and tensors with large
   * gradients take most of the budget.
   *
   * `'per-variable'` (IGM's official code, docs/algorithms/igm.md#official-step): each tensor
   * is normalised by its own norm, `e_p = rho_p g_p / (||g_p|| + eps)`. Every tensor moves by
   * rho whatever its gradient scale, so layers with small gradients are probed as hard as the
   * rest, but the total radius grows to rho * sqrt(#tensors) and tiny, noisy gradients get
   * amplified to full length. A tensor whose gradient is exactly zero gets `e_p = 0` (the
   * official code gives NaN there).
   */
  readonly normalize?: SamNormalize;
  /**
   * Restore the weights after the second pass (default true: paper and davda54/sam, the base step
   * is taken from w). `false` leaves the perturbation in place, as IGM's official code does, so
   * the step becomes `w + e + u`: an extra ascent step of length rho every iteration. That is
   * harmless at the official rho (1e-10, a float32 no-op) but drifts at a real rho; it saves
   * one copy of the weights and one assign per tensor.
   */
  readonly restore?: boolean;
  /**
   * A rho per parameter group (`Param.group`), e.g. `{ encoder: 1e-10, head: 1e-10 }` for IGM's
   * official rho_enc / rho_cls. Groups not listed use `rho`. Every listed group must exist in the
   * parameters given to `init`.
   */
  readonly rhoByGroup?: Readonly<Record<string, ScalarOrSchedule>>;
  /**
   * ASAM only: do not scale biases by |w| (the ASAM authors' code scales only weights,
   * davda54/sam#81). `true` treats a parameter whose key's last segment is `bias` or `beta`
   * (BatchNorm offset) as a bias; a predicate picks them yourself. Default false (davda54/sam:
   * every tensor is scaled). An exclusion that matches no parameter is an error at `init`, and
   * so is `excludeBias` without `adaptive` (plain SAM scales nothing, so it would do nothing).
   */
  readonly excludeBias?: boolean | ((param: Param) => boolean);
}

const SAM_OPTION_KEYS = [
  'rho',
  'adaptive',
  'eps',
  'normalize',
  'restore',
  'rhoByGroup',
  'excludeBias',
] as const;

/** Last key segment `bias`/`beta`, with an optional `_1` or `:0` suffix (tfjs naming). */
const BIAS_KEY = /(^|[/.])(bias|beta)(_\d+)?(:\d+)?$/i;

/** The default bias test of `excludeBias: true`. */
export function isBiasParam(param: Param): boolean {
  return BIAS_KEY.test(param.key);
}

/**
 * SAM / ASAM as the first member of a chain: `chain(sam(), sgd({ ... }))`.
 *
 * Update rule, for the tensors p being trained this step (g = gradients at w, given):
 *
 *   T_p   = |w_p| if adaptive (and p not excluded) else 1
 *   n     = || concat_p(T_p * g_p) ||_2            ('global';  'per-variable': n_p = ||T_p * g_p||)
 *   e_p   = rho_p * T_p^2 * g_p / (n + eps)
 *   w_p  <- w_p + e_p                              (in place, with assign)
 *   G     = grad L(w + e)                          ctx.evaluate(keys, { batchStatistics: 'frozen' })
 *   w_p  <- saved w_p                              (only if restore)
 *   return G                                       (the base transform after SAM sees G)
 *
 * The second pass runs with frozen BatchNorm statistics so moving averages update once per step
 * (davda54/sam `bypass_bn`). It needs a driver that provides `ctx.evaluate` (GradientOptimizer,
 * trainers, `toTfjsOptimizer(t, { model })` in model.fit, `fitWithSam`); with precomputed
 * gradients (applyGradients) it throws.
 *
 * Logs `sam/grad_norm` (the global norm of T * g) and `sam/rho` (plus `sam/rho/<group>` for
 * each group of `rhoByGroup`). State: none.
 */
export function sam(options: SamOptions = {}): GradientTransform<null> {
  const where = 'sam';
  checkKnownKeys(where, options, SAM_OPTION_KEYS);
  const {
    rho = 0.05,
    adaptive = false,
    eps = 1e-12,
    normalize = 'global',
    restore = true,
    rhoByGroup,
    excludeBias = false,
  } = options;
  checkRho(where, 'rho', rho);
  checkNumber(where, 'eps', eps, { min: 0, minExclusive: true });
  checkChoice(where, 'normalize', normalize, ['global', 'per-variable'] as const);
  checkBoolean(where, 'adaptive', adaptive);
  checkBoolean(where, 'restore', restore);
  if (typeof excludeBias !== 'boolean' && typeof excludeBias !== 'function') {
    throw new IgmArgumentError(
      `${where}: received excludeBias=${String(excludeBias)}. Expected a boolean or a predicate (param) => boolean.`,
    );
  }
  const groupRho = new Map<string, ScalarOrSchedule>();
  if (rhoByGroup !== undefined) {
    if (rhoByGroup === null || typeof rhoByGroup !== 'object') {
      throw new IgmArgumentError(
        `${where}: received rhoByGroup=${String(rhoByGroup)}. Expected an object mapping group names to rho, e.g. { encoder: 0.05, head: 0.1 }.`,
      );
    }
    for (const [group, value] of Object.entries(rhoByGroup)) {
      checkRho(where, `rhoByGroup.${group}`, value);
      groupRho.set(group, value);
    }
  }
  if (excludeBias !== false && !adaptive) {
    throw new IgmArgumentError(
      `${where}: received excludeBias=${typeof excludeBias === 'function' ? 'a predicate' : 'true'} without adaptive: true. Only ASAM scales by |w|, so excludeBias would change nothing. Pass adaptive: true (or use asam()), or drop excludeBias.`,
    );
  }
  const isExcluded =
    typeof excludeBias === 'function' ? excludeBias : excludeBias ? isBiasParam : () => false;
  const name = adaptive ? 'asam' : 'sam';

  return {
    name,
    init(params) {
      if (excludeBias !== false && params.size > 0 && ![...params.values()].some(isExcluded)) {
        throw emptySelectionError(
          name,
          excludeBias === true
            ? 'excludeBias: true (keys whose last segment is bias or beta)'
            : 'the excludeBias predicate',
          params.values(),
          'Pass a predicate that picks the biases by your key names, or drop excludeBias.',
        );
      }
      if (groupRho.size > 0) {
        const present = new Set([...params.values()].map((p) => p.group));
        const missing = [...groupRho.keys()].filter((g) => !present.has(g));
        if (missing.length > 0) {
          throw new IgmArgumentError(
            `${name}: rhoByGroup names group(s) ${missing.map((g) => JSON.stringify(g)).join(', ')} that no parameter belongs to. ` +
              `Groups present: ${[...present].map((g) => JSON.stringify(g)).join(', ') || '(none)'}. Fix the group names or the Param.group values.`,
          );
        }
      }
      return null;
    },

    update(grads: Grads, _state: null, ctx: StepContext): Grads {
      const evaluate = requireEvaluate(ctx, name);
      const keys = [...grads.keys()];
      if (keys.length === 0) return grads;
      const count = { step: ctx.step, epoch: ctx.epoch };
      const rhoNow = resolveRho(name, 'rho', rho, count);
      const rhoOfGroup = new Map<string, number>();
      for (const [group, value] of groupRho) {
        rhoOfGroup.set(group, resolveRho(name, `rhoByGroup.${group}`, value, count));
      }

      const params = keys.map((key) => {
        const p = ctx.params.get(key);
        if (!p) {
          throw new IgmArgumentError(
            `${name}: got a gradient for "${key}", which is not a parameter of this step. Known keys: ${[...ctx.params.keys()].join(', ')}.`,
          );
        }
        return p;
      });

      // 1. Perturbation e from the gradients at w (computed for every tensor before any assign).
      const scaled = params.map((p, i) => {
        const g = grads.get(keys[i]!)!;
        return adaptive && !isExcluded(p) ? tf.mul(tf.abs(p.variable), g) : g;
      });
      const squares = scaled.map((s) => tf.sum(tf.square(s)));
      const globalNorm = tf.sqrt(squares.length === 1 ? squares[0]! : tf.addN(squares));
      const epsT = tf.scalar(eps);
      // rho / (n + eps): once per distinct rho with the global norm, per tensor otherwise.
      const globalScales = new Map<number, tf.Tensor>();
      const scaleFor = (rhoP: number, i: number): tf.Tensor => {
        if (normalize !== 'global')
          return tf.div(tf.scalar(rhoP), tf.add(tf.sqrt(squares[i]!), epsT));
        let s = globalScales.get(rhoP);
        if (!s) {
          s = tf.div(tf.scalar(rhoP), tf.add(globalNorm, epsT));
          globalScales.set(rhoP, s);
        }
        return s;
      };
      const perturbations = params.map((p, i) => {
        const g = grads.get(keys[i]!)!;
        const scale = scaleFor(rhoOfGroup.get(p.group) ?? rhoNow, i);
        const direction = adaptive && !isExcluded(p) ? tf.mul(tf.square(p.variable), g) : g;
        return tf.mul(direction, scale);
      });
      ctx.log('sam/grad_norm', globalNorm as tf.Scalar);
      ctx.log('sam/rho', rhoNow);
      for (const [group, value] of rhoOfGroup) ctx.log(`sam/rho/${group}`, value);

      // 2. w <- w + e, keeping the exact old values. assign() swaps the variable's buffer, so a
      // same-shape reshape (a handle on the old buffer, no copy on cpu/wasm) is an exact snapshot.
      const saved = restore ? params.map((p) => tf.reshape(p.variable, p.variable.shape)) : [];
      params.forEach((p, i) => {
        p.variable.assign(tf.add(p.variable, perturbations[i]!));
      });

      // 3. Gradient at w + e with frozen BatchNorm statistics; 4. restore w even on error.
      let second: ReturnType<typeof evaluate>;
      try {
        second = evaluate(keys, { batchStatistics: 'frozen' });
      } finally {
        if (restore) {
          params.forEach((p, i) => {
            p.variable.assign(saved[i]!);
          });
        }
      }
      const out: Grads = new Map();
      for (const key of keys) {
        const g = second.grads.get(key);
        if (!g) {
          throw new IgmArgumentError(
            `${name}: the re-evaluation returned no gradient for "${key}". The loss must depend on every parameter being trained.`,
          );
        }
        out.set(key, g);
      }
      return out;
    },

    state: () => [],
  };
}

/** Options of {@link asam}: those of {@link sam} without `adaptive`. */
export type AsamOptions = Omit<SamOptions, 'adaptive'>;

/**
 * Adaptive SAM (Kwon et al., ICML 2021): `sam({ adaptive: true, rho: 2.0, ...options })`.
 *
 *   e_p = rho * w_p^2 * g_p / (|| concat_p(|w_p| * g_p) ||_2 + eps)
 *
 * rho = 2.0 is the value the ASAM authors' grid {0.5, 1, 2, 5} picked (davda54/sam#37). Like
 * davda54/sam, every tensor (biases and BatchNorm parameters included) is scaled by |w| unless
 * `excludeBias` is set. The ASAM authors' own code also adds a small eta to |w|; this does not.
 */
export function asam(options: AsamOptions = {}): GradientTransform<null> {
  checkKnownKeys(
    'asam',
    options,
    SAM_OPTION_KEYS.filter((k) => k !== 'adaptive'),
  );
  return sam({ rho: 2.0, ...options, adaptive: true });
}

function checkBoolean(where: string, field: string, value: unknown): void {
  if (typeof value !== 'boolean') {
    throw new IgmArgumentError(
      `${where}: received ${field}=${JSON.stringify(value)}. Expected true or false.`,
    );
  }
}

function checkRho(where: string, field: string, value: unknown): void {
  if (typeof value === 'function') return;
  checkNumber(where, field, value, { min: 0 });
}

function resolveRho(
  where: string,
  field: string,
  value: ScalarOrSchedule,
  count: { step: number; epoch: number },
): number {
  if (typeof value === 'number') return value;
  return checkNumber(`${where} (schedule at step ${count.step})`, field, value(count), {
    min: 0,
  });
}
