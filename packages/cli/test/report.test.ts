import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildResultsTable,
  meanStd,
  type RunRecord,
  tableToMarkdown,
  withUtilization,
  writeReport,
} from '../src/report';
import { sampleComparison } from './report-data';

async function writeSampleRun(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'igm-report-'));
  const { summary, epochs } = sampleComparison();
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
      'spectrum-T',
      'modulation',
    ]) {
      expect(page).toContain(`id="plot-${id}"`);
    }
    expect(page.match(/<svg/g)?.length).toBe(5);
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

const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
describe.skipIf(!existsSync(chromiumPath))('report.html in headless Chromium', () => {
  it('renders the table and the plots', async () => {
    const { chromium } = await import('playwright-core');
    const dir = await writeSampleRun();
    const { html } = await writeReport(dir);
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
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
        expect(box!.height).toBeGreaterThan(200);
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
