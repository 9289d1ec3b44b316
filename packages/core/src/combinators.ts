/**
 * Combinators that route gradients to transforms by parameter (optax `multi_transform`,
 * `masked`) or by time (`when`). They keep the uniform `update(grads, state, ctx)` signature,
 * so a combinator is itself a transform and composes with `chain`.
 */
import { checkKnownKeys, checkNumber, IgmArgumentError } from './errors';
import { emptySelectionError } from './params';
import type { GradientTransform, Grads, NamedVariable, Param, StepContext } from './types';

/** A transform with any state type (state is invariant in `GradientTransform<S>`). */
// biome-ignore lint/suspicious/noExplicitAny: members of a combinator have unrelated state types.
export type AnyTransform = GradientTransform<any>;

/**
 * Whether `pattern` selects `name`: equal, or `pattern` ends with `/*` and `name` is below that
 * prefix (`'head/*'` selects `'head/audio'` and `'head/visual/0'`, not `'head'` or `'headx'`).
 */
export function matchesPattern(pattern: string, name: string): boolean {
  if (pattern.endsWith('/*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

function subset(params: ReadonlyMap<string, Param>, keys: Iterable<string>): Map<string, Param> {
  const out = new Map<string, Param>();
  for (const k of keys) {
    const p = params.get(k);
    if (p) out.set(k, p);
  }
  return out;
}

/** The context a member transform sees: only its own parameters, logs prefixed by `prefix`. */
function restrictContext(
  ctx: StepContext,
  params: ReadonlyMap<string, Param>,
  prefix?: string,
): StepContext {
  return {
    ...ctx,
    params,
    ...(prefix !== undefined
      ? {
          log: (name: string, value: Parameters<StepContext['log']>[1]) =>
            ctx.log(`${prefix}/${name}`, value),
        }
      : {}),
  };
}

/** Returns `state` typed, or throws unless it is the state of a combinator of `kind`. */
function stateCheck<S extends { readonly kind: string }>(
  name: string,
  kind: S['kind'],
): (state: unknown) => S {
  return (state) => {
    const s = state as S | undefined;
    if (s?.kind !== kind) {
      throw new IgmArgumentError(
        `${name}: update() got state that init() did not return. Call init(params) once and reuse its state.`,
      );
    }
    return s;
  };
}

const defaultLabelOf = (p: Param): string => p.group;

export interface PartitionState {
  readonly kind: 'partition';
  /** Parameter key -> label, fixed at init. */
  readonly labelOfKey: ReadonlyMap<string, string>;
  readonly members: Readonly<Record<string, unknown>>;
  readonly params: Readonly<Record<string, ReadonlyMap<string, Param>>>;
}

/**
 * Sends each parameter's gradient to the transform of its label (optax `multi_transform`):
 *
 *   label(p) = the one key of transformsByLabel matched by labelOf(p)   (default labelOf: p.group)
 *   out[k]   = transformsByLabel[label(k)].update({ g[j] : label(j) = label(k) })[k]
 *
 * A label is a group name (`'audio'`) or a prefix pattern (`'head/*'` matches every group under
 * `head/`). `labelOf` may return several names (e.g. `[p.group, p.key]`); together they must
 * match exactly one label. A parameter matching no label, or two, is an error at `init` that
 * lists the parameters and the valid labels; so is a label that no parameter matches (its
 * transform would silently never run). Each member sees only its own parameters in
 * `ctx.params` and logs under `<label>/<name>` (`'audio/lr'`). Members whose parameters get no
 * gradient this step are not called (their state is untouched).
 */
export function partition(
  transformsByLabel: Record<string, AnyTransform>,
  labelOf: (param: Param) => string | readonly string[] = defaultLabelOf,
): GradientTransform<PartitionState> {
  const labels = Object.keys(transformsByLabel ?? {});
  if (labels.length === 0) {
    throw new IgmArgumentError(
      'partition: received no transforms. Pass { label: transform, ... } with at least one label.',
    );
  }
  for (const label of labels) {
    const t = transformsByLabel[label];
    if (!t || typeof t.init !== 'function' || typeof t.update !== 'function') {
      throw new IgmArgumentError(
        `partition: the value for label "${label}" is ${String(t)}; expected a GradientTransform.`,
      );
    }
  }
  const name = `partition(${labels.map((l) => `${l}: ${transformsByLabel[l]!.name}`).join(', ')})`;
  const assertState = stateCheck<PartitionState>(name, 'partition');
  return {
    name,
    init(params) {
      const labelOfKey = new Map<string, string>();
      const problems: string[] = [];
      for (const [key, p] of params) {
        const raw = labelOf(p);
        const names = typeof raw === 'string' ? [raw] : [...raw];
        const hits = labels.filter((l) => names.some((n) => matchesPattern(l, n)));
        if (hits.length === 1) labelOfKey.set(key, hits[0]!);
        else
          problems.push(
            `"${key}" (${names.map((n) => JSON.stringify(n)).join(', ')}) matches ${hits.length === 0 ? 'no label' : `labels ${hits.join(', ')}`}`,
          );
      }
      if (problems.length > 0) {
        throw new IgmArgumentError(
          `partition: every parameter must match exactly one label. ${problems.join('; ')}. Valid labels: ${labels.join(', ')}.`,
        );
      }
      const used = new Set(labelOfKey.values());
      const unused = labels.filter((l) => !used.has(l));
      if (unused.length > 0) {
        throw emptySelectionError(
          'partition',
          `label${unused.length === 1 ? '' : 's'} ${unused.map((l) => JSON.stringify(l)).join(', ')} (matched against ${labelOf === defaultLabelOf ? 'each parameter group' : 'the names labelOf returns'})`,
          params.values(),
          'Remove the label or fix its name.',
        );
      }
      const members: Record<string, unknown> = {};
      const memberParams: Record<string, ReadonlyMap<string, Param>> = {};
      for (const label of labels) {
        const keys = [...labelOfKey].filter(([, l]) => l === label).map(([k]) => k);
        memberParams[label] = subset(params, keys);
        members[label] = transformsByLabel[label]!.init(memberParams[label]);
      }
      return { kind: 'partition', labelOfKey, members, params: memberParams };
    },
    update(grads, state, ctx) {
      const s = assertState(state);
      const byLabel = new Map<string, Grads>();
      for (const [key, g] of grads) {
        const label = s.labelOfKey.get(key);
        if (label === undefined) {
          throw new IgmArgumentError(
            `${name}: gradient for key "${key}" that init() was not given. Known keys: ${[...s.labelOfKey.keys()].join(', ')}.`,
          );
        }
        if (!byLabel.has(label)) byLabel.set(label, new Map());
        byLabel.get(label)!.set(key, g);
      }
      const out: Grads = new Map();
      for (const [label, sub] of byLabel) {
        const r = transformsByLabel[label]!.update(
          sub,
          s.members[label],
          restrictContext(ctx, s.params[label]!, label),
        );
        for (const [k, u] of r) out.set(k, u);
      }
      // Keep the caller's key order.
      return new Map([...grads.keys()].filter((k) => out.has(k)).map((k) => [k, out.get(k)!]));
    },
    state(st) {
      const s = assertState(st);
      return labels.flatMap((label) =>
        transformsByLabel[label]!.state(s.members[label]).map(
          (v): NamedVariable => ({ name: `${label}/${v.name}`, variable: v.variable }),
        ),
      );
    },
  };
}

export interface MaskedState {
  readonly kind: 'masked';
  readonly keys: ReadonlySet<string>;
  readonly params: ReadonlyMap<string, Param>;
  readonly inner: unknown;
}

/**
 * Applies `transform` only to the kept parameters and passes the others through unchanged
 * (optax `masked`):
 *
 *   out[k] = transform.update({ g[j] : keep(j) })[k]   if keep(k)
 *   out[k] = g[k]                                      otherwise
 *
 * `keep` is a predicate on the parameter, or a list of keys, group names and prefix patterns
 * (`'head/*'` matches keys and groups under `head/`); a list entry that matches no parameter, or
 * a predicate that keeps none, is an error at `init` (a typo would otherwise silently mask
 * nothing). The inner transform sees only
 * the kept parameters in `ctx.params`, and has state only for them.
 */
export function masked(
  transform: AnyTransform,
  keep: ((param: Param) => boolean) | readonly string[],
): GradientTransform<MaskedState> {
  if (!transform || typeof transform.update !== 'function') {
    throw new IgmArgumentError(
      `masked: received transform=${String(transform)}; expected a GradientTransform.`,
    );
  }
  if (typeof keep !== 'function' && !Array.isArray(keep)) {
    throw new IgmArgumentError(
      `masked: received keep=${String(keep)}. Expected a predicate (param) => boolean or a list of keys/groups/patterns.`,
    );
  }
  const name = `masked(${transform.name})`;
  const assertState = stateCheck<MaskedState>(name, 'masked');
  return {
    name,
    init(params) {
      let pred: (p: Param) => boolean;
      if (typeof keep === 'function') pred = keep;
      else {
        const list = keep as readonly string[];
        const unused = list.filter(
          (pat) =>
            ![...params.values()].some(
              (p) => matchesPattern(pat, p.key) || matchesPattern(pat, p.group),
            ),
        );
        if (unused.length > 0) {
          throw new IgmArgumentError(
            `masked: keep entries ${unused.map((u) => JSON.stringify(u)).join(', ')} match no parameter key or group. ` +
              `Keys: ${[...params.keys()].join(', ')}. Groups: ${[...new Set([...params.values()].map((p) => p.group))].join(', ')}.`,
          );
        }
        pred = (p) =>
          list.some((pat) => matchesPattern(pat, p.key) || matchesPattern(pat, p.group));
      }
      const keys = new Set([...params.values()].filter((p) => pred(p)).map((p) => p.key));
      if (keys.size === 0 && params.size > 0) {
        throw emptySelectionError(
          'masked',
          'the keep predicate',
          params.values(),
          'Fix the predicate, or pass a list of keys/groups/patterns (each entry is checked).',
        );
      }
      const sub = subset(params, keys);
      return { kind: 'masked', keys, params: sub, inner: transform.init(sub) };
    },
    update(grads, state, ctx) {
      const s = assertState(state);
      const inside: Grads = new Map();
      for (const [k, g] of grads) if (s.keys.has(k)) inside.set(k, g);
      const updated =
        inside.size > 0
          ? transform.update(inside, s.inner, restrictContext(ctx, s.params))
          : inside;
      return new Map([...grads].map(([k, g]) => [k, s.keys.has(k) ? (updated.get(k) ?? g) : g]));
    },
    state(st) {
      return transform.state(assertState(st).inner);
    },
  };
}

export interface WhenOptions {
  /** Active epochs `[start, end]`, inclusive, 0-based; `end` may be `Infinity`. Default always. */
  epochs?: readonly [number, number];
  /** Active only while `ctx.stage` is one of these. A step without a stage is then inactive. */
  stages?: readonly string[];
}

/**
 * Runs `transform` only inside a window and is the identity outside it:
 *
 *   out = transform.update(g)   if epochs[0] <= ctx.epoch <= epochs[1] and ctx.stage in stages
 *   out = g                     otherwise (the transform's state is not touched)
 *
 * E.g. `when(ogmGe(...), { epochs: [0, 49] })` modulates only the first 50 epochs (OGM-GE's
 * `modulation_starts/ends`), `when(flatProjection(), { stages: ['visual'] })`.
 */
export function when(transform: AnyTransform, options: WhenOptions): GradientTransform<unknown> {
  checkKnownKeys('when', options, ['epochs', 'stages']);
  if (!transform || typeof transform.update !== 'function') {
    throw new IgmArgumentError(
      `when: received transform=${String(transform)}; expected a GradientTransform.`,
    );
  }
  let start = 0;
  let end = Infinity;
  if (options?.epochs !== undefined) {
    const e = options.epochs;
    if (!Array.isArray(e) || e.length !== 2) {
      throw new IgmArgumentError(
        `when: received epochs=${JSON.stringify(e)}. Expected [start, end] (inclusive, 0-based).`,
      );
    }
    start = checkNumber('when', 'epochs[0]', e[0], { min: 0, integer: true });
    end =
      e[1] === Infinity
        ? Infinity
        : checkNumber('when', 'epochs[1]', e[1], { min: start, integer: true });
  }
  const stages = options?.stages;
  if (
    stages !== undefined &&
    (!Array.isArray(stages) || stages.some((s) => typeof s !== 'string'))
  ) {
    throw new IgmArgumentError(
      `when: received stages=${JSON.stringify(stages)}. Expected an array of stage names.`,
    );
  }
  const parts = [
    ...(options?.epochs ? [`epochs ${start}..${end}`] : []),
    ...(stages ? [`stages ${stages.join('|')}`] : []),
  ];
  return {
    name: `when(${transform.name}; ${parts.join(', ') || 'always'})`,
    init: (params) => transform.init(params),
    update(grads, state, ctx) {
      const active =
        ctx.epoch >= start &&
        ctx.epoch <= end &&
        (stages === undefined || (ctx.stage !== undefined && stages.includes(ctx.stage)));
      return active ? transform.update(grads, state, ctx) : grads;
    },
    state: (s) => transform.state(s),
  };
}
