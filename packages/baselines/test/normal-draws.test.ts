import { describeEachBackend, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { seededNormalValues, seededRandomNormal } from '../src/normal-draws';

describeEachBackend('seededRandomNormal', () => {
  it('gives the values of tf.randomNormal(shape, 0, 1, float32, seed), bit for bit', () => {
    for (const seed of [1, 2, 3, 12345, 2147483647, 2147483648, 4294967295, 987654321]) {
      for (const shape of [[1], [2], [3], [7, 5], [2520, 64]]) {
        const expected = tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync());
        const t = seededRandomNormal(shape, seed);
        expect(t.shape).toEqual(shape);
        expect(t.dtype).toBe('float32');
        const got = t.dataSync();
        t.dispose();
        let firstDifference = -1;
        for (let i = 0; i < expected.length; i++) {
          if (!Object.is(expected[i], got[i])) {
            firstDifference = i;
            break;
          }
        }
        expect({ seed, shape, firstDifference }).toEqual({ seed, shape, firstDifference: -1 });
      }
    }
  });

  it('draws standard-normal values (mean ~0, variance ~1 over 100,000)', () => {
    const v = seededNormalValues(100_000, 77);
    let sum = 0;
    let sq = 0;
    for (const x of v) {
      sum += x;
      sq += x * x;
    }
    const mean = sum / v.length;
    // Standard errors: 1/sqrt(n) = 0.0032 for the mean, sqrt(2/n) = 0.0045 for the variance.
    expect(Math.abs(mean)).toBeLessThan(0.015);
    expect(Math.abs(sq / v.length - mean * mean - 1)).toBeLessThan(0.02);
  });

  it('seed 0 falls back to tf.randomNormal (which then seeds itself from Math.random)', () => {
    const before = tf.memory().numTensors;
    const t = seededRandomNormal([4, 3], 0);
    expect(t.shape).toEqual([4, 3]);
    expect(Array.from(t.dataSync()).every(Number.isFinite)).toBe(true);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
