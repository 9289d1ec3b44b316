import { describe, expect, it } from 'vitest';
import { runExample } from '../src/main';

describe('custom-trainer example (tiny)', () => {
  it('trains joint and hand-assembled IGM; every output beats chance (1/4)', async () => {
    const lines: string[] = [];
    const { results } = await runExample({ tiny: true, log: (l) => lines.push(l) });
    expect(results.map((r) => r.method)).toEqual(['joint', 'igm (by hand)']);
    for (const r of results) {
      expect(r.lastLoss).toBeLessThan(r.firstLoss);
      // Audio shows the class 90 % of the time, visual 70 %: both learnable above chance.
      for (const acc of [r.best, r.final]) {
        expect(acc.fused).toBeGreaterThan(0.6);
        expect(acc.audio).toBeGreaterThan(0.6);
      }
      expect(r.final.visual).toBeGreaterThan(0.35);
    }
    // Stages audio, visual, audio, visual: a T at each of the three boundaries for each of the
    // previous modality's 3 head layers, each with spectrum [e^-0.4, 1].
    const igm = results[1]!;
    expect(igm.projections).toHaveLength(9);
    for (const p of igm.projections) expect(p).toContain('spectrum [0.6703, 1]');
  });
});
