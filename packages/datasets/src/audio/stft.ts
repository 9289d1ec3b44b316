/**
 * Short-time Fourier transform magnitudes on the CPU with `fft.js` (radix-4, pure JS).
 * Done in JavaScript rather than with tf.signal.stft because the wasm backend has no FFT kernel
 * and preprocessing runs once, before training, into the cache.
 *
 * Conventions follow librosa >= 0.10: frames centred by padding n_fft/2 on both sides
 * (zeros by default, `padMode: 'reflect'` for librosa < 0.10), frame t starts at t * hop of the
 * padded signal, a window of `winLength` zero-padded to n_fft, frames = 1 + floor(len / hop).
 * Output is frequency-major [n_fft/2 + 1, frames], like librosa's `stft` result.
 */
import FFT from 'fft.js';

export type WindowKind = 'hann-periodic' | 'hann-symmetric' | 'povey';

/** Hann window: periodic (librosa, scipy `get_window`) or symmetric (numpy `hanning`, Kaldi). */
export function hannWindow(length: number, kind: WindowKind = 'hann-periodic'): Float64Array {
  const w = new Float64Array(length);
  const denom = kind === 'hann-periodic' ? length : length - 1;
  for (let i = 0; i < length; i++) {
    const hann = denom === 0 ? 1 : 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / denom);
    w[i] = kind === 'povey' ? hann ** 0.85 : hann;
  }
  return w;
}

export interface StftOptions {
  readonly nFft: number;
  readonly hop: number;
  /** Window length <= nFft, centred in the n_fft frame. Default nFft. */
  readonly winLength?: number;
  readonly window?: WindowKind;
  /** Centre frames (pad n_fft/2 each side). Default true. */
  readonly center?: boolean;
  /** Padding used when centring. Default 'constant' (zeros). */
  readonly padMode?: 'constant' | 'reflect';
  /** 1 for magnitude |X|, 2 for power |X|^2. Default 1. */
  readonly power?: 1 | 2;
}

export interface Spectrogram {
  /** [bins, frames], row-major. */
  readonly data: Float32Array;
  readonly bins: number;
  readonly frames: number;
}

const fftCache = new Map<number, FFT>();

function fftOf(n: number): FFT {
  let f = fftCache.get(n);
  if (!f) {
    if (n < 4 || (n & (n - 1)) !== 0) {
      throw new RangeError(`stft: nFft=${n}; expected a power of two >= 4 (fft.js).`);
    }
    f = new FFT(n);
    fftCache.set(n, f);
  }
  return f;
}

function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

export function stft(signal: Float32Array | Float64Array, options: StftOptions): Spectrogram {
  const { nFft, hop } = options;
  const winLength = options.winLength ?? nFft;
  const center = options.center ?? true;
  const power = options.power ?? 1;
  const fft = fftOf(nFft);
  const window = new Float64Array(nFft);
  const win = hannWindow(winLength, options.window ?? 'hann-periodic');
  const winOffset = Math.floor((nFft - winLength) / 2);
  window.set(win, winOffset);
  const pad = center ? Math.floor(nFft / 2) : 0;
  const n = signal.length;
  const paddedLength = n + 2 * pad;
  if (paddedLength < nFft) {
    throw new RangeError(`stft: signal of ${n} samples is shorter than nFft=${nFft}.`);
  }
  const frames = 1 + Math.floor((paddedLength - nFft) / hop);
  const bins = nFft / 2 + 1;
  const out = new Float32Array(bins * frames);
  const frame = new Float64Array(nFft);
  const spectrum = fft.createComplexArray() as number[];
  const reflect = options.padMode === 'reflect';
  for (let t = 0; t < frames; t++) {
    const start = t * hop - pad;
    for (let k = 0; k < nFft; k++) {
      const i = start + k;
      let v: number;
      if (i >= 0 && i < n) v = signal[i]!;
      else v = reflect ? signal[reflectIndex(i, n)]! : 0;
      frame[k] = v * window[k]!;
    }
    fft.realTransform(spectrum, frame);
    for (let f = 0; f < bins; f++) {
      const re = spectrum[2 * f]!;
      const im = spectrum[2 * f + 1]!;
      const p = re * re + im * im;
      out[f * frames + t] = power === 2 ? p : Math.sqrt(p);
    }
  }
  return { data: out, bins, frames };
}
