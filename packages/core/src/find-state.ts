/**
 * Finding one transform's state inside a composed state, by the transform's state `kind`, so
 * code that must reach a member (IGM installs T into its flatProjection member at each stage)
 * never depends on where the member sits in the composition.
 */
import { IgmArgumentError } from './errors';

/**
 * The state whose `kind` is `kind`, searched depth-first in composition order through every
 * combinator:
 *
 * - `chain`: its `members`, in order;
 * - `partition`: its `members`, in label order;
 * - `masked`: its `inner` state;
 * - `when`: nothing to descend (its state is its transform's own);
 * - any other wrapper that keeps its members' states the same way, as `members` (an array or a
 *   record by name) or `inner`.
 *
 * The state itself is returned when its own `kind` matches. Returns `undefined` when no state
 * has that kind; when several do (one optimizer per partition label), the first one in that
 * order. Kinds are the `kind` fields of the states: `'flatProjection'`,
 * `'orthogonalProjection'`, `'traceMomentum'`, `'scaleByAdam'`, `'chain'`, `'partition'`,
 * `'masked'`...
 *
 * @example
 *   const t = findState<FlatProjectionState>(boundary.transformState, 'flatProjection');
 */
export function findState<S = unknown>(state: unknown, kind: string): S | undefined {
  if (typeof kind !== 'string' || kind.length === 0) {
    throw new IgmArgumentError(
      `findState: received kind=${JSON.stringify(kind)}. Expected the non-empty kind of a transform state, e.g. 'flatProjection'.`,
    );
  }
  return search(state, kind, new Set()) as S | undefined;
}

function search(state: unknown, kind: string, seen: Set<object>): unknown {
  if (state === null || typeof state !== 'object' || seen.has(state)) return undefined;
  seen.add(state);
  const s = state as { kind?: unknown; members?: unknown; inner?: unknown };
  if (s.kind === kind) return state;
  for (const child of children(s)) {
    const found = search(child, kind, seen);
    if (found !== undefined) return found;
  }
  return undefined;
}

function children(s: { members?: unknown; inner?: unknown }): unknown[] {
  const out: unknown[] = [];
  if (Array.isArray(s.members)) out.push(...s.members);
  else if (s.members !== null && typeof s.members === 'object') {
    out.push(...Object.values(s.members as Record<string, unknown>));
  }
  if (s.inner !== undefined) out.push(s.inner);
  return out;
}
