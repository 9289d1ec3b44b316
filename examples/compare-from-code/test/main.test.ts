import { describe, expect, it } from 'vitest';
import { formatTable, runExample } from '../src/main';

describe('compare-from-code example (tiny)', () => {
  it('compares joint, ogm-ge and igm through the registry and prints a table', async () => {
    const lines: string[] = [];
    const { rows } = await runExample({ tiny: true, log: (l) => lines.push(l) });
    expect(rows.map((r) => r.method)).toEqual(['joint', 'ogm-ge', 'igm']);
    for (const r of rows) {
      // 4 classes: chance is 0.25; audio alone shows the class 80 % of the time.
      expect(r.fused).toBeGreaterThan(0.55);
      expect(r.finalFused).toBeGreaterThan(0.55);
      expect(r.epochs).toBe(6);
      expect(r.bestEpoch).toBeGreaterThanOrEqual(0);
    }
    const table = formatTable(rows);
    expect(lines.join('\n')).toContain(table);
    expect(table.split('\n')).toHaveLength(2 + rows.length);
  });

  it('names the valid methods when given an unknown one', async () => {
    // The preset lookup comes first; createMethod would say 'Unknown method ... Valid methods'.
    await expect(runExample({ tiny: true, methods: ['nope'], log: () => {} })).rejects.toThrow(
      /preset has no method "nope"\. Methods: joint, .*igm/,
    );
  });
});
