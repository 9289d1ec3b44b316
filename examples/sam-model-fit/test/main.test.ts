import { describe, expect, it } from 'vitest';
import { runExample } from '../src/main';

describe('sam-model-fit example (tiny)', () => {
  it('trains the MLP with SGD, SAM in model.fit and fitWithSam', async () => {
    const lines: string[] = [];
    const { runs } = await runExample({ tiny: true, log: (l) => lines.push(l) });
    expect(runs.map((r) => r.method)).toEqual(['sgd', 'sam (model.fit)', 'fitWithSam']);
    for (const r of runs) {
      // Learned something: loss fell from ~ln 3 and test accuracy is well above chance (1/3).
      expect(r.trainLoss).toBeLessThan(0.8 * r.firstEpochLoss);
      expect(r.testAccuracy).toBeGreaterThan(0.55);
      expect(Number.isFinite(r.sharpness)).toBe(true);
    }
    // SAM's point: a flatter minimum than plain SGD from the same start.
    const [plain, samFit, samLoop] = runs;
    expect(samFit!.sharpness).toBeLessThan(plain!.sharpness);
    expect(samLoop!.sharpness).toBeLessThan(plain!.sharpness);
    // Same batches, same chain: SAM inside model.fit and fitWithSam take the same steps (this MLP
    // has no BatchNorm, where the two would differ only in how statistics are frozen).
    expect(samFit!.trainLoss).toBeCloseTo(samLoop!.trainLoss, 4);
    expect(samFit!.testAccuracy).toBeCloseTo(samLoop!.testAccuracy, 4);
    expect(lines).toHaveLength(4);
  });
});
