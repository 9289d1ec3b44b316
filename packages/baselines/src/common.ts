/**
 * Small pieces shared by the baselines: which modality a parameter belongs to and the batch
 * score sum_i softmax(z)_i[y_i] that OGM-GE, PMR and AGM compare between modalities. The losses
 * (cross-entropy, one-hot targets) are @igm/trainer's.
 */
import {
  emptySelectionError,
  IgmArgumentError,
  type MultimodalModelLike,
  numberOption,
  objectOption,
  type Param,
  parseOptionValue,
} from '@igm/core';
import { oneHotTargets } from '@igm/trainer';
import * as tf from '@tensorflow/tfjs-core';
import type { z } from 'zod';

/** The modality of an encoder parameter (`encoder/<m>` group), or undefined. */
export function encoderModality(p: Param): string | undefined {
  return p.group.startsWith('encoder/') ? p.group.slice('encoder/'.length) : undefined;
}

/** Keys of modality m's encoder parameters (group `encoder/<m>`). */
export function encoderKeys(params: ReadonlyMap<string, Param>, modality: string): string[] {
  return [...params.values()].filter((p) => p.group === `encoder/${modality}`).map((p) => p.key);
}

/**
 * Throws, naming the selection and the model's parameter groups, unless every modality of
 * `model` has parameters in group `encoder/<m>`: a method that acts on those groups would
 * otherwise silently skip the modality.
 */
export function requireEncoderGroups(where: string, model: MultimodalModelLike): void {
  const params = model.params();
  for (const m of model.modalities) {
    if (!params.some((p) => p.group === `encoder/${m}`)) {
      throw emptySelectionError(
        where,
        `the encoder of modality ${m} (group encoder/${m})`,
        params,
        'Give each encoder trainable parameters in group "encoder/<modality>" (an identity encoder, e.g. mlpEncoder with no units, has none).',
      );
    }
  }
}

/** Per-sample probability of the true class, softmax(z)_i[y_i], shape [B]. */
export function trueClassProbs(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor1D {
  const y = oneHotTargets(labels, logits.shape[1]!);
  return tf.sum(tf.mul(y, tf.softmax(logits as tf.Tensor2D)), 1) as tf.Tensor1D;
}

/** s = sum_i softmax(z)_i[y_i], read to the host (a decision, not differentiated). */
export function batchScore(logits: tf.Tensor, labels: tf.Tensor): number {
  return tf.tidy(() => tf.sum(trueClassProbs(logits, labels)).dataSync()[0]!);
}

/** Throws unless the method supports `count` modalities. */
export function checkModalityCount(
  method: string,
  modalities: readonly string[],
  { min = 2, max = Infinity }: { min?: number; max?: number } = {},
  why = '',
): void {
  if (modalities.length < min || modalities.length > max) {
    const range =
      max === Infinity ? `at least ${min}` : min === max ? `exactly ${min}` : `${min} to ${max}`;
    throw new IgmArgumentError(
      `${method}: received ${modalities.length} modalities (${modalities.join(', ')}). It supports ${range}.${why ? ` ${why}` : ''}`,
    );
  }
}

const WINDOW_EXPECTED = '{ start, end } (0-based epochs, inclusive), e.g. { start: 0, end: 50 }';

/**
 * An epoch window { start, end }: 0-based epochs, both ends inclusive; `start` defaults to 0 and
 * `end` (omitted or null) to the end of the run. The value is kept as written (no defaults
 * filled in), as run configs record it.
 */
export const epochWindowSchema = objectOption(
  {
    start: numberOption({ min: 0, integer: true }).optional(),
    end: numberOption({ min: 0, integer: true }).nullable().optional(),
  },
  WINDOW_EXPECTED,
).refine((w) => w.end === undefined || w.end === null || w.end >= (w.start ?? 0), {
  error: 'integers 0 <= start <= end (end may be omitted for "until the end")',
});

/** An epoch window as options give it (see {@link epochWindowSchema}). */
export type EpochWindow = z.input<typeof epochWindowSchema>;

/** Checks an epoch window { start, end } (0-based, inclusive); no window is the whole run. */
export function checkWindow(where: string, w: unknown): { start: number; end: number } {
  if (w === undefined) return { start: 0, end: Infinity };
  const { start, end } = parseOptionValue(where, 'window', epochWindowSchema, w);
  return { start: start ?? 0, end: end ?? Infinity };
}

export function inWindow(w: { start: number; end: number }, epoch: number): boolean {
  return epoch >= w.start && epoch <= w.end;
}

/** Fusion rules of late-fusion methods (per-modality heads fused after their softmaxes). */
export const LATE_FUSION_RULES = ['mean-softmax', 'sum-log-softmax'] as const;
export type LateFusionRule = (typeof LATE_FUSION_RULES)[number];

/**
 * How a late fusion rule is labelled in results. `official`: what the method's official code
 * does, when there is one; the product of experts is then marked as a departure from it.
 */
export function lateFusionLabel(rule: LateFusionRule, official?: string): string {
  if (rule === 'mean-softmax') return 'mean softmax';
  return `sum of log-softmaxes (product of experts)${official ? `; departure from the official code (${official})` : ''}`;
}
