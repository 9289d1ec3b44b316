import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createRenderer,
  defaultFormat,
  defaultProgressStream,
  formatDuration,
  ProgressModel,
  ProgressTracker,
  type ProgressView,
  progressBar,
  resolveProgressMode,
} from '../src';

function clock(start = 0) {
  const c = { t: start, now: () => c.t };
  return c;
}

function sink(isTTY: boolean, columns?: number) {
  const s = {
    out: '',
    isTTY,
    ...(columns !== undefined ? { columns } : {}),
    write(text: string) {
      s.out += text;
    },
  };
  return s;
}

function view(over: Partial<ProgressView> = {}): ProgressView {
  return {
    done: 0,
    total: 10,
    fraction: 0,
    elapsed: 0,
    rate: Number.NaN,
    eta: Number.NaN,
    label: '',
    detail: '',
    ...over,
  };
}

describe('formatDuration', () => {
  it('prints mm:ss below an hour, h:mm:ss above, --:-- when unknown', () => {
    expect(formatDuration(0)).toBe('00:00');
    expect(formatDuration(59.4)).toBe('00:59');
    expect(formatDuration(59.6)).toBe('01:00');
    expect(formatDuration(3599)).toBe('59:59');
    expect(formatDuration(3600)).toBe('1:00:00');
    expect(formatDuration(3725)).toBe('1:02:05');
    expect(formatDuration(100 * 3600 + 1)).toBe('100:00:01');
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
      expect(formatDuration(bad)).toBe('--:--');
    }
  });

  it('progressBar fills round(fraction * width) cells and clamps', () => {
    expect(progressBar(0.5, 10)).toBe('#####.....');
    expect(progressBar(0.26, 4, '=', ' ')).toBe('=   ');
    expect(progressBar(2, 3)).toBe('###');
    expect(progressBar(-1, 3)).toBe('...');
    expect(progressBar(Number.NaN, 3)).toBe('...');
  });
});

describe('ProgressModel', () => {
  it('a constant rate gives the exact ETA; unknown before any work; 0 when done', () => {
    const c = clock();
    const m = new ProgressModel({ total: 100, now: c.now }).start(0);
    expect(Number.isNaN(m.view().eta)).toBe(true);
    for (let i = 1; i <= 40; i++) {
      c.t += 500; // 2 units per second
      m.update(i);
    }
    const v = m.view();
    expect(v.rate).toBeCloseTo(2, 12);
    expect(v.eta).toBeCloseTo(30, 10);
    expect(v.fraction).toBe(0.4);
    expect(v.elapsed).toBe(20);
    c.t += 1000;
    expect(m.update(100).eta).toBe(0);
    expect(m.update(130).eta).toBe(0); // more than the estimated total (re-sampled epochs)
  });

  it('weights past intervals by 2^(-age / halfLife): a speed change shows within a few half-lives', () => {
    const c = clock();
    const halfLife = 10;
    const m = new ProgressModel({ total: 1000, halfLife, now: c.now }).start(0);
    const intervals: Array<{ end: number; dd: number; dt: number }> = [];
    let done = 0;
    for (let s = 1; s <= 100; s++) {
      c.t = s * 1000;
      done += 1; // 1 unit/s for 100 s
      m.update(done);
      intervals.push({ end: s, dd: 1, dt: 1 });
    }
    for (let s = 101; s <= 110; s++) {
      c.t = s * 1000;
      done += 2; // then 2 units/s for 10 s
      m.update(done);
      intervals.push({ end: s, dd: 2, dt: 1 });
    }
    // The definition, summed directly: rate = sum w_i dd_i / sum w_i dt_i, w_i = 2^-(110 - end_i)/h.
    const w = intervals.map((i) => 2 ** (-(110 - i.end) / halfLife));
    const expected =
      intervals.reduce((a, i, k) => a + w[k]! * i.dd, 0) /
      intervals.reduce((a, i, k) => a + w[k]! * i.dt, 0);
    const v = m.view();
    expect(v.rate).toBeCloseTo(expected, 10);
    expect(v.rate).toBeGreaterThan(1.4); // the plain average would be 120 / 110 = 1.09
    expect(v.eta).toBeCloseTo((1000 - 120) / expected, 6);
    // A half-life much longer than the run gives the plain average.
    const c2 = clock();
    const plain = new ProgressModel({ total: 1000, halfLife: 1e9, now: c2.now }).start(0);
    for (const [t, d] of [
      [100_000, 100],
      [110_000, 120],
    ] as const) {
      c2.t = t;
      plain.update(d);
    }
    expect(plain.view().rate).toBeCloseTo(120 / 110, 6);
  });

  it('the baseline excludes work done before it (resume), and defaults to the first update', () => {
    const c = clock(5000);
    const resumed = new ProgressModel({ total: 100, now: c.now });
    c.t = 6000;
    resumed.start(60); // 60 steps done by an earlier process
    c.t = 16_000;
    const v = resumed.update(70);
    expect(v.rate).toBeCloseTo(1, 12);
    expect(v.eta).toBeCloseTo(30, 10);
    expect(v.elapsed).toBe(11); // since the model was created
    const lazy = new ProgressModel({ total: 10, now: c.now });
    c.t = 20_000;
    expect(Number.isNaN(lazy.update(4).rate)).toBe(true); // baseline: 4 done now
    c.t = 22_000;
    expect(lazy.update(5).eta).toBeCloseTo(10, 10);
  });

  it('credit counts earlier work as done without counting it toward the rate', () => {
    const c = clock();
    const m = new ProgressModel({ total: 100, now: c.now }).start(0);
    c.t = 10_000;
    m.update(10); // 1 unit/s
    m.credit(40); // a run reused from an earlier attempt, found now
    expect(m.view().done).toBe(50);
    c.t = 20_000;
    const v = m.update(60); // 10 more units in 10 s
    expect(v.rate).toBeCloseTo(1, 12); // without the credit: 5 units/s
    expect(v.eta).toBeCloseTo(40, 10);
    // Before any baseline, credit only moves `done`; the first update is the baseline.
    const lazy = new ProgressModel({ total: 10, now: c.now }).credit(3);
    expect(lazy.view().done).toBe(3);
    expect(() => lazy.credit(-1)).toThrow(/units must be a finite number >= 0/);
  });

  it('keeps label, detail and a changed total; rejects bad numbers', () => {
    const c = clock();
    const m = new ProgressModel({ total: 4, now: c.now });
    const v = m.update(1, { label: 'runs', detail: 'igm seed 0', total: 8 });
    expect(v).toMatchObject({
      done: 1,
      total: 8,
      fraction: 0.125,
      label: 'runs',
      detail: 'igm seed 0',
    });
    expect(m.update(2).label).toBe('runs');
    expect(new ProgressModel({ total: 0, now: c.now }).view().fraction).toBe(1);
    expect(() => new ProgressModel({ total: -1 })).toThrow(
      /total must be a finite number >= 0 \(received -1\)/,
    );
    expect(() => new ProgressModel({ total: 1, halfLife: 0 })).toThrow(
      /halfLife must be a positive/,
    );
    expect(() => m.update(Number.NaN)).toThrow(/done must be a finite number/);
  });
});

describe('renderers', () => {
  it('terminal: redraws in place at most every redrawMs, always at the end; lines stay', () => {
    const c = clock(1000);
    const s = sink(true, 30);
    const r = createRenderer({ stream: s, now: c.now, format: (v) => `step ${v.done} ${v.label}` });
    expect(r.mode).toBe('bar');
    r.status(view({ done: 1 }));
    c.t += 50;
    r.status(view({ done: 2 })); // throttled
    c.t += 60;
    r.status(view({ done: 3, label: 'x'.repeat(40) }));
    r.status(view({ done: 10 })); // complete: drawn at once
    r.line('epoch 1 done');
    r.done(); // nothing drawn since the line: nothing to clear
    expect(s.out).toBe(
      `\rstep 1 \x1b[K\rstep 3 ${'x'.repeat(22)}\x1b[K\rstep 10 \x1b[K\r\x1b[Kepoch 1 done\n`,
    );
    r.status(view({ done: 10 }));
    r.done();
    expect(s.out.endsWith('\rstep 10 \x1b[K\r\x1b[K')).toBe(true);
  });

  it('lines: every fraction step, every n seconds, or forced unless nothing changed', () => {
    const c = clock();
    const s = sink(false);
    const deciles = createRenderer({
      stream: s,
      now: c.now,
      linesEveryFraction: 0.25,
      format: (v) => `${v.done}/${v.total}`,
    });
    expect(deciles.mode).toBe('lines');
    for (let d = 1; d <= 8; d++) deciles.status(view({ done: d, total: 8, fraction: d / 8 }));
    deciles.status(view({ done: 8, total: 8, fraction: 1 }), true); // same state: not repeated
    expect(s.out).toBe('1/8\n2/8\n4/8\n6/8\n8/8\n');

    const t = sink(false);
    const timed = createRenderer({
      stream: t,
      now: c.now,
      linesEverySeconds: 2,
      format: (v) => v.label,
    });
    c.t = 0;
    timed.status(view({ label: 'a' }));
    c.t = 1500;
    timed.status(view({ label: 'b' }));
    c.t = 2100;
    timed.status(view({ label: 'c' }));
    timed.status(view({ label: 'd' }), true); // forced: the label changed
    timed.status(view({ label: 'd' }), true); // forced, nothing changed
    timed.line('kept');
    expect(t.out).toBe('a\nc\nd\nkept\n');

    const quiet = sink(false);
    const epochLines = createRenderer({ stream: quiet, now: c.now });
    epochLines.status(view({ done: 5 }));
    expect(quiet.out).toBe(''); // no policy: only line() prints
  });

  it('none prints nothing; auto follows isTTY; bad modes are named', () => {
    const s = sink(true);
    const none = createRenderer({ stream: s, mode: 'none' });
    none.status(view({ done: 10 }), true);
    none.line('x');
    expect(s.out).toBe('');
    expect(resolveProgressMode('auto', { write() {}, isTTY: true })).toBe('bar');
    expect(resolveProgressMode('auto', { write() {} })).toBe('lines');
    expect(() => resolveProgressMode('fancy' as never, s)).toThrow(
      /received mode="fancy". Expected one of "auto", "bar", "lines", "none"/,
    );
  });

  it('defaultFormat shows the bar on terminals only, with elapsed and ETA', () => {
    const v = view({
      done: 5,
      total: 10,
      fraction: 0.5,
      elapsed: 70,
      eta: 96,
      label: 'runs 1/2',
      detail: 'igm',
    });
    expect(defaultFormat(v, 'lines')).toBe(' 50% runs 1/2 · igm · elapsed 01:10 · ETA 01:36');
    expect(defaultFormat(v, 'bar')).toBe(
      '[############............]  50% runs 1/2 · igm · elapsed 01:10 · ETA 01:36',
    );
  });
});

describe('defaultProgressStream', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it('is process.stderr in Node', () => {
    expect(defaultProgressStream()).toBe(process.stderr);
  });

  it('without a process (browsers) sends whole lines to console.info and is not a terminal', () => {
    const info = vi.spyOn(console, 'info').mockImplementation(() => {});
    vi.stubGlobal('process', undefined);
    const stream = defaultProgressStream();
    vi.unstubAllGlobals();
    expect(stream.isTTY).toBe(false);
    stream.write('epoch 1 ');
    stream.write('done\nepoch 2');
    stream.write(' done\n');
    expect(info.mock.calls).toEqual([['epoch 1 done'], ['epoch 2 done']]);
  });
});

describe('ProgressTracker', () => {
  it('updates the model and draws it: the ETA of a resumed run counts only its own steps', () => {
    const c = clock();
    const s = sink(true, 200);
    const p = new ProgressTracker({
      total: 100,
      stream: s,
      now: c.now,
      format: (v) => `${v.done}/${v.total} ${v.detail} ETA ${formatDuration(v.eta)}`,
    });
    p.start(40);
    c.t = 10_000;
    const v = p.update(50, { detail: 'loss 0.5' });
    expect(v.eta).toBeCloseTo(50, 10);
    expect(s.out).toBe('\r50/100 loss 0.5 ETA 00:50\x1b[K');
    expect(p.mode).toBe('bar');
    p.line('kept');
    p.done();
    expect(s.out.endsWith('\r\x1b[Kkept\n')).toBe(true);
  });
});
