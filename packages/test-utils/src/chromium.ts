/**
 * Headless Chromium for the tests that render in a browser (the CLI's report, the browser
 * playground): `/usr/bin/chromium` or `CHROMIUM_PATH`, launched through playwright-core with no
 * sandbox, no GPU, no background networking and a fresh profile. Import it as
 * `@igm/test-utils/chromium` (the package's main entry loads tfjs; this one does not).
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const chromiumPath = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
/** Whether the Chromium binary exists (tests `describe.skipIf(!hasChromium)`). */
export const hasChromium = existsSync(chromiumPath);

/** Launches headless Chromium; the caller closes it. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return await chromium.launch({
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
}
