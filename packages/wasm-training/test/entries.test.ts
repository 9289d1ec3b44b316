import { describe, expect, it } from 'vitest';

describe('the browser and Node entries', () => {
  it('export the same names (the browser one without Node built-ins)', async () => {
    const node = await import('../src/index');
    const browser = await import('../src/browser');
    expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
  });

  it('says what to do instead of starting the Node thread pool in a browser', async () => {
    const browser = await import('../src/browser');
    expect(browser.threadedWasmBackend()).toBeNull();
    await expect(browser.useThreadedWasmBackend({ threads: 2 })).rejects.toThrow(
      /Node only.*cross-origin isolated.*setThreadsCount/,
    );
  });
});
