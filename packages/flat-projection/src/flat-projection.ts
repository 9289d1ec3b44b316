/**
 * `flatProjection`: IGM's gradient projection of the head kernels
 * (docs/algorithms/igm.md#projected-gradients; IGM, IJCAI 2025, Eq. 4
 * "omega <- omega - eta T grad L").
 *
 * During the stage of modality j (stage >= 1), each Dense kernel K_l of head_j gets
 *
 *   G_K <- T_{k,l'} G_K            (TF.js (in, out) layout; PyTorch: G_W <- G_W T)
 *
 * where k = previousModality(order, j) is the cyclic predecessor and l' the layer of head_k
 * paired with l (by kernel shape, or an explicit map). T_{k,l'} is built from the inputs of
 * layer l' over one pass (InputMomentAccumulator + buildFlatProjection) and installed with
 * `setProjection` at the stage boundary; it is fixed for the stage. Until one is installed
 * (stage 0), the transform is the identity and runs no op.
 *
 * Not projected: biases, encoders, any other parameter, kernels listed in `unprojected`, and
 * the weight decay (put `flatProjection` before `sgd`/`adam`, which add it). Momentum and Adam
 * moments then accumulate the projected gradients, as in the reference.
 *
 * Selections that would silently project nothing are errors: a modality of `order` whose head
 * kernels are all listed in `unprojected`, and a step whose `ctx.stage` names no modality of
 * `layers` (kernels are projected only during their own modality's stage).
 */
import {
  checkChoice,
  checkKnownKeys,
  checkNumber,
  type GradientTransform,
  type Grads,
  type HeadLayerInfo,
  IgmArgumentError,
  type NamedVariable,
} from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import type { InputMomentAccumulator } from './accumulator';
import { identity } from './expm';
import {
  buildFlatProjection,
  type FlatProjectionMatrixOptions,
  type FlatProjectionResult,
} from './matrix';
import { HostMirror } from './mirror';
import { stateVariable } from './state';

export interface FlatProjectionOptions {
  /** Every modality's head Dense layers (`model.headLayers(m)` for each m). */
  readonly layers: readonly HeadLayerInfo[];
  /** Training order of the modalities (default: their order of first appearance in `layers`). */
  readonly order?: readonly string[];
  /** Temperature of T (default 0.4, every dataset of the paper); used by `installProjection`. */
  readonly tau?: number;
  /**
   * `'shape'` (default, as the reference): layer l of modality j uses the T of the layer of the
   * previous modality whose kernel has the same (in, out) shape; an ambiguous match, or no
   * match for a layer not listed in `unprojected`, is an error. Or an explicit map from the
   * current kernel key to the previous modality's layer (kernel) key; every head layer must then
   * be mapped or listed in `unprojected`.
   */
  readonly pairs?: 'shape' | Readonly<Record<string, string>>;
  /** Kernel keys never projected, e.g. the image head's Dense(1000 -> 768), which has no partner. */
  readonly unprojected?: readonly string[];
}

export interface FlatProjectionState {
  readonly kind: 'flatProjection';
  readonly tau: number;
  /** Current kernel key -> layer key whose T it uses. */
  readonly pairing: ReadonlyMap<string, string>;
  /** Kernel key -> modality. */
  readonly modalityOf: ReadonlyMap<string, string>;
  /** Layer key -> its T ([d, d], identity until set). */
  readonly matrices: ReadonlyMap<string, tf.Variable>;
  /** Layer key -> position in `active`. */
  readonly index: ReadonlyMap<string, number>;
  /** 1 where a T is installed (float32 vector, one entry per layer key of `matrices`). */
  readonly active: tf.Variable;
  readonly mirror: HostMirror;
}

const KNOWN = ['layers', 'order', 'tau', 'pairs', 'unprojected'];

/**
 * The cyclic predecessor of `current` in the training order: k = mod(j + m - 2, m) + 1 for
 * modality j of 1..m (IGM paper). With two modalities each uses the other; with one, itself.
 */
export function previousModality(order: readonly string[], current: string): string {
  const j = order.indexOf(current);
  if (j < 0) {
    throw new IgmArgumentError(
      `previousModality: received current=${JSON.stringify(current)}, which is not in the order [${order.join(', ')}].`,
    );
  }
  return order[(j - 1 + order.length) % order.length]!;
}

/** The pairing current kernel key -> previous modality's layer key (see `pairs`). */
export function pairHeadLayers(
  layers: readonly HeadLayerInfo[],
  options: Pick<FlatProjectionOptions, 'order' | 'pairs' | 'unprojected'> = {},
): Map<string, string> {
  const where = 'flatProjection';
  const byKey = new Map<string, HeadLayerInfo>();
  for (const l of layers) {
    if (byKey.has(l.kernelKey)) {
      throw new IgmArgumentError(`${where}: kernel key "${l.kernelKey}" appears twice in layers.`);
    }
    byKey.set(l.kernelKey, l);
  }
  const modalities = [...new Set(layers.map((l) => l.modality))];
  const order = options.order ?? modalities;
  for (const m of modalities) {
    if (!order.includes(m)) {
      throw new IgmArgumentError(
        `${where}: layers of modality "${m}" but order is [${order.join(', ')}]. List every modality in order.`,
      );
    }
  }
  for (const m of order) {
    if (!modalities.includes(m)) {
      throw new IgmArgumentError(
        `${where}: order names "${m}", which has no head layers. Modalities with layers: ${modalities.join(', ')}.`,
      );
    }
  }
  const unprojected = new Set(options.unprojected ?? []);
  for (const k of unprojected) {
    if (!byKey.has(k)) {
      throw new IgmArgumentError(
        `${where}: unprojected names "${k}", which is not a head kernel key. Known keys: ${[...byKey.keys()].join(', ')}.`,
      );
    }
  }
  const shape = (l: HeadLayerInfo): string => `${l.inputDim}x${l.outputDim}`;
  const pairing = new Map<string, string>();
  const pairs = options.pairs ?? 'shape';
  if (pairs === 'shape') {
    for (const l of layers) {
      if (unprojected.has(l.kernelKey)) continue;
      const prev = previousModality(order, l.modality);
      const candidates = layers.filter(
        (p) => p.modality === prev && p.inputDim === l.inputDim && p.outputDim === l.outputDim,
      );
      if (candidates.length !== 1) {
        const prevShapes = layers
          .filter((p) => p.modality === prev)
          .map((p) => `${p.kernelKey} (${shape(p)})`)
          .join(', ');
        throw new IgmArgumentError(
          `${where}: layer ${l.kernelKey} (${shape(l)}) of "${l.modality}" has ${candidates.length === 0 ? 'no' : `${candidates.length} (ambiguous)`} same-shape layer(s) in the previous modality "${prev}": ${prevShapes}. ` +
            (candidates.length === 0
              ? 'List it in unprojected (as the image head Dense(1000->768)) or pass an explicit pairs map.'
              : 'Pass an explicit pairs map.'),
        );
      }
      pairing.set(l.kernelKey, candidates[0]!.kernelKey);
    }
    return pairing;
  }
  if (typeof pairs !== 'object' || pairs === null) {
    throw new IgmArgumentError(
      `${where}: received pairs=${String(pairs)}. Expected 'shape' or a map { currentKernelKey: previousLayerKey }.`,
    );
  }
  for (const [cur, prevKey] of Object.entries(pairs)) {
    const l = byKey.get(cur);
    const p = byKey.get(prevKey);
    if (!l || !p) {
      throw new IgmArgumentError(
        `${where}: pairs maps "${cur}" -> "${prevKey}", but ${!l ? `"${cur}"` : `"${prevKey}"`} is not a head kernel key. Known keys: ${[...byKey.keys()].join(', ')}.`,
      );
    }
    if (unprojected.has(cur)) {
      throw new IgmArgumentError(`${where}: "${cur}" is both paired and listed in unprojected.`);
    }
    if (p.inputDim !== l.inputDim) {
      throw new IgmArgumentError(
        `${where}: pairs maps "${cur}" (input dim ${l.inputDim}) to "${prevKey}" (input dim ${p.inputDim}); T of the partner must be ${l.inputDim}x${l.inputDim}.`,
      );
    }
    pairing.set(cur, prevKey);
  }
  const missing = layers.filter((l) => !pairing.has(l.kernelKey) && !unprojected.has(l.kernelKey));
  if (missing.length > 0) {
    throw new IgmArgumentError(
      `${where}: head layer(s) ${missing.map((l) => l.kernelKey).join(', ')} are neither in pairs nor in unprojected. Map or list each one.`,
    );
  }
  return pairing;
}

/**
 * IGM's flat projection of the current modality's head kernel gradients (module doc).
 *
 *   stage 0 (no T installed): G unchanged
 *   stage >= 1:               G_K <- T_{prev(j), pair(K)} G_K   for the head kernels K of j
 *
 * If the step context names a stage (`ctx.stage`), only that modality's kernels are projected.
 */
export function flatProjection(
  options: FlatProjectionOptions,
): GradientTransform<FlatProjectionState> {
  const where = 'flatProjection';
  checkKnownKeys(where, options, KNOWN);
  if (!options || !Array.isArray(options.layers) || options.layers.length === 0) {
    throw new IgmArgumentError(
      `${where}: received layers=${String(options?.layers)}. Expected the HeadLayerInfo list of every modality's head (model.headLayers(m)).`,
    );
  }
  const tau = checkNumber(where, 'tau', options.tau ?? 0.4, { min: 0 });
  if (typeof options.pairs === 'string') checkChoice(where, 'pairs', options.pairs, ['shape']);
  const layers = options.layers;
  const pairing = pairHeadLayers(layers, options);
  const modalityOf = new Map(layers.map((l) => [l.kernelKey, l.modality]));
  const order = options.order ?? [...new Set(layers.map((l) => l.modality))];
  const projectedModalities = new Set([...pairing.keys()].map((k) => modalityOf.get(k)!));
  const idle = order.filter((m) => !projectedModalities.has(m));
  if (idle.length > 0) {
    throw new IgmArgumentError(
      `${where}: the projected head kernels of ${idle.map((m) => `"${m}"`).join(', ')} (head kernels not listed in unprojected) select no parameter: every one is in unprojected, so the flat projection would never act during ${idle.length === 1 ? 'its' : 'their'} stages. Head kernels by modality: ${order
        .map(
          (m) =>
            `${m}: ${layers
              .filter((l) => l.modality === m)
              .map((l) => `${l.kernelKey} (${l.inputDim}x${l.outputDim})`)
              .join(', ')}`,
        )
        .join('; ')}. Remove at least one kernel of each modality from unprojected.`,
    );
  }
  const dimOf = new Map(layers.map((l) => [l.kernelKey, l.inputDim]));
  const sources = [...new Set(pairing.values())];
  return {
    name: 'flatProjection',
    init(params) {
      for (const l of layers) {
        const p = params.get(l.kernelKey);
        if (!p) {
          throw new IgmArgumentError(
            `${where}: head kernel "${l.kernelKey}" is not among the parameters. Known keys: ${[...params.keys()].slice(0, 20).join(', ')}${params.size > 20 ? ', ...' : ''}.`,
          );
        }
        const [din, dout] = p.variable.shape;
        if (p.variable.rank !== 2 || din !== l.inputDim || dout !== l.outputDim) {
          throw new IgmArgumentError(
            `${where}: parameter "${l.kernelKey}" has shape [${p.variable.shape}], but its HeadLayerInfo says [${l.inputDim}, ${l.outputDim}] (TF.js kernels are (in, out)).`,
          );
        }
      }
      const matrices = new Map<string, tf.Variable>();
      const index = new Map<string, number>();
      sources.forEach((key, i) => {
        const d = dimOf.get(key)!;
        matrices.set(key, stateVariable('flatProjection', `${key}/T`, identity(d)));
        index.set(key, i);
      });
      const active = stateVariable('flatProjection', 'active', tf.zeros([sources.length]));
      return {
        kind: 'flatProjection',
        tau,
        pairing,
        modalityOf,
        matrices,
        index,
        active,
        mirror: new HostMirror(active),
      };
    },
    update(grads, state, ctx) {
      assertState(state);
      const flags = state.mirror.read();
      let projected = 0;
      const out: Grads = new Map(grads);
      if (ctx.stage !== undefined && !order.includes(ctx.stage)) {
        throw new IgmArgumentError(
          `${where}: the step's stage "${ctx.stage}" is not a modality of the head layers (${order.join(', ')}), so no kernel would be projected. Name the stages after the modalities (stageWise({ order }) does).`,
        );
      }
      for (const [key, g] of grads) {
        const source = state.pairing.get(key);
        if (source === undefined) continue;
        if (ctx.stage !== undefined && state.modalityOf.get(key) !== ctx.stage) continue;
        if (flags[state.index.get(source)!] !== 1) continue;
        out.set(key, tf.matMul(state.matrices.get(source)!, g));
        projected++;
      }
      ctx.log('flatProjection/projectedKernels', projected);
      return out;
    },
    state(s) {
      assertState(s);
      return [
        ...[...s.matrices].map(([key, variable]) => ({ name: `T/${key}`, variable })),
        { name: 'active', variable: s.active },
      ] satisfies NamedVariable[];
    },
  };
}

function assertState(state: unknown): asserts state is FlatProjectionState {
  const s = state as FlatProjectionState | undefined;
  if (s?.kind !== 'flatProjection') {
    throw new IgmArgumentError(
      `flatProjection: got state ${s === undefined ? 'undefined' : 'of another transform'}. Pass the state returned by flatProjection(...).init(params) (inside a chain: the chain state's member).`,
    );
  }
}

/**
 * Installs the T matrices of a stage (layer key -> [d, d]), replacing any installed before:
 * layers not given go back to the identity. The tensors are copied into the state's Variables;
 * the caller still owns (and disposes) them.
 */
export function setProjection(
  state: FlatProjectionState,
  matricesByLayer: ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>,
): void {
  assertState(state);
  const entries =
    matricesByLayer instanceof Map
      ? [...matricesByLayer.entries()]
      : Object.entries(matricesByLayer as Record<string, tf.Tensor>);
  const flags = new Array<number>(state.index.size).fill(0);
  for (const [key, t] of entries) {
    const v = state.matrices.get(key);
    if (!v) {
      throw new IgmArgumentError(
        `setProjection: no projected layer uses the T of "${key}". Layers with a T: ${[...state.matrices.keys()].join(', ')}.`,
      );
    }
    if (t.rank !== 2 || t.shape[0] !== v.shape[0] || t.shape[1] !== v.shape[1]) {
      throw new IgmArgumentError(
        `setProjection: T of "${key}" has shape [${t.shape}]; expected [${v.shape}].`,
      );
    }
    flags[state.index.get(key)!] = 1;
  }
  tf.tidy(() => {
    for (const [key, t] of entries) state.matrices.get(key)!.assign(tf.cast(t, 'float32'));
    state.mirror.write(tf.tensor1d(flags), flags);
  });
}

/** Back to the identity for every layer (stage 0). */
export function clearProjection(state: FlatProjectionState): void {
  assertState(state);
  const flags = new Array<number>(state.index.size).fill(0);
  tf.tidy(() => state.mirror.write(tf.tensor1d(flags), flags));
}

/** Layer keys whose T is currently installed. */
export function activeProjections(state: FlatProjectionState): string[] {
  assertState(state);
  const flags = state.mirror.read();
  return [...state.index].filter(([, i]) => flags[i] === 1).map(([k]) => k);
}

/** What `installProjection` built for one layer (log it: s_min, s_max, method). */
export interface InstalledProjection extends Omit<FlatProjectionResult, 'matrix'> {
  readonly layerKey: string;
  /** Batches accumulated for the layer (n_B). */
  readonly batches: number;
}

/**
 * The stage boundary in one call: builds T for every layer of `layers` (the modality just
 * trained) from the accumulator's Y (tau from the transform), with s_min = 0 known whenever
 * fewer batches than dimensions were accumulated, and installs them with `setProjection`.
 * Layers no current kernel pairs with are skipped. Returns the spectra for logging.
 */
export function installProjection(
  state: FlatProjectionState,
  accumulator: InputMomentAccumulator,
  layers: readonly HeadLayerInfo[],
  options: Omit<FlatProjectionMatrixOptions, 'sMin'> & { tau?: number } = {},
): InstalledProjection[] {
  assertState(state);
  const { tau = state.tau, ...matrixOptions } = options;
  const built = new Map<string, tf.Tensor2D>();
  const report: InstalledProjection[] = [];
  try {
    for (const l of layers) {
      if (!state.matrices.has(l.kernelKey)) continue;
      const batches = accumulator.count(l.kernelKey);
      if (batches === 0) {
        throw new IgmArgumentError(
          `installProjection: no batch was accumulated for "${l.kernelKey}". Run one pass over the training set with accumulator.addOutputs first.`,
        );
      }
      const { matrix, ...info } = buildFlatProjection(accumulator.get(l.kernelKey), tau, {
        symmetric: true,
        ...matrixOptions,
        ...(batches < l.inputDim ? { sMin: 0 } : {}),
      });
      built.set(l.kernelKey, matrix);
      report.push({ ...info, layerKey: l.kernelKey, batches });
    }
    setProjection(state, built);
  } finally {
    for (const t of built.values()) t.dispose();
  }
  return report;
}
