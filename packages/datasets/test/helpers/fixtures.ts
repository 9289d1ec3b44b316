/** Builders of small, real fixture trees (WAV, JPEG, NPY files written with the same libraries). */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
