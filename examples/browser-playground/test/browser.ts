/**
 * What the Chromium tests share: the playground's Vite dev server on a free loopback port,
 * headless Chromium (`@igm/test-utils/chromium`, as the CLI's report test launches it) and the
 * collection of a page's errors.
 */
import { createServer as createNetServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConsoleMessage, Page } from 'playwright-core';
import type { ViteDevServer } from 'vite';

export { chromiumPath, hasChromium, launchChromium } from '@igm/test-utils/chromium';
export const playgroundRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A free TCP port on 127.0.0.1 (asked from the OS, then released for the server to take). */
export async function freePort(): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

/** Starts the playground's dev server (its vite.config.ts: COOP/COEP headers) on 127.0.0.1. */
export async function startPlaygroundServer(): Promise<{ server: ViteDevServer; url: string }> {
  const { createServer } = await import('vite');
  const port = await freePort();
  const server = await createServer({
    root: playgroundRoot,
    configFile: resolve(playgroundRoot, 'vite.config.ts'),
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
  });
  await server.listen();
  return { server, url: `http://127.0.0.1:${port}/` };
}

/** Collects console errors and uncaught exceptions of a page and its workers. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  const onConsole = (msg: ConsoleMessage) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  };
  page.on('console', onConsole);
  page.on('pageerror', (e) => errors.push(`page: ${String(e)}`));
  page.on('worker', (w) => w.on('console', onConsole));
  return errors;
}

/** Resolves `promise` or rejects after `ms` with a message saying what did not happen. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
