/** The order a parallel grid (`igm compare --jobs N`) starts its runs in: longest first. */
import { describe, expect, it } from 'vitest';
import { plannedEpochs } from '../src/compare';
import { resolveCompareConfig } from '../src/config';
import { longestFirst } from '../src/grid/local';
import { planRuns } from '../src/plan';

describe('longestFirst', () => {
  it('orders by decreasing cost, plan order among equal costs', () => {
    expect(longestFirst([0, 1, 2, 3, 4], [60, 60, 180, 60, 90])).toEqual([2, 4, 0, 1, 3]);
    expect(longestFirst([3, 1, 4], [60, 60, 180, 60, 90])).toEqual([4, 1, 3]);
  });

  it('keeps the plan order without costs or with a cost that is not a number', () => {
    expect(longestFirst([0, 1, 2])).toEqual([0, 1, 2]);
    expect(longestFirst([0, 1, 2], [1, Number.NaN, 3])).toEqual([0, 1, 2]);
    expect(longestFirst([])).toEqual([]);
  });

  it("costs the demo's runs by their epochs: IGM's 180 stage epochs start first", () => {
    const config = resolveCompareConfig({
      dataset: 'av-mnist-imbalanced',
      methods: ['joint', 'ogm-ge', 'pmr', 'agm', 'mla', 'igm'],
      seeds: 1,
      preset: 'quick',
      backend: 'cpu',
      out: 'unused',
    });
    const plan = planRuns(config);
    const costs = plannedEpochs(plan, config);
    expect(plan.map((s) => s.method)).toEqual([
      'joint',
      'ogm-ge',
      'pmr',
      'agm',
      'mla',
      'igm',
      'unimodal',
    ]);
    expect(costs).toEqual([60, 60, 60, 60, 60, 180, 60]);
    expect(
      longestFirst(
        plan.map((_, i) => i),
        costs,
      ),
    ).toEqual([5, 0, 1, 2, 3, 4, 6]);
  });
});
