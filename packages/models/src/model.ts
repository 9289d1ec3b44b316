/**
 * `MultimodalModel`: one encoder per named modality + a head strategy + a fusion rule
 * (DESIGN.md 5, ALGORITHMS.md 1.2, 3.1, 3.3, 4.1, 6.1, 9). Implements `MultimodalModelLike`.
 *
 * forward(inputs, { training, batchStatistics, modalities, zeroed }) returns, for each modality
 * m that runs:
 *   features/<m>        encoder output [B, d_m] (video [B, T, H, W, C]: frames folded into the
 *                       batch, per-frame features averaged over T)
 *   input/head/<m>/<i>  input of the i-th Dense layer applied to m's features (per-modality heads:
 *                       every layer; shared head: i = 0, the features)
 *   logits/<m>          per-modality logits [B, C] (own head, shared head, or weight slice)
 * and, when every modality runs:
 *   logits/fused        fused logits (fusion heads, fixed and entropy fusion rules)
 *   probs/fused         fused class scores used for prediction
 *
 * Dense-layer indices vs ALGORITHMS.md 1.3: IGM's PyTorch head `Sequential(Linear, ReLU, Linear,
 * Linear)` numbers its Linear layers 0, 2, 3; here they are Dense 0, 1, 2 (the ReLU is not a
 * layer), so `input/head/<m>/1` is the post-ReLU 256-d vector (PyTorch layer 2) and
 * `input/head/<m>/2` the 64-d vector (PyTorch layer 3). The text-image image head
 * `Linear(1000,768), Linear(768,256), ReLU, Linear, Linear` (PyTorch 0, 1, 3, 4) is Dense 0-3.
 *
 * Zeroed modalities (AGM, Shapley): the input is replaced by zeros in the *normalised* input
 * space the dataset delivers, e.g. log-magnitude 0 for audio, and for ImageNet-normalised images
 * the mean colour (0 after normalisation).
 *
 * BatchNorm: `training: true` normalises with batch statistics; `batchStatistics: 'update'`
 * (default) updates the moving averages exactly once per forward, `'frozen'` leaves them
 * untouched (SAM's second pass). This package's `BatchNorm` layer implements it directly; stock
 * tfjs `BatchNormalization` layers in user encoders are snapshotted and restored around a frozen
 * forward (they keep tfjs numerics: biased variance in the moving average).
 */

import type { ForwardOptions, HeadLayerInfo, MultimodalModelLike, Param } from '@igm/core';
import { checkChoice, checkKnownKeys, checkNumber, createRng, IgmArgumentError } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  checkDenseSpecs,
  type DenseSpec,
  DenseVariables,
  entropyWeightedLogits,
  FUSION_TYPES,
  type FusionRule,
  HEAD_TYPES,
  type HeadInit,
  type HeadSpec,
  headLayerInfo,
  igmHiddenLayers,
  meanSoftmax,
  sumLogSoftmax,
  weightedLogits,
} from './heads';

/** Options of {@link MultimodalModel}. */
export interface MultimodalModelConfig {
  /**
   * One tfjs-layers model per modality, each mapping [B, ...] to [B, d]. The key order is the
   * modality order (concat rows, fixed fusion weights given as an array). The model takes
   * ownership: `dispose()` disposes the encoders.
   */
  readonly encoders: Readonly<Record<string, tfl.LayersModel>>;
  readonly numClasses: number;
  /** Default `{ type: 'per-modality' }` with IGM's hidden layers. */
  readonly head?: HeadSpec;
  /**
   * Default: `mean-softmax` for per-modality heads, `entropy` (per sample) for a shared head,
   * `head` for concat/sum fusion heads.
   */
  readonly fusion?: FusionRule;
  /** Seed of the head initialisation. Default 0. */
  readonly seed?: number;
}

interface EncoderEntry {
  readonly model: tfl.LayersModel;
  readonly inputRank: number;
  readonly featureDim: number;
  readonly stockBatchNorms: tfl.LayerVariable[];
}

function allLayers(model: tfl.LayersModel): tfl.layers.Layer[] {
  const out: tfl.layers.Layer[] = [];
  for (const layer of model.layers) {
    if (layer instanceof tfl.LayersModel) out.push(...allLayers(layer));
    else out.push(layer);
  }
  return out;
}

function asVariable(v: tfl.LayerVariable): tf.Variable {
  return v.read() as tf.Variable;
}

const FORWARD_KEYS = ['training', 'batchStatistics', 'modalities', 'zeroed'];

export class MultimodalModel implements MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  readonly headType: HeadSpec['type'];
  readonly fusion: FusionRule;
  private readonly encoders = new Map<string, EncoderEntry>();
  /** Per-modality heads (per-modality type). */
  private readonly heads = new Map<string, DenseVariables[]>();
  /** Shared head (shared type). */
  private shared: DenseVariables | undefined;
  /** Fusion layers: one for concat, one per modality for sum. */
  private readonly fusionLayers = new Map<string, DenseVariables>();
  private readonly fixedWeights: number[] = [];
  private paramList: Param[] = [];
  private nonTrainableList: Array<{ key: string; variable: tf.Variable }> = [];
  private disposed = false;

  constructor(config: MultimodalModelConfig) {
    const where = 'MultimodalModel';
    checkKnownKeys(where, config, ['encoders', 'numClasses', 'head', 'fusion', 'seed']);
    if (config.encoders == null || typeof config.encoders !== 'object') {
      throw new IgmArgumentError(
        `${where}: received encoders=${String(config.encoders)}. Expected a record { modality: tf.LayersModel }, e.g. { audio: resnet18({ inChannels: 1 }) }.`,
      );
    }
    this.modalities = Object.keys(config.encoders);
    if (this.modalities.length === 0) {
      throw new IgmArgumentError(`${where}: encoders is empty. Give at least one modality.`);
    }
    this.numClasses = checkNumber(where, 'numClasses', config.numClasses, {
      min: 1,
      integer: true,
    });
    const seed = checkNumber(where, 'seed', config.seed ?? 0, { integer: true });
    const rng = createRng(seed);

    for (const m of this.modalities) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(m)) {
        throw new IgmArgumentError(
          `${where}: modality name ${JSON.stringify(m)} must be alphanumeric (with _ or -), as it becomes part of output names and parameter keys.`,
        );
      }
      this.encoders.set(m, this.checkEncoder(m, config.encoders[m]));
    }

    const head: HeadSpec = config.head ?? { type: 'per-modality' };
    checkChoice(where, 'head.type', head.type, HEAD_TYPES);
    this.headType = head.type;
    const defaultInit: HeadInit = head.type === 'per-modality' ? 'pytorch' : 'xavier';
    const init = checkChoice(where, 'head.init', head.init ?? defaultInit, ['pytorch', 'xavier']);
    const C = this.numClasses;
    const M = this.modalities.length;

    if (head.type === 'per-modality') {
      checkKnownKeys(`${where} head`, head, ['type', 'hidden', 'init']);
      for (const m of this.modalities) {
        const hidden = this.hiddenFor(m, head.hidden);
        const layers: DenseVariables[] = [];
        let d = this.encoders.get(m)!.featureDim;
        const hrng = rng.fork(`head/${m}`);
        hidden.forEach((spec, i) => {
          layers.push(
            new DenseVariables(
              `head/${m}/dense_${i}`,
              d,
              spec.units,
              spec.activation ?? 'linear',
              init,
              hrng,
            ),
          );
          d = spec.units;
        });
        layers.push(
          new DenseVariables(`head/${m}/dense_${hidden.length}`, d, C, 'linear', init, hrng),
        );
        this.heads.set(m, layers);
      }
    } else if (head.type === 'shared') {
      checkKnownKeys(`${where} head`, head, ['type', 'init']);
      const dims = this.modalities.map((m) => this.encoders.get(m)!.featureDim);
      if (dims.some((d) => d !== dims[0])) {
        throw new IgmArgumentError(
          `${where}: a shared head needs equal feature sizes; received ${this.modalities.map((m, i) => `${m}: ${dims[i]}`).join(', ')}. Add a projection to the encoders or use per-modality heads.`,
        );
      }
      this.shared = new DenseVariables(
        'head/shared/dense_0',
        dims[0]!,
        C,
        'linear',
        init,
        rng.fork('head/shared'),
      );
    } else if (head.type === 'concat') {
      checkKnownKeys(`${where} head`, head, ['type', 'init']);
      const total = this.modalities.reduce((s, m) => s + this.encoders.get(m)!.featureDim, 0);
      this.fusionLayers.set(
        'concat',
        new DenseVariables('fusion/dense_0', total, C, 'linear', init, rng.fork('fusion')),
      );
    } else {
      checkKnownKeys(`${where} head`, head, ['type', 'init']);
      const frng = rng.fork('fusion');
      for (const m of this.modalities) {
        this.fusionLayers.set(
          m,
          new DenseVariables(
            `fusion/${m}`,
            this.encoders.get(m)!.featureDim,
            C,
            'linear',
            init,
            frng,
          ),
        );
      }
    }

    const fusionHead = head.type === 'concat' || head.type === 'sum';
    const defaultFusion: FusionRule = fusionHead
      ? { type: 'head' }
      : head.type === 'shared'
        ? { type: 'entropy', axis: 'sample' }
        : { type: 'mean-softmax' };
    this.fusion = config.fusion ?? defaultFusion;
    checkChoice(where, 'fusion.type', this.fusion.type, FUSION_TYPES);
    if (fusionHead !== (this.fusion.type === 'head')) {
      throw new IgmArgumentError(
        `${where}: received fusion.type=${JSON.stringify(this.fusion.type)} with head.type=${JSON.stringify(head.type)}. Fusion heads (concat, sum) use fusion { type: 'head' }; per-modality and shared heads use 'mean-softmax', 'sum-log-softmax', 'fixed' or 'entropy'.`,
      );
    }
    if (this.fusion.type === 'fixed') {
      checkKnownKeys(`${where} fusion`, this.fusion, ['type', 'weights']);
      const w = this.fusion.weights;
      if (Array.isArray(w)) {
        if (w.length !== M) {
          throw new IgmArgumentError(
            `${where}: received fusion.weights=${JSON.stringify(w)}. Expected ${M} weights in modality order (${this.modalities.join(', ')}).`,
          );
        }
        w.forEach((v, i) => {
          this.fixedWeights.push(checkNumber(where, `fusion.weights[${i}]`, v));
        });
      } else {
        checkKnownKeys(`${where} fusion.weights`, w, this.modalities);
        for (const m of this.modalities) {
          this.fixedWeights.push(
            checkNumber(where, `fusion.weights.${m}`, (w as Record<string, number>)[m]),
          );
        }
      }
    } else if (this.fusion.type === 'entropy') {
      checkKnownKeys(`${where} fusion`, this.fusion, ['type', 'axis']);
      checkChoice(where, 'fusion.axis', this.fusion.axis ?? 'sample', ['sample', 'batch']);
    } else {
      checkKnownKeys(`${where} fusion`, this.fusion, ['type']);
    }
    this.collectVariables();
  }

  private checkEncoder(m: string, model: unknown): EncoderEntry {
    const where = 'MultimodalModel';
    if (!(model instanceof tfl.LayersModel)) {
      throw new IgmArgumentError(
        `${where}: encoders.${m} is not a tf.LayersModel (received ${model === null ? 'null' : typeof model}). Build it with tf.model/tf.sequential or resnet18/smallCnn/mlpEncoder.`,
      );
    }
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      throw new IgmArgumentError(
        `${where}: encoders.${m} has ${model.inputs.length} inputs and ${model.outputs.length} outputs; expected one of each.`,
      );
    }
    const out = model.outputs[0]!.shape;
    if (out.length !== 2 || out[1] == null) {
      throw new IgmArgumentError(
        `${where}: encoders.${m} outputs shape [${out.map(String).join(', ')}]; expected [batch, d] with d known (add a global pooling or flatten layer).`,
      );
    }
    const stockBatchNorms: tfl.LayerVariable[] = [];
    for (const layer of allLayers(model)) {
      if (layer.getClassName() === 'BatchNormalization') {
        stockBatchNorms.push(...layer.nonTrainableWeights);
      }
    }
    return { model, inputRank: model.inputs[0]!.shape.length, featureDim: out[1], stockBatchNorms };
  }

  private hiddenFor(
    m: string,
    hidden: readonly DenseSpec[] | Readonly<Record<string, readonly DenseSpec[]>> | undefined,
  ): DenseSpec[] {
    if (hidden === undefined) return igmHiddenLayers();
    if (Array.isArray(hidden)) return checkDenseSpecs('MultimodalModel head.hidden', hidden);
    const record = hidden as Readonly<Record<string, readonly DenseSpec[]>>;
    checkKnownKeys('MultimodalModel head.hidden', record, this.modalities);
    return record[m] === undefined
      ? igmHiddenLayers()
      : checkDenseSpecs(`MultimodalModel head.hidden.${m}`, record[m]);
  }

  private collectVariables(): void {
    const params: Param[] = [];
    const nonTrainable: Array<{ key: string; variable: tf.Variable }> = [];
    for (const m of this.modalities) {
      const enc = this.encoders.get(m)!.model;
      for (const w of enc.trainableWeights) {
        params.push({
          key: `encoder/${m}/${w.originalName}`,
          variable: asVariable(w),
          group: `encoder/${m}`,
        });
      }
      for (const w of enc.nonTrainableWeights) {
        nonTrainable.push({ key: `encoder/${m}/${w.originalName}`, variable: asVariable(w) });
      }
    }
    const dense = (d: DenseVariables, group: string) => {
      params.push({ key: d.kernelKey, variable: d.kernel, group });
      params.push({ key: d.biasKey, variable: d.bias, group });
    };
    for (const [m, layers] of this.heads) for (const d of layers) dense(d, `head/${m}`);
    if (this.shared) dense(this.shared, 'head/shared');
    for (const d of this.fusionLayers.values()) dense(d, 'fusion');
    const seen = new Set<string>();
    for (const { key } of [...params, ...nonTrainable]) {
      if (seen.has(key)) {
        throw new IgmArgumentError(
          `MultimodalModel: two variables share the key "${key}". Give the layers of nested encoder models distinct names.`,
        );
      }
      seen.add(key);
    }
    this.paramList = params;
    this.nonTrainableList = nonTrainable;
  }

  private assertLive(): void {
    if (this.disposed) throw new IgmArgumentError('MultimodalModel: the model was disposed.');
  }

  /** Every trainable parameter: groups `encoder/<m>`, `head/<m>`, `head/shared`, `fusion`. */
  params(): Param[] {
    this.assertLive();
    return [...this.paramList];
  }

  /** BatchNorm moving statistics (and any other non-trainable encoder weight), keyed like params. */
  nonTrainable(): Array<{ key: string; variable: tf.Variable }> {
    this.assertLive();
    return [...this.nonTrainableList];
  }

  /** Feature size d_m of modality m's encoder. */
  featureDim(modality: string): number {
    return this.encoder(modality).featureDim;
  }

  /** The tfjs-layers encoder of modality m. */
  encoderModel(modality: string): tfl.LayersModel {
    return this.encoder(modality).model;
  }

  private encoder(m: string): EncoderEntry {
    const e = this.encoders.get(m);
    if (!e) {
      throw new IgmArgumentError(
        `MultimodalModel: unknown modality ${JSON.stringify(m)}. Known: ${this.modalities.join(', ')}.`,
      );
    }
    return e;
  }

  /**
   * The Dense layers applied to modality m's features: its own head's layers in order, or for a
   * shared head the shared layer as seen from m (the same kernel key for every modality); empty
   * for concat/sum fusion heads.
   */
  headLayers(modality: string): HeadLayerInfo[] {
    this.assertLive();
    this.encoder(modality);
    const info = (d: DenseVariables, index: number) => headLayerInfo(modality, index, d);
    if (this.shared) return [info(this.shared, 0)];
    return (this.heads.get(modality) ?? []).map(info);
  }

  /** Encoder forward of one modality, with frame folding for inputs of one extra rank. */
  private encode(m: string, x: tf.Tensor, kwargs: Record<string, unknown>): tf.Tensor {
    const e = this.encoders.get(m)!;
    if (x.rank === e.inputRank) return e.model.apply(x, { ...kwargs }) as tf.Tensor;
    if (x.rank === e.inputRank + 1) {
      const [b, t, ...rest] = x.shape;
      const folded = tf.reshape(x, [b! * t!, ...rest]);
      const f = e.model.apply(folded, { ...kwargs }) as tf.Tensor;
      return tf.mean(tf.reshape(f, [b!, t!, e.featureDim]), 1);
    }
    throw new IgmArgumentError(
      `MultimodalModel: input "${m}" has shape [${x.shape.join(', ')}] (rank ${x.rank}); its encoder expects rank ${e.inputRank} ([batch, ...]) or rank ${e.inputRank + 1} for frames ([batch, frames, ...]).`,
    );
  }

  /**
   * Named outputs of one forward pass (see the module doc). Synchronous and differentiable with
   * `tf.variableGrads` w.r.t. `params()`; call it inside `tf.tidy`.
   */
  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: ForwardOptions,
  ): Record<string, tf.Tensor> {
    this.assertLive();
    const where = 'MultimodalModel.forward';
    checkKnownKeys(where, options, FORWARD_KEYS);
    if (typeof options?.training !== 'boolean') {
      throw new IgmArgumentError(
        `${where}: received training=${String(options?.training)}. Expected true or false.`,
      );
    }
    const batchStatistics = checkChoice(
      where,
      'batchStatistics',
      options.batchStatistics ?? 'update',
      ['update', 'frozen'],
    );
    const run = options.modalities ?? this.modalities;
    const zeroed = options.zeroed ?? [];
    for (const m of run) this.encoder(m);
    for (const m of zeroed) {
      if (!run.includes(m)) {
        throw new IgmArgumentError(
          `${where}: zeroed modality ${JSON.stringify(m)} is not among the modalities run (${run.join(', ')}).`,
        );
      }
    }
    const order = this.modalities.filter((m) => run.includes(m));
    const frozen = options.training && batchStatistics === 'frozen';
    const snapshots = frozen ? this.snapshotStockBatchNorms(order) : [];
    const kwargs = { training: options.training, batchStatistics };
    const out: Record<string, tf.Tensor> = {};
    try {
      const features = new Map<string, tf.Tensor>();
      for (const m of order) {
        const x = inputs[m];
        if (!(x instanceof tf.Tensor)) {
          throw new IgmArgumentError(
            `${where}: inputs.${m} is missing (received ${x === undefined ? 'undefined' : typeof x}). Pass a tensor per modality run, or restrict options.modalities.`,
          );
        }
        const xin = zeroed.includes(m) ? tf.zerosLike(x) : x;
        const f = this.encode(m, xin, kwargs);
        features.set(m, f);
        out[`features/${m}`] = f;
      }
      this.applyHeads(order, features, options.training, out);
    } finally {
      for (const [v, value] of snapshots) {
        v.assign(value);
        value.dispose();
      }
    }
    return out;
  }

  private snapshotStockBatchNorms(order: readonly string[]): Array<[tf.Variable, tf.Tensor]> {
    const snaps: Array<[tf.Variable, tf.Tensor]> = [];
    for (const m of order) {
      for (const w of this.encoders.get(m)!.stockBatchNorms) {
        const v = asVariable(w);
        snaps.push([v, tf.clone(v)]);
      }
    }
    return snaps;
  }

  private applyHeads(
    order: readonly string[],
    features: Map<string, tf.Tensor>,
    training: boolean,
    out: Record<string, tf.Tensor>,
  ): void {
    const M = this.modalities.length;
    const logits: tf.Tensor[] = [];
    if (this.headType === 'per-modality') {
      for (const m of order) {
        let h = features.get(m)!;
        this.heads.get(m)!.forEach((d, i) => {
          out[`input/head/${m}/${i}`] = h;
          h = d.apply(h);
        });
        out[`logits/${m}`] = h;
        logits.push(h);
      }
    } else if (this.headType === 'shared') {
      for (const m of order) {
        const f = features.get(m)!;
        out[`input/head/${m}/0`] = f;
        const l = this.shared!.apply(f);
        out[`logits/${m}`] = l;
        logits.push(l);
      }
    } else if (this.headType === 'concat') {
      const d = this.fusionLayers.get('concat')!;
      let row = 0;
      const halfBias = tf.div(d.bias, M);
      for (const m of this.modalities) {
        const dm = this.encoders.get(m)!.featureDim;
        if (order.includes(m)) {
          const slice = tf.slice(d.kernel, [row, 0], [dm, -1]);
          out[`logits/${m}`] = tf.add(
            tf.matMul(features.get(m)! as tf.Tensor2D, slice as tf.Tensor2D),
            halfBias,
          );
        }
        row += dm;
      }
      if (order.length === M) {
        const fused = d.apply(
          tf.concat(
            this.modalities.map((m) => features.get(m)!),
            1,
          ),
        );
        out['logits/fused'] = fused;
        out['probs/fused'] = tf.softmax(fused);
      }
      return;
    } else {
      const parts: tf.Tensor[] = [];
      for (const m of order) {
        const d = this.fusionLayers.get(m)!;
        const noBias = tf.matMul(features.get(m)! as tf.Tensor2D, d.kernel as tf.Tensor2D);
        out[`logits/${m}`] = tf.add(noBias, training ? d.bias : tf.div(d.bias, M));
        parts.push(tf.add(noBias, d.bias));
      }
      if (order.length === M) {
        const fused = tf.addN(parts);
        out['logits/fused'] = fused;
        out['probs/fused'] = tf.softmax(fused);
      }
      return;
    }
    if (order.length !== M) return;
    const rule = this.fusion;
    if (rule.type === 'mean-softmax') {
      out['probs/fused'] = meanSoftmax(logits);
    } else if (rule.type === 'sum-log-softmax') {
      const fused = sumLogSoftmax(logits);
      out['logits/fused'] = fused;
      out['probs/fused'] = tf.softmax(fused);
    } else if (rule.type === 'fixed') {
      const fused = weightedLogits(logits, this.fixedWeights);
      out['logits/fused'] = fused;
      out['probs/fused'] = tf.softmax(fused);
    } else if (rule.type === 'entropy') {
      const { fused } = entropyWeightedLogits(logits, rule.axis ?? 'sample');
      out['logits/fused'] = fused;
      out['probs/fused'] = tf.softmax(fused);
    }
  }

  /** Parameter counts per group, as rows. */
  summaryRows(): Array<{ group: string; tensors: number; params: number }> {
    this.assertLive();
    const rows = new Map<string, { group: string; tensors: number; params: number }>();
    for (const p of this.paramList) {
      const r = rows.get(p.group) ?? { group: p.group, tensors: 0, params: 0 };
      r.tensors += 1;
      r.params += p.variable.size;
      rows.set(p.group, r);
    }
    return [...rows.values()];
  }

  /** A printable table of trainable parameters per group, plus the non-trainable count. */
  summary(): string {
    const rows = this.summaryRows();
    const total = rows.reduce((s, r) => s + r.params, 0);
    const tensors = rows.reduce((s, r) => s + r.tensors, 0);
    const nonTrainable = this.nonTrainableList.reduce((s, v) => s + v.variable.size, 0);
    const fmt = (n: number) => n.toLocaleString('en-US');
    const fusion =
      this.fusion.type === 'entropy'
        ? `entropy (${this.fusion.axis ?? 'sample'})`
        : this.fusion.type;
    const lines = [
      `MultimodalModel: ${this.modalities.length} modalities (${this.modalities.join(', ')}), ${this.numClasses} classes, head ${this.headType}, fusion ${fusion}`,
    ];
    const width = Math.max(5, ...rows.map((r) => r.group.length), 'non-trainable'.length);
    const line = (a: string, b: string, c: string) =>
      `${a.padEnd(width)}  ${b.padStart(8)}  ${c.padStart(12)}`;
    lines.push(line('group', 'tensors', 'params'));
    lines.push('-'.repeat(width + 24));
    for (const r of rows) lines.push(line(r.group, String(r.tensors), fmt(r.params)));
    lines.push('-'.repeat(width + 24));
    lines.push(line('total', String(tensors), fmt(total)));
    lines.push(line('non-trainable', String(this.nonTrainableList.length), fmt(nonTrainable)));
    return lines.join('\n');
  }

  /** Disposes the encoders and the head variables. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const e of this.encoders.values()) e.model.dispose();
    for (const layers of this.heads.values()) for (const d of layers) d.dispose();
    this.shared?.dispose();
    for (const d of this.fusionLayers.values()) d.dispose();
  }
}
