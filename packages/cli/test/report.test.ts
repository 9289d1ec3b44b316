/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate callbacks run in Chromium, where `document` exists.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasChromium, launchChromium } from '@igm/test-utils/chromium';
import { describe, expect, it } from 'vitest';
import {
  buildResultsTable,
  meanStd,
  type RunRecord,
  tableToMarkdown,
  withUtilization,
  writeReport,
} from '../src/report';
import { ALL, collectDecisions, splitLogKey } from '../src/report/plots';
import { MANY_METHODS, manyMethodsComparison, sampleComparison } from './report-data';

async function writeSampleRun(data = sampleComparison()): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'igm-report-'));
  const { summary, epochs } = data;
  await writeFile(join(dir, 'summary.json'), JSON.stringify(summary));
  await writeFile(
    join(dir, 'metrics.jsonl'),
    `${epochs.map((e) => JSON.stringify(e)).join('\n')}\n`,
  );
  return dir;
}

describe('report table', () => {
  it('gives mean ± sample std over seeds per method', () => {
    expect(meanStd([1, 2, 3])).toEqual({ mean: 2, std: 1, n: 3 });
    const table = buildResultsTable(sampleComparison().summary);
    const igm = table.rows.find((r) => r.method === 'igm')!;
    // best-on-validation accuracies 0.80 and 0.81 -> 80.5 ± 0.7
    expect(igm.cells['accuracy']).toBe('80.5 ± 0.7');
    expect(igm.cells['acc audio (own protocol)']).toBe('70.0 ± 0.0');
    expect(igm.cells['unimodal protocol']).toBe('own head');
    expect(igm.cells['fusion']).toBe('mean of softmax');
    expect(igm.cells['checkpoint chosen by']).toBe('best-on-validation (macroF1)');
    expect(igm.cells['imbalance']).toBe('0.43 ± 0.00');
    expect(tableToMarkdown(table).split('\n')).toHaveLength(4);
  });
});

describe('utilization', () => {
  const probe = (audio: number, visual: number) => ({
    recipe: 'the recipe',
    accuracy: { audio, visual },
    trainAccuracy: { audio, visual },
    trainSamples: 10,
    testSamples: 10,
    iterations: { audio: 3, visual: 3 },
    converged: { audio: true, visual: true },
  });
  it('divides each probe by the same seed unimodal probe; table, notes, labels', () => {
    const { summary } = sampleComparison();
    const base = summary.runs.find((r) => r.method === 'joint')!;
    const runs: RunRecord[] = [
      ...summary.runs.map((r) => ({
        ...r,
        probe: r.method === 'igm' ? probe(0.6, 0.45 + 0.05 * r.seed) : probe(0.3, 0.9),
      })),
      ...[0, 1].map(
        (seed): RunRecord => ({
          ...base,
          method: 'unimodal',
          seed,
          role: 'probe-reference',
          probe: probe(0.6, seed === 0 ? 0.9 : 1.0),
        }),
      ),
    ];
    const withU = withUtilization(runs);
    expect(withU.find((r) => r.method === 'igm' && r.seed === 0)!.utilization).toEqual({
      audio: 1,
      visual: 0.5,
    });
    expect(withU.find((r) => r.method === 'igm' && r.seed === 1)!.utilization).toEqual({
      audio: 1,
      visual: 0.5,
    });
    expect(withU.find((r) => r.method === 'joint' && r.seed === 1)!.utilization!['audio']).toBe(
      0.5,
    );
    const table = buildResultsTable({ ...summary, runs });
    const igm = table.rows.find((r) => r.method === 'igm')!;
    expect(igm.cells['utilization visual']).toBe('0.50 ± 0.00');
    expect(igm.cells['probe visual']).toBe('47.5 ± 3.5');
    expect(table.rows.find((r) => r.method === 'unimodal')!.cells).toMatchObject({
      'utilization audio': '1.00 ± 0.00',
    });
    expect(table.notes.join('\n')).toMatch(
      /"utilization <m>" = probe\(method\) \/ probe\(unimodal/,
    );
    expect(table.notes.join('\n')).toMatch(/the recipe/);
    // A run without its reference keeps no utilization.
    expect(withUtilization(runs.filter((r) => r.method !== 'unimodal'))[0]!.utilization).toBe(
      undefined,
    );
  });
});

describe('balancing decisions', () => {
  it('one quantity per logged key without its modality suffix; generic and constant values apart', () => {
    const modalities = new Set(['audio', 'visual']);
    expect(splitLogKey('ogm/coef/audio', modalities)).toEqual({
      quantity: 'ogm/coef',
      series: 'audio',
    });
    expect(splitLogKey('ogm/ratio', modalities)).toEqual({ quantity: 'ogm/ratio', series: ALL });
    expect(splitLogKey('sam/rho/encoder', modalities)).toEqual({
      quantity: 'sam/rho/encoder',
      series: ALL,
    });
    const { epochs } = manyMethodsComparison();
    const decisions = collectDecisions(epochs, new Set(['audio', 'visual', 'text']));
    // joint logs only lr and loss/audio: nothing to show.
    expect(decisions.map((d) => d.method)).toEqual(MANY_METHODS.filter((m) => m !== 'joint'));
    const ogm = decisions.find((d) => d.method === 'ogm-ge')!;
    expect(ogm.quantities).toEqual(['ogmge/coef', 'ogmge/score', 'ogmge/ratio', 'ogmge/clipped']);
    expect(ogm.constants).toEqual(['ogmge/rho = 0.05']);
    const coef = ogm.points.filter((p) => p.quantity === 'ogmge/coef' && p.epoch === 2);
    expect(coef.map((p) => [p.series, p.seeds])).toEqual([
      ['audio', 2],
      ['visual', 2],
      ['text', 2],
    ]);
    // Seeds 0 and 1: 1 - 0.04 - 0.01 * seed -> mean 0.955, range [0.95, 0.96].
    expect(coef[0]!.mean).toBeCloseTo(0.955, 12);
    expect([coef[0]!.min, coef[0]!.max]).toEqual([0.95, 0.96]);
  });
});

describe('writeReport', () => {
  it('writes report.md and report.html with inline SVG plots', async () => {
    const dir = await writeSampleRun();
    const { markdown, html } = await writeReport(dir);
    const md = await readFile(markdown, 'utf8');
    expect(md).toContain('| igm | 2 | 80.5 ± 0.7');
    const page = await readFile(html, 'utf8');
    for (const id of [
      'fused-accuracy',
      'accuracy-audio',
      'accuracy-visual',
      'decisions-igm',
      'spectrum-igm',
    ]) {
      expect(page).toContain(`id="plot-${id}"`);
    }
    expect(page.match(/<svg/g)?.length).toBe(5);
    expect(md).toContain('## What the balancing methods decided');
    expect(md).toContain('## Spectrum of the flat projection T per stage');
  });

  it('lists the runs that failed under the table (markdown and html), none when all finished', async () => {
    const data = sampleComparison();
    const withFailures = {
      ...data,
      summary: {
        ...data.summary,
        failures: [
          {
            method: 'domfn',
            seed: 0,
            error: 'training diverged (loss NaN at epoch 1, batch 27) <x>',
          },
          {
            method: 'domfn',
            seed: 1,
            error: 'training diverged (loss Infinity at epoch 2, batch 3)',
          },
        ],
      },
    };
    const finished = data.summary.runs.length;
    const { markdown, html } = await writeReport(await writeSampleRun(withFailures));
    const md = await readFile(markdown, 'utf8');
    expect(md).toContain(`Runs: ${finished} finished, 2 failed.`);
    expect(md).toContain('## Runs that failed (2)');
    expect(md).toContain('- domfn seed 0: training diverged (loss NaN at epoch 1, batch 27) <x>');
    expect(md).toContain('- domfn seed 1: training diverged (loss Infinity at epoch 2, batch 3)');
    const page = await readFile(html, 'utf8');
    expect(page).toContain(`Runs: ${finished} finished, 2 failed`);
    expect(page).toContain('<section id="failed-runs"><h2>Runs that failed (2)</h2>');
    // The error text is escaped in HTML.
    expect(page).toContain(
      '<strong>domfn seed 0</strong>: training diverged (loss NaN at epoch 1, batch 27) &lt;x&gt;',
    );

    const clean = await writeReport(await writeSampleRun());
    expect(await readFile(clean.markdown, 'utf8')).not.toContain('Runs that failed');
    expect(await readFile(clean.html, 'utf8')).not.toContain('failed-runs');
  });

  it('names the file and the line of bad input', async () => {
    const dir = await writeSampleRun();
    await writeFile(join(dir, 'metrics.jsonl'), '{"ok": 1}\nnot json\n');
    await expect(writeReport(dir)).rejects.toThrow(/metrics\.jsonl: line 2 is not valid JSON/);
    await expect(writeReport(join(dir, 'missing'))).rejects.toThrow(
      /summary\.json.*Expected the summary\.json/,
    );
  });
});

describe.skipIf(!hasChromium)('report.html in headless Chromium', () => {
  it('renders the table and the plots', async () => {
    const dir = await writeSampleRun();
    const { html } = await writeReport(dir);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`file://${html}`);
      expect(await page.locator('#results tbody tr').count()).toBe(2);
      expect(
        await page.locator('#results tbody tr').first().locator('td').first().textContent(),
      ).toBe('joint');
      const plots = page.locator('figure.plot svg');
      expect(await plots.count()).toBe(5);
      for (let i = 0; i < 5; i++) {
        const box = await plots.nth(i).boundingBox();
        expect(box!.width).toBeGreaterThan(300);
        expect(box!.height).toBeGreaterThan(150);
        // Lines were drawn: each plot holds at least one path with a non-empty "d".
        expect(await plots.nth(i).locator('path[d]').count()).toBeGreaterThan(2);
      }
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

describe.skipIf(!hasChromium)('report.html at 15 methods in headless Chromium', () => {
  it('draws every decision as its own panel with its own scale, full legends and T per stage', async () => {
    const dir = await writeSampleRun(manyMethodsComparison());
    const { html } = await writeReport(dir);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`file://${html}`);
      const figures = await page.evaluate(() =>
        [...document.querySelectorAll('#section-decisions figure')].map((f) => ({
          id: f.id,
          notes: f.querySelector('.plot-notes')?.textContent ?? '',
          panels: [...f.querySelectorAll('g.mark-group.role-scope.cell > g')].map((cell) => ({
            title: cell.querySelector('.role-title-text')?.textContent ?? '',
            // The last axis of a cell is its y axis; its labels, as numbers.
            y: [...cell.querySelectorAll('g.mark-group.role-axis')]
              .map((a) =>
                [...a.querySelectorAll('.role-axis-label text')].map((t) => t.textContent),
              )
              .filter((labels) => labels.length > 0)
              .pop()!
              .map(Number),
          })),
        })),
      );
      // One figure per method that decided something (joint did not), four panels each.
      expect(figures.map((f) => f.id)).toEqual(
        MANY_METHODS.filter((m) => m !== 'joint').map((m) => `plot-decisions-${m}`),
      );
      for (const f of figures) {
        const p = f.id.replace('plot-decisions-', '').replace(/-/g, '');
        expect(f.panels.map((x) => x.title)).toEqual([
          `${p}/coef`,
          `${p}/score`,
          `${p}/ratio`,
          `${p}/clipped`,
        ]);
        // Own scale per panel: the coefficients are not flattened by the ratio (up to 121).
        expect(Math.max(...f.panels[0]!.y)).toBeLessThanOrEqual(1);
        expect(Math.min(...f.panels[0]!.y)).toBeGreaterThan(0.5);
        expect(Math.max(...f.panels[2]!.y)).toBeGreaterThanOrEqual(100);
        expect(f.notes).toContain(`Constant over every epoch: ${p}/rho = 0.05.`);
      }
      // Legends and labels are whole: no truncation mark, every text inside its SVG.
      const clipped = await page.evaluate(() => {
        const out: string[] = [];
        for (const svg of document.querySelectorAll('figure.plot svg')) {
          const box = svg.getBoundingClientRect();
          for (const t of svg.querySelectorAll('text')) {
            const r = t.getBoundingClientRect();
            const outside =
              r.width > 0 &&
              (r.left < box.left - 1 ||
                r.right > box.right + 1 ||
                r.top < box.top - 1 ||
                r.bottom > box.bottom + 1);
            if (outside || (t.textContent ?? '').includes('\u2026')) out.push(t.textContent ?? '');
          }
        }
        return out;
      });
      expect(clipped).toEqual([]);
      const legend = await page.evaluate(() => {
        const svg = document.querySelector('#plot-fused-accuracy svg')!;
        return {
          labels: [...svg.querySelectorAll('.role-legend-label text')].map((t) => t.textContent),
          colours: [...svg.querySelectorAll('.role-legend-symbol path')].map((s) =>
            s.getAttribute('fill'),
          ),
        };
      });
      expect(legend.labels).toEqual([...MANY_METHODS]);
      expect(new Set(legend.colours).size).toBe(MANY_METHODS.length);
      // T per stage, named by modality, for both IGM variants.
      const spectra = await page.evaluate(() =>
        [...document.querySelectorAll('#section-spectrum figure')].map((f) => ({
          id: f.id,
          panels: [...f.querySelectorAll('g.mark-group.role-scope.cell > g')].map((c) =>
            [...c.querySelectorAll('.role-title-text tspan, .role-title-text')]
              .map((t) => t.textContent)
              .join(' '),
          ),
          layers: [...f.querySelectorAll('.role-legend-label text')].map((t) => t.textContent),
        })),
      );
      expect(spectra.map((s) => s.id)).toEqual(['plot-spectrum-igm', 'plot-spectrum-igm-no-sam']);
      expect(spectra[0]!.panels).toHaveLength(3);
      expect(spectra[0]!.panels[0]).toMatch(/stage 1: T of the audio head,.*applied to visual/);
      expect(spectra[0]!.panels[1]).toMatch(/stage 2: T of the visual head,.*applied to text/);
      expect(spectra[0]!.layers).toEqual(['dense_0 (64 inputs)', 'dense_1 (16 inputs)']);
      await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
