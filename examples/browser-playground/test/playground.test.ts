/**
 * The playground in headless Chromium: the page loads (wasm backend with @igm/wasm-training's
 * kernels, threaded because the dev server isolates the page), joint, MLA and IGM train on the
 * AV-MNIST-style subset, test accuracy beats chance after a fixed number of steps, Stop writes a
 * checkpoint to IndexedDB, and after a reload Resume continues from exactly that step. No console
 * error anywhere. Needs /usr/bin/chromium (or CHROMIUM_PATH) and the FSDD recordings (FSDD_DIR)
 * to generate the subset, unless public/data/av-mnist-subset.bin is already there.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SUBSET_FILE, prepareSubset } from '../scripts/prepare-data';
import {
  collectErrors,
  hasChromium,
  launchChromium,
  playgroundRoot,
  startPlaygroundServer,
  within,
} from './browser';

const fsddDir = process.env['FSDD_DIR'];
const haveData = (fsddDir !== undefined && existsSync(fsddDir)) || existsSync(DEFAULT_SUBSET_FILE);

/** Epochs per modality: joint and MLA train 4 epochs, IGM stages [1, 2] x 4 (audio 4, visual 8). */
const EPOCHS = 4;
/** 10 classes. */
const CHANCE = 0.1;
/**
 * The reported result of a run (test accuracy at the epoch chosen on validation) must beat
 * chance clearly: with 120 test samples, a chance-level classifier gets 24 or more right (0.2)
 * with probability 0.00075 (one-sided binomial). The accuracy after the last epoch must beat
 * chance too (IGM's last epoch trains one modality alone).
 */
const ABOVE_CHANCE = 0.2;

interface CardState {
  status: string;
  step: number;
  totalSteps: number;
  firstStep: number | null;
  testFused: number | null;
}

async function card(page: Page, method: string): Promise<CardState> {
  return await page.$eval(`article.method[data-method="${method}"]`, (el) => {
    const d = (el as HTMLElement).dataset;
    return {
      status: d['status'] ?? '',
      step: Number(d['step'] ?? 0),
      totalSteps: Number(d['totalSteps'] ?? 0),
      firstStep: d['firstStep'] === undefined ? null : Number(d['firstStep']),
      testFused: d['testFused'] === undefined ? null : Number(d['testFused']),
    };
  });
}

async function bestTestFused(page: Page, method: string): Promise<number> {
  const text = await page.$eval(
    `#results tr[data-method="${method}"] td:nth-child(5)`,
    (td) => td.textContent ?? '',
  );
  return Number(text) / 100;
}

describe.skipIf(!hasChromium || !haveData)('the playground in headless Chromium', () => {
  let server: ViteDevServer;
  let url: string;
  let browser: Browser;
  const numbers: Record<string, unknown> = {};

  beforeAll(async () => {
    if (fsddDir !== undefined && existsSync(fsddDir)) prepareSubset({ log: () => {} });
    ({ server, url } = await startPlaygroundServer());
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    console.log(`playground numbers: ${JSON.stringify(numbers)}`);
  });

  it('trains joint, MLA and IGM above chance, stops, and resumes after a reload from the stored checkpoint', async () => {
    const started = Date.now();
    const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    const page = await context.newPage();
    const errors = collectErrors(page);
    try {
      await page.goto(url);
      await within(
        120_000,
        'the page loads its data and backend',
        page.waitForSelector('#data-info[data-ready="true"]', { timeout: 0 }),
      );
      await page.waitForSelector('body[data-inspected="true"]', { timeout: 60_000 });
      expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
      const backend = await page.$eval('#backend-info', (el) => ({
        backend: (el as HTMLElement).dataset['backend'],
        kernels: Number((el as HTMLElement).dataset['kernels']),
        text: el.textContent ?? '',
      }));
      expect(backend.backend).toBe('wasm');
      expect(backend.kernels).toBeGreaterThan(0);
      expect(backend.text).toMatch(
        /threaded-simd build, \d+ threads? on \d+ logical cores?\) with @igm\/wasm-training/,
      );
      numbers['backend'] = backend.text;
      numbers['data'] = await page.$eval('#data-info', (el) => el.textContent);
      numbers['loadSeconds'] = (Date.now() - started) / 1000;

      await page.fill('#epochs', String(EPOCHS));
      await page.fill('#batch-size', '32');
      // Stop MLA 3 steps in, from inside the page: a DOM click as soon as its card shows step 3.
      // Waiting for that step here and clicking through Playwright takes round trips to this
      // process, which on a busy machine can outlast MLA's whole run.
      await page.evaluate(() => {
        const observer = new MutationObserver(() => {
          const mla = document.querySelector<HTMLElement>('article.method[data-method="mla"]');
          if (Number(mla?.dataset['step'] ?? 0) >= 3) {
            observer.disconnect();
            (document.getElementById('stop') as HTMLButtonElement).click();
          }
        });
        observer.observe(document.body, {
          subtree: true,
          attributes: true,
          attributeFilter: ['data-step'],
        });
      });
      await page.click('#start');

      // Joint trains to the end: a fixed number of steps, then its accuracy is above chance.
      await within(
        240_000,
        'joint completes',
        page.waitForSelector('article.method[data-method="joint"][data-status="completed"]', {
          timeout: 0,
        }),
      );
      const joint = await card(page, 'joint');
      expect(joint.step).toBe(joint.totalSteps);
      expect(joint.firstStep).toBe(1);
      expect(joint.testFused).toBeGreaterThan(CHANCE);
      expect(await bestTestFused(page, 'joint')).toBeGreaterThan(ABOVE_CHANCE);
      numbers['joint'] = {
        steps: joint.step,
        lastTestFused: joint.testFused,
        bestTestFused: await bestTestFused(page, 'joint'),
      };
      expect(
        await page.locator('article.method[data-method="joint"] svg path[data-output]').count(),
      ).toBe(3);

      // MLA is stopped a few steps in (above): the worker writes checkpoint `last` to IndexedDB.
      await within(
        240_000,
        'MLA is stopped and the stop is confirmed',
        page.waitForSelector('body[data-stored^="mla@"]', { timeout: 0 }),
      );
      const stored = await page.$eval('body', (b) => (b as HTMLElement).dataset['stored']!);
      const stoppedAt = Number(stored.split('@')[1]);
      expect(stoppedAt).toBeGreaterThanOrEqual(3);
      expect(stoppedAt).toBeLessThan((await card(page, 'mla')).totalSteps);
      expect((await card(page, 'mla')).status).toBe('stopped');
      numbers['stoppedAt'] = stoppedAt;

      // Reload: the stored session comes back from IndexedDB; Resume continues MLA at stoppedAt + 1.
      await page.reload();
      await within(
        120_000,
        'the reloaded page inspects the stored session',
        page.waitForSelector('body[data-inspected="true"]', { timeout: 0 }),
      );
      expect(await page.$eval('body', (b) => (b as HTMLElement).dataset['stored'])).toBe(stored);
      expect((await card(page, 'joint')).status).toBe('completed');
      expect((await card(page, 'mla')).step).toBe(stoppedAt);
      expect(await page.isEnabled('#resume')).toBe(true);
      await page.click('#resume');
      await within(
        60_000,
        'MLA resumes',
        page.waitForSelector(`body[data-resumed-from="mla@${stoppedAt}"]`, { timeout: 0 }),
      );
      await within(
        600_000,
        'every method completes',
        page.waitForSelector('body[data-done="true"]', { timeout: 0 }),
      );
      const mla = await card(page, 'mla');
      expect(mla.firstStep).toBe(stoppedAt + 1);
      expect(mla.step).toBe(mla.totalSteps);
      const igm = await card(page, 'igm');
      expect(igm.status).toBe('completed');
      expect(igm.step).toBe(igm.totalSteps);
      for (const [name, c] of [
        ['mla', mla],
        ['igm', igm],
      ] as const) {
        expect(c.testFused, name).toBeGreaterThan(CHANCE);
        expect(await bestTestFused(page, name), name).toBeGreaterThan(ABOVE_CHANCE);
        numbers[name] = {
          steps: c.step,
          lastTestFused: c.testFused,
          bestTestFused: await bestTestFused(page, name),
        };
      }
      // The log says no step was skipped or repeated.
      expect(await page.$eval('#log', (el) => el.textContent ?? '')).not.toMatch(/follows/);
      numbers['seconds'] = (Date.now() - started) / 1000;
      mkdirSync(join(playgroundRoot, 'test-results'), { recursive: true });
      const shot = join(playgroundRoot, 'test-results', 'playground.png');
      await page.screenshot({ path: shot, fullPage: true });
      numbers['screenshot'] = shot;
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 900_000);
});
