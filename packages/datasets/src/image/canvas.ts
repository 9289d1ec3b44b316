/**
 * Degradations of small grey-level images (AV-MNIST-style digits): the image placed at a random
 * position inside a larger blank canvas (translated MNIST, as in the Spatial Transformer Networks
 * experiments), then additive Gaussian pixel noise clipped to [0, 1]. Both draw from the caller's
 * seeded RNG, so a sample's result is a pure function of its seed.
 */
import type { Rng } from '@igm/core';

export interface CanvasPlacement {
  /** Column of the image's left edge in the canvas. */
  readonly left: number;
  /** Row of the image's top edge in the canvas. */
  readonly top: number;
}

/**
 * Copies the `side` x `side` image `src` into a zeroed `canvas` x `canvas` image `dst` at a
 * uniformly random position (every position that keeps the whole image inside is equally likely).
 */
export function placeOnCanvas(
  src: Float32Array,
  side: number,
  dst: Float32Array,
  canvas: number,
  rng: Rng,
): CanvasPlacement {
  if (src.length !== side * side || dst.length !== canvas * canvas || canvas < side) {
    throw new RangeError(
      `placeOnCanvas: a ${side}x${side} image (${src.length} values) does not fit a ${canvas}x${canvas} canvas (${dst.length} values).`,
    );
  }
  const top = rng.int(canvas - side + 1);
  const left = rng.int(canvas - side + 1);
  dst.fill(0);
  for (let r = 0; r < side; r++) {
    dst.set(src.subarray(r * side, (r + 1) * side), (top + r) * canvas + left);
  }
  return { left, top };
}

/** x <- clip(x + std * N(0, 1), 0, 1), element-wise, in place. */
export function addClippedPixelNoise(x: Float32Array, std: number, rng: Rng): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! + std * rng.normal();
    x[i] = Math.min(1, Math.max(0, v));
  }
}
