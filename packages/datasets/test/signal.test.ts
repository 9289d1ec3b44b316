import { loadFixture } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import { logSpectrogram, padOrTrim, tileTo } from '../src/audio/features';
import { melFilterbank } from '../src/audio/mel';
import { resamplePoly } from '../src/audio/resample';
import { hannWindow, stft } from '../src/audio/stft';
import { applyPcaEnergy, fitPcaEnergy } from '../src/image/pca';
import { resizeBilinear } from '../src/image/transforms';

interface Fixture {
  stft: {
    signal: number[];
    sampleRate: number;
    logMagZero: { nFft: number; hop: number; value: number[][] };
    magReflect: { nFft: number; hop: number; value: number[][] };
    melFilterbank: { nMels: number; value: number[][] };
    logMel: { nMels: number; nFft: number; hop: number; value: number[][] };
  };
  resample: { input: number[]; from: number; to: number; value: number[] };
  pca: { data: number[][]; removed: number; kept: number; retained: number; value: number[][] };
  resize: { image: number[][][]; small: number[][][]; big: number[][][] };
}

const fx = loadFixture<Fixture>(new URL('./fixtures/signal-reference.json', import.meta.url));

function maxAbsDiff(a: ArrayLike<number>, b: number[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('signal processing parity with the NumPy/SciPy reference', () => {
  const x = Float32Array.from(fx.stft.signal);

  it('STFT log-magnitude, zero-padded centring (librosa >= 0.10)', () => {
    const { nFft, hop, value } = fx.stft.logMagZero;
    const s = logSpectrogram(x, { representation: 'log-magnitude', sampleRate: 8000, nFft, hop });
    expect([s.rows, s.frames]).toEqual([value.length, value[0]!.length]);
    // Magnitudes are stored in float32: relative error ~1e-6, so log error < 1e-4 except in
    // near-zero bins where log(|X| + 1e-7) is steep; compare with an absolute tolerance of 1e-3.
    expect(maxAbsDiff(s.data, value.flat())).toBeLessThan(1e-3);
  });

  it('STFT magnitude, reflect padding (librosa < 0.10) and hop that does not divide n_fft', () => {
    const { nFft, hop, value } = fx.stft.magReflect;
    const s = stft(x, { nFft, hop, padMode: 'reflect' });
    expect(maxAbsDiff(s.data, value.flat())).toBeLessThan(1e-4);
  });

  it('Slaney mel filterbank and log-mel spectrogram', () => {
    const fb = melFilterbank({ sampleRate: 8000, nFft: 256, nMels: 40 });
    expect(maxAbsDiff(fb, fx.stft.melFilterbank.value.flat())).toBeLessThan(1e-12);
    const s = logSpectrogram(x, {
      representation: 'log-mel',
      sampleRate: 8000,
      nFft: 256,
      hop: 128,
      nMels: 40,
    });
    expect(maxAbsDiff(s.data, fx.stft.logMel.value.flat())).toBeLessThan(1e-3);
  });

  it('resamplePoly reproduces scipy.signal.resample_poly 16 -> 22.05 kHz', () => {
    const y = resamplePoly(Float64Array.from(fx.resample.input), 16000, 22050);
    // float64 arithmetic stored as float32 output: 1e-6 absolute on a signal of amplitude < 1.
    expect(maxAbsDiff(y, fx.resample.value)).toBeLessThan(1e-6);
  });

  it('antialiased bilinear resize matches PIL (what torchvision Resize uses)', () => {
    const img = fx.resize.image;
    const image = { height: img.length, width: img[0]!.length, data: Uint8Array.from(img.flat(2)) };
    // PIL rounds to uint8 (and between its two passes): within 1.5 grey levels of our float result.
    const small = resizeBilinear(image, 12, 16);
    expect(maxAbsDiff(small, fx.resize.small.flat(2))).toBeLessThan(1.5);
    const big = resizeBilinear(image, 45, 50);
    expect(maxAbsDiff(big, fx.resize.big.flat(2))).toBeLessThan(1.5);
  });

  it('PCA energy removal matches numpy.linalg.eigh', () => {
    const data = Float32Array.from(fx.pca.data.flat());
    const rows = fx.pca.data.length;
    const dim = fx.pca.data[0]!.length;
    const fit = fitPcaEnergy(data, rows, dim, fx.pca.removed);
    expect(fit.kept).toBe(fx.pca.kept);
    expect(fit.retainedEnergy).toBeCloseTo(fx.pca.retained, 10);
    applyPcaEnergy(fit, data, rows);
    expect(maxAbsDiff(data, fx.pca.value.flat())).toBeLessThan(1e-6);
  });
});

describe('signal processing on problems with known answers', () => {
  it('a pure tone peaks in its bin; Parseval holds for the periodic Hann frame', () => {
    const sr = 8000;
    const n = 4096;
    const f0 = 1000; // bin 32 of a 256-point FFT
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * f0 * i) / sr));
    const s = stft(x, { nFft: 256, hop: 256, center: false });
    const frame = 3;
    let best = 0;
    for (let k = 0; k < s.bins; k++)
      if (s.data[k * s.frames + frame]! > s.data[best * s.frames + frame]!) best = k;
    expect(best).toBe(32);
    // |X[32]| = sum(w) / 2 for a unit sine centred on a bin; sum of the periodic Hann = N / 2.
    expect(s.data[32 * s.frames + frame]).toBeCloseTo(256 / 4, 3);
    const round = (w: Float64Array) => Array.from(w, (v) => Number(v.toFixed(12)));
    expect(round(hannWindow(4, 'hann-periodic'))).toEqual([0, 0.5, 1, 0.5]);
    expect(round(hannWindow(3, 'hann-symmetric'))).toEqual([0, 1, 0]);
  });

  it('resampling keeps a band-limited tone and its amplitude', () => {
    const x = Float32Array.from(
      { length: 16000 },
      (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16000),
    );
    const y = resamplePoly(x, 16000, 22050);
    expect(y.length).toBe(22050);
    let err = 0;
    for (let i = 500; i < 21500; i++)
      err = Math.max(err, Math.abs(y[i]! - 0.5 * Math.sin((2 * Math.PI * 440 * i) / 22050)));
    expect(err).toBeLessThan(1e-3);
  });

  it('PCA keeps exactly the leading directions of axis-aligned data', () => {
    // Variances 9, 3, 1 along the first three axes (energy 9/13, 3/13, 1/13).
    const rows = 4;
    const data = new Float32Array(rows * 4);
    const pts = [
      [3, 0, 0],
      [-3, 0, 0],
      [0, Math.sqrt(3), 1],
      [0, -Math.sqrt(3), -1],
    ];
    // Scale to keep the second-moment structure: column variances 4.5, 1.5, 0.5.
    pts.forEach((p, r) => {
      p.forEach((v, j) => {
        data[r * 4 + j] = 0.1 * v + 0.5;
      });
    });
    const fit = fitPcaEnergy(data, rows, 4, 0.5);
    expect(fit.kept).toBe(1);
    expect(fit.retainedEnergy).toBeCloseTo(4.5 / 6.5, 5);
    const copy = Float32Array.from(data);
    applyPcaEnergy(fit, copy, rows);
    // Only the first coordinate varies; the constant fourth pixel (0) is untouched.
    expect(Array.from(copy.subarray(8, 12)).map((v) => Number(v.toFixed(5)))).toEqual([
      0.5, 0.5, 0.5, 0,
    ]);
    expect(copy[0]).toBeCloseTo(0.8, 5);
  });

  it('padOrTrim and tileTo', () => {
    expect(Array.from(padOrTrim(Float32Array.of(1, 2, 3), 5))).toEqual([1, 2, 3, 0, 0]);
    expect(Array.from(padOrTrim(Float32Array.of(1, 2, 3), 2))).toEqual([1, 2]);
    expect(Array.from(tileTo(Float32Array.of(1, 2, 3), 7))).toEqual([1, 2, 3, 1, 2, 3, 1]);
  });
});
