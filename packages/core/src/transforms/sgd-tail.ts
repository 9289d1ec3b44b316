/**
 * How `chain()` runs the SGD tail `[addDecayedWeights(wd)] traceMomentum(mu, nesterov)
 * scaleByLearningRate(lr)` as one kernel per parameter.
 *
 * Each of the three transforms carries a non-enumerable marker with its options and its own
 * `update` function (so a copy with another `update`, e.g. `{ ...t, update }`, is not taken for
 * it). `chain()` finds consecutive marked members with {@link sgdTailRuns} and, per step, calls
 * {@link updateSgdTail}, which runs `IgmSgdMomentumUpdate` for every key when the active backend
 * has the kernel and every tensor qualifies, and otherwise returns null so the members run one by
 * one as always. State, state names, init and checkpoints are the members' own either way.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradientTransform, Grads, StepContext } from '../types';
import { IgmSgdMomentumUpdate, type SgdMomentumUpdateAttrs } from './sgd-momentum-kernel';

const SGD_TAIL = Symbol('igm.sgdTail');

/** What a member of the SGD tail contributes (its options), as its marker records them. */
export type SgdTailRole =
  | { readonly role: 'decay'; readonly weightDecay: number }
  | { readonly role: 'momentum'; readonly momentum: number; readonly nesterov: boolean }
  | { readonly role: 'learningRate'; readonly rate: (ctx: StepContext) => number };

type Marker = SgdTailRole & { readonly update: GradientTransform['update'] };

// biome-ignore lint/suspicious/noExplicitAny: a transform of any state type
type AnyTransform = GradientTransform<any>;

/** Marks `t` as a member of the SGD tail with `role`; returns `t`. */
export function markSgdTail<T extends AnyTransform>(t: T, role: SgdTailRole): T {
  const marker: Marker = { ...role, update: t.update };
  Object.defineProperty(t, SGD_TAIL, { value: marker, enumerable: false });
  return t;
}

function roleOf(t: AnyTransform): SgdTailRole | undefined {
  const m = (t as unknown as { [SGD_TAIL]?: Marker })[SGD_TAIL];
  return m !== undefined && m.update === t.update ? m : undefined;
}

/** A run of chain members `start .. end - 1` that updates as one kernel per key. */
export interface SgdTailRun {
  readonly start: number;
  readonly end: number;
  /** Index of the traceMomentum member, whose state holds the buffers. */
  readonly momentumIndex: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  /** This step's learning rate, evaluated and logged exactly as scaleByLearningRate does. */
  readonly rate: (ctx: StepContext) => number;
}

/** The SGD-tail runs of a chain's members, by start index. */
export function sgdTailRuns(transforms: readonly AnyTransform[]): Map<number, SgdTailRun> {
  const runs = new Map<number, SgdTailRun>();
  for (let i = 0; i + 1 < transforms.length; i++) {
    const m = roleOf(transforms[i]!);
    const l = roleOf(transforms[i + 1]!);
    if (m?.role !== 'momentum' || l?.role !== 'learningRate') continue;
    const d = i > 0 ? roleOf(transforms[i - 1]!) : undefined;
    const decay = d?.role === 'decay' ? d : undefined;
    const start = decay ? i - 1 : i;
    runs.set(start, {
      start,
      end: i + 2,
      momentumIndex: i,
      weightDecay: decay?.weightDecay ?? 0,
      momentum: m.momentum,
      nesterov: m.nesterov,
      rate: l.rate,
    });
  }
  return runs;
}

interface MomentumSlots {
  readonly kind: 'traceMomentum';
  readonly slots: Map<string, { buf: tf.Variable }>;
}

/**
 * One step of `run` on `grads` (the output of the members before it) with the fused kernel, or
 * null when it cannot be used: the kernel is not registered for the active backend, or some key
 * has a non-float32 tensor, mismatching shapes, no momentum slot or (with weight decay) no
 * parameter. Then the members run one by one (and raise their usual errors, if any). Nothing is
 * changed or logged before that decision.
 */
export function updateSgdTail(
  run: SgdTailRun,
  grads: Grads,
  memberStates: readonly unknown[],
  ctx: StepContext,
): Grads | null {
  if (tf.getKernel(IgmSgdMomentumUpdate, tf.getBackend()) === undefined) return null;
  const state = memberStates[run.momentumIndex] as MomentumSlots | undefined;
  if (state?.kind !== 'traceMomentum' || !(state.slots instanceof Map)) return null;
  const decay = run.weightDecay !== 0;
  const inputs: Array<[string, Record<string, tf.Tensor>, tf.Variable]> = [];
  for (const [key, gradient] of grads) {
    const buffer = state.slots.get(key)?.buf;
    if (buffer === undefined || !fits(buffer, gradient)) return null;
    if (!decay) {
      inputs.push([key, { gradient, buffer }, buffer]);
      continue;
    }
    const param = ctx.params.get(key)?.variable;
    if (param === undefined || !fits(param, gradient)) return null;
    inputs.push([key, { gradient, param, buffer }, buffer]);
  }
  const attrs: SgdMomentumUpdateAttrs = {
    weightDecay: run.weightDecay,
    momentum: run.momentum,
    learningRate: run.rate(ctx),
    nesterov: run.nesterov,
  };
  const out: Grads = new Map();
  for (const [key, named, buffer] of inputs) {
    const [next, update] = tf
      .engine()
      .runKernel(IgmSgdMomentumUpdate, named, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    buffer.assign(next!);
    next!.dispose();
    out.set(key, update!);
  }
  return out;
}

function fits(t: tf.Tensor, gradient: tf.Tensor): boolean {
  return (
    t.dtype === 'float32' &&
    gradient.dtype === 'float32' &&
    tf.util.arraysEqual(t.shape, gradient.shape)
  );
}
