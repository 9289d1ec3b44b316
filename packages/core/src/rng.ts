/**
 * A seeded, saveable random number generator: xoshiro128** seeded through splitmix32, and the
 * 32-bit hashing that derives seeds from labels.
 *
 * One seed controls initialisation, shuffling, mixup and noise. The state is four 32-bit words,
 * saved in checkpoints with `getState()` and restored with `setState()`.
 */
import { IgmArgumentError } from './errors';
import type { Rng, RngState } from './types';

const ALGORITHM = 'xoshiro128**';

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** FNV-1a over the UTF-16 code units of `text`, starting from `basis`. */
function fnv1a32(text: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h >>> 0;
}

/** The 32-bit finaliser of splitmix32 (MurmurHash3's fmix32): each input bit flips ~half the output. */
function finalize32(z: number): number {
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    return finalize32(s);
  };
}

/**
 * A 32-bit seed derived from a base seed and a label: FNV-1a over the label, starting from the
 * offset basis XOR the seed, then the splitmix32 finaliser:
 *
 *   h = fnv1a(label, 0x811c9dc5 ^ seed);   mixSeed = fmix32(h)
 *
 * Equal inputs give equal seeds on every platform; different labels (`'train'`, `'audio'`) give
 * unrelated streams from one run seed. Used to seed per-split and per-modality generators.
 */
export function mixSeed(seed: number, label: string): number {
  return finalize32(fnv1a32(label, (FNV_OFFSET_BASIS ^ (seed >>> 0)) >>> 0));
}

class Xoshiro128 implements Rng {
  private s = new Uint32Array(4);

  constructor(seed: number) {
    const next = splitmix32(seed);
    for (let i = 0; i < 4; i++) this.s[i] = next();
    if ((this.s[0]! | this.s[1]! | this.s[2]! | this.s[3]!) === 0) this.s[0] = 1;
  }

  private nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  uniform(): number {
    // 53 random bits -> [0, 1)
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  normal(): number {
    // Box-Muller; one draw per call keeps the state a plain 4-word vector.
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) {
      throw new IgmArgumentError(`Rng.int: received n=${n}. Expected a positive integer.`);
    }
    return Math.floor(this.uniform() * n);
  }

  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const tmp = p[i]!;
      p[i] = p[j]!;
      p[j] = tmp;
    }
    return p;
  }

  private gamma(shape: number): number {
    if (shape < 1) {
      // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a)
      let u = 0;
      while (u === 0) u = this.uniform();
      return this.gamma(shape + 1) * u ** (1 / shape);
    }
    // Marsaglia and Tsang (2000)
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.uniform();
      if (u < 1 - 0.0331 * x ** 4) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  beta(a: number, b: number): number {
    if (!(a > 0) || !(b > 0)) {
      throw new IgmArgumentError(`Rng.beta: received a=${a}, b=${b}. Expected both > 0.`);
    }
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  nextSeed(): number {
    return this.nextU32();
  }

  fork(label: string): Rng {
    return new Xoshiro128((this.nextU32() ^ fnv1a32(label, FNV_OFFSET_BASIS)) >>> 0);
  }

  getState(): RngState {
    return { algorithm: ALGORITHM, words: Array.from(this.s) };
  }

  setState(state: RngState): void {
    if (state?.algorithm !== ALGORITHM || !Array.isArray(state.words) || state.words.length !== 4) {
      throw new IgmArgumentError(
        `Rng.setState: received ${JSON.stringify(state)}. Expected { algorithm: "${ALGORITHM}", words: [4 uint32] }.`,
      );
    }
    for (let i = 0; i < 4; i++) this.s[i] = state.words[i]! >>> 0;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A new seeded generator. The same seed gives the same stream on every platform. */
export function createRng(seed: number): Rng {
  if (!Number.isInteger(seed)) {
    throw new IgmArgumentError(`createRng: received seed=${seed}. Expected an integer.`);
  }
  return new Xoshiro128(seed >>> 0);
}
