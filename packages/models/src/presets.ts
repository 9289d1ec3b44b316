/**
 * Reference architectures as one call (docs/algorithms/joint-unimodal.md#shared-resnet-18-encoder;
 * heads: docs/architecture.md#models).
 */
import { checkKnownKeys } from '@igm/core';
import { type EncoderInit, resnet18 } from './encoders';
import type { FusionRule, HeadSpec } from './heads';
import { MultimodalModel } from './model';

/** MLA's fixed fusion weights (`main.py`): in the code's modality order. */
export const MLA_FIXED_WEIGHTS = {
  /** audio 0.55, visual 0.45 */
  two: [0.55, 0.45],
  /** 0.35 / 0.25 / 0.4 */
  three: [0.35, 0.25, 0.4],
} as const;

/** Options of {@link audioVisualResNet18}. */
export interface AudioVisualResNet18Options {
  numClasses: number;
  /** Default per-modality IGM heads. `{ type: 'concat' }` for OGM-GE/PMR/AGM, `'shared'` for MLA. */
  head?: HeadSpec;
  fusion?: FusionRule;
  /** Encoder init: `'igm'` for IGM, `'reference'` (default) for OGM-GE/PMR/MLA, `'pytorch'` for MMPareto/ReconBoost. */
  init?: EncoderInit;
  /** Stage widths (default [64, 128, 256, 512]); smaller for tests. */
  widths?: readonly [number, number, number, number];
  seed?: number;
}

/**
 * The audio-visual model of CREMA-D / Kinetics-Sounds: `audio` = ResNet-18 with a 1-channel stem
 * on a spectrogram [B, F, T, 1]; `visual` = ResNet-18 with a 3-channel stem on frames
 * [B, T, H, W, 3] (folded into the batch, features averaged). Both give 512-d features.
 */
export function audioVisualResNet18(options: AudioVisualResNet18Options): MultimodalModel {
  checkKnownKeys('audioVisualResNet18', options, [
    'numClasses',
    'head',
    'fusion',
    'init',
    'widths',
    'seed',
  ]);
  const seed = options.seed ?? 0;
  const common = {
    init: options.init ?? 'reference',
    ...(options.widths ? { widths: options.widths } : {}),
  };
  return new MultimodalModel({
    encoders: {
      audio: resnet18({ inChannels: 1, seed: seed + 1, name: 'audio_resnet18', ...common }),
      visual: resnet18({ inChannels: 3, seed: seed + 2, name: 'visual_resnet18', ...common }),
    },
    numClasses: options.numClasses,
    ...(options.head ? { head: options.head } : {}),
    ...(options.fusion ? { fusion: options.fusion } : {}),
    seed,
  });
}
