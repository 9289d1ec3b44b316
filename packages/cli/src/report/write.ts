/**
 * `runs/<name>/` -> `report.md` + `report.html`. Reads only `summary.json` and
 * `metrics.jsonl`, so `igm report runs/<name>` can rebuild a report at any time.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@igm/trainer/node';
import { buildPlots, PLOT_SECTIONS, type Plot } from './plots';
import { buildResultsTable, type ResultsTable, tableToMarkdown } from './table';
import type { ComparisonSummary, EpochRecord } from './types';

/**
 * Writes a file atomically (temporary file + rename), so a killed run never leaves half a report
 * (the helper of @igm/trainer's file-system storage).
 */
export { writeFileAtomic };

export async function readRunDirectory(
  dir: string,
): Promise<{ summary: ComparisonSummary; epochs: EpochRecord[] }> {
  const summaryPath = join(dir, 'summary.json');
  let summary: ComparisonSummary;
  try {
    summary = JSON.parse(await readFile(summaryPath, 'utf8')) as ComparisonSummary;
  } catch (e) {
    throw new Error(
      `Cannot read ${summaryPath}: ${(e as Error).message}. Expected the summary.json written by "igm compare".`,
    );
  }
  if (!Array.isArray(summary.runs)) {
    // One run's folder (<comparison>/<method>/seed-<s>) has a summary.json of its own.
    const ofOneRun = existsSync(join(dir, 'record.json')) || existsSync(join(dir, 'checkpoints'));
    throw new Error(
      ofOneRun
        ? `${dir} is the folder of one run; igm report takes the folder of its comparison (${join(dir, '..', '..')}).`
        : `${summaryPath}: field "runs" is missing or not an array.`,
    );
  }
  const epochs: EpochRecord[] = [];
  const metricsPath = join(dir, 'metrics.jsonl');
  let text = '';
  try {
    text = await readFile(metricsPath, 'utf8');
  } catch {
    // A summary without per-epoch metrics still gives a table; the curves are omitted.
  }
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      epochs.push(JSON.parse(line) as EpochRecord);
    } catch (e) {
      throw new Error(`${metricsPath}: line ${i + 1} is not valid JSON (${(e as Error).message}).`);
    }
  });
  return { summary, epochs };
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const FAILED_RUNS_INTRO =
  'These runs ended with an error, so they have no row in the table and no curves; the table averages only the seeds that finished.';

/** "Runs: 90" or "Runs: 90 finished, 5 failed". */
function runCount(summary: ComparisonSummary): string {
  const failed = summary.failures?.length ?? 0;
  return failed
    ? `Runs: ${summary.runs.length} finished, ${failed} failed`
    : `Runs: ${summary.runs.length}`;
}

export function renderMarkdown(
  summary: ComparisonSummary,
  table: ResultsTable,
  plots: readonly Plot[],
): string {
  const failed = summary.failures ?? [];
  return [
    `# ${summary.name}: ${summary.datasetLabel}`,
    '',
    `Backend: ${summary.backend}. Created ${summary.createdAt}. ${runCount(summary)}.`,
    '',
    tableToMarkdown(table),
    '',
    ...table.notes.map((n) => `- ${n}`),
    '',
    ...(failed.length
      ? [
          `## Runs that failed (${failed.length})`,
          '',
          FAILED_RUNS_INTRO,
          '',
          ...failed.map((f) => `- ${f.method} seed ${f.seed}: ${f.error}`),
          '',
        ]
      : []),
    ...PLOT_SECTIONS.flatMap(({ section, title }) => {
      const own = plots.filter((p) => p.section === section);
      if (own.length === 0) return [];
      return [
        `## ${title}`,
        '',
        `Plots in report.html: ${own.map((p) => p.title).join('; ')}.`,
        ...own.flatMap((p) => (p.notes ?? []).map((n) => `- ${p.title}: ${n}`)),
        '',
      ];
    }),
  ].join('\n');
}

export function renderHtml(
  summary: ComparisonSummary,
  table: ResultsTable,
  plots: readonly Plot[],
): string {
  const failed = summary.failures ?? [];
  const head = table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
  const rows = table.rows
    .map(
      (r) =>
        `<tr>${table.columns.map((c) => `<td>${escapeHtml(r.cells[c] ?? '–')}</td>`).join('')}</tr>`,
    )
    .join('\n');
  const figure = (p: Plot) =>
    `<figure id="plot-${escapeHtml(p.id)}" class="plot${p.svg ? '' : ' text-only'}"><figcaption><strong>${escapeHtml(p.title)}</strong> ${escapeHtml(p.caption)}</figcaption>${p.svg ?? ''}${
      p.notes?.length
        ? `<ul class="plot-notes">${p.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`
        : ''
    }</figure>`;
  const figures = PLOT_SECTIONS.map(({ section, title, intro }) => {
    const own = plots.filter((p) => p.section === section);
    if (own.length === 0) return '';
    return `<section id="section-${section}"><h2>${escapeHtml(title)}</h2><p class="intro">${escapeHtml(intro)}</p>\n${own.map(figure).join('\n')}</section>`;
  })
    .filter(Boolean)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>${escapeHtml(summary.name)}: ${escapeHtml(summary.datasetLabel)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1.5rem 0; }
figcaption { margin-bottom: 0.4rem; }
figure svg { max-width: 100%; height: auto; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; }
.intro { color: #444; max-width: 60rem; }
.notes, .plot-notes { font-size: 0.85rem; color: #555; }
</style></head>
<body>
<h1>${escapeHtml(summary.name)}: ${escapeHtml(summary.datasetLabel)}</h1>
<p>Backend: ${escapeHtml(summary.backend)} · created ${escapeHtml(summary.createdAt)} · ${escapeHtml(runCount(summary))}</p>
<table id="results"><thead><tr>${head}</tr></thead><tbody>
${rows}
</tbody></table>
<ul class="notes">${table.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
${
  failed.length
    ? `<section id="failed-runs"><h2>Runs that failed (${failed.length})</h2><p class="intro">${escapeHtml(FAILED_RUNS_INTRO)}</p><ul>${failed
        .map(
          (f) =>
            `<li><strong>${escapeHtml(f.method)} seed ${f.seed}</strong>: ${escapeHtml(f.error)}</li>`,
        )
        .join('')}</ul></section>\n`
    : ''
}${figures}
</body></html>
`;
}

/** Rebuilds report.md and report.html in `dir`; returns their paths and the table. */
export async function writeReport(
  dir: string,
): Promise<{ markdown: string; html: string; table: ResultsTable }> {
  const { summary, epochs } = await readRunDirectory(dir);
  const table = buildResultsTable(summary);
  const plots = await buildPlots(summary, epochs);
  const markdown = join(dir, 'report.md');
  const html = join(dir, 'report.html');
  await writeFileAtomic(markdown, renderMarkdown(summary, table, plots));
  await writeFileAtomic(html, renderHtml(summary, table, plots));
  return { markdown, html, table };
}
