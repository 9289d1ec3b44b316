/**
 * DOMFN: Divergence-Orientated Multi-Modal Fusion Network (Yang et al., ACM MM 2022), ADAPTED to
 * batched classification with M >= 2 modalities. The authors' code trains at batch size 1 with
 * three MLP branches and four optimizers; here the per-instance gate is applied per sample inside
 * a batch, with one optimizer over all parameters (the adaptation is ours).
 *
 * Model ({@link DomfnModel}): an encoder phi_m and a unimodal head h_m = Dense(d_m -> C) per
 * modality (z_m = h_m(phi_m)), and a multimodal head on the concatenated features
 * h_mm = Dense(sum d_m -> hidden) -> ReLU -> Dense(hidden -> C) (z_mm; the reference: hidden 64).
 *
 * Gate (per sample i; no gradient through g):
 *   P_m,i = softmax(z_m,i)   (probabilities 'sigmoid': sigmoid(z_m,i), as the reference code)
 *   Pbar_i = mean_m P_m,i;   d_m,i = max_c (P_m,i[c] - Pbar_i[c])^2          divergence
 *   g_i = 1 if max_m d_m,i / tau < gamma else 0                              gated in
 *
 * Step ({@link domfnStep}):
 *   l_m,i = CE(z_m,i, y_i), l_mm,i = CE(z_mm,i, y_i) per sample ('sigmoid': CE applied to the
 *   sigmoid outputs, as the reference code)
 *   L = (1/B) sum_i [ g_i (sum_m (l_m,i^2 / 2 + l_m,i - eta d_m,i) + l_mm,i) + (1 - g_i) sum_m l_m,i ]
 *   one optimizer step; the multimodal head (group `fusion`) gets gradient only from gated-in
 *   samples and is not stepped at all when no sample of the batch is gated in (so at batch size
 *   1 this is the reference's "fusion" or "separate" update). The penalty -eta d is subtracted
 *   as in the reference code: the loss rewards divergence.
 *   Warm-up: during the first `pretrainEpochs` epochs L = sum_m mean_i l_m,i and only the
 *   unimodal branches are stepped (the reference's pre-training phase).
 *
 * Prediction (`probs/fused`, evaluation): P_mm,i = softmax(z_mm,i) (or sigmoid) when g_i = 1,
 * else P_m*,i with m* = argmax_m max_c P_m,i[c] (first modality on ties).
 *
 * With softmax probabilities and two modalities d_m,i <= 1/4, so at the reference's tau 0.5 and
 * gamma 0.8 the gate never closes: the logged gated-out fraction shows it.
 * Logs `domfn/gated-out` (fraction of the batch) and `domfn/divergence/<m>` (batch mean).
 */
import {
  checkChoice,
  checkKnownKeys,
  checkNumber,
  createRng,
  type ForwardOptions,
  type HeadLayerInfo,
  IgmArgumentError,
  type LossFn,
  type MultimodalModelLike,
  type Param,
} from '@igm/core';
import { crossEntropyPerSample, oneHotTargets, type TrainerStep } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import type { MethodBudget, OptionsReader } from './budget';
import { checkModalityCount } from './common';
import { featureDims, TorchDense } from './model-wrappers';
import { singleRunBudgetWith } from './scaled-budget';

export type DomfnProbabilities = 'softmax' | 'sigmoid';

export interface DomfnGateOptions {
  /** Divergence scale tau (reference: 0.5 MOSI, 0.2 resume). */
  readonly tau: number;
  /** Gate threshold gamma (reference 0.8). */
  readonly gamma: number;
  /** 'softmax' (default) or 'sigmoid' (the reference code's sigmoid outputs). */
  readonly probabilities?: DomfnProbabilities;
}

/** The per-sample gate of a batch: probabilities, divergences d [B, M] and g [B] (module doc). */
export interface DomfnGate {
  readonly probs: tf.Tensor2D[];
  readonly divergence: tf.Tensor2D;
  readonly gate: tf.Tensor1D;
}

function squash(z: tf.Tensor, probabilities: DomfnProbabilities): tf.Tensor2D {
  return (
    probabilities === 'sigmoid' ? tf.sigmoid(z) : tf.softmax(z as tf.Tensor2D)
  ) as tf.Tensor2D;
}

/** The gate of the module doc from the unimodal logits z_m (in modality order). */
export function domfnGate(logits: readonly tf.Tensor[], options: DomfnGateOptions): DomfnGate {
  const probabilities = options.probabilities ?? 'softmax';
  const probs = logits.map((z) => squash(z, probabilities));
  const mean = tf.div(tf.addN(probs), probs.length);
  const divergence = tf.stack(
    probs.map((p) => tf.max(tf.square(tf.sub(p, mean)), 1)),
    1,
  ) as tf.Tensor2D;
  // g is a decision: a zero-gradient node (tf.less has no gradient to differentiate through).
  const decide = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const d = args[0] as tf.Tensor;
    return {
      value: tf.cast(tf.less(tf.div(tf.max(d, 1), options.tau), options.gamma), 'float32'),
      gradFunc: () => tf.zerosLike(d),
    };
  });
  const gate = decide(divergence) as tf.Tensor1D;
  return { probs, divergence, gate };
}

export interface DomfnModelOptions extends DomfnGateOptions {
  /** Hidden width of the multimodal head (reference 64); 0 = a single Dense(sum d_m -> C). */
  readonly hidden?: number;
  /** Seed of the multimodal head's initialisation (PyTorch default Linear init). Default 0. */
  readonly seed?: number;
}

/**
 * DOMFN's model around an inner model with one unimodal head per modality (a MultimodalModel
 * with `head: { type: 'per-modality', hidden: [] }`): adds the multimodal head (group `fusion`)
 * and the gated prediction (module doc).
 */
export class DomfnModel implements MultimodalModelLike {
  readonly modalities: readonly string[];
  readonly numClasses: number;
  readonly gateOptions: Required<DomfnGateOptions>;
  readonly hidden: number;
  private readonly layers: TorchDense[];
  constructor(
    readonly inner: MultimodalModelLike,
    options: DomfnModelOptions,
  ) {
    const where = 'DomfnModel';
    checkKnownKeys(where, options, ['tau', 'gamma', 'probabilities', 'hidden', 'seed']);
    checkModalityCount(where, inner.modalities, { min: 2 });
    this.modalities = inner.modalities;
    this.numClasses = inner.numClasses;
    this.gateOptions = {
      tau: checkNumber(where, 'tau', options.tau, { min: 0, minExclusive: true }),
      gamma: checkNumber(where, 'gamma', options.gamma, { min: 0 }),
      probabilities: checkChoice(where, 'probabilities', options.probabilities ?? 'softmax', [
        'softmax',
        'sigmoid',
      ]),
    };
    this.hidden = checkNumber(where, 'hidden', options.hidden ?? 64, { min: 0, integer: true });
    const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
    const total = Object.values(featureDims(inner, where)).reduce((a, b) => a + b, 0);
    for (const m of this.modalities) {
      if (inner.headLayers(m).length === 0) {
        throw new IgmArgumentError(
          `${where}: the inner model has no unimodal head for "${m}". Build it with head: { type: 'per-modality', hidden: [] }.`,
        );
      }
    }
    const rng = createRng(seed).fork('domfn-multimodal-head');
    this.layers =
      this.hidden > 0
        ? [
            new TorchDense('fusion/dense_0', total, this.hidden, rng),
            new TorchDense('fusion/dense_1', this.hidden, this.numClasses, rng),
          ]
        : [new TorchDense('fusion/dense_0', total, this.numClasses, rng)];
  }
  params(): Param[] {
    return [...this.inner.params(), ...this.layers.flatMap((d) => d.params('fusion'))];
  }
  nonTrainable() {
    return this.inner.nonTrainable();
  }
  featureDim(m: string): number | undefined {
    return (this.inner as { featureDim?: (m: string) => number }).featureDim?.(m);
  }
  /**
   * Outputs: the inner model's (`features/<m>`, `logits/<m>` of the unimodal heads) and, when
   * every modality runs, `logits/multimodal` (z_mm), `domfn/divergence` [B, M], `domfn/gate` [B]
   * and `probs/fused` (the gated prediction).
   */
  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: ForwardOptions,
  ): Record<string, tf.Tensor> {
    const out = this.inner.forward(inputs, options);
    delete out['probs/fused'];
    delete out['logits/fused'];
    const run = options.modalities ?? this.modalities;
    if (run.length !== this.modalities.length) return out;
    let h: tf.Tensor = tf.concat(
      this.modalities.map((m) => out[`features/${m}`]!),
      1,
    );
    this.layers.forEach((d, i) => {
      h = d.apply(h);
      if (i < this.layers.length - 1) h = tf.relu(h);
    });
    out['logits/multimodal'] = h;
    const { probs, divergence, gate } = domfnGate(
      this.modalities.map((m) => out[`logits/${m}`]!),
      this.gateOptions,
    );
    out['domfn/divergence'] = divergence;
    out['domfn/gate'] = gate;
    const multi = squash(h, this.gateOptions.probabilities);
    const stacked = tf.stack(probs, 1); // [B, M, C]
    const best = tf.argMax(tf.max(stacked, 2), 1); // m* per sample (first on ties)
    const pick = tf.expandDims(oneHotTargets(best, this.modalities.length), 2); // [B, M, 1]
    const unimodal = tf.sum(tf.mul(stacked, pick), 1);
    const g = tf.expandDims(gate, 1);
    out['probs/fused'] = tf.add(tf.mul(g, multi), tf.mul(tf.sub(1, g), unimodal));
    return out;
  }
  headLayers(modality: string): HeadLayerInfo[] {
    return this.inner.headLayers(modality);
  }
  dispose(): void {
    this.inner.dispose();
    for (const d of this.layers) d.dispose();
  }
}

/** Per-sample cross-entropy [B] of logits, or of sigmoid outputs for 'sigmoid' (module doc). */
function sampleCrossEntropy(
  logits: tf.Tensor,
  labels: tf.Tensor,
  probabilities: DomfnProbabilities,
): tf.Tensor1D {
  const scores = probabilities === 'sigmoid' ? tf.sigmoid(logits) : logits;
  return crossEntropyPerSample(scores, labels);
}

export interface DomfnStepOptions {
  /** Weight eta of the divergence term (reference 0.5). */
  readonly eta: number;
  /** Unimodal warm-up epochs (the reference's pre-training). Default 0. */
  readonly pretrainEpochs?: number;
}

/** The DOMFN trainer step (module doc). The model must be a {@link DomfnModel}. */
export function domfnStep(options: DomfnStepOptions): TrainerStep {
  const where = 'domfnStep';
  checkKnownKeys(where, options, ['eta', 'pretrainEpochs']);
  const eta = checkNumber(where, 'eta', options.eta, { min: 0 });
  const pretrainEpochs = checkNumber(where, 'pretrainEpochs', options.pretrainEpochs ?? 0, {
    min: 0,
    integer: true,
  });
  let fusionKeys = new Set<string>();
  const check = (model: MultimodalModelLike): void => {
    if (!(model instanceof DomfnModel)) {
      throw new IgmArgumentError(
        `${where}: the model must be a DomfnModel (unimodal heads + the multimodal head).`,
      );
    }
    fusionKeys = new Set(
      model
        .params()
        .filter((p) => p.group === 'fusion')
        .map((p) => p.key),
    );
    if (fusionKeys.size === 0) {
      const groups = [...new Set(model.params().map((p) => p.group))];
      throw new IgmArgumentError(
        `${where}: found no multimodal-head parameters (group "fusion"). The model's parameter groups: ${groups.join(', ')}.`,
      );
    }
  };
  return {
    name: 'domfn',
    describe: () => ({ step: 'domfn', eta, pretrainEpochs }),
    validate: check,
    run(tools) {
      const model = tools.model as DomfnModel;
      if (fusionKeys.size === 0) check(model);
      const { inputs, labels } = tools.batch;
      const mods = model.modalities;
      const { probabilities } = model.gateOptions;
      const pretraining = tools.globalEpoch < pretrainEpochs;
      let gatedIn = 0;
      const lossFn: LossFn = (pass) => {
        const outputs = model.forward(inputs, {
          training: true,
          batchStatistics: pass.batchStatistics,
        });
        const ce = mods.map((m) =>
          sampleCrossEntropy(outputs[`logits/${m}`]!, labels, probabilities),
        );
        const divergence = outputs['domfn/divergence']!;
        const gate = outputs['domfn/gate']!;
        const B = labels.shape[0]!;
        gatedIn = tf.tidy(() => tf.sum(gate).dataSync()[0]!);
        tools.log('domfn/gated-out', 1 - gatedIn / B);
        const dMeans = tf.tidy(() => tf.mean(divergence, 0).dataSync());
        mods.forEach((m, k) => {
          tools.log(`domfn/divergence/${m}`, dMeans[k]!);
        });
        const separate = tf.addN(ce);
        if (pretraining) return { loss: tf.mean(separate) as tf.Scalar, outputs };
        const dm = tf.unstack(divergence, 1);
        const fuse = tf.addN([
          ...ce.map((l, k) => tf.sub(tf.add(tf.mul(tf.square(l), 0.5), l), tf.mul(dm[k]!, eta))),
          sampleCrossEntropy(outputs['logits/multimodal']!, labels, probabilities),
        ]);
        const perSample = tf.add(tf.mul(gate, fuse), tf.mul(tf.sub(1, gate), separate));
        return { loss: tf.mean(perSample) as tf.Scalar, outputs };
      };
      const keys = pretraining
        ? [...tools.params.keys()].filter((k) => !fusionKeys.has(k))
        : undefined;
      const ev = tools.gradients(lossFn, keys);
      let grads = ev.grads;
      if (!pretraining && gatedIn === 0) {
        grads = new Map([...grads].filter(([k]) => !fusionKeys.has(k)));
      }
      tools.apply(grads, { outputs: ev.outputs });
      return ev.loss;
    },
  };
}

/**
 * DOMFN's epoch budget: `epochs` epochs on every modality (default 100; the warm-up epochs train
 * the encoders too); `pretrainEpochs` keeps its share of the run (at least 1 when given, always
 * fewer than the epochs).
 */
export function domfnBudget(
  where: string,
  read: OptionsReader<{ readonly epochs: number; readonly pretrainEpochs: number }>,
): MethodBudget {
  return singleRunBudgetWith(where, read, (o, out, f) => {
    const n = out['epochs'] as number;
    if (o.pretrainEpochs > 0) {
      out['pretrainEpochs'] = Math.min(n - 1, Math.max(1, Math.round(o.pretrainEpochs * f)));
    }
  });
}
