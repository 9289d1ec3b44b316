/**
 * The comparison's progress line: true epoch counters, work counted in planned epochs, and an
 * ETA from the work this process did (a resumed run's epochs and reused runs excluded, the first
 * epoch's start-up too). A fake clock drives it; the lines go to a string.
 */
import { describe, expect, it } from 'vitest';
import { GridTracker } from '../src/grid/tracker';
import { type GridProgressState, ProgressReporter, type ProgressState } from '../src/progress';

function reporter() {
  const clock = { t: 0 };
  const stream = {
    out: '',
    isTTY: false,
    write(s: string) {
      stream.out += s;
    },
  };
  const r = new ProgressReporter(stream, false, () => clock.t);
  return { r, clock, lines: () => stream.out.trim().split('\n') };
}

/** The ETA in seconds printed by the last line ("ETA mm:ss" or "h:mm:ss"). */
function lastEta(lines: string[]): number {
  const m = /ETA (?:(\d+):)?(\d+):(\d+)$/.exec(lines[lines.length - 1]!);
  if (!m) throw new Error(`no ETA in ${lines[lines.length - 1]}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2]) * 60 + Number(m[3]);
}

describe('ProgressReporter (comparison progress)', () => {
  it('counts planned epochs: a 72-epoch IGM run weighs 3.6 joint runs; the first epoch is warm-up', () => {
    const { r, clock, lines } = reporter();
    r.plan(20 + 72);
    const run = (s: Partial<ProgressState>): ProgressState => ({
      runsDone: 0,
      runsTotal: 2,
      current: 'joint seed 0',
      epoch: 0,
      epochsTotal: 20,
      epochsBefore: 0,
      ...s,
    });
    r.update(run({}));
    clock.t += 30_000; // the first epoch: start-up, kernel compilation (30 s)
    r.update(run({ epoch: 1 }));
    expect(lines().at(-1)).toMatch(/epoch 1\/20 .*ETA --:--$/); // no rate from warm-up alone
    for (let e = 2; e <= 20; e++) {
      clock.t += 1000; // then 1 s per epoch
      r.update(run({ epoch: e }));
    }
    // 72 IGM epochs left at 1 s each (the 30 s warm-up does not inflate it to 40 min).
    expect(lastEta(lines())).toBe(72);
    for (let e = 1; e <= 36; e++) {
      clock.t += 1000;
      r.update(
        run({ runsDone: 1, current: 'igm seed 0', epoch: e, epochsTotal: 72, epochsBefore: 20 }),
      );
    }
    expect(lines().at(-1)).toMatch(/^runs 1\/2 · igm seed 0 · epoch 36\/72 · elapsed/);
    expect(lastEta(lines())).toBe(36);
  });

  it('a resumed run shows its true epoch and the ETA counts only the work done now', () => {
    const { r, clock, lines } = reporter();
    r.plan(20);
    const at = (epoch: number): ProgressState => ({
      runsDone: 0,
      runsTotal: 1,
      current: 'joint seed 0',
      epoch,
      epochsTotal: 20,
      epochsBefore: 0,
      resumedAt: 12,
    });
    r.update(at(12));
    expect(lines().at(-1)).toMatch(/epoch 12\/20/);
    expect(lines().join('\n')).not.toMatch(/epoch 0\/20/);
    for (let e = 13; e <= 16; e++) {
      clock.t += 2000; // 2 s per epoch
      r.update(at(e));
    }
    // 4 epochs left at 2 s (epochs 0-12, trained by an earlier process, are not counted as speed).
    expect(lastEta(lines())).toBe(8);
  });

  it('runs reused from an earlier attempt count as done, not as speed', () => {
    const { r, clock, lines } = reporter();
    r.plan(30);
    const state = (s: Partial<ProgressState>): ProgressState => ({
      runsDone: 0,
      runsTotal: 3,
      current: 'joint seed 0',
      epoch: 0,
      epochsTotal: 10,
      epochsBefore: 0,
      ...s,
    });
    r.update(state({}));
    for (let e = 1; e <= 10; e++) {
      clock.t += 2000; // 2 s per epoch (plain lines are printed every 2 s)
      r.update(state({ epoch: e }));
    }
    r.skip(10); // joint seed 1 was finished by an earlier attempt
    r.update(state({ runsDone: 2, current: 'joint seed 2', epochsBefore: 20 }));
    clock.t += 2000;
    r.update(state({ runsDone: 2, current: 'joint seed 2', epoch: 1, epochsBefore: 20 }));
    expect(lines().at(-1)).toMatch(/runs 2\/3 · joint seed 2 · epoch 1\/10/);
    // 9 epochs at 2 s; counting the reused run as work would have said 9 / (11 epochs in 2 s).
    expect(lastEta(lines())).toBe(18);
  });
});

describe('GridTracker (parallel and queued comparisons)', () => {
  it('weighs runs by planned epochs and credits a resumed run once', () => {
    const skipped: number[] = [];
    const shown: GridProgressState[] = [];
    const reporter = {
      updateGrid: (s: GridProgressState) => void shown.push(s),
      skip: (units: number) => void skipped.push(units),
    } as unknown as ProgressReporter;
    const plan = [
      { method: 'joint', baseMethod: 'joint', seed: 0, options: {}, batchSize: 64 },
      { method: 'igm', baseMethod: 'igm', seed: 0, options: {}, batchSize: 64 },
    ];
    const grid = new GridTracker(plan, reporter, [20, 60]);
    grid.done(0);
    grid.running(1, 30, 60, 'w1', 30); // resumed at epoch 30 of 60
    grid.running(1, 31, 60, 'w1', 30);
    grid.show();
    expect(shown.at(-1)!.fraction).toBeCloseTo((20 + 31) / 80, 12);
    // Credited once, in the reporter's units (runs weighted by epochs): 30/60 of a run weighing
    // 60 of the grid's 80 epochs, times its 2 runs.
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toBeCloseTo((30 / 60) * ((60 * 2) / 80), 12);
    expect(shown.at(-1)!.current).toBe('igm seed 0 31/60 on w1');
  });
});
