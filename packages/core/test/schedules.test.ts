import { loadFixture } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import { constant, cosine, multiStep, stepLR, warmup } from '../src';

interface ScheduleFixture {
  schedules: Record<string, { lr: number[] } & Record<string, unknown>>;
}
const { schedules: ref } = loadFixture<ScheduleFixture>(
  new URL('./fixtures/optim.json', import.meta.url),
);

/** Schedules are pure float64 arithmetic on both sides: compare to 1e-12 relative. */
function expectSeries(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    expect(Math.abs(a - expected[i]!)).toBeLessThanOrEqual(1e-12 * Math.abs(expected[i]!) + 1e-15);
  });
}
const perEpoch = (s: (c: { step: number; epoch: number }) => number, n: number) =>
  Array.from({ length: n }, (_, epoch) => s({ step: 1000 * epoch + 7, epoch }));

describe('schedules match torch.optim.lr_scheduler', () => {
  it('StepLR stepped after each epoch', () => {
    expectSeries(
      perEpoch(stepLR({ initial: 0.1, stepSize: 3, gamma: 0.1 }), 10),
      ref['stepLR']!.lr,
    );
  });
  it('StepLR stepped before each epoch (IGM): lr0 * g^floor((e+1)/step)', () => {
    expectSeries(
      perEpoch(stepLR({ initial: 0.1, stepSize: 3, gamma: 0.1, stepBeforeEpoch: true }), 10),
      ref['stepLR_before']!.lr,
    );
  });
  it('MultiStepLR', () => {
    expectSeries(
      perEpoch(multiStep({ initial: 0.1, milestones: [2, 5, 7], gamma: 0.5 }), 10),
      ref['multiStep']!.lr,
    );
  });
  it('CosineAnnealingLR, including past tMax', () => {
    expectSeries(perEpoch(cosine({ initial: 0.1, tMax: 5, etaMin: 0.001 }), 16), ref['cosine']!.lr);
  });
});

describe('schedules', () => {
  it('warmup gives 2/3 of the rate in epoch 0 (IGM text-image), then the base schedule', () => {
    const s = warmup(1e-5);
    expect(s({ step: 0, epoch: 0 })).toBeCloseTo((2 / 3) * 1e-5, 15);
    expect(s({ step: 50, epoch: 1 })).toBe(1e-5);
    const g = warmup(stepLR({ initial: 1, stepSize: 2, gamma: 0.5 }), {
      warmupEpochs: 3,
      factor: 0.1,
    });
    expect(perEpoch(g, 5)).toEqual([0.1, 0.1, 0.05, 0.5, 0.25]);
  });
  it("unit 'step' reads the step count", () => {
    const s = stepLR({ initial: 1, stepSize: 10, gamma: 0.5, unit: 'step' });
    expect([0, 9, 10, 25].map((step) => s({ step, epoch: 0 }))).toEqual([1, 1, 0.5, 0.25]);
    expect(constant(0.3)({ step: 5, epoch: 2 })).toBe(0.3);
    expect(cosine({ initial: 1, tMax: 4, unit: 'step' })({ step: 4, epoch: 0 })).toBeCloseTo(0, 12);
  });
  it('bad arguments name the value', () => {
    expect(() => stepLR({ initial: 0.1, stepSize: 0 })).toThrow(/stepSize=0/);
    expect(() => stepLR({ initial: 0.1, stepSize: 2, unit: 'batch' as never })).toThrow(
      /unit="batch"\. Expected one of "epoch", "step"/,
    );
    expect(() => multiStep({ initial: 0.1, milestones: [5, 2] })).toThrow(/strictly increasing/);
    expect(() => cosine({ initial: -1, tMax: 3 })).toThrow(/initial=-1/);
    expect(() => warmup(0.1, { factor: -2 })).toThrow(/factor=-2/);
  });
});
