import { formatNumber, formatPercent } from './stats';
import type { ComparisonSummary, EvalMetrics, RunRecord } from './types';
import { UTILIZATION_REFERENCE, withUtilization } from './utilization';

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
  const distinct = (values: readonly string[]) => [...new Set(values)].join('; ');
  const rows: TableRow[] = [];
  for (const [method, runs] of groupByMethod(all)) {
    const chosen = runs.map(reportedMetrics);
    const m = chosen.map((c) => c.metrics);
    const reference = runs.every((r) => r.role === 'probe-reference');
    const cells: Record<string, string> = {
      method: reference ? `${method} (probe reference)` : method,
      seeds: String(runs.length),
      'unimodal protocol': distinct(runs.map((r) => r.unimodalProtocol)),
      fusion: distinct(runs.map((r) => r.fusionRule)),
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
      cells[ownProtocolColumn(mod)] = formatPercent(
        m.flatMap((x) => (x.perModality[mod] ? [x.perModality[mod].accuracy] : [])),
      );
      cells[`probe ${mod}`] = formatPercent(
        runs.flatMap((r) => (r.probe?.accuracy[mod] === undefined ? [] : [r.probe.accuracy[mod]])),
      );
      cells[`utilization ${mod}`] = formatNumber(
        runs.flatMap((r) => (r.utilization?.[mod] === undefined ? [] : [r.utilization[mod]])),
      );
      cells[`contrib ${mod}`] = formatPercent(
        runs.flatMap((r) => (r.contributions?.[mod] === undefined ? [] : [r.contributions[mod]])),
      );
    }
    rows.push({ method, cells });
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
