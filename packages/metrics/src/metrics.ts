/**
 * Classification metrics with scikit-learn semantics (ALGORITHMS.md section 1.10), computed on
 * the fused probabilities and, with the same functions, on each modality's probabilities.
 *
 * Inputs are read once into typed arrays (a tensor costs one `dataSync()`), then everything is
 * plain JavaScript in float64, so results match scikit-learn to ~1e-15. Predictions are the
 * argmax of each row of scores; a tie goes to the first maximal column (as `tf.argMax` and
 * `np.argmax`).
 */

import { checkChoice, checkKnownKeys, checkNumber, IgmArgumentError } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';

/** Integer class labels in [0, C): an array, an Int32Array or a rank-1 tensor. */
export type LabelsInput = readonly number[] | Int32Array | tf.Tensor1D;

/**
 * Scores or probabilities, n rows by C columns: `number[][]`, a rank-2 tensor, or a row-major
 * `Float32Array`/`Float64Array` of length n*C (C is its length divided by the number of labels).
 */
export type ScoresInput =
  | readonly (readonly number[])[]
  | Float32Array
  | Float64Array
  | tf.Tensor2D;

interface ReadInputs {
  labels: Int32Array;
  scores: Float32Array | Float64Array;
  n: number;
  numClasses: number;
}

function readLabels(where: string, labels: LabelsInput): Int32Array | Float32Array | number[] {
  if (labels instanceof tf.Tensor) {
    if (labels.rank !== 1) {
      throw new IgmArgumentError(
        `${where}: labels tensor has shape [${labels.shape}]. Expected a rank-1 tensor of class indices.`,
      );
    }
    return labels.dataSync() as Int32Array | Float32Array;
  }
  if (labels instanceof Int32Array) return labels;
  if (Array.isArray(labels)) return labels as number[];
  throw new IgmArgumentError(
    `${where}: labels is ${Object.prototype.toString.call(labels)}. Expected number[], Int32Array or a rank-1 tf.Tensor.`,
  );
}

function readScores(
  where: string,
  scores: ScoresInput,
  n: number,
): { data: Float32Array | Float64Array; numClasses: number } {
  let data: Float32Array | Float64Array;
  let numClasses: number;
  if (scores instanceof tf.Tensor) {
    if (scores.rank !== 2 || scores.shape[0] !== n) {
      throw new IgmArgumentError(
        `${where}: scores tensor has shape [${scores.shape}] for ${n} labels. Expected shape [${n}, C].`,
      );
    }
    numClasses = scores.shape[1]!;
    const raw = scores.dataSync();
    data = raw instanceof Float32Array ? raw : Float64Array.from(raw as Int32Array);
  } else if (scores instanceof Float32Array || scores instanceof Float64Array) {
    if (n === 0 || scores.length % n !== 0) {
      throw new IgmArgumentError(
        `${where}: flat scores of length ${scores.length} cannot be split into ${n} rows. Expected a row-major array of length n*C.`,
      );
    }
    data = scores;
    numClasses = scores.length / n;
  } else if (Array.isArray(scores)) {
    const rows = scores as readonly (readonly number[])[];
    if (rows.length !== n) {
      throw new IgmArgumentError(
        `${where}: scores has ${rows.length} rows but there are ${n} labels. Expected one row per label.`,
      );
    }
    numClasses = n > 0 && Array.isArray(rows[0]) ? rows[0].length : 0;
    data = new Float64Array(n * numClasses);
    for (let i = 0; i < n; i++) {
      const row = rows[i];
      if (!Array.isArray(row) || row.length !== numClasses) {
        throw new IgmArgumentError(
          `${where}: scores row ${i} has length ${Array.isArray(row) ? row.length : typeof row}. Expected every row to have ${numClasses} columns.`,
        );
      }
      for (let j = 0; j < numClasses; j++) data[i * numClasses + j] = row[j]!;
    }
  } else {
    throw new IgmArgumentError(
      `${where}: scores is ${Object.prototype.toString.call(scores)}. Expected number[][], Float32Array/Float64Array (row-major n*C) or a rank-2 tf.Tensor.`,
    );
  }
  if (numClasses < 1) {
    throw new IgmArgumentError(`${where}: scores have ${numClasses} columns. Expected C >= 1.`);
  }
  for (let i = 0; i < data.length; i++) {
    if (Number.isNaN(data[i]!)) {
      throw new IgmArgumentError(
        `${where}: scores[${Math.floor(i / numClasses)}][${i % numClasses}] is NaN. Expected numbers (check the model output).`,
      );
    }
  }
  return { data, numClasses };
}

function readInputs(
  where: string,
  labels: LabelsInput,
  scores: ScoresInput,
  numClassesOption?: number,
): ReadInputs {
  const raw = readLabels(where, labels);
  const n = raw.length;
  if (n === 0) {
    throw new IgmArgumentError(`${where}: received 0 labels. Expected at least one sample.`);
  }
  const { data, numClasses: columns } = readScores(where, scores, n);
  let numClasses = columns;
  if (numClassesOption !== undefined) {
    checkNumber(where, 'numClasses', numClassesOption, { min: columns, integer: true });
    numClasses = numClassesOption;
  }
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = raw[i]!;
    if (!Number.isInteger(y) || y < 0 || y >= numClasses) {
      throw new IgmArgumentError(
        `${where}: labels[${i}] = ${y}. Expected an integer class index in [0, ${numClasses - 1}] (scores have ${columns} columns).`,
      );
    }
    out[i] = y;
  }
  return { labels: out, scores: data, n, numClasses };
}

function argmaxRows(scores: Float32Array | Float64Array, n: number, c: number): Int32Array {
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * c;
    let best = 0;
    let bestValue = scores[base]!;
    for (let j = 1; j < c; j++) {
      const v = scores[base + j]!;
      if (v > bestValue) {
        bestValue = v;
        best = j;
      }
    }
    pred[i] = best;
  }
  return pred;
}

/**
 * Top-1 accuracy: `mean_i [argmax_c p[i, c] = y_i]` (ALGORITHMS.md 1.10).
 *
 * @param labels Integer labels in [0, C).
 * @param probs Scores or probabilities [n, C] (only their argmax matters).
 */
export function accuracy(labels: LabelsInput, probs: ScoresInput): number {
  const { labels: y, scores, n, numClasses } = readInputs('accuracy', labels, probs);
  const pred = argmaxRows(scores, n, numClasses);
  let correct = 0;
  for (let i = 0; i < n; i++) if (pred[i] === y[i]) correct++;
  return correct / n;
}

/** Options of {@link confusionMatrix} and {@link macroF1}. */
export interface ConfusionMatrixOptions {
  /** Number of classes (>= the number of score columns); default the number of columns. */
  readonly numClasses?: number;
}

/**
 * Confusion matrix `m[true][predicted]` (counts), C x C, predictions the row argmax of `probs`
 * (the layout of `sklearn.metrics.confusion_matrix(y, pred, labels=range(C))`).
 */
export function confusionMatrix(
  labels: LabelsInput,
  probs: ScoresInput,
  options: ConfusionMatrixOptions = {},
): number[][] {
  checkKnownKeys('confusionMatrix', options, ['numClasses']);
  const {
    labels: y,
    scores,
    n,
    numClasses,
  } = readInputs('confusionMatrix', labels, probs, options.numClasses);
  const columns = scores.length / n;
  const pred = argmaxRows(scores, n, columns);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < n; i++) m[y[i]!]![pred[i]!]! += 1;
  return m;
}

/** Options of {@link macroF1}. */
export interface MacroF1Options extends ConfusionMatrixOptions {
  /**
   * `'present'` (default, scikit-learn's `average='macro'`): mean over the classes that occur in
   * the labels or the predictions. `'all'`: mean over all `numClasses` classes, a class absent
   * from both counting F1 = 0. The two differ only when some class is absent from both.
   */
  readonly average?: 'present' | 'all';
}

/**
 * Macro-F1 (ALGORITHMS.md 1.10, scikit-learn `f1_score(y, pred, average='macro')`):
 *
 *   F1_c = 2 TP_c / (2 TP_c + FP_c + FN_c)   (0 when the denominator is 0)
 *   macroF1 = unweighted mean of F1_c over the averaged classes
 *
 * so a class present in the labels but never predicted contributes F1 = 0. Predictions are the
 * row argmax of `probs`. Do not copy the reference's swapped `f1_score(pred, label)`.
 */
export function macroF1(
  labels: LabelsInput,
  probs: ScoresInput,
  options: MacroF1Options = {},
): number {
  checkKnownKeys('macroF1', options, ['average', 'numClasses']);
  const average = checkChoice('macroF1', 'average', options.average ?? 'present', [
    'present',
    'all',
  ] as const);
  const {
    labels: y,
    scores,
    n,
    numClasses,
  } = readInputs('macroF1', labels, probs, options.numClasses);
  const pred = argmaxRows(scores, n, scores.length / n);
  const tp = new Float64Array(numClasses);
  const fp = new Float64Array(numClasses);
  const fn = new Float64Array(numClasses);
  for (let i = 0; i < n; i++) {
    const t = y[i]!;
    const p = pred[i]!;
    if (t === p) tp[t]! += 1;
    else {
      fp[p]! += 1;
      fn[t]! += 1;
    }
  }
  let sum = 0;
  let count = 0;
  for (let c = 0; c < numClasses; c++) {
    const denom = 2 * tp[c]! + fp[c]! + fn[c]!;
    // denom = 0 <=> class c is in neither the labels nor the predictions.
    if (average === 'present' && denom === 0) continue;
    sum += denom === 0 ? 0 : (2 * tp[c]!) / denom;
    count++;
  }
  return sum / count;
}

/** The result of {@link meanAveragePrecision}. */
export interface MeanAveragePrecision {
  /** Mean AP over the classes with at least one positive label. */
  readonly value: number;
  /** Classes with no positive label in the evaluated set, left out of the mean (report them). */
  readonly excludedClasses: number[];
  /** AP of every class (NaN for an excluded class). */
  readonly perClass: Float64Array;
}

/**
 * Mean average precision (ALGORITHMS.md 1.10; scikit-learn `average_precision_score` per class,
 * one-vs-rest): for class c, sort the scores p[:, c] in descending order and use each *distinct*
 * score as a threshold (tied scores enter together), then
 *
 *   AP_c = Σ_k (R_k − R_{k−1}) · P_k,   R_0 = 0          (non-interpolated)
 *
 * with P_k, R_k the precision and recall at the k-th threshold. mAP is the mean of AP_c over
 * the classes that have at least one positive label; the others are excluded and listed in
 * `excludedClasses` [project rule].
 */
export function meanAveragePrecision(
  labels: LabelsInput,
  probs: ScoresInput,
): MeanAveragePrecision {
  const { labels: y, scores, n, numClasses } = readInputs('meanAveragePrecision', labels, probs);
  const positives = new Float64Array(numClasses);
  for (let i = 0; i < n; i++) positives[y[i]!]! += 1;
  const perClass = new Float64Array(numClasses);
  const excludedClasses: number[] = [];
  const column = new Float64Array(n);
  const order = new Uint32Array(n);
  let sum = 0;
  let count = 0;
  for (let c = 0; c < numClasses; c++) {
    const total = positives[c]!;
    if (total === 0) {
      perClass[c] = Number.NaN;
      excludedClasses.push(c);
      continue;
    }
    for (let i = 0; i < n; i++) {
      column[i] = scores[i * numClasses + c]!;
      order[i] = i;
    }
    // Descending by score (a comparison, not a difference, so infinite scores sort correctly).
    order.sort((a, b) => {
      const sa = column[a]!;
      const sb = column[b]!;
      return sa > sb ? -1 : sa < sb ? 1 : 0;
    });
    let tp = 0;
    let seen = 0;
    let prevRecall = 0;
    let ap = 0;
    let k = 0;
    while (k < n) {
      // One threshold: the whole group of samples tied at this score.
      const threshold = column[order[k]!]!;
      while (k < n && column[order[k]!]! === threshold) {
        if (y[order[k]!] === c) tp++;
        seen++;
        k++;
      }
      const recall = tp / total;
      if (recall > prevRecall) {
        ap += (recall - prevRecall) * (tp / seen);
        prevRecall = recall;
      }
    }
    perClass[c] = ap;
    sum += ap;
    count++;
  }
  return { value: sum / count, excludedClasses, perClass };
}
