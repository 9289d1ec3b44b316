/**
 * A synthetic class-conditional multimodal dataset whose per-modality informativeness is a
 * parameter, so modality imbalance can be dialled (used by the tests of every @igm package).
 *
 * Generative rule, per sample i of a split (label y = i mod C) and per modality m:
 *
 *   shown_m = y                 with probability signal[m]
 *           = uniform{0..C-1}   otherwise
 *   x_m     = separation * P_m[shown_m] + noise * N(0, I)
 *
 * P_m[c] are fixed random +-1 patterns (vectors, or blocky 2-D "images"/"spectrograms" made of
 * 4x4 cells so convolutions have spatial structure). With the default separation and noise the
 * patterns are nearly always recognisable, so a classifier that sees only modality m reaches an
 * accuracy of about signal[m] + (1 - signal[m]) / C: `signal: { audio: 0.9, visual: 0.3 }` makes
 * audio the dominant modality. Every sample is a pure function of (seed, split, index), so the
 * data is streamed, never stored.
 */
import {
  checkKnownKeys,
  checkNumber,
  createRng,
  IgmArgumentError,
  type ModalityKind,
  type ModalitySpec,
  mixSeed,
  type Split,
} from '@igm/core';
import { type SampleSource, SPLITS, StreamingDataset, sizeOf } from './dataset';

export interface SyntheticModalityOptions {
  readonly name: string;
  /** Default: 'audio' for "audio", 'image' for "visual"/"image", 'text' for "text", else 'vector'. */
  readonly kind?: ModalityKind;
  /** Shape of one sample: [d] for a vector, [h, w] for a 2-D input. Default [16]. */
  readonly shape?: readonly number[];
}

export interface SyntheticOptions {
  /** A count (2 or 3: audio, visual[, text]) or a list of names / modality options. Default 2. */
  readonly modalities?: number | readonly (string | SyntheticModalityOptions)[];
  /** Number of classes C >= 2. Default 4. */
  readonly classes?: number;
  /** Samples per split, or a total split 70/15/15. Default { train: 512, validation: 128, test: 128 }. */
  readonly samples?: number | Readonly<Partial<Record<Split, number>>>;
  /** Per-modality probability in [0, 1] that the modality shows the true class. Default 0.8 each. */
  readonly signal?: Readonly<Record<string, number>>;
  /** Standard deviation of the additive Gaussian noise. Default 1. */
  readonly noise?: number;
  /** Amplitude of the class patterns. Default 1. */
  readonly separation?: number;
  /** Default 0. */
  readonly seed?: number;
  /** Dataset name. Default "synthetic". */
  readonly name?: string;
}

const KNOWN = ['modalities', 'classes', 'samples', 'signal', 'noise', 'separation', 'seed', 'name'];
const DEFAULT_NAMES = ['audio', 'visual', 'text'];

function defaultKind(name: string): ModalityKind {
  if (name === 'audio') return 'audio';
  if (name === 'visual' || name === 'image') return 'image';
  if (name === 'text') return 'text';
  return 'vector';
}

/** The modalities `synthetic({ modalities })` has, resolved from the option alone. */
export function resolveModalities(option: SyntheticOptions['modalities']): ModalitySpec[] {
  const where = 'synthetic';
  let list: (string | SyntheticModalityOptions)[];
  if (option === undefined || typeof option === 'number') {
    const count = checkNumber(where, 'modalities', option ?? 2, { min: 1, max: 3, integer: true });
    list = DEFAULT_NAMES.slice(0, count);
  } else if (Array.isArray(option) && option.length > 0) {
    list = [...option];
  } else {
    throw new IgmArgumentError(
      `${where}: received modalities=${JSON.stringify(option)}. Expected a count (1-3) or a non-empty list of names or { name, kind?, shape? }.`,
    );
  }
  const specs = list.map((entry) => {
    const m = typeof entry === 'string' ? { name: entry } : entry;
    if (!m || typeof m.name !== 'string' || m.name.length === 0) {
      throw new IgmArgumentError(
        `${where}: received modality ${JSON.stringify(entry)}. Expected a name or { name, kind?, shape? }.`,
      );
    }
    const shape = m.shape ?? [16];
    if (shape.length < 1 || shape.length > 2) {
      throw new IgmArgumentError(
        `${where}: received shape=${JSON.stringify(shape)} for modality "${m.name}". Expected [d] or [h, w].`,
      );
    }
    for (const d of shape) checkNumber(where, `shape of "${m.name}"`, d, { min: 1, integer: true });
    return { name: m.name, kind: m.kind ?? defaultKind(m.name), shape: [...shape] };
  });
  const names = new Set(specs.map((s) => s.name));
  if (names.size !== specs.length) {
    throw new IgmArgumentError(
      `${where}: modality names must be unique; received ${specs.map((s) => s.name).join(', ')}.`,
    );
  }
  return specs;
}

function resolveSamples(option: SyntheticOptions['samples']): Record<Split, number> {
  const where = 'synthetic';
  if (option === undefined) return { train: 512, validation: 128, test: 128 };
  if (typeof option === 'number') {
    const total = checkNumber(where, 'samples', option, { min: 3, integer: true });
    const validation = Math.max(1, Math.round(total * 0.15));
    const test = Math.max(1, Math.round(total * 0.15));
    return { train: total - validation - test, validation, test };
  }
  checkKnownKeys(`${where} samples`, option, SPLITS);
  const out = { train: 0, validation: 0, test: 0 };
  for (const split of SPLITS) {
    out[split] = checkNumber(where, `samples.${split}`, option[split] ?? 0, {
      min: 0,
      integer: true,
    });
  }
  return out;
}

/** A +-1 pattern; 2-D patterns are constant on 4x4 cells. */
function pattern(shape: readonly number[], seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(sizeOf(shape));
  if (shape.length === 1) {
    for (let i = 0; i < out.length; i++) out[i] = rng.uniform() < 0.5 ? -1 : 1;
    return out;
  }
  const [h, w] = shape as [number, number];
  const cell = 4;
  const ch = Math.ceil(h / cell);
  const cw = Math.ceil(w / cell);
  const coarse = Float32Array.from({ length: ch * cw }, () => (rng.uniform() < 0.5 ? -1 : 1));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++)
      out[y * w + x] = coarse[Math.floor(y / cell) * cw + Math.floor(x / cell)]!;
  }
  return out;
}

/** The synthetic dataset (see the module comment for the generative rule). */
export function synthetic(options: SyntheticOptions = {}): StreamingDataset {
  const where = 'synthetic';
  checkKnownKeys(where, options, KNOWN);
  const modalities = resolveModalities(options.modalities);
  const classes = checkNumber(where, 'classes', options.classes ?? 4, { min: 2, integer: true });
  const samples = resolveSamples(options.samples);
  const noise = checkNumber(where, 'noise', options.noise ?? 1, { min: 0 });
  const separation = checkNumber(where, 'separation', options.separation ?? 1, { min: 0 });
  const seed = checkNumber(where, 'seed', options.seed ?? 0, { integer: true });
  const names = modalities.map((m) => m.name);
  checkKnownKeys(`${where} signal`, options.signal, names);
  const signal: Record<string, number> = {};
  for (const m of names) {
    signal[m] = checkNumber(where, `signal.${m}`, options.signal?.[m] ?? 0.8, { min: 0, max: 1 });
  }
  const prototypes: Record<string, Float32Array[]> = {};
  for (const m of modalities) {
    prototypes[m.name] = Array.from({ length: classes }, (_, c) =>
      pattern(m.shape, mixSeed(seed, `prototype/${m.name}/${c}`)),
    );
  }
  const ids: Record<Split, string[]> = { train: [], validation: [], test: [] };
  const labels: Record<Split, Int32Array> = {
    train: new Int32Array(0),
    validation: new Int32Array(0),
    test: new Int32Array(0),
  };
  for (const split of SPLITS) {
    ids[split] = Array.from({ length: samples[split] }, (_, i) => `${split}-${i}`);
    labels[split] = Int32Array.from({ length: samples[split] }, (_, i) => i % classes);
  }

  const source: SampleSource = {
    name: options.name ?? 'synthetic',
    modalities,
    classNames: Array.from({ length: classes }, (_, c) => `class-${c}`),
    ids: (split) => (samples[split] > 0 ? ids[split] : undefined),
    labels: (split) => labels[split],
    async readBatch(split, indices) {
      const out: Record<string, Float32Array> = {};
      for (const m of modalities) out[m.name] = new Float32Array(indices.length * sizeOf(m.shape));
      indices.forEach((index, b) => {
        const rng = createRng(mixSeed(seed, `sample/${split}/${index}`));
        const y = labels[split][index]!;
        for (const m of modalities) {
          const shown = rng.uniform() < signal[m.name]! ? y : rng.int(classes);
          const proto = prototypes[m.name]![shown]!;
          const dst = out[m.name]!;
          const offset = b * proto.length;
          for (let k = 0; k < proto.length; k++) {
            dst[offset + k] = separation * proto[k]! + noise * rng.normal();
          }
        }
      });
      return out;
    },
  };
  return new StreamingDataset(source, {
    classes,
    signal,
    noise,
    separation,
    seed,
    rule: 'x_m = separation * P_m[shown_m] + noise * N(0, I); shown_m = y with probability signal[m], else uniform',
  });
}
