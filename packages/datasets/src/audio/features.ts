/** Small audio steps shared by the loaders: fixed length, noise at a given SNR, log spectrograms. */
import type { Rng } from '@igm/core';
import { applyFilterbank, melFilterbank } from './mel';
import { stft } from './stft';

/** The first `length` samples, zero-padded at the end when shorter. */
export function padOrTrim(x: Float32Array, length: number): Float32Array {
  if (x.length === length) return x;
  const out = new Float32Array(length);
  out.set(x.subarray(0, Math.min(length, x.length)));
  return out;
}

/** Repeats x until it has at least `length` samples, then keeps the first `length` (CREMA-D's tiling). */
export function tileTo(x: Float32Array, length: number): Float32Array {
  const out = new Float32Array(length);
  if (x.length === 0) return out;
  for (let i = 0; i < length; i += x.length)
    out.set(x.subarray(0, Math.min(x.length, length - i)), i);
  return out;
}

/** Mean power (mean of x^2) of a signal. */
export function signalPower(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!;
  return x.length > 0 ? s / x.length : 0;
}

/**
 * Adds white Gaussian noise in place so that power / noise power = 10^(snrDb / 10), with the
 * signal power `power` measured on the original recording (not on padding).
 */
export function addNoiseAtSnr(x: Float32Array, power: number, snrDb: number, rng: Rng): void {
  const sigma = Math.sqrt(power / 10 ** (snrDb / 10));
  for (let i = 0; i < x.length; i++) x[i]! += sigma * rng.normal();
}

export interface LogSpectrogramOptions {
  readonly representation: 'log-mel' | 'log-magnitude';
  readonly sampleRate: number;
  readonly nFft: number;
  readonly hop: number;
  /** Only for log-mel. */
  readonly nMels?: number;
}

/**
 * - 'log-magnitude': log(|X| + 1e-7), [nFft/2 + 1, frames] (the CREMA-D references' recipe).
 * - 'log-mel': log(M |X|^2 + 1e-6) with librosa's Slaney mel filterbank M, [nMels, frames].
 * STFT: periodic Hann, centred with zero padding (librosa >= 0.10).
 */
export function logSpectrogram(
  x: Float32Array,
  options: LogSpectrogramOptions,
): { data: Float32Array; rows: number; frames: number } {
  if (options.representation === 'log-magnitude') {
    const s = stft(x, { nFft: options.nFft, hop: options.hop, power: 1 });
    for (let i = 0; i < s.data.length; i++) s.data[i] = Math.log(s.data[i]! + 1e-7);
    return { data: s.data, rows: s.bins, frames: s.frames };
  }
  const nMels = options.nMels ?? 40;
  const s = stft(x, { nFft: options.nFft, hop: options.hop, power: 2 });
  const key = `${options.sampleRate}/${options.nFft}/${nMels}`;
  let fb = filterbanks.get(key);
  if (!fb) {
    fb = melFilterbank({ sampleRate: options.sampleRate, nFft: options.nFft, nMels });
    filterbanks.set(key, fb);
  }
  const mel = applyFilterbank(fb, nMels, s.data, s.bins, s.frames);
  for (let i = 0; i < mel.length; i++) mel[i] = Math.log(mel[i]! + 1e-6);
  return { data: mel, rows: nMels, frames: s.frames };
}

const filterbanks = new Map<string, Float64Array>();
