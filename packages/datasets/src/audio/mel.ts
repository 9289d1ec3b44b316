/**
 * Mel filterbanks. `melFilterbank` is librosa's default (`librosa.filters.mel` with htk=False,
 * norm='slaney': the Slaney mel scale, linear below 1 kHz, triangles scaled to unit area); with
 * `htk: true` it uses mel = 2595 log10(1 + f/700) and `norm: null` leaves peak-1 triangles.
 */
export interface MelOptions {
  readonly sampleRate: number;
  readonly nFft: number;
  readonly nMels: number;
  readonly fMin?: number;
  /** Default sampleRate / 2. */
  readonly fMax?: number;
  readonly htk?: boolean;
  readonly norm?: 'slaney' | null;
}

export function hzToMel(f: number, htk = false): number {
  if (htk) return 2595 * Math.log10(1 + f / 700);
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return f >= minLogHz ? minLogMel + Math.log(f / minLogHz) / logStep : f / fSp;
}

export function melToHz(m: number, htk = false): number {
  if (htk) return 700 * (10 ** (m / 2595) - 1);
  const fSp = 200 / 3;
  const minLogHz = 1000;
  const minLogMel = minLogHz / fSp;
  const logStep = Math.log(6.4) / 27;
  return m >= minLogMel ? minLogHz * Math.exp(logStep * (m - minLogMel)) : fSp * m;
}

/** Weights [nMels, nFft/2 + 1], row-major. */
export function melFilterbank(options: MelOptions): Float64Array {
  const { sampleRate, nFft, nMels } = options;
  const htk = options.htk ?? false;
  const norm = options.norm === undefined ? 'slaney' : options.norm;
  const fMin = options.fMin ?? 0;
  const fMax = options.fMax ?? sampleRate / 2;
  const bins = nFft / 2 + 1;
  const fftFreqs = Float64Array.from({ length: bins }, (_, k) => (k * sampleRate) / nFft);
  const melMin = hzToMel(fMin, htk);
  const melMax = hzToMel(fMax, htk);
  const melPts = Float64Array.from({ length: nMels + 2 }, (_, i) =>
    melToHz(melMin + ((melMax - melMin) * i) / (nMels + 1), htk),
  );
  const weights = new Float64Array(nMels * bins);
  for (let m = 0; m < nMels; m++) {
    const lo = melPts[m]!;
    const ce = melPts[m + 1]!;
    const hi = melPts[m + 2]!;
    const scale = norm === 'slaney' ? 2 / (hi - lo) : 1;
    for (let k = 0; k < bins; k++) {
      const f = fftFreqs[k]!;
      const lower = (f - lo) / (ce - lo);
      const upper = (hi - f) / (hi - ce);
      weights[m * bins + k] = Math.max(0, Math.min(lower, upper)) * scale;
    }
  }
  return weights;
}

/** mel[m, t] = sum_k weights[m, k] * spec[k, t]. */
export function applyFilterbank(
  weights: Float64Array,
  nMels: number,
  spec: Float32Array,
  bins: number,
  frames: number,
): Float32Array {
  const out = new Float32Array(nMels * frames);
  for (let m = 0; m < nMels; m++) {
    for (let k = 0; k < bins; k++) {
      const w = weights[m * bins + k]!;
      if (w === 0) continue;
      const row = k * frames;
      for (let t = 0; t < frames; t++) out[m * frames + t]! += w * spec[row + t]!;
    }
  }
  return out;
}
