/**
 * SVG plots for the report, rendered headlessly with Vega-Lite (no browser, no canvas): the
 * SVG is inlined into report.html, so the report opens from disk without a server.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { meanStd } from './stats';
import type { ComparisonSummary, EpochRecord } from './types';

export interface Plot {
  readonly id: string;
  readonly title: string;
  readonly caption: string;
  readonly svg: string;
}

async function render(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

interface Point {
  method: string;
  epoch: number;
  value: number;
  series: string;
}

/** Mean over seeds of `pick(record)` per (method, epoch, series). */
function meanOverSeeds(
  records: readonly EpochRecord[],
  pick: (r: EpochRecord) => Array<{ series: string; value: number }>,
): Point[] {
  const buckets = new Map<
    string,
    { method: string; epoch: number; series: string; values: number[] }
  >();
  for (const r of records) {
    for (const { series, value } of pick(r)) {
      if (!Number.isFinite(value)) continue;
      const key = `${r.method}\u0000${r.epoch}\u0000${series}`;
      const b = buckets.get(key) ?? { method: r.method, epoch: r.epoch, series, values: [] };
      b.values.push(value);
      buckets.set(key, b);
    }
  }
  return [...buckets.values()].map((b) => ({
    method: b.method,
    epoch: b.epoch,
    series: b.series,
    value: meanStd(b.values).mean,
  }));
}

const WIDTH = 520;
const HEIGHT = 260;

/** Builds every plot the data supports; plots without data are omitted. */
export async function buildPlots(
  summary: ComparisonSummary,
  epochs: readonly EpochRecord[],
): Promise<Plot[]> {
  const plots: Plot[] = [];

  const fused = meanOverSeeds(epochs, (r) => [{ series: 'fused', value: r.test.accuracy }]);
  if (fused.length) {
    plots.push({
      id: 'fused-accuracy',
      title: 'Fused test accuracy per epoch',
      caption: 'Mean over seeds.',
      svg: await render({
        width: WIDTH,
        height: HEIGHT,
        data: { values: fused },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
          y: { field: 'value', type: 'quantitative', title: 'accuracy', scale: { zero: false } },
          color: { field: 'method', type: 'nominal' },
        },
      }),
    });
  }

  const perModality = meanOverSeeds(epochs, (r) =>
    Object.entries(r.test.perModality).map(([m, v]) => ({ series: m, value: v.accuracy })),
  );
  const modalities = [...new Set(perModality.map((p) => p.series))];
  for (const m of modalities) {
    plots.push({
      id: `accuracy-${m}`,
      title: `Test accuracy of the ${m} modality per epoch`,
      caption: "Each method's own unimodal protocol; mean over seeds.",
      svg: await render({
        width: WIDTH,
        height: HEIGHT,
        data: { values: perModality.filter((p) => p.series === m) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
          y: {
            field: 'value',
            type: 'quantitative',
            title: `${m} accuracy`,
            scale: { zero: false },
          },
          color: { field: 'method', type: 'nominal' },
        },
      }),
    });
  }

  // One seed per method (the first) keeps the legend readable: stages x head layers lines.
  const firstSeed = new Map<string, number>();
  for (const r of summary.runs) {
    if ((r.spectra ?? []).length)
      firstSeed.set(r.method, Math.min(firstSeed.get(r.method) ?? r.seed, r.seed));
  }
  const spectra = summary.runs
    .filter((run) => firstSeed.get(run.method) === run.seed)
    .flatMap((run) =>
      (run.spectra ?? []).flatMap((s) =>
        s.eigenvalues.map((value, index) => ({
          series: `seed ${run.seed} · stage ${s.stage} · ${s.layer}`,
          method: run.method,
          index,
          value,
        })),
      ),
    );
  if (spectra.length) {
    plots.push({
      id: 'spectrum-T',
      title: 'Spectrum of the flat projection T per stage (IGM)',
      caption:
        'Eigenvalues of T in descending order; all lie in [e^-tau, 1]. Only the dominant directions are damped.',
      svg: await render({
        width: WIDTH,
        height: HEIGHT,
        data: { values: spectra },
        mark: { type: 'line' },
        encoding: {
          x: {
            field: 'index',
            type: 'quantitative',
            title: 'eigenvalue index (descending)',
            scale: { type: 'symlog' },
          },
          y: {
            field: 'value',
            type: 'quantitative',
            title: 'eigenvalue of T',
            scale: { zero: false },
          },
          color: { field: 'series', type: 'nominal', legend: { title: 'T' } },
          strokeDash: { field: 'method', type: 'nominal' },
        },
      }),
    });
  }

  const modulation = meanOverSeeds(epochs, (r) =>
    Object.entries(r.logs)
      .filter(([k]) => /^(ogm|agm|pmr|mla|mmpareto|reconboost|ogr-gb|mses|mslr)\//.test(k))
      .map(([series, value]) => ({ series, value })),
  );
  if (modulation.length) {
    plots.push({
      id: 'modulation',
      title: 'What the balancing methods decided, per epoch',
      caption:
        'Epoch means of the logged coefficients (OGM-GE k per modality, AGM scales, PMR prototype loss, ...); mean over seeds.',
      svg: await render({
        width: WIDTH,
        height: HEIGHT,
        data: { values: modulation },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
          y: { field: 'value', type: 'quantitative', title: 'value', scale: { zero: false } },
          color: { field: 'series', type: 'nominal' },
          strokeDash: { field: 'method', type: 'nominal' },
        },
      }),
    });
  }
  return plots;
}
