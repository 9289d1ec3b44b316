/**
 * Seeded standard-normal draws, the same values as `tf.randomNormal(shape, 0, 1, 'float32', seed)`
 * of tfjs-core 4.x, computed in one tight loop. tfjs draws each value through a method call of its
 * Marsaglia polar sampler on seedrandom's Alea generator; OGM-GE draws one value per gradient entry
 * per step (~260,000 per step for the AV-MNIST-style MLPs), which made those calls some 4 % of a
 * comparison's CPU time. The arithmetic here is the same, step for step:
 *
 *   Alea seeded with String(seed) (Baagøe's Mash hash);  t = 2091639 s0 + c 2^-32,
 *   s0 <- s1, s1 <- s2, c <- t | 0, s2 <- t - c  (the uniform draw);
 *   v1 = 2 u - 1, v2 = 2 u' - 1, s = v1^2 + v2^2, redrawn while s >= 1 or s = 0;
 *   x = 0 + 1 v1 sqrt(-2 ln s / s), y likewise with v2: the values x, y, x, y, ... as float32.
 *
 * Seed 0 (falsy) makes tfjs seed from Math.random(): then tf.randomNormal itself runs.
 */
import * as tf from '@tensorflow/tfjs-core';

const TWO_POW_MINUS_32 = 2.3283064365386963e-10;

/** The Alea state for `seed` (seedrandom's `alea(seed)`: c = 1 and three Mash values). */
function aleaState(seed: string): { s0: number; s1: number; s2: number } {
  let n = 0xefc8249d;
  const mash = (data: string): number => {
    for (let i = 0; i < data.length; i++) {
      n += data.charCodeAt(i);
      let h = 0.02519603282416938 * n;
      n = h >>> 0;
      h -= n;
      h *= n;
      n = h >>> 0;
      h -= n;
      n += h * 0x100000000;
    }
    return (n >>> 0) * TWO_POW_MINUS_32;
  };
  let s0 = mash(' ');
  let s1 = mash(' ');
  let s2 = mash(' ');
  s0 -= mash(seed);
  if (s0 < 0) s0 += 1;
  s1 -= mash(seed);
  if (s1 < 0) s1 += 1;
  s2 -= mash(seed);
  if (s2 < 0) s2 += 1;
  return { s0, s1, s2 };
}

/** `size` standard-normal float32 values, equal to tf.randomNormal's for a non-zero `seed`. */
export function seededNormalValues(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let { s0, s1, s2 } = aleaState(seed.toString());
  let c = 1;
  const mean = 0;
  const stdDev = 1;
  for (let i = 0; i < size; i += 2) {
    let v1: number;
    let v2: number;
    let s: number;
    do {
      let t = 2091639 * s0 + c * TWO_POW_MINUS_32;
      s0 = s1;
      s1 = s2;
      c = t | 0;
      s2 = t - c;
      v1 = 2 * s2 - 1;
      t = 2091639 * s0 + c * TWO_POW_MINUS_32;
      s0 = s1;
      s1 = s2;
      c = t | 0;
      s2 = t - c;
      v2 = 2 * s2 - 1;
      s = v1 * v1 + v2 * v2;
    } while (s >= 1 || s === 0);
    const mul = Math.sqrt((-2.0 * Math.log(s)) / s);
    out[i] = mean + stdDev * v1 * mul;
    if (i + 1 < size) out[i + 1] = mean + stdDev * v2 * mul;
  }
  return out;
}

/**
 * A float32 tensor of standard-normal draws: the values of
 * `tf.randomNormal(shape, 0, 1, 'float32', seed)`, faster (module doc).
 */
export function seededRandomNormal(shape: readonly number[], seed: number): tf.Tensor {
  if (!seed) return tf.randomNormal(shape as number[], 0, 1, 'float32', seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(seededNormalValues(size, seed), shape as number[], 'float32');
}
