/**
 * scipy.signal.spectrogram with its defaults as used by the older OGM-GE/PMR pickles: segments of
 * `nperseg` without centring, hop nperseg - noverlap, Tukey(0.25) window (periodic), each segment
 * detrended by its mean, one-sided PSD density (|X|^2 / (fs * sum w^2), doubled except DC and
 * Nyquist). Output [nperseg/2 + 1, frames].
 */
import FFT from 'fft.js';

export function tukeyWindow(length: number, alpha = 0.25): Float64Array {
  // Periodic (fftbins=True): a symmetric window of length + 1 without its last point.
  const m = length + 1;
  const w = new Float64Array(length);
  const width = Math.floor((alpha * (m - 1)) / 2);
  for (let n = 0; n < length; n++) {
    if (n < width + 1) w[n] = 0.5 * (1 + Math.cos(Math.PI * (-1 + (2 * n) / alpha / (m - 1))));
    else if (n <= m - width - 2) w[n] = 1;
    else w[n] = 0.5 * (1 + Math.cos(Math.PI * (-2 / alpha + 1 + (2 * n) / alpha / (m - 1))));
  }
  return w;
}

export function scipySpectrogram(
  x: Float32Array,
  sampleRate: number,
  nperseg: number,
  noverlap: number,
): { data: Float32Array; bins: number; frames: number } {
  const hop = nperseg - noverlap;
  const frames = 1 + Math.floor((x.length - nperseg) / hop);
  const bins = nperseg / 2 + 1;
  const w = tukeyWindow(nperseg);
  let sumSq = 0;
  for (let i = 0; i < nperseg; i++) sumSq += w[i]! * w[i]!;
  const scale = 1 / (sampleRate * sumSq);
  const fft = new FFT(nperseg);
  const seg = new Float64Array(nperseg);
  const spec = fft.createComplexArray() as number[];
  const out = new Float32Array(bins * frames);
  for (let t = 0; t < frames; t++) {
    let mean = 0;
    for (let i = 0; i < nperseg; i++) mean += x[t * hop + i]!;
    mean /= nperseg;
    for (let i = 0; i < nperseg; i++) seg[i] = (x[t * hop + i]! - mean) * w[i]!;
    fft.realTransform(spec, seg);
    for (let f = 0; f < bins; f++) {
      const re = spec[2 * f]!;
      const im = spec[2 * f + 1]!;
      const double = f === 0 || f === bins - 1 ? 1 : 2;
      out[f * frames + t] = (re * re + im * im) * scale * double;
    }
  }
  return { data: out, bins, frames };
}
