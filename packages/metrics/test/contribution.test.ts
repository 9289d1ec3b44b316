import { createRng, IgmArgumentError } from '@igm/core';
import { describe, expect, it } from 'vitest';
import {
  allCoalitions,
  coalitionKey,
  imbalanceDegree,
  sampleShapleyContributions,
  shapleyContributions,
  unimodalAccuracyGap,
} from '../src';

/** Independent definition: mean marginal contribution over all n! orderings of the modalities. */
function shapleyByPermutations(
  names: string[],
  v: (coalition: string[]) => number,
): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(names.map((m) => [m, 0]));
  const perms: string[][] = [];
  const permute = (rest: string[], acc: string[]): void => {
    if (rest.length === 0) perms.push(acc);
    rest.forEach((m, i) => {
      permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, m]);
    });
  };
  permute(names, []);
  for (const p of perms) {
    p.forEach((m, i) => {
      out[m]! += (v(p.slice(0, i + 1)) - v(p.slice(0, i))) / perms.length;
    });
  }
  return out;
}

function table(names: string[], v: (coalition: string[]) => number): Record<string, number> {
  return Object.fromEntries(allCoalitions(names).map((s) => [coalitionKey(s), v(s)]));
}

describe('shapleyContributions', () => {
  it('two modalities: the closed form of DATASETS.md 11 and efficiency', () => {
    const values = { '': 0.1, audio: 0.6, visual: 0.3, 'audio+visual': 0.7 };
    const phi = shapleyContributions(['visual', 'audio'], values);
    // φ_a = ½[v(a) − v(∅)] + ½[v(av) − v(v)] = ½·0.5 + ½·0.4; φ_v = ½·0.2 + ½·0.1.
    expect(phi['audio']).toBeCloseTo(0.45, 15);
    expect(phi['visual']).toBeCloseTo(0.15, 15);
    expect(phi['audio']! + phi['visual']!).toBeCloseTo(0.7 - 0.1, 15);
    // ID = |0.45 − 0.15| / (0.45 + 0.15).
    expect(imbalanceDegree(phi)).toBeCloseTo(0.5, 15);
  });

  it('three modalities: additive, unanimity and pairwise-synergy games', () => {
    const names = ['text', 'audio', 'video'];
    const gain: Record<string, number> = { audio: 0.3, video: 0.2, text: 0.05 };
    const additive = shapleyContributions(
      names,
      table(names, (s) => 0.1 + s.reduce((a, m) => a + gain[m]!, 0)),
    );
    for (const m of names) expect(additive[m]).toBeCloseTo(gain[m]!, 15);

    const unanimity = shapleyContributions(
      names,
      table(names, (s) => (s.length === 3 ? 0.9 : 0)),
    );
    for (const m of names) expect(unanimity[m]).toBeCloseTo(0.3, 15);
    expect(imbalanceDegree(unanimity)).toBe(0);

    // Accuracy 0.8 exactly when audio and video are both present: text is a null player.
    const synergy = shapleyContributions(
      names,
      table(names, (s) => (s.includes('audio') && s.includes('video') ? 0.8 : 0)),
    );
    expect(synergy).toEqual({ audio: 0.4, video: 0.4, text: 0 });
    expect(imbalanceDegree(synergy)).toBeCloseTo(0.4 / 0.8, 15);
  });

  it.each([3, 4])('matches the permutation definition on random %i-modality games', (n) => {
    const rng = createRng(40 + n);
    const names = ['m0', 'm1', 'm2', 'm3'].slice(0, n);
    const values = table(names, () => rng.uniform());
    const phi = shapleyContributions(names, values);
    const ref = shapleyByPermutations(names, (s) => values[coalitionKey(s)]!);
    for (const m of names) expect(phi[m]).toBeCloseTo(ref[m]!, 14);
    const sum = names.reduce((a, m) => a + phi[m]!, 0);
    expect(sum).toBeCloseTo(values[coalitionKey(names)]! - values['']!, 14);
  });

  it('rejects missing, extra and out-of-range coalition values', () => {
    expect(() => shapleyContributions(['a', 'b'], { '': 0, a: 0.5, 'a+b': 0.6 })).toThrow(
      /missing the accuracy of coalition\(s\) "b"/,
    );
    expect(() =>
      shapleyContributions(['a', 'b'], { '': 0, a: 0.5, b: 0.4, 'b+a': 0.6, 'a+b': 0.6 }),
    ).toThrow(/unexpected coalition key\(s\) "b\+a"/);
    expect(() => shapleyContributions(['a', 'b'], { '': 0, a: 50, b: 40, 'a+b': 60 })).toThrow(
      /values\["a"\]=50.*\[0, 1\]/,
    );
    expect(() => shapleyContributions(['a', 'a'], {})).toThrow(/listed twice/);
    expect(() => shapleyContributions(['a+b'], {})).toThrow(/without '\+'/);
    expect(() => shapleyContributions([], {})).toThrow(IgmArgumentError);
  });
});

describe('sampleShapleyContributions', () => {
  it('per-sample values with v_i(∅) = 0 average to the coalition-level Shapley values', () => {
    const rng = createRng(5);
    const names = ['audio', 'visual', 'text'];
    const nSamples = 50;
    const correct: Record<string, boolean[]> = {};
    for (const s of allCoalitions(names)) {
      if (s.length > 0)
        correct[coalitionKey(s)] = Array.from({ length: nSamples }, () => rng.uniform() < 0.6);
    }
    const perSample = sampleShapleyContributions(names, correct);
    const mean = (xs: ArrayLike<number | boolean>): number =>
      Array.from(xs, Number).reduce((a, b) => a + b, 0) / xs.length;
    const values: Record<string, number> = { '': 0 };
    for (const [k, xs] of Object.entries(correct)) values[k] = mean(xs);
    const phi = shapleyContributions(names, values);
    for (const m of names) expect(mean(perSample[m]!)).toBeCloseTo(phi[m]!, 14);
    // Each sample's values add up to whether the full model gets it right.
    for (let i = 0; i < nSamples; i++) {
      const sum = names.reduce((a, m) => a + perSample[m]![i]!, 0);
      expect(sum).toBeCloseTo(correct['audio+text+visual']![i] ? 1 : 0, 14);
    }
  });

  it('two modalities, one sample right only with audio', () => {
    const r = sampleShapleyContributions(['audio', 'visual'], {
      audio: [1],
      visual: [0],
      'audio+visual': [1],
    });
    expect(r['audio']![0]).toBe(1);
    expect(r['visual']![0]).toBe(0);
    expect(() => sampleShapleyContributions(['a', 'b'], { a: [1], b: [1, 0], 'a+b': [1] })).toThrow(
      /has 2 samples/,
    );
    expect(() => sampleShapleyContributions(['a', 'b'], { a: [1], b: [2], 'a+b': [1] })).toThrow(
      /is 2\. Expected true\/false or 0\/1/,
    );
  });
});

describe('imbalanceDegree and unimodalAccuracyGap', () => {
  it('definition edge cases', () => {
    expect(imbalanceDegree([0.3, 0.3])).toBe(0);
    expect(imbalanceDegree([0.4, 0])).toBe(1);
    expect(imbalanceDegree([0, 0, 0])).toBe(0);
    expect(imbalanceDegree([0.5, -0.1])).toBeCloseTo(1, 15);
    expect(imbalanceDegree({ a: 0.2, b: 0.1, c: 0.1 })).toBeCloseTo(0.25, 15);
    expect(() => imbalanceDegree([])).toThrow(/no contributions/);
    expect(() => imbalanceDegree([Number.NaN])).toThrow(/contributions\[0\]=NaN/);
  });

  it('accuracy gap', () => {
    expect(unimodalAccuracyGap({ audio: 0.62, visual: 0.41 })).toBeCloseTo(0.21, 15);
    expect(() => unimodalAccuracyGap({ audio: 62 })).toThrow(/accuracies\["audio"\]=62/);
  });

  it('allCoalitions enumerates 2^n sorted subsets by size', () => {
    expect(allCoalitions(['visual', 'audio']).map(coalitionKey)).toEqual([
      '',
      'audio',
      'visual',
      'audio+visual',
    ]);
    expect(allCoalitions(['a', 'b', 'c'])).toHaveLength(8);
  });
});
