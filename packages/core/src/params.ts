/**
 * Building the {@link Param} list of a model: stable keys and groups for every trainable
 * variable, without importing tfjs-layers (a LayersModel is recognised by its shape).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { IgmArgumentError } from './errors';
import type { Param } from './types';

/** The part of a tfjs-layers `LayerVariable` used here. */
export interface LayerVariableLike {
  readonly originalName: string;
  /** The underlying tf.Variable (typed as a Tensor by tfjs-layers; objects exposing only a `val` property are accepted too). */
  read(): tf.Tensor;
}

/** The tf.Variable behind a LayerVariable-like object: `read()`, else `val`. */
export function variableOf(w: LayerVariableLike): tf.Variable | undefined {
  const v: unknown =
    typeof w.read === 'function' ? w.read() : (w as unknown as { val?: unknown }).val;
  return isVariable(v) ? v : undefined;
}

/** The part of a tfjs-layers `LayersModel` (or `Layer`) used here. */
export interface LayersModelLike {
  readonly trainableWeights: readonly LayerVariableLike[];
}

export type ParamSource =
  | LayersModelLike
  | readonly tf.Variable[]
  | Readonly<Record<string, tf.Variable>>;

/**
 * Group assignment: group name -> key prefix (segment-wise: `'audio'` matches `audio/...` and
 * `audio`, not `audio2/...`; a prefix ending in `/` is used as is) or predicate on
 * `(key, variable)`.
 */
export type GroupSpec = Readonly<
  Record<string, string | ((key: string, variable: tf.Variable) => boolean)>
>;

function isLayersModel(x: unknown): x is LayersModelLike {
  return (
    typeof x === 'object' && x !== null && Array.isArray((x as LayersModelLike).trainableWeights)
  );
}

function isVariable(x: unknown): x is tf.Variable {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof (x as tf.Variable).assign === 'function' &&
    typeof (x as tf.Variable).name === 'string'
  );
}

function prefixMatches(prefix: string, key: string): boolean {
  if (prefix.endsWith('/')) return key.startsWith(prefix);
  return key === prefix || key.startsWith(`${prefix}/`);
}

/**
 * Lists the trainable variables of `source` as {@link Param}s:
 *
 * - a LayersModel-like object: key = `originalName` of each trainable weight (e.g.
 *   `audio_conv1/kernel`; the tf.Variable's own name may carry a `_1` suffix when names clash),
 * - an array of tf.Variable: key = `variable.name`,
 * - a record of tf.Variable: key = the record key.
 *
 * Each variable must match exactly one group of `groups` (default: a single group `'all'`).
 * Duplicate keys, and variables matching no group or two, are errors that list them.
 */
export function collectParams(
  source: ParamSource,
  groups: GroupSpec = { all: () => true },
): Map<string, Param> {
  const entries: Array<[string, tf.Variable]> = [];
  if (isLayersModel(source)) {
    source.trainableWeights.forEach((w, i) => {
      const v = variableOf(w);
      if (!isVariable(v) || typeof w.originalName !== 'string') {
        throw new IgmArgumentError(
          `collectParams: trainableWeights[${i}] has no originalName/read(); expected a tfjs-layers LayerVariable.`,
        );
      }
      entries.push([w.originalName, v]);
    });
  } else if (Array.isArray(source)) {
    source.forEach((v, i) => {
      if (!isVariable(v))
        throw new IgmArgumentError(
          `collectParams: element ${i} is not a tf.Variable (got ${String(v)}).`,
        );
      entries.push([v.name, v]);
    });
  } else if (typeof source === 'object' && source !== null) {
    for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
      if (!isVariable(v))
        throw new IgmArgumentError(
          `collectParams: source["${k}"] is not a tf.Variable (got ${String(v)}).`,
        );
      entries.push([k, v]);
    }
  } else {
    throw new IgmArgumentError(
      `collectParams: received source=${String(source)}. Expected a LayersModel, an array of tf.Variable or a record of tf.Variable.`,
    );
  }
  const groupNames = Object.keys(groups);
  if (groupNames.length === 0)
    throw new IgmArgumentError(
      'collectParams: groups is empty. Pass { group: prefix | predicate }.',
    );
  const out = new Map<string, Param>();
  const problems: string[] = [];
  for (const [key, variable] of entries) {
    if (out.has(key)) {
      throw new IgmArgumentError(
        `collectParams: key "${key}" appears twice; give the layers unique names.`,
      );
    }
    const hits = groupNames.filter((g) => {
      const spec = groups[g]!;
      return typeof spec === 'string' ? prefixMatches(spec, key) : spec(key, variable);
    });
    if (hits.length !== 1) {
      problems.push(
        `"${key}" matches ${hits.length === 0 ? 'no group' : `groups ${hits.join(', ')}`}`,
      );
      continue;
    }
    out.set(key, { key, variable, group: hits[0]! });
  }
  if (problems.length > 0) {
    throw new IgmArgumentError(
      `collectParams: every variable must match exactly one group. ${problems.join('; ')}. Groups: ${groupNames
        .map((g) =>
          typeof groups[g] === 'string' ? `${g} (prefix "${groups[g]}")` : `${g} (predicate)`,
        )
        .join(', ')}.`,
    );
  }
  return out;
}

/**
 * The parameter groups of a model in one line, for errors about parameter selections:
 * `encoder/audio: 4 tensors, ranks 4 x2, 1 x2 (e.g. encoder/audio/conv1/kernel); head/shared: ...`.
 */
export function describeParamGroups(params: Iterable<Param>): string {
  const groups = new Map<string, { count: number; ranks: Map<number, number>; example: string }>();
  for (const p of params) {
    const g = groups.get(p.group) ?? { count: 0, ranks: new Map(), example: p.key };
    g.count++;
    g.ranks.set(p.variable.rank, (g.ranks.get(p.variable.rank) ?? 0) + 1);
    groups.set(p.group, g);
  }
  if (groups.size === 0) return '(no parameters)';
  return [...groups]
    .map(([name, g]) => {
      const ranks = [...g.ranks]
        .sort((a, b) => b[0] - a[0])
        .map(([rank, n]) => `${rank} x${n}`)
        .join(', ');
      return `${name}: ${g.count} tensor${g.count === 1 ? '' : 's'}, rank${g.ranks.size === 1 ? '' : 's'} ${ranks} (e.g. ${g.example})`;
    })
    .join('; ');
}

/**
 * The error for a parameter selection that matches nothing (a method that would otherwise
 * silently do nothing): names who selects, what the selection is, and the model's groups.
 *
 *   throw emptySelectionError('ogmGe', "tensors: 'conv' (rank-4 kernels) of encoder/audio", params,
 *     "Use tensors: 'encoder' for encoders without convolutions.");
 */
export function emptySelectionError(
  where: string,
  selection: string,
  params: Iterable<Param>,
  hint?: string,
): IgmArgumentError {
  return new IgmArgumentError(
    `${where}: ${selection} selects no parameter, so the method would change nothing. The model's parameter groups: ${describeParamGroups(params)}.${hint ? ` ${hint}` : ''}`,
  );
}
