import { formatNumber, formatPercent } from './stats';
import type { ComparisonSummary, EvalMetrics, RunRecord } from './types';

export interface TableRow {
  readonly method: string;
  readonly cells: Readonly<Record<string, string>>;
}

export interface ResultsTable {
  readonly columns: readonly string[];
  readonly rows: readonly TableRow[];
  readonly notes: readonly string[];
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

/**
 * One row per method, mean ± std over seeds: fused accuracy, macro-F1, mAP, per-modality
 * accuracy, Shapley contributions, imbalance degree, reference-protocol accuracy (best on
 * test, labelled), the selection split, time per epoch and peak memory.
 */
export function buildResultsTable(summary: ComparisonSummary): ResultsTable {
  const modalities = [...new Set(summary.runs.flatMap((r) => r.modalities))];
  const columns = [
    'method',
    'seeds',
    'accuracy',
    'macro-F1',
    'mAP',
    ...modalities.map((m) => `acc ${m}`),
    ...modalities.map((m) => `contrib ${m}`),
    'imbalance',
    'acc (best-on-test, ref. protocol)',
    'checkpoint chosen by',
    's / epoch',
    'peak MB',
  ];
  const rows: TableRow[] = [];
  for (const [method, runs] of groupByMethod(summary.runs)) {
    const chosen = runs.map(reportedMetrics);
    const m = chosen.map((c) => c.metrics);
    const cells: Record<string, string> = {
      method,
      seeds: String(runs.length),
      accuracy: formatPercent(m.map((x) => x.accuracy)),
      'macro-F1': formatPercent(m.map((x) => x.macroF1)),
      mAP: formatPercent(m.flatMap((x) => (x.mAP === undefined ? [] : [x.mAP]))),
      imbalance: formatNumber(
        runs.flatMap((r) => (r.imbalanceDegree === undefined ? [] : [r.imbalanceDegree])),
      ),
      'acc (best-on-test, ref. protocol)': formatPercent(
        runs.map((r) => r.bestOnTest.test.accuracy),
      ),
      'checkpoint chosen by': [...new Set(chosen.map((c) => c.label))].join('; '),
      's / epoch': formatNumber(
        runs.map((r) => r.secondsPerEpoch),
        1,
      ),
      'peak MB': formatNumber(
        runs.map((r) => r.peakMemoryMB),
        0,
      ),
    };
    for (const mod of modalities) {
      cells[`acc ${mod}`] = formatPercent(
        m.flatMap((x) => (x.perModality[mod] ? [x.perModality[mod].accuracy] : [])),
      );
      cells[`contrib ${mod}`] = formatPercent(
        runs.flatMap((r) => (r.contributions?.[mod] === undefined ? [] : [r.contributions[mod]])),
      );
    }
    rows.push({ method, cells });
  }
  const notes = [
    'Accuracy, macro-F1 and mAP are test-set figures in percent, mean ± sample std over seeds.',
    "Per-modality accuracy uses each method's own unimodal protocol: " +
      [...new Set(summary.runs.map((r) => `${r.method}: ${r.unimodalProtocol}`))].join('; ') +
      '.',
    'Fusion rules: ' +
      [...new Set(summary.runs.map((r) => `${r.method}: ${r.fusionRule}`))].join('; ') +
      '.',
    'Contribution: Shapley value of each modality, from test accuracy with the other modalities zeroed; ' +
      'imbalance: |contribution gap| / sum of contributions (0 = balanced, 1 = one modality does everything).',
    '"best-on-test" is the references\' protocol (optimistic, test data select the epoch), shown for comparison only.',
  ];
  const variants = summary.runs.filter((r) => r.variant).map((r) => `${r.method}: ${r.variant}`);
  if (variants.length) notes.push(`Variants: ${[...new Set(variants)].join('; ')}.`);
  return { columns, rows, notes };
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
