import { describe, expect, it } from 'vitest';

describe('the main (browser) and Node entries', () => {
  it('export the same names; only the threaded backend differs', async () => {
    const node = await import('../src/node');
    const main = await import('../src/index');
    expect(Object.keys(main).sort()).toEqual(Object.keys(node).sort());
    for (const name of Object.keys(main) as Array<keyof typeof main>) {
      if (name === 'useThreadedWasmBackend' || name === 'threadedWasmBackend') {
        expect(main[name]).not.toBe(node[name]);
      } else {
        expect(main[name]).toBe(node[name]);
      }
    }
  });

  it('the main entry says what to do instead of starting the Node thread pool', async () => {
    const main = await import('../src/index');
    expect(main.threadedWasmBackend()).toBeNull();
    await expect(main.useThreadedWasmBackend({ threads: 2 })).rejects.toThrow(
      /Node only.*cross-origin isolated.*setThreadsCount/,
    );
  });
});
