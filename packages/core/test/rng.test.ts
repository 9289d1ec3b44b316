import { describe, expect, it } from 'vitest';
import { createRng, IgmArgumentError, mixSeed } from '../src';

// Values written before mixSeed moved from @igm/datasets into @igm/core (and before Rng.fork
// shared its FNV-1a with it): seeds of every dataset split, cache key and checkpointed RNG
// depend on them, so they must never change.
const MIX_SEED_GOLDEN: [number, string, number][] = [
  [0, '', 2872998923],
  [42, 'train', 2465499152],
  [0xffffffff, 'avmnist/audio', 4274280810],
  [-1, 'x', 1080307760],
  [123456789, 'é漢', 2513790254],
];

describe('mixSeed', () => {
  it('keeps its values (FNV-1a from basis ^ seed, then the splitmix32 finaliser)', () => {
    for (const [seed, label, expected] of MIX_SEED_GOLDEN) {
      expect(mixSeed(seed, label), `${seed} ${label}`).toBe(expected);
    }
  });

  it('is an unsigned 32-bit integer that depends on the seed and on every label character', () => {
    const seen = new Set<number>();
    for (const seed of [0, 1, 2, 1 << 31]) {
      for (const label of ['train', 'trainx', 'trian', 'val', 'test']) {
        const h = mixSeed(seed, label);
        expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
        seen.add(h);
      }
    }
    expect(seen.size).toBe(20);
    // Seeds equal modulo 2^32 are the same seed.
    expect(mixSeed(-1, 'a')).toBe(mixSeed(0xffffffff, 'a'));
  });
});

describe('createRng', () => {
  it('keeps its streams: state from the seed, fork by label', () => {
    const rng = createRng(7);
    expect(rng.getState()).toEqual({
      algorithm: 'xoshiro128**',
      words: [588686121, 1937383562, 4286812467, 2372217166],
    });
    const child = rng.fork('epoch-3');
    expect([child.nextSeed(), child.nextSeed(), rng.nextSeed()]).toEqual([
      3611016762, 3584773805, 2200021487,
    ]);
  });

  it('restores a saved state and rejects bad seeds and states', () => {
    const a = createRng(3);
    a.uniform();
    const saved = a.getState();
    const next = [a.uniform(), a.normal(), a.int(10)];
    const b = createRng(99);
    b.setState(saved);
    expect([b.uniform(), b.normal(), b.int(10)]).toEqual(next);
    expect(() => createRng(1.5)).toThrow(IgmArgumentError);
    expect(() => b.setState({ algorithm: 'mt19937', words: [1, 2, 3, 4] })).toThrow(
      /Expected \{ algorithm: "xoshiro128\*\*"/,
    );
  });
});
