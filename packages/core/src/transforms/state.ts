/**
 * Helpers for per-parameter transform state: non-trainable `tf.Variable`s created in `init`,
 * keyed by parameter key, with engine-unique variable names (tfjs registers variables by name
 * and rejects duplicates, so two optimizers over the same model must not collide).
 */
import * as tf from '@tensorflow/tfjs-core';
import { IgmArgumentError } from '../errors';
import type { Grads, NamedVariable, Param } from '../types';

let nextId = 0;

/** A non-trainable variable initialised to `init`; `init` is disposed. */
export function stateVariable(
  owner: string,
  key: string,
  slot: string,
  init: tf.Tensor,
): tf.Variable {
  const v = tf.variable(init, false, `igm/${owner}/${key}/${slot}#${nextId++}`);
  init.dispose();
  return v;
}

/** A zero-filled state variable shaped like the parameter's variable. */
export function zerosLikeParam(owner: string, p: Param, slot: string): tf.Variable {
  return stateVariable(
    owner,
    p.key,
    slot,
    tf.zeros(p.variable.shape, p.variable.dtype === 'int32' ? 'int32' : 'float32'),
  );
}

/** A scalar float32 step counter starting at 0. */
export function counter(owner: string, key: string): tf.Variable {
  return stateVariable(owner, key, 'count', tf.scalar(0, 'float32'));
}

/** Flattens per-key slot records into `key/slot` named variables, in parameter order. */
export function namedSlots(
  slots: ReadonlyMap<string, Record<string, tf.Variable>>,
): NamedVariable[] {
  const out: NamedVariable[] = [];
  for (const [key, rec] of slots) {
    for (const [slot, variable] of Object.entries(rec))
      out.push({ name: `${key}/${slot}`, variable });
  }
  return out;
}

/** Throws unless `state` looks like a per-key slot map produced by `init` of `who`. */
export function requireSlots<T>(
  who: string,
  state: unknown,
): asserts state is { readonly kind: string; readonly slots: Map<string, T> } {
  const s = state as { kind?: unknown; slots?: unknown } | undefined;
  if (!s || s.kind !== who || !(s.slots instanceof Map)) {
    throw new IgmArgumentError(
      `${who}: update() got state ${s === undefined ? 'undefined' : 'of another transform'}. ` +
        'Call init(params) once and pass the state it returns to every update().',
    );
  }
}

/** Throws if `grads` has keys this state has no slots for (parameters not given to `init`). */
export function checkKeys(who: string, grads: Grads, known: ReadonlyMap<string, unknown>): void {
  const unknown = [...grads.keys()].filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new IgmArgumentError(
      `${who}: gradients for key(s) ${unknown.join(', ')} that init() was not given. ` +
        `Known keys: ${[...known.keys()].join(', ') || '(none)'}. Call init with every parameter the transform will see.`,
    );
  }
}
