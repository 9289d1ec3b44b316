/**
 * Composition: `chain(t1, t2, ...)` applies transforms in order, each seeing the previous one's
 * output, as optax's `chain`. IGM is `chain(sam(), flatProjection(), sgd())`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { IgmArgumentError } from './errors';
import { sgdTailRuns, updateSgdTail } from './transforms/sgd-tail';
import type { GradientTransform, Grads, NamedVariable, Param, StepContext } from './types';

/** State of a chain: one entry per member, in order. */
export interface ChainState {
  readonly kind: 'chain';
  readonly members: readonly unknown[];
}

/**
 * Applies `transforms` in order:
 *
 *   g_0 = grads;  g_i = t_i.update(g_{i-1}, s_i, ctx);  return g_n
 *
 * State names are prefixed with the member's position and name (`0.sam/...`), so checkpoints of
 * different chains never collide.
 *
 * Consecutive members `[addDecayedWeights(wd)] traceMomentum(mu, nesterov) scaleByLearningRate(lr)`
 * (the tail of `sgd`) run as one `IgmSgdMomentumUpdate` kernel per parameter when the active
 * backend has it registered (@igm/wasm-training on wasm, `registerCpuSgdMomentumKernel` on cpu)
 * and every tensor is float32 of matching shape; the result is bit for bit that of the members
 * one by one, which run otherwise. States and their names are the members' own either way.
 */
// biome-ignore lint/suspicious/noExplicitAny: members carry state types of their own
export function chain(...transforms: GradientTransform<any>[]): GradientTransform<ChainState> {
  transforms.forEach((t, i) => {
    if (!t || typeof t.init !== 'function' || typeof t.update !== 'function') {
      throw new IgmArgumentError(
        `chain: argument ${i} is ${String(t)}; expected a GradientTransform (an object with init/update/state).`,
      );
    }
  });
  const name = `chain(${transforms.map((t) => t.name).join(', ')})`;
  const fused = sgdTailRuns(transforms);
  return {
    name,
    init(params) {
      return { kind: 'chain', members: transforms.map((t) => t.init(params)) };
    },
    update(grads, state, ctx) {
      assertState(name, state, transforms.length);
      let g = grads;
      for (let i = 0; i < transforms.length; ) {
        const run = fused.get(i);
        const out = run ? updateSgdTail(run, g, state.members, ctx) : null;
        if (out !== null) {
          g = out;
          i = run!.end;
        } else {
          g = transforms[i]!.update(g, state.members[i], ctx);
          i++;
        }
      }
      return g;
    },
    state(s) {
      assertState(name, s, transforms.length);
      return transforms.flatMap((t, i) =>
        t
          .state(s.members[i])
          .map((v) => ({ name: `${i}.${t.name}/${v.name}`, variable: v.variable })),
      );
    },
  };
}

function assertState(name: string, state: unknown, n: number): asserts state is ChainState {
  const s = state as ChainState | undefined;
  if (s?.kind !== 'chain' || s.members.length !== n) {
    throw new IgmArgumentError(
      `${name}: update() got state ${s === undefined ? 'undefined' : 'of another transform'}. ` +
        'Call init(params) once and pass the state it returns to every update().',
    );
  }
}

/** The transform that passes gradients through unchanged. */
export function identity(): GradientTransform<null> {
  return { name: 'identity', init: () => null, update: (g) => g, state: () => [] };
}

/**
 * Adds each update to its parameter: `theta <- theta + u` (optax `apply_updates`). Keys of
 * `updates` that name no parameter are an error that lists them.
 */
export function applyUpdates(params: ReadonlyMap<string, Param>, updates: Grads): void {
  const unknown = [...updates.keys()].filter((k) => !params.has(k));
  if (unknown.length > 0) {
    throw new IgmArgumentError(
      `applyUpdates: updates for unknown parameter key(s) ${unknown.join(', ')}. Known keys: ${[...params.keys()].join(', ')}.`,
    );
  }
  tf.tidy(() => {
    for (const [key, u] of updates) {
      const v = params.get(key)!.variable;
      v.assign(tf.add(v, u) as tf.Tensor);
    }
  });
}

/** Disposes every state variable of a transform's state. */
export function disposeState<S>(transform: GradientTransform<S>, state: S): void {
  for (const { variable } of transform.state(state)) variable.dispose();
}

/** A named output from the step context, or an error saying which transform needed it. */
export function requireOutput(ctx: StepContext, name: string, who: string): tf.Tensor {
  const t = ctx.outputs[name];
  if (!t) {
    const have = Object.keys(ctx.outputs);
    throw new IgmArgumentError(
      `${who}: the step context has no output "${name}". Available outputs: ${have.length ? have.join(', ') : '(none)'}. ` +
        'Use a trainer or model that exposes it.',
    );
  }
  return t;
}

/** `ctx.evaluate`, or an error saying that this transform needs a driver with a loss closure. */
export function requireEvaluate(
  ctx: StepContext,
  who: string,
): NonNullable<StepContext['evaluate']> {
  if (!ctx.evaluate) {
    throw new IgmArgumentError(
      `${who} re-evaluates the loss, but this step context has no evaluate(). Drive it with a trainer, ` +
        'optimizer.minimize(lossFn) or fitWithSam, not with applyGradients on precomputed gradients.',
    );
  }
  return ctx.evaluate;
}

export type { NamedVariable };
