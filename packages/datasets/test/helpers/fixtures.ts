/** Builders of small, real fixture trees (WAV, JPEG, NPY files written with the same libraries). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeJpeg } from '../../src/io/jpeg';
import { encodeWav } from '../../src/io/wav';

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `igm-datasets-${label}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A spoken-digit stand-in: a tone whose pitch depends on the digit, with a little speaker jitter. */
export function digitTone(
  digit: number,
  speaker: number,
  index: number,
  sampleRate: number,
  length: number,
): Float32Array {
  const f = 200 + 150 * digit + 10 * speaker + index;
  const x = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const env = Math.sin((Math.PI * i) / length);
    x[i] = 0.5 * env * Math.sin((2 * Math.PI * f * i) / sampleRate);
  }
  return x;
}

/** Writes `{digit}_{speaker}_{index}.wav` files (PCM16 mono 8 kHz) into a new folder. */
export function writeFsddFixture(
  dir: string,
  {
    digits = 10,
    speakers = ['alice', 'bob'],
    indices = 8,
  }: { digits?: number; speakers?: string[]; indices?: number } = {},
): string[] {
  mkdirSync(dir, { recursive: true });
  const names: string[] = [];
  for (let d = 0; d < digits; d++) {
    speakers.forEach((s, si) => {
      for (let i = 0; i < indices; i++) {
        const name = `${d}_${s}_${i}.wav`;
        const length = 2000 + 300 * ((d + si + i) % 7);
        writeFileSync(join(dir, name), encodeWav(digitTone(d, si, i, 8000, length), 8000));
        names.push(name);
      }
    });
  }
  return names.sort();
}

/** A small RGB test image with a gradient and a square whose position depends on `seed`. */
export function testImage(width: number, height: number, seed: number) {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      const inSquare =
        Math.abs(x - ((seed * 7) % width)) < 5 && Math.abs(y - ((seed * 5) % height)) < 5;
      data[p] = inSquare ? 250 : (x * 255) / width;
      data[p + 1] = (y * 255) / height;
      data[p + 2] = (seed * 40) % 256;
    }
  }
  return { width, height, data };
}

// jpeg-js rebuilds its encoder tables on every call (about 0.5 s here), so fixtures reuse a few
// encoded images.
const jpegMemo = new Map<string, Uint8Array>();

/** A real JPEG of testImage(width, height, seed % 3). */
export function testJpeg(width: number, height: number, seed: number): Uint8Array {
  const key = `${width}x${height}/${seed % 3}`;
  let bytes = jpegMemo.get(key);
  if (!bytes) {
    bytes = encodeJpeg(testImage(width, height, seed % 3));
    jpegMemo.set(key, bytes);
  }
  return bytes;
}
