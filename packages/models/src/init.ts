/**
 * Seeded initialisers with PyTorch's distributions (docs/algorithms/optimizers.md#initialisation).
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

/**
 * A fast local stream for bulk draws (ResNet-18 has 11M weights): sfc32 seeded from
 * `rng.nextSeed()`, so the values are reproducible from the caller's {@link Rng} state while
 * each tensor costs only one draw from it.
 */
function bulkStream(rng: Rng): () => number {
  let a = rng.nextSeed() >>> 0;
  let b = 0x9e3779b9;
  let c = 0x243f6a88;
  let d = 0xb7e15162;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** U(-bound, bound). */
export function uniformValues(rng: Rng, shape: readonly number[], bound: number): Float32Array {
  const out = new Float32Array(size(shape));
  const u = bulkStream(rng);
  for (let i = 0; i < out.length; i++) out[i] = (2 * u() - 1) * bound;
  return out;
}

/** N(mean, std^2), untruncated (PyTorch `normal_`); Box-Muller, both outputs used. */
export function normalValues(
  rng: Rng,
  shape: readonly number[],
  std: number,
  mean = 0,
): Float32Array {
  const out = new Float32Array(size(shape));
  const u = bulkStream(rng);
  for (let i = 0; i < out.length; i += 2) {
    let u1 = u();
    while (u1 === 0) u1 = u();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u();
    out[i] = mean + std * r * Math.cos(theta);
    if (i + 1 < out.length) out[i + 1] = mean + std * r * Math.sin(theta);
  }
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
