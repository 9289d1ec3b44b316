/**
 * indexedDbStorage (@igm/trainer) in real Chromium: the module is bundled for the browser,
 * served from a loopback origin (IndexedDB needs one), and driven from the page: checkpoints
 * round-trip exactly, survive a reload, are replaced whole, and clear() deletes one run.
 */
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceRoot } from '../workspace';
import { collectErrors, freePort, hasChromium, launchChromium } from './browser';
import { bundleForBrowser } from './bundle-check';

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import * as storage from '/storage.js';
window.igm = storage;
document.body.dataset.ready = 'true';
</script>`;

describe.skipIf(!hasChromium)('indexedDbStorage in headless Chromium', () => {
  let server: Server;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    const { output } = await bundleForBrowser(
      join(workspaceRoot, 'packages', 'trainer', 'src', 'indexeddb.ts'),
    );
    const js = output.text;
    const port = await freePort();
    server = createServer((req, res) => {
      if (req.url === '/storage.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
      } else {
        res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      }
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${port}/`;
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (server) await new Promise((resolve) => server.close(resolve));
  });

  it('round-trips checkpoints and records, keeps them across a reload, replaces and clears', async () => {
    const page = await browser.newPage();
    const errors = collectErrors(page);
    await page.goto(url);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    const saved = await page.evaluate(async () => {
      const { indexedDbStorage } = (window as unknown as { igm: typeof import('@igm/trainer') })
        .igm;
      const s = indexedDbStorage('mla', { database: 'chromium-test' });
      const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 1e3);
      const path = await s.checkpoints.save('last', {
        tensors: [
          { name: 'model/w', shape: [10, 100], dtype: 'float32', values },
          { name: 'transform/t', shape: [2], dtype: 'int32', values: Int32Array.of(-5, 1 << 30) },
        ],
        state: { position: { globalStep: 17 }, loss: Number.NaN },
      });
      await s.appendText('metrics.jsonl', '{"epoch":0}\n');
      await s.appendText('metrics.jsonl', '{"epoch":1}\n');
      await indexedDbStorage('igm', { database: 'chromium-test' }).writeText('summary.json', '{}');
      return { path, sum: values.reduce((a, b) => a + b, 0) };
    });
    expect(saved.path).toBe('indexeddb:chromium-test/mla/checkpoints/last');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    const loaded = await page.evaluate(async () => {
      const { indexedDbStorage, listIndexedDbRuns } = (
        window as unknown as { igm: typeof import('@igm/trainer') }
      ).igm;
      const s = indexedDbStorage('mla', { database: 'chromium-test' });
      const last = await s.checkpoints.load<{ position: { globalStep: number }; loss: null }>(
        'last',
      );
      const w = last!.tensors.get('model/w')!;
      const t = last!.tensors.get('transform/t')!;
      const out = {
        names: [...last!.tensors.keys()],
        shape: w.shape,
        dtype: w.dtype,
        isFloat32: w.values instanceof Float32Array,
        sum: Array.from(w.values).reduce((a, b) => a + b, 0),
        first: [w.values[0], w.values[999]],
        ints: Array.from(t.values),
        state: last!.state,
        metrics: await s.readText('metrics.jsonl'),
        runs: await listIndexedDbRuns({ database: 'chromium-test' }),
        exists: [await s.checkpoints.exists('last'), await s.checkpoints.exists('best')],
      };
      await s.checkpoints.save('last', {
        tensors: [{ name: 'model/v', shape: [1], dtype: 'float32', values: Float32Array.of(2) }],
        state: 2,
      });
      const replaced = await s.checkpoints.load('last');
      await s.clear();
      return {
        ...out,
        replaced: [...replaced!.tensors.keys()],
        afterClear: [await s.checkpoints.load('last'), await s.readText('metrics.jsonl')],
        otherRun: await indexedDbStorage('igm', { database: 'chromium-test' }).readText(
          'summary.json',
        ),
      };
    });
    expect(loaded.names).toEqual(['model/w', 'transform/t']);
    expect(loaded.shape).toEqual([10, 100]);
    expect(loaded.dtype).toBe('float32');
    expect(loaded.isFloat32).toBe(true);
    expect(loaded.sum).toBe(saved.sum);
    expect(loaded.first[0]).toBe(0);
    expect(loaded.first[1]).toBe(Math.fround(Math.sin(999) * 1e3));
    expect(loaded.ints).toEqual([-5, 1 << 30]);
    expect(loaded.state).toEqual({ position: { globalStep: 17 }, loss: null });
    expect(loaded.metrics).toBe('{"epoch":0}\n{"epoch":1}\n');
    expect(loaded.runs).toEqual(['igm', 'mla']);
    expect(loaded.exists).toEqual([true, false]);
    expect(loaded.replaced).toEqual(['model/v']);
    expect(loaded.afterClear).toEqual([null, null]);
    expect(loaded.otherRun).toBe('{}');
    expect(errors).toEqual([]);
    await page.close();
  });
});
