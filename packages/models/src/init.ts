/**
 * Seeded initialisers with PyTorch's distributions (ALGORITHMS.md 9.1, 10.6).
 *
 * tfjs-layers' `heNormal`/`glorotNormal` draw from a *truncated* normal and its `Dense` default is
 * Glorot-uniform with a zero bias, so none of them reproduces the references' initialisation.
 * These helpers draw from {@link Rng} (reproducible from a seed) and return plain arrays that are
 * written into variables once, at construction.
 */
import type { Rng } from '@igm/core';

/** Kernel layouts: Dense (in, out); Conv2D (kh, kw, in, out), as tfjs stores them. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length === 2) return { fanIn: shape[0]!, fanOut: shape[1]! };
  if (shape.length === 4) {
    const receptive = shape[0]! * shape[1]!;
    return { fanIn: receptive * shape[2]!, fanOut: receptive * shape[3]! };
  }
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! };
  throw new Error(`fans: unsupported kernel shape [${shape.join(', ')}]`);
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** U(-bound, bound). */
export function uniformValues(rng: Rng, shape: readonly number[], bound: number): Float32Array {
  const out = new Float32Array(size(shape));
  for (let i = 0; i < out.length; i++) out[i] = (2 * rng.uniform() - 1) * bound;
  return out;
}

/** N(mean, std^2), untruncated (PyTorch `normal_`). */
export function normalValues(
  rng: Rng,
  shape: readonly number[],
  std: number,
  mean = 0,
): Float32Array {
  const out = new Float32Array(size(shape));
  for (let i = 0; i < out.length; i++) out[i] = mean + std * rng.normal();
  return out;
}

/**
 * PyTorch `nn.Linear` / `nn.Conv2d` default: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
 * (`kaiming_uniform_(a=sqrt(5))` reduces to this bound).
 */
export function pytorchDefaultBound(kernelShape: readonly number[]): number {
  return 1 / Math.sqrt(fans(kernelShape).fanIn);
}

/** `kaiming_normal_(mode='fan_out', nonlinearity='relu')`: N(0, 2 / fan_out). */
export function kaimingNormalFanOut(rng: Rng, kernelShape: readonly number[]): Float32Array {
  return normalValues(rng, kernelShape, Math.sqrt(2 / fans(kernelShape).fanOut));
}

/** `xavier_normal_`: N(0, 2 / (fan_in + fan_out)). */
export function xavierNormal(rng: Rng, kernelShape: readonly number[]): Float32Array {
  const { fanIn, fanOut } = fans(kernelShape);
  return normalValues(rng, kernelShape, Math.sqrt(2 / (fanIn + fanOut)));
}
