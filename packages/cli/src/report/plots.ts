/**
 * SVG plots for the report, rendered headlessly with Vega-Lite (no browser, no canvas): the
 * SVG is inlined into report.html, so the report opens from disk without a server.
 *
 * Three sections:
 *   accuracy   fused and per-modality test accuracy per epoch, one line per method (20 distinct
 *              colours, so up to 20 methods never share one).
 *   decisions  what each balancing method logged, as small multiples: one figure per method, one
 *              panel per logged quantity with its own y scale (an OGM-GE ratio near 100 never
 *              flattens a coefficient near 0.5), one colour per modality (the key's last segment
 *              when it names a modality, e.g. `ogm/coef/audio`), a line for the mean over seeds
 *              and a band for their range. Quantities that never change are listed, not drawn.
 *              Generic training values (`lr`, `loss`, `loss/<m>`) are left out.
 *   spectrum   IGM's flat projection T per stage: one figure per method (its first seed), one
 *              panel per stage named by modality ("T of the audio head, applied to visual"), one
 *              line per head layer, eigenvalues from the most damped direction up.
 */
import type * as vl from 'vega-lite';
import { meanStd } from './stats';
import type { ComparisonSummary, EpochRecord } from './types';

export type PlotSection = 'accuracy' | 'decisions' | 'spectrum';

export interface Plot {
  readonly id: string;
  readonly section: PlotSection;
  readonly title: string;
  readonly caption: string;
  /** Short facts shown under the plot (constant quantities, damped directions...). */
  readonly notes?: readonly string[];
  /** Absent when there is nothing to draw (e.g. every logged quantity constant). */
  readonly svg?: string;
}

/** Section headings and introductions, in report order. */
export const PLOT_SECTIONS: ReadonlyArray<{
  readonly section: PlotSection;
  readonly title: string;
  readonly intro: string;
}> = [
  {
    section: 'accuracy',
    title: 'Accuracy per epoch',
    intro: 'Test accuracy after every epoch, mean over seeds.',
  },
  {
    section: 'decisions',
    title: 'What the balancing methods decided',
    intro:
      'Epoch means of the values each method logged (keys of metrics.jsonl). One panel per quantity with its own y scale; colour = modality; line = mean over seeds, band = range over seeds.',
  },
  {
    section: 'spectrum',
    title: 'Spectrum of the flat projection T per stage',
    intro:
      "At each stage boundary IGM builds T from the previous modality's head inputs and applies it to the next modality's head gradients. An eigenvalue of 1 leaves a direction untouched; e^-tau damps it most. The x axis ranks the directions from the most damped.",
  },
];

/**
 * Vega and Vega-Lite, imported on the first render: both are ESM-only and Vega's module uses
 * top-level await, so a static import would make `require('@igm/cli')` fail
 * (ERR_REQUIRE_ASYNC_MODULE) and would load them in every command, including those that draw no
 * plot.
 */
let renderers: Promise<[typeof import('vega'), typeof import('vega-lite')]> | undefined;

function loadRenderers(): Promise<[typeof import('vega'), typeof import('vega-lite')]> {
  renderers ??= Promise.all([import('vega'), import('vega-lite')]).catch((error: unknown) => {
    renderers = undefined;
    throw error;
  });
  return renderers;
}

async function render(spec: vl.TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await loadRenderers();
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Legends never truncate their labels (a cut legend was a bug of the first report). */
const CONFIG = {
  legend: {
    labelLimit: 0,
    titleLimit: 0,
    orient: 'top' as const,
    direction: 'horizontal' as const,
  },
  header: {
    labelLimit: 0,
    labelFontSize: 12,
    labelFontWeight: 'bold' as const,
    labelAnchor: 'start' as const,
  },
  axis: { labelLimit: 0 },
};

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

/** One colour per method: Tableau 20 beyond 10 methods, so no two methods share a colour. */
function methodColor(methods: readonly string[]) {
  return {
    field: 'method',
    type: 'nominal' as const,
    title: 'method',
    sort: [...methods],
    scale: { scheme: methods.length > 10 ? 'tableau20' : 'tableau10' },
  };
}

/** Logged keys that are training bookkeeping, not a method's decision. */
export function isGenericLog(key: string): boolean {
  return key === 'lr' || key === 'loss' || key.startsWith('loss/');
}

/** `ogm/coef/audio` -> quantity `ogm/coef`, series `audio` when `audio` is a modality. */
export function splitLogKey(
  key: string,
  modalities: ReadonlySet<string>,
): { quantity: string; series: string } {
  const cut = key.lastIndexOf('/');
  if (cut > 0 && modalities.has(key.slice(cut + 1))) {
    return { quantity: key.slice(0, cut), series: key.slice(cut + 1) };
  }
  return { quantity: key, series: ALL };
}

/** The series of a quantity that is not per modality. */
export const ALL = 'not per modality';

export interface DecisionPoint {
  readonly method: string;
  readonly quantity: string;
  readonly series: string;
  readonly epoch: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly seeds: number;
}

export interface MethodDecisions {
  readonly method: string;
  /** Quantities that change, in order of first appearance (panels). */
  readonly quantities: readonly string[];
  readonly points: readonly DecisionPoint[];
  /** Quantities whose every series is one value: `key = value` texts. */
  readonly constants: readonly string[];
}

function formatValue(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(2) : String(Number(v.toPrecision(4)));
}

/**
 * Per method: the logged decisions as (quantity, series, epoch) points with the mean, min and
 * max over seeds; constant quantities separately. Methods that logged nothing but generic values
 * are absent.
 */
export function collectDecisions(
  epochs: readonly EpochRecord[],
  modalities: ReadonlySet<string>,
): MethodDecisions[] {
  const byMethod = new Map<string, Map<string, number[]>>();
  const quantityOrder = new Map<string, string[]>();
  for (const r of epochs) {
    for (const [key, value] of Object.entries(r.logs ?? {})) {
      if (isGenericLog(key) || !Number.isFinite(value)) continue;
      const { quantity, series } = splitLogKey(key, modalities);
      const buckets = byMethod.get(r.method) ?? new Map<string, number[]>();
      byMethod.set(r.method, buckets);
      const id = `${quantity}\u0000${series}\u0000${r.epoch}`;
      const list = buckets.get(id) ?? [];
      list.push(value);
      buckets.set(id, list);
      const order = quantityOrder.get(r.method) ?? [];
      if (!order.includes(quantity)) order.push(quantity);
      quantityOrder.set(r.method, order);
    }
  }
  const out: MethodDecisions[] = [];
  for (const [method, buckets] of byMethod) {
    const points: DecisionPoint[] = [...buckets].map(([id, values]) => {
      const [quantity, series, epoch] = id.split('\u0000') as [string, string, string];
      return {
        method,
        quantity,
        series,
        epoch: Number(epoch),
        mean: meanStd(values).mean,
        min: Math.min(...values),
        max: Math.max(...values),
        seeds: values.length,
      };
    });
    const quantities: string[] = [];
    const constants: string[] = [];
    for (const q of quantityOrder.get(method) ?? []) {
      const own = points.filter((p) => p.quantity === q);
      const series = [...new Set(own.map((p) => p.series))];
      const constantValue = (s: string): number | undefined => {
        const values = own.filter((p) => p.series === s).flatMap((p) => [p.min, p.max]);
        const lo = Math.min(...values);
        const hi = Math.max(...values);
        return hi - lo <= 1e-9 * Math.max(1, Math.abs(hi)) ? hi : undefined;
      };
      const values = series.map(constantValue);
      if (values.every((v) => v !== undefined)) {
        constants.push(
          series
            .map((s, i) => `${s === ALL ? q : `${q}/${s}`} = ${formatValue(values[i]!)}`)
            .join(', '),
        );
      } else {
        quantities.push(q);
      }
    }
    out.push({
      method,
      quantities,
      points: points.filter((p) => quantities.includes(p.quantity)),
      constants,
    });
  }
  return out;
}

/** One colour per modality, the same in every figure (summary order), dark grey for the rest. */
function seriesColor(modalities: readonly string[], present: readonly string[]) {
  const palette = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#ff9da6'];
  const domain = [...modalities, ALL];
  return {
    field: 'series',
    type: 'nominal' as const,
    title: null,
    scale: {
      domain,
      range: domain.map((s, i) => (s === ALL ? '#333333' : palette[i % palette.length]!)),
    },
    // The legend lists only the series this figure draws.
    legend: {
      orient: 'top' as const,
      labelLimit: 0,
      symbolType: 'stroke',
      symbolOpacity: 1,
      symbolStrokeWidth: 3,
      values: domain.filter((s) => present.includes(s)),
    },
  };
}

async function decisionPlot(d: MethodDecisions, modalities: readonly string[]): Promise<Plot> {
  const seeds = Math.max(...d.points.map((p) => p.seeds));
  const x = {
    field: 'epoch',
    type: 'quantitative' as const,
    title: 'epoch',
    axis: { tickMinStep: 1 },
  };
  const color = seriesColor(modalities, [...new Set(d.points.map((p) => p.series))]);
  const band = {
    mark: { type: 'area' as const, opacity: 0.18 },
    encoding: {
      x,
      y: { field: 'min', type: 'quantitative' as const, scale: { zero: false }, title: null },
      y2: { field: 'max' },
      color,
    },
  };
  const line = {
    mark: { type: 'line' as const, point: { size: 18 }, strokeWidth: 1.6 },
    encoding: {
      x,
      y: { field: 'mean', type: 'quantitative' as const, scale: { zero: false }, title: null },
      color,
    },
  };
  const svg = await render({
    data: { values: d.points as unknown as Record<string, unknown>[] },
    columns: Math.min(4, d.quantities.length),
    facet: { field: 'quantity', type: 'nominal', sort: [...d.quantities], title: null },
    spec: {
      width: d.quantities.length === 1 ? 360 : 200,
      height: 120,
      layer: seeds > 1 ? [band, line] : [line],
    },
    resolve: { scale: { y: 'independent' }, axis: { x: 'independent' } },
    config: CONFIG,
  } as vl.TopLevelSpec);
  return {
    id: `decisions-${slug(d.method)}`,
    section: 'decisions',
    title: d.method,
    caption: `${d.quantities.length} quantit${d.quantities.length === 1 ? 'y' : 'ies'}; ${seeds} seed${seeds === 1 ? '' : 's'}.`,
    ...(d.constants.length
      ? { notes: [`Constant over every epoch: ${d.constants.join('; ')}.`] }
      : {}),
    svg,
  };
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9_-]+/g, '-');
}

/** The modality whose head a layer key belongs to (`head/audio/dense_0/kernel` -> audio). */
export function headModality(layer: string): string | undefined {
  return /^head\/([^/]+)\//.exec(layer)?.[1];
}

/** `head/audio/dense_1/kernel` with 256 inputs -> `dense_1 (256 inputs)`. */
function layerLabel(layer: string, dim: number): string {
  const m = /^head\/[^/]+\/(.+?)(?:\/kernel)?$/.exec(layer);
  return `${m ? m[1] : layer} (${dim} inputs)`;
}

/** Stage index -> trained modality, from the run's epochs (a stage is a run of equal `stage`). */
function stageModalities(epochs: readonly EpochRecord[], method: string, seed: number): string[] {
  const out: string[] = [];
  let last: string | undefined;
  for (const r of epochs
    .filter((e) => e.method === method && e.seed === seed)
    .sort((a, b) => a.epoch - b.epoch)) {
    if (r.stage === undefined) continue;
    if (r.stage !== last) out.push(r.stage);
    last = r.stage;
  }
  return out;
}

async function spectrumPlots(
  summary: ComparisonSummary,
  epochs: readonly EpochRecord[],
): Promise<Plot[]> {
  const plots: Plot[] = [];
  const methods = [...new Set(summary.runs.map((r) => r.method))];
  for (const method of methods) {
    const runs = summary.runs.filter((r) => r.method === method && (r.spectra ?? []).length > 0);
    if (runs.length === 0) continue;
    const run = runs.reduce((a, b) => (b.seed < a.seed ? b : a));
    const trained = stageModalities(epochs, method, run.seed);
    const stages = [...new Set(run.spectra!.map((s) => s.stage))].sort((a, b) => a - b);
    const panelOf = new Map<number, string>();
    for (const stage of stages) {
      const layers = run.spectra!.filter((s) => s.stage === stage);
      const source = headModality(layers[0]!.layer);
      const target = trained[stage];
      panelOf.set(
        stage,
        `stage ${stage}: T of the ${source ?? 'previous'} head${target ? `, applied to ${target}` : ''}`,
      );
    }
    const values: Array<Record<string, unknown>> = [];
    let lowest = 1;
    let widest = 1;
    const damping = new Map<number, string[]>();
    for (const s of run.spectra!) {
      const d = s.eigenvalues.length;
      const ascending = [...s.eigenvalues].sort((a, b) => a - b);
      const label = layerLabel(s.layer, d);
      ascending.forEach((value, i) => {
        values.push({ panel: panelOf.get(s.stage), layer: label, rank: i + 1, value });
      });
      lowest = Math.min(lowest, ascending[0] ?? 1);
      widest = Math.max(widest, d);
      const damped = ascending.filter((v) => v < 0.99).length;
      const list = damping.get(s.stage) ?? [];
      list.push(
        `${label.replace(/ \(.*/, '')} ${damped} of ${d} (smallest ${formatValue(ascending[0] ?? 1)})`,
      );
      damping.set(s.stage, list);
    }
    const notes = stages.map(
      (stage) =>
        `${panelOf.get(stage)}: directions damped by more than 1 %: ${damping.get(stage)!.join(', ')}.`,
    );
    const panels = stages.map((s) => panelOf.get(s)!);
    const layerNames = [...new Set(values.map((v) => v['layer'] as string))];
    const svg = await render({
      data: { values },
      columns: Math.min(3, panels.length),
      facet: {
        field: 'panel',
        type: 'nominal',
        sort: panels,
        title: null,
        // "stage 1: T of the audio head, applied to visual" on two lines, so panels stay close.
        header: { labelExpr: "split(replace(datum.label, ', ', ',|'), '|')" },
      },
      spec: {
        width: 240,
        height: 150,
        mark: { type: 'line', strokeWidth: 1.8, interpolate: 'step-after' },
        encoding: {
          x: {
            field: 'rank',
            type: 'quantitative',
            title: 'direction (1 = most damped)',
            scale: { type: 'log', domain: [1, widest], nice: false },
          },
          y: {
            field: 'value',
            type: 'quantitative',
            title: 'eigenvalue of T',
            scale: { domain: [Math.floor(lowest * 20) / 20, 1] },
          },
          color: {
            field: 'layer',
            type: 'nominal',
            sort: layerNames,
            title: 'head layer',
            legend: { orient: 'top', labelLimit: 0 },
          },
        },
      },
      config: CONFIG,
    } as vl.TopLevelSpec);
    plots.push({
      id: `spectrum-${slug(method)}`,
      section: 'spectrum',
      title: `${method} (seed ${run.seed})`,
      caption: `${stages.length} stage boundar${stages.length === 1 ? 'y' : 'ies'}; the first seed of the method.`,
      notes,
      svg,
    });
  }
  return plots;
}

/** Builds every plot the data supports; plots without data are omitted. */
export async function buildPlots(
  summary: ComparisonSummary,
  epochs: readonly EpochRecord[],
): Promise<Plot[]> {
  const plots: Plot[] = [];
  const methods = [...new Set(summary.runs.map((r) => r.method))];
  const modalities = [...new Set(summary.runs.flatMap((r) => r.modalities))];

  const fused = meanOverSeeds(epochs, (r) => [{ series: 'fused', value: r.test.accuracy }]);
  if (fused.length) {
    plots.push({
      id: 'fused-accuracy',
      section: 'accuracy',
      title: 'Fused test accuracy per epoch',
      caption: 'Mean over seeds.',
      svg: await render({
        width: WIDTH,
        height: HEIGHT,
        data: { values: fused },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
          y: { field: 'value', type: 'quantitative', title: 'accuracy', scale: { zero: false } },
          color: methodColor(methods),
        },
        config: { ...CONFIG, legend: { labelLimit: 0, titleLimit: 0 } },
      }),
    });
  }

  const perModality = meanOverSeeds(epochs, (r) =>
    Object.entries(r.test.perModality).map(([m, v]) => ({ series: m, value: v.accuracy })),
  );
  for (const m of [...new Set(perModality.map((p) => p.series))]) {
    plots.push({
      id: `accuracy-${m}`,
      section: 'accuracy',
      title: `Test accuracy of the ${m} modality per epoch`,
      caption: "Each method's own unimodal protocol; mean over seeds.",
      svg: await render({
        width: WIDTH,
        height: HEIGHT,
        data: { values: perModality.filter((p) => p.series === m) },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
          y: {
            field: 'value',
            type: 'quantitative',
            title: `${m} accuracy`,
            scale: { zero: false },
          },
          color: methodColor(methods),
        },
        config: { ...CONFIG, legend: { labelLimit: 0, titleLimit: 0 } },
      }),
    });
  }

  for (const d of collectDecisions(epochs, new Set(modalities))) {
    if (d.quantities.length > 0) plots.push(await decisionPlot(d, modalities));
    else {
      plots.push({
        id: `decisions-${slug(d.method)}`,
        section: 'decisions',
        title: d.method,
        caption: 'Every logged quantity kept one value.',
        notes: [`Constant over every epoch: ${d.constants.join('; ')}.`],
      });
    }
  }
  plots.push(...(await spectrumPlots(summary, epochs)));
  return plots;
}
