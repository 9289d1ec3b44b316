import { describe, expect, it } from 'vitest';
import { AgmController, planBudget, preset, scaleAgmWindow, scaleBudget } from '../src';

const AV = ['audio', 'visual'];

/** The run epochs (0-based) an AGM window modulates in a run of `epochs` epochs. */
function modulated(window: unknown, epochs: number): number[] {
  const c = new AgmController({ alpha: 1, modalities: AV, window: window as never });
  return Array.from({ length: epochs }, (_, e) => e).filter((e) => c.modulates(e));
}

describe('budgets of AGM, DOMFN and SMV', () => {
  it("AGM's window keeps its share of the run in the reference's epoch terms", () => {
    // The reference default 0-20 of 100 epochs modulates 20 epochs; scaled to 10 epochs, 2.
    const w = scaleAgmWindow('agm', { start: 0, end: 20 }, 0.1);
    expect(w).toEqual({ start: 0, end: 2 });
    expect(modulated(w, 10)).toEqual([0, 1]);
    expect(modulated({ start: 0, end: 20 }, 100)).toHaveLength(20);
    expect(scaleAgmWindow('agm', { start: 0, end: 20 }, 2)).toEqual({ start: 0, end: 40 });
    expect(modulated(scaleAgmWindow('agm', { start: 0, end: 20 }, 2), 200)).toHaveLength(40);
    // A later start: epochs 11-30 (run epochs 10-29) of 100 -> run epochs 2-5 of 20.
    const later = scaleAgmWindow('agm', { start: 11, end: 30 }, 0.2);
    expect(later).toEqual({ start: 3, end: 6 });
    expect(modulated(later, 20)).toEqual([2, 3, 4, 5]);
    // Open-ended windows stay open; at least one epoch stays modulated.
    expect(scaleAgmWindow('agm', { start: 51 }, 0.1)).toEqual({ start: 6 });
    expect(modulated(scaleAgmWindow('agm', { start: 0, end: 1 }, 0.01), 1)).toEqual([0]);
    // Through the registry's budget: epochs = N, the window follows.
    const o = scaleBudget(
      'agm',
      { ...preset('cremad', 'agm'), window: { start: 0, end: 20 } },
      10,
      AV,
    );
    expect(o).toMatchObject({ epochs: 10, window: { start: 0, end: 2 } });
    expect(planBudget('agm', o, AV).perModality).toEqual({ audio: 10, visual: 10 });
    // The presets modulate the whole run: no window appears.
    expect(scaleBudget('agm', preset('cremad', 'agm'), 10, AV)['window']).toBeUndefined();
  });

  it("SMV's warm-up keeps its share (at least 1); DOMFN's warm-up too, always short of the run", () => {
    expect(scaleBudget('smv', preset('kinetics-sounds', 'smv'), 20, AV)).toMatchObject({
      epochs: 20,
      warmup: 2,
    });
    expect(scaleBudget('smv', preset('kinetics-sounds', 'smv'), 120, AV)['warmup']).toBe(10);
    expect(scaleBudget('smv', preset('synthetic', 'smv'), 2, AV)['warmup']).toBe(1);
    // Registry defaults: 60 epochs, warm-up 5.
    expect(planBudget('smv', {}, AV).epochs).toBe(60);
    expect(scaleBudget('smv', {}, 12, AV)).toEqual({ epochs: 12, warmup: 1 });
    expect(scaleBudget('domfn', preset('cremad', 'domfn'), 10, AV)).toMatchObject({
      epochs: 10,
      pretrainEpochs: 0,
    });
    expect(scaleBudget('domfn', { epochs: 100, pretrainEpochs: 30 }, 10, AV)).toEqual({
      epochs: 10,
      pretrainEpochs: 3,
    });
    expect(scaleBudget('domfn', { epochs: 100, pretrainEpochs: 30 }, 1, AV)).toEqual({
      epochs: 1,
      pretrainEpochs: 0,
    });
    expect(scaleBudget('domfn', { epochs: 10, pretrainEpochs: 9 }, 2, AV)['pretrainEpochs']).toBe(
      1,
    );
  });
});
