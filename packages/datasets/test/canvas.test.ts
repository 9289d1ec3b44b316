import { createRng } from '@igm/core';
import { describe, expect, it } from 'vitest';
import { addClippedPixelNoise, placeOnCanvas } from '../src/image/canvas';

describe('placeOnCanvas', () => {
  const side = 3;
  const src = Float32Array.from({ length: 9 }, (_, i) => i + 1);

  it('copies the image at the drawn position and zeroes the rest', () => {
    const dst = new Float32Array(25).fill(7);
    const { left, top } = placeOnCanvas(src, side, dst, 5, createRng(4));
    for (let r = 0; r < 5; r++) {
      for (let c = 0; c < 5; c++) {
        const inside = r >= top && r < top + 3 && c >= left && c < left + 3;
        expect(dst[r * 5 + c]).toBe(inside ? src[(r - top) * 3 + (c - left)] : 0);
      }
    }
  });

  it('draws every position that keeps the image inside, about equally often', () => {
    const counts = new Map<string, number>();
    const rng = createRng(1);
    const dst = new Float32Array(25);
    for (let k = 0; k < 9000; k++) {
      const { left, top } = placeOnCanvas(src, side, dst, 5, rng);
      counts.set(`${top},${left}`, (counts.get(`${top},${left}`) ?? 0) + 1);
    }
    // 3 x 3 positions, 1000 expected each; 5 binomial standard deviations is about 150.
    expect(counts.size).toBe(9);
    for (const n of counts.values()) expect(Math.abs(n - 1000)).toBeLessThan(150);
  });

  it('is the identity on a canvas of the image size, and rejects sizes that do not fit', () => {
    const dst = new Float32Array(9);
    expect(placeOnCanvas(src, side, dst, 3, createRng(0))).toEqual({ left: 0, top: 0 });
    expect(Array.from(dst)).toEqual(Array.from(src));
    expect(() => placeOnCanvas(src, side, new Float32Array(4), 2, createRng(0))).toThrow(
      /3x3 image .* does not fit a 2x2 canvas/,
    );
  });
});

describe('addClippedPixelNoise', () => {
  it('adds N(0, std) and clips to [0, 1]; same seed, same noise', () => {
    const x = new Float32Array(20000).fill(0.5);
    addClippedPixelNoise(x, 0.1, createRng(2));
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const sd = Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length);
    // 0.5 +- 0.1 is clipped at 5 sigma only: mean 0.5 and std 0.1 within sampling error.
    expect(mean).toBeCloseTo(0.5, 2);
    expect(sd).toBeCloseTo(0.1, 2);
    const y = new Float32Array(20000).fill(0.5);
    addClippedPixelNoise(y, 0.1, createRng(2));
    expect(y).toEqual(x);
    const z = new Float32Array(1000).fill(0.95);
    addClippedPixelNoise(z, 2, createRng(3));
    expect(Math.min(...z)).toBe(0);
    expect(Math.max(...z)).toBe(1);
  });
});
