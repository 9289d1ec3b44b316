import { formatNumber, formatPercent, meanStd } from './stats';
import type { ComparisonSummary, EvalMetrics, RunRecord } from './types';
import { UTILIZATION_REFERENCE, withUtilization } from './utilization';

/** A mean over seeds with its sample std (null for one seed: no spread) and the seed count. */
export interface Statistic {
  readonly mean: number;
  readonly std: number | null;
  readonly n: number;
}

/** A cell as a value: a statistic, a count, a text, or null where the table shows "–". */
export type CellValue = Statistic | number | string | null;

/** How a column's numbers read: percent (accuracy...), ratio (0-1), seconds, MB, count, text. */
export type ColumnUnit = 'percent' | 'ratio' | 'seconds' | 'MB' | 'count' | 'text';

export interface TableRow {
  readonly method: string;
  /** 'probe-reference': the unimodal runs the plan added for the utilization measure. */
  readonly role?: 'probe-reference';
  /** Each column as printed ("80.5 ± 0.7"). */
  readonly cells: Readonly<Record<string, string>>;
  /** Each column as numbers (percent columns in percent, as printed; unrounded). */
  readonly values: Readonly<Record<string, CellValue>>;
}

export interface ResultsTable {
  readonly columns: readonly string[];
  /** The unit of each column's values. */
  readonly units: Readonly<Record<string, ColumnUnit>>;
  readonly rows: readonly TableRow[];
  readonly notes: readonly string[];
}

/** The statistic of `values` times `scale` (100 for percent), or null when there are none. */
export function statistic(values: readonly number[], scale = 1): Statistic | null {
  const { mean, std, n } = meanStd(values);
  if (n === 0 || Number.isNaN(mean)) return null;
  return { mean: mean * scale, std: n > 1 ? std * scale : null, n };
}

/** The checkpoint whose test metrics a row reports: best-on-validation when there is one. */
export function reportedMetrics(run: RunRecord): { metrics: EvalMetrics; label: string } {
  if (run.bestOnValidation) {
    return {
      metrics: run.bestOnValidation.test,
      label: `best-on-validation (${run.selection.metric})`,
    };
  }
  return { metrics: run.final.test, label: 'final epoch' };
}

function groupByMethod(runs: readonly RunRecord[]): Map<string, RunRecord[]> {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    const g = groups.get(r.method) ?? [];
    g.push(r);
    groups.set(r.method, g);
  }
  return groups;
}

/** Column of modality m's accuracy under each method's own unimodal protocol. */
export const ownProtocolColumn = (m: string) => `acc ${m} (own protocol)`;

/**
 * One row per method (or variant label), mean ± std over seeds: fused accuracy, macro-F1, mAP,
 * per-modality accuracy under the method's own unimodal protocol (and which protocol), linear
 * probe accuracy and utilization per modality, Shapley contributions, imbalance degree,
 * reference-protocol accuracy (best on test, labelled), the fusion rule, the selection split,
 * time per epoch and peak memory.
 */
export function buildResultsTable(summary: ComparisonSummary): ResultsTable {
  const all = withUtilization(summary.runs);
  const modalities = [...new Set(all.flatMap((r) => r.modalities))];
  const columns = [
    'method',
    'seeds',
    'accuracy',
    'macro-F1',
    'mAP',
    ...modalities.map(ownProtocolColumn),
    'unimodal protocol',
    ...modalities.map((m) => `probe ${m}`),
    ...modalities.map((m) => `utilization ${m}`),
    ...modalities.map((m) => `contrib ${m}`),
    'imbalance',
    'acc (best-on-test, ref. protocol)',
    'fusion',
    'checkpoint chosen by',
    's / epoch',
    'peak MB',
  ];
  const units: Record<string, ColumnUnit> = {
    method: 'text',
    seeds: 'count',
    'unimodal protocol': 'text',
    fusion: 'text',
    'checkpoint chosen by': 'text',
    imbalance: 'ratio',
    's / epoch': 'seconds',
    'peak MB': 'MB',
  };
  const distinct = (values: readonly string[]) => [...new Set(values)].join('; ');
  const rows: TableRow[] = [];
  for (const [method, runs] of groupByMethod(all)) {
    const chosen = runs.map(reportedMetrics);
    const m = chosen.map((c) => c.metrics);
    const reference = runs.every((r) => r.role === 'probe-reference');
    const cells: Record<string, string> = {};
    const values: Record<string, CellValue> = {};
    const text = (column: string, value: string) => {
      cells[column] = value;
      values[column] = value;
    };
    const percent = (column: string, v: readonly number[]) => {
      units[column] = 'percent';
      cells[column] = formatPercent(v);
      values[column] = statistic(v, 100);
    };
    const number = (column: string, v: readonly number[], digits: number) => {
      units[column] ??= 'ratio';
      cells[column] = formatNumber(v, digits);
      values[column] = statistic(v);
    };
    text('method', reference ? `${method} (probe reference)` : method);
    cells['seeds'] = String(runs.length);
    values['seeds'] = runs.length;
    text('unimodal protocol', distinct(runs.map((r) => r.unimodalProtocol)));
    text('fusion', distinct(runs.map((r) => r.fusionRule)));
    percent(
      'accuracy',
      m.map((x) => x.accuracy),
    );
    percent(
      'macro-F1',
      m.map((x) => x.macroF1),
    );
    percent(
      'mAP',
      m.flatMap((x) => (x.mAP === undefined ? [] : [x.mAP])),
    );
    number(
      'imbalance',
      runs.flatMap((r) => (r.imbalanceDegree === undefined ? [] : [r.imbalanceDegree])),
      2,
    );
    percent(
      'acc (best-on-test, ref. protocol)',
      runs.map((r) => r.bestOnTest.test.accuracy),
    );
    text('checkpoint chosen by', [...new Set(chosen.map((c) => c.label))].join('; '));
    number(
      's / epoch',
      runs.map((r) => r.secondsPerEpoch),
      1,
    );
    number(
      'peak MB',
      runs.map((r) => r.peakMemoryMB),
      0,
    );
    for (const mod of modalities) {
      percent(
        ownProtocolColumn(mod),
        m.flatMap((x) => (x.perModality[mod] ? [x.perModality[mod].accuracy] : [])),
      );
      percent(
        `probe ${mod}`,
        runs.flatMap((r) => (r.probe?.accuracy[mod] === undefined ? [] : [r.probe.accuracy[mod]])),
      );
      number(
        `utilization ${mod}`,
        runs.flatMap((r) => (r.utilization?.[mod] === undefined ? [] : [r.utilization[mod]])),
        2,
      );
      percent(
        `contrib ${mod}`,
        runs.flatMap((r) => (r.contributions?.[mod] === undefined ? [] : [r.contributions[mod]])),
      );
    }
    rows.push({
      method,
      ...(reference ? { role: 'probe-reference' as const } : {}),
      cells,
      values,
    });
  }
  const recipes = [...new Set(all.flatMap((r) => (r.probe ? [r.probe.recipe] : [])))];
  const notes = [
    'Accuracy, macro-F1 and mAP are test-set figures in percent, mean ± sample std over seeds.',
    '"acc <m> (own protocol)" uses each method\'s own unimodal protocol (column "unimodal protocol"), so it is not comparable across methods: ' +
      [...new Set(all.map((r) => `${r.method}: ${r.unimodalProtocol}`))].join('; ') +
      '.',
    'Fusion rules: ' +
      [...new Set(all.map((r) => `${r.method}: ${r.fusionRule}`))].join('; ') +
      '.',
    ...(recipes.length
      ? [
          `"probe <m>": test accuracy of one linear probe recipe for every method, fitted on the frozen encoder of modality m from the selected checkpoint (${recipes.join(' | ')}). ` +
            `"utilization <m>" = probe(method) / probe(${UTILIZATION_REFERENCE}, same seed: the same encoder architecture trained on m alone with the same budget); 1 = m's encoder learned as much as alone, well below 1 = m is under-used.`,
        ]
      : []),
    'Contribution: Shapley value of each modality, from test accuracy with the other modalities zeroed; ' +
      'imbalance: |contribution gap| / sum of contributions (0 = balanced, 1 = one modality does everything).',
    '"best-on-test" is the references\' protocol (optimistic, test data select the epoch), shown for comparison only.',
  ];
  const labelled = [
    ...new Set(
      all
        .filter((r) => r.baseMethod)
        .map((r) => `${r.method} = ${r.baseMethod} with its variant options`),
    ),
  ];
  if (labelled.length) notes.push(`Labels: ${labelled.join('; ')} (see config.json "variants").`);
  const variants = all.filter((r) => r.variant).map((r) => `${r.method}: ${r.variant}`);
  if (variants.length) notes.push(`Variants: ${[...new Set(variants)].join('; ')}.`);
  return { columns, units, rows, notes };
}

export function tableToMarkdown(table: ResultsTable): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const head = `| ${table.columns.map(esc).join(' | ')} |`;
  const sep = `| ${table.columns.map(() => '---').join(' | ')} |`;
  const body = table.rows.map(
    (r) => `| ${table.columns.map((c) => esc(r.cells[c] ?? '–')).join(' | ')} |`,
  );
  return [head, sep, ...body].join('\n');
}

/** A plain fixed-width table for the terminal. */
export function tableToText(
  table: ResultsTable,
  columns: readonly string[] = table.columns,
): string {
  const widths = columns.map((c) =>
    Math.max(c.length, ...table.rows.map((r) => (r.cells[c] ?? '–').length)),
  );
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [
    line([...columns]),
    line(widths.map((w) => '-'.repeat(w))),
    ...table.rows.map((r) => line(columns.map((c) => r.cells[c] ?? '–'))),
  ].join('\n');
}

/**
 * The columns the terminal shows after a comparison (the report has them all); utilization
 * columns only when some row has one (none with --no-probe).
 */
export function printedColumns(table: ResultsTable): string[] {
  return table.columns.filter(
    (c) =>
      !/^(contrib|probe) /.test(c) &&
      !['unimodal protocol', 'fusion', 'checkpoint chosen by', 'peak MB'].includes(c) &&
      !(c.startsWith('utilization ') && table.rows.every((r) => r.values[c] == null)),
  );
}

/**
 * The results table as JSON (`igm compare|train|report --json`), format "igm-results-table/1":
 *
 *   { "format": "igm-results-table/1", "dataset", "datasetLabel", "backend", "out", "report",
 *     "status": "completed" | "failed" | "incomplete",
 *     "columns": [ "method", "seeds", "accuracy", ... ],   the printed table's columns, in order
 *     "units": { "accuracy": "percent", "utilization audio": "ratio", "s / epoch": "seconds", ... },
 *     "rows": [ { "method": "joint", "role"?: "probe-reference",
 *                 "values": { "method": "joint", "seeds": 3,
 *                             "accuracy": { "mean": 76.6, "std": 1.1, "n": 3 }, ... } } ],
 *     "failures": [ { "method", "seed", "error", "attempts" } ],
 *     "notes": [ ... ] }
 *
 * Statistics are unrounded, in the unit of their column (percent columns in percent, as
 * printed); `std` is the sample std over seeds, null for one seed; a value the table shows as
 * "–" is null.
 */
export interface ResultsJson {
  readonly format: 'igm-results-table/1';
  readonly dataset: string;
  readonly datasetLabel: string;
  readonly backend: string;
  readonly out: string;
  readonly report: string | null;
  /**
   * "failed": some runs failed (listed in `failures`); "incomplete" (`igm report` only): the
   * folder holds fewer runs than its comparison planned (stopped, or runs failed).
   */
  readonly status: 'completed' | 'failed' | 'incomplete';
  readonly columns: readonly string[];
  readonly units: Readonly<Record<string, ColumnUnit>>;
  readonly rows: ReadonlyArray<{
    readonly method: string;
    readonly role?: 'probe-reference';
    readonly values: Readonly<Record<string, CellValue>>;
  }>;
  readonly failures: ReadonlyArray<{
    readonly method: string;
    readonly seed: number;
    readonly error: string;
    readonly attempts: number;
  }>;
  readonly notes: readonly string[];
}

export function tableToJson(
  table: ResultsTable,
  columns: readonly string[],
  about: Pick<ResultsJson, 'dataset' | 'datasetLabel' | 'backend' | 'out' | 'report' | 'status'> & {
    readonly failures?: ResultsJson['failures'];
  },
): ResultsJson {
  return {
    format: 'igm-results-table/1',
    dataset: about.dataset,
    datasetLabel: about.datasetLabel,
    backend: about.backend,
    out: about.out,
    report: about.report,
    status: about.status,
    columns: [...columns],
    units: Object.fromEntries(columns.map((c) => [c, table.units[c] ?? 'text'])),
    rows: table.rows.map((r) => ({
      method: r.method,
      ...(r.role ? { role: r.role } : {}),
      values: Object.fromEntries(columns.map((c) => [c, r.values[c] ?? null])),
    })),
    failures: (about.failures ?? []).map((f) => ({
      method: f.method,
      seed: f.seed,
      error: f.error,
      attempts: f.attempts,
    })),
    notes: table.notes,
  };
}
