import { describe, expect, it } from 'vitest';
import { parseDelimited } from '../src/io/csv';
import { decodeJpeg, encodeJpeg } from '../src/io/jpeg';
import { parseNpyHeader } from '../src/io/npy';
import { decodeWav, encodeWav } from '../src/io/wav';
import { stratifiedHoldout } from '../src/split';
import { testImage } from './helpers/fixtures';

describe('decoders round-trip real files and reject bad ones by name', () => {
  it('WAV: PCM16 round trip, mono mix-down, non-PCM rejected', () => {
    const x = Float32Array.from({ length: 100 }, (_, i) => Math.sin(i / 5) * 0.5);
    const wav = decodeWav(encodeWav(x, 16000), 'a.wav', { sampleRate: 16000, channels: 1 });
    expect(wav.samples.length).toBe(100);
    // int16 quantisation: 1 / 32768.
    expect(Math.max(...x.map((v, i) => Math.abs(v - wav.samples[i]!)))).toBeLessThan(
      1 / 32768 + 1e-9,
    );
    const stereo = decodeWav(encodeWav([x, new Float32Array(100)], 8000), 's.wav');
    expect(stereo.channels).toBe(2);
    expect(stereo.samples[10]).toBeCloseTo(x[10]! / 2, 4);
    expect(() => decodeWav(new Uint8Array(10), 'tiny.wav')).toThrow(/tiny\.wav: unreadable WAV/);
  });

  it('JPEG: round trip within JPEG error; garbage and truncation named', () => {
    const img = testImage(24, 16, 1);
    const bytes = encodeJpeg(img, 95);
    const back = decodeJpeg(bytes, 'f.jpg');
    expect([back.width, back.height]).toEqual([24, 16]);
    let worst = 0;
    for (let i = 0; i < img.data.length; i++)
      worst = Math.max(worst, Math.abs(img.data[i]! - back.data[i]!));
    expect(worst).toBeLessThan(60); // lossy, sharp square edges
    expect(() => decodeJpeg(new TextEncoder().encode('GIF89a...'), 'x.jpg')).toThrow(
      /x\.jpg: not a JPEG file/,
    );
    expect(() => decodeJpeg(bytes.subarray(0, bytes.length - 40), 't.jpg')).toThrow(
      /t\.jpg: truncated JPEG/,
    );
    const corrupt = Uint8Array.from(bytes);
    corrupt.fill(0xff, 20, 200);
    expect(() => decodeJpeg(corrupt, 'c.jpg')).toThrow(/c\.jpg: unreadable JPEG/);
  });

  it('NPY headers: versions, dtypes, big-endian and garbage', () => {
    const header = (dict: string, major = 1) => {
      const text = new TextEncoder().encode(dict);
      const pre = major === 1 ? 10 : 12;
      const out = new Uint8Array(pre + text.length);
      out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
      const view = new DataView(out.buffer);
      if (major === 1) view.setUint16(8, text.length, true);
      else view.setUint32(8, text.length, true);
      out.set(text, pre);
      return out;
    };
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 768), }";
    expect(parseNpyHeader(header(dict), 'a.npy')).toMatchObject({
      descr: 'f4',
      shape: [3, 768],
      dataOffset: 10 + dict.length,
    });
    expect(
      parseNpyHeader(
        header("{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }", 2),
        'b.npy',
      ).shape,
    ).toEqual([5]);
    expect(() =>
      parseNpyHeader(header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"), 'be.npy'),
    ).toThrow(/be\.npy: NPY dtype >f4 is not supported/);
    expect(() => parseNpyHeader(new Uint8Array(20), 'z.npy')).toThrow(/z\.npy: not an NPY file/);
  });

  it('CSV: quotes, BOM, CRLF and line numbers', () => {
    const rows = parseDelimited('\ufeffa,"b,c"\r\n\r\n"say ""hi""",2\n');
    expect(rows).toEqual([
      { line: 1, fields: ['a', 'b,c'] },
      { line: 3, fields: ['say "hi"', '2'] },
    ]);
  });

  it('stratified hold-out takes round(fraction * n_c) per class, reproducibly', () => {
    const labels = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2];
    const mask = stratifiedHoldout(labels, 0.5, 3);
    const per = [0, 1, 2].map((c) => labels.filter((y, i) => y === c && mask[i]).length);
    expect(per).toEqual([2, 1, 3]);
    expect(stratifiedHoldout(labels, 0.5, 3)).toEqual(mask);
  });
});
