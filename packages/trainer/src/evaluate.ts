/**
 * Evaluation (ALGORITHMS.md sections 1.10 and 11): one inference pass over a split, then
 * accuracy, macro-F1 and mAP for the fused scores (`probs/fused`, or softmax of
 * `logits/fused`) and for each modality (softmax of `logits/<m>`).
 */

import {
  disposeBatch,
  IgmArgumentError,
  type MultimodalBatch,
  type MultimodalDataset,
  type MultimodalModelLike,
  type Split,
} from '@igm/core';
import { accuracy, macroF1, meanAveragePrecision } from '@igm/metrics';
import * as tf from '@tensorflow/tfjs-core';

/** Metrics of one output on one split. */
export interface OutputMetrics {
  accuracy: number;
  macroF1: number;
  /** Mean average precision over classes with at least one positive. */
  mAP: number;
  /** Classes without a positive in the split, left out of mAP (absent when none). */
  mAPExcludedClasses?: number[];
}

/** Metrics of a split: `fused` and one entry per modality. */
export interface SplitMetrics {
  /** Number of evaluated samples. */
  n: number;
  outputs: Record<string, OutputMetrics>;
}

/** Raw scores of a split, before metrics. */
export interface SplitScores {
  labels: Int32Array;
  numClasses: number;
  /** Output name ('fused', modality names) -> row-major [n, C] class scores. */
  scores: Record<string, Float32Array>;
}

/**
 * Every batch of `split` for an inference pass: canonical order (no shuffle), no augmentation,
 * the last partial batch kept, so each sample is seen exactly once. Each batch is disposed when
 * the loop moves past it (or leaves early, or throws): the loop body must not keep its tensors.
 */
export async function* inferenceBatches(
  dataset: MultimodalDataset,
  split: Split,
  batchSize: number,
): AsyncGenerator<MultimodalBatch, void, undefined> {
  for await (const batch of dataset.batches({
    split,
    batchSize,
    shuffle: false,
    dropLast: false,
    augment: false,
  })) {
    try {
      yield batch;
    } finally {
      disposeBatch(batch);
    }
  }
}

/** Runs the model in inference mode over `split` and collects class scores. */
export async function collectScores(
  model: MultimodalModelLike,
  dataset: MultimodalDataset,
  split: Split,
  batchSize: number,
): Promise<SplitScores> {
  const C = model.numClasses;
  const labels: number[] = [];
  const parts: Record<string, Float32Array[]> = {};
  for await (const batch of inferenceBatches(dataset, split, batchSize)) {
    const named = tf.tidy(() => {
      const out = model.forward(batch.inputs, { training: false });
      const r: Record<string, tf.Tensor> = {};
      const fused =
        out['probs/fused'] ??
        (out['logits/fused'] ? tf.softmax(out['logits/fused'] as tf.Tensor2D) : undefined);
      if (!fused) {
        throw new IgmArgumentError(
          `evaluate: the model produced neither "probs/fused" nor "logits/fused" (it produced ${Object.keys(out).join(', ')}). A MultimodalModelLike must expose its fused class scores.`,
        );
      }
      r['fused'] = fused;
      for (const m of model.modalities) {
        const logits = out[`logits/${m}`];
        if (logits) r[m] = tf.softmax(logits as tf.Tensor2D);
      }
      return r;
    });
    for (const [name, t] of Object.entries(named)) {
      const list = parts[name] ?? [];
      parts[name] = list;
      list.push((await t.data()) as Float32Array);
      t.dispose();
    }
    labels.push(...((await batch.labels.data()) as Int32Array));
  }
  const scores: Record<string, Float32Array> = {};
  for (const [name, list] of Object.entries(parts)) {
    const out = new Float32Array(labels.length * C);
    let o = 0;
    for (const p of list) {
      out.set(p, o);
      o += p.length;
    }
    scores[name] = out;
  }
  return { labels: Int32Array.from(labels), numClasses: C, scores };
}

/** Argmax of each row of a row-major [n, C] matrix. */
export function argmaxRows(scores: Float32Array, numClasses: number): Int32Array {
  const n = scores.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bestValue = scores[i * numClasses]!;
    for (let c = 1; c < numClasses; c++) {
      const v = scores[i * numClasses + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    out[i] = best;
  }
  return out;
}

/** Accuracy, macro-F1 and mAP of every collected output. */
export function scoreMetrics(s: SplitScores): SplitMetrics {
  const outputs: Record<string, OutputMetrics> = {};
  for (const [name, scores] of Object.entries(s.scores)) {
    const ap = meanAveragePrecision(s.labels, scores);
    outputs[name] = {
      accuracy: accuracy(s.labels, scores),
      macroF1: macroF1(s.labels, scores, { numClasses: s.numClasses }),
      mAP: ap.value,
      ...(ap.excludedClasses.length > 0 ? { mAPExcludedClasses: ap.excludedClasses } : {}),
    };
  }
  return { n: s.labels.length, outputs };
}

export async function evaluateSplit(
  model: MultimodalModelLike,
  dataset: MultimodalDataset,
  split: Split,
  batchSize: number,
): Promise<SplitMetrics> {
  return scoreMetrics(await collectScores(model, dataset, split, batchSize));
}
