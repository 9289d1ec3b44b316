"""Independent NumPy/SciPy references for @igm/datasets' signal processing.

Writes packages/datasets/test/fixtures/signal-reference.json with:
- STFT log-magnitude (periodic Hann, centred, zero and reflect padding), librosa >= 0.10 conventions
- Slaney mel filterbank (librosa.filters.mel defaults) and a log-mel spectrogram
- scipy.signal.resample_poly 16 kHz -> 22.05 kHz (Kaiser-windowed sinc, beta 5)
- PCA energy removal on low-rank data (numpy.linalg.eigh on the covariance)
All in float64. Run: /usr/bin/python3 tools/reference/datasets/audio_image_reference.py
"""
import json
import os

import numpy as np
from scipy.signal import get_window, resample_poly

OUT = os.path.join(os.path.dirname(__file__), '../../../packages/datasets/test/fixtures/signal-reference.json')


def test_signal(n, sr):
    t = np.arange(n) / sr
    # A chirp plus two tones and a deterministic pseudo-noise term.
    x = 0.4 * np.sin(2 * np.pi * (200 * t + 900 * t**2)) + 0.2 * np.sin(2 * np.pi * 1234 * t)
    x += 0.1 * np.sin(2 * np.pi * 3100 * t + 0.3) + 0.05 * np.sin(np.arange(n) * 1.7) * np.cos(np.arange(n) * 0.31)
    return x.astype(np.float32).astype(np.float64)  # float32-exact input, as TS receives it


def stft_mag(x, n_fft, hop, pad_mode):
    w = get_window('hann', n_fft, fftbins=True)
    pad = n_fft // 2
    xp = np.pad(x, pad, mode='constant' if pad_mode == 'constant' else 'reflect')
    frames = 1 + (len(xp) - n_fft) // hop
    out = np.empty((n_fft // 2 + 1, frames))
    for t in range(frames):
        out[:, t] = np.abs(np.fft.rfft(xp[t * hop:t * hop + n_fft] * w))
    return out


def hz_to_mel(f):
    f = np.asanyarray(f, dtype=float)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels)


def mel_to_hz(m):
    m = np.asanyarray(m, dtype=float)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filterbank(sr, n_fft, n_mels):
    fft_freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    w = np.zeros((n_mels, len(fft_freqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        w[i] = np.maximum(0, np.minimum(lower, upper))
    w *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return w


def pca_energy(x, removed):
    mu = x.mean(0)
    xc = x - mu
    cov = xc.T @ xc / len(x)
    vals, vecs = np.linalg.eigh(cov)
    vals = np.clip(vals[::-1], 0, None)
    vecs = vecs[:, ::-1]
    total = vals.sum()
    k = 0
    acc = 0.0
    while k < len(vals) and acc < (1 - removed) * total - 1e-12 * total:
        acc += vals[k]
        k += 1
    v = vecs[:, :k]
    rec = np.clip(mu + xc @ v @ v.T, 0, 1)
    return rec, k, acc / total


def main():
    sr = 8000
    x = test_signal(2000, sr)
    mag0 = stft_mag(x, 256, 128, 'constant')
    mag1 = stft_mag(x, 256, 100, 'reflect')
    fb = mel_filterbank(sr, 256, 40)
    power = stft_mag(x, 256, 128, 'constant') ** 2
    logmel = np.log(fb @ power + 1e-6)

    x16 = test_signal(1600, 16000)
    y22 = resample_poly(x16, 441, 320)

    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 12))
    coef = rng.normal(size=(40, 3)) * np.array([3.0, 1.5, 0.5])
    imgs = 0.5 + 0.1 * (coef @ basis) + 0.01 * rng.normal(size=(40, 12))
    imgs = np.clip(imgs, 0, 1).astype(np.float32).astype(np.float64)
    rec, k, retained = pca_energy(imgs, 0.75)

    # CREMA-D audio recipe: 16 kHz -> 22.05 kHz, tile to 66,150, clip, STFT 512/353, log(|X| + 1e-7).
    xc = test_signal(11200, 16000) * 1.6  # 0.7 s, peaks above 1 so the clip matters
    xc = xc.astype(np.float32).astype(np.float64)
    r = resample_poly(xc, 441, 320)
    reps = int(np.ceil(66150 / len(r)))
    tiled = np.clip(np.tile(r, reps)[:66150], -1, 1)
    spec = np.log(stft_mag(tiled, 512, 353, 'constant') + 1e-7)

    # PIL antialiased bilinear resize (what torchvision's Resize does on PIL images).
    from PIL import Image
    img = (rng.integers(0, 256, size=(29, 37, 3))).astype(np.uint8)
    img[:, :18] = 40  # some structure
    small = np.asarray(Image.fromarray(img).resize((16, 12), Image.BILINEAR))
    big = np.asarray(Image.fromarray(img).resize((50, 45), Image.BILINEAR))

    # Kinetics-Sounds pickle variant: scipy spectrogram (nperseg 512, noverlap 353) of 16 kHz audio,
    # log(S + 1e-7), per-clip z-score. A 1 s input keeps the fixture small.
    from scipy.signal import spectrogram
    xk = test_signal(16000, 16000)
    _, _, S = spectrogram(xk, fs=16000, nperseg=512, noverlap=353)
    L = np.log(S + 1e-7)
    Z = (L - L.mean()) / L.std()

    out = {
        'ksSpectrogram': {'input': xk.tolist(), 'shape': list(Z.shape), 'value': Z[::4, ::2].tolist()},
        'cremad': {'input': xc.tolist(), 'sampleRate': 16000, 'shape': list(spec.shape),
                   'rows': list(range(0, 257, 8)), 'cols': list(range(0, 188, 4)),
                   'value': spec[::8, ::4].tolist()},
        'resize': {'image': img.tolist(), 'small': small.tolist(), 'big': big.tolist()},
        'stft': {
            'signal': x.tolist(),
            'sampleRate': sr,
            'logMagZero': {'nFft': 256, 'hop': 128, 'value': np.log(mag0 + 1e-7).tolist()},
            'magReflect': {'nFft': 256, 'hop': 100, 'value': mag1.tolist()},
            'melFilterbank': {'nMels': 40, 'value': fb.tolist()},
            'logMel': {'nMels': 40, 'nFft': 256, 'hop': 128, 'value': logmel.tolist()},
        },
        'resample': {'input': x16.tolist(), 'from': 16000, 'to': 22050, 'value': y22.tolist()},
        'pca': {'data': imgs.tolist(), 'removed': 0.75, 'kept': int(k), 'retained': float(retained), 'value': rec.tolist()},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(out, f)
    print('wrote', OUT, 'kept', k, 'retained', retained)


if __name__ == '__main__':
    main()
