/**
 * indexedDbStorage in Node on fake-indexeddb (an in-memory IndexedDB); the same storage runs in
 * real Chromium in examples/browser-playground/test/storage.test.ts.
 */
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { describe, expect, it } from 'vitest';
import { indexedDbStorage, listIndexedDbRuns } from '../src/indexeddb';

const tensors = () => [
  {
    name: 'model/w',
    shape: [2, 3],
    dtype: 'float32' as const,
    values: Float32Array.of(1, 2, 3, 4, 5, Number.NaN),
  },
  { name: 'transform/step', shape: [], dtype: 'int32' as const, values: Int32Array.of(7) },
];

describe('indexedDbStorage (fake-indexeddb)', () => {
  const fresh = () => {
    const indexedDB = new IDBFactory();
    return { indexedDB, keyRange: IDBKeyRange, database: 'test-runs' };
  };

  it('saves and loads a checkpoint: same names, shapes, dtypes, values and JSON state', async () => {
    const o = fresh();
    const storage = indexedDbStorage('joint', o);
    expect(await storage.checkpoints.exists('last')).toBe(false);
    expect(await storage.checkpoints.load('last')).toBeNull();
    const at = await storage.checkpoints.save('last', {
      tensors: tensors(),
      state: { step: 3, loss: Number.NaN },
    });
    expect(at).toBe('indexeddb:test-runs/joint/checkpoints/last');
    // A second storage object on the same database sees it (a reloaded page).
    const again = indexedDbStorage('joint', o);
    const loaded = await again.checkpoints.load<{ step: number; loss: number | null }>('last');
    expect(loaded!.path).toBe(at);
    expect(loaded!.state).toEqual({ step: 3, loss: null });
    expect([...loaded!.tensors.keys()]).toEqual(['model/w', 'transform/step']);
    const w = loaded!.tensors.get('model/w')!;
    expect(w.shape).toEqual([2, 3]);
    expect(w.dtype).toBe('float32');
    expect(Array.from(w.values)).toEqual([1, 2, 3, 4, 5, Number.NaN]);
    expect(loaded!.tensors.get('transform/step')!.values).toEqual(Int32Array.of(7));
    expect(await again.checkpoints.exists('last')).toBe(true);
    expect(await again.checkpoints.exists('best')).toBe(false);
  });

  it('replaces a checkpoint whole, removes it, and keeps runs apart', async () => {
    const o = fresh();
    const a = indexedDbStorage('a', o);
    const b = indexedDbStorage('b', o);
    await a.checkpoints.save('last', { tensors: tensors(), state: 1 });
    await a.checkpoints.save('last', {
      tensors: [{ name: 'model/v', shape: [1], dtype: 'float32', values: Float32Array.of(9) }],
      state: 2,
    });
    await b.checkpoints.save('last', { tensors: tensors(), state: 'b' });
    const la = await a.checkpoints.load('last');
    expect([...la!.tensors.keys()]).toEqual(['model/v']);
    expect(la!.state).toBe(2);
    expect((await b.checkpoints.load('last'))!.state).toBe('b');
    await a.checkpoints.remove('last');
    expect(await a.checkpoints.load('last')).toBeNull();
    expect(await b.checkpoints.exists('last')).toBe(true);
    expect(await listIndexedDbRuns(o)).toEqual(['b']);
  });

  it('appends, replaces and reads text records; clear() deletes one run only', async () => {
    const o = fresh();
    const s = indexedDbStorage('mla', o);
    const other = indexedDbStorage('igm', o);
    expect(await s.readText('metrics.jsonl')).toBeNull();
    await Promise.all([
      s.appendText('metrics.jsonl', '{"epoch":0}\n'),
      s.appendText('metrics.jsonl', '{"epoch":1}\n'),
    ]);
    expect((await s.readText('metrics.jsonl'))!.split('\n').filter(Boolean).sort()).toEqual([
      '{"epoch":0}',
      '{"epoch":1}',
    ]);
    await s.writeText('metrics.jsonl', '');
    expect(await s.readText('metrics.jsonl')).toBe('');
    await s.writeText('summary.json', '{}');
    await other.writeText('summary.json', '{"igm":1}');
    await s.checkpoints.save('best', { tensors: tensors(), state: null });
    expect(s.locate('summary.json')).toBe('indexeddb:test-runs/mla/summary.json');
    await s.clear();
    expect(await s.readText('summary.json')).toBeNull();
    expect(await s.checkpoints.load('best')).toBeNull();
    expect(await other.readText('summary.json')).toBe('{"igm":1}');
  });

  it('refuses damaged weights, duplicate names and other dtypes, naming the checkpoint', async () => {
    const o = fresh();
    const s = indexedDbStorage('damaged', o);
    await s.checkpoints.save('last', { tensors: tensors(), state: 0 });
    // Flip a byte of the stored weights behind the storage's back.
    const db = await new Promise<ReturnType<typeof o.indexedDB.open>['result']>((resolve) => {
      const req = o.indexedDB.open('test-runs', 1);
      req.onsuccess = () => resolve(req.result);
    });
    await new Promise<void>((resolve) => {
      const tx = db.transaction('checkpoints', 'readwrite');
      const store = tx.objectStore('checkpoints');
      const get = store.get(['damaged', 'last']);
      get.onsuccess = () => {
        const value = get.result as { weights: ArrayBuffer };
        new Uint8Array(value.weights)[0]! ^= 0xff;
        store.put(value, ['damaged', 'last']);
      };
      tx.oncomplete = () => resolve();
    });
    await expect(s.checkpoints.load('last')).rejects.toThrow(
      /indexeddb:test-runs\/damaged\/checkpoints\/last: the weights are corrupt/,
    );
    const t = tensors()[0]!;
    await expect(s.checkpoints.save('x', { tensors: [t, t], state: 0 })).rejects.toThrow(
      /"model\/w" appears twice/,
    );
    await expect(
      s.checkpoints.save('x', { tensors: [{ ...t, dtype: 'bool' as never }], state: 0 }),
    ).rejects.toThrow(/dtype bool; only float32 and int32/);
    expect(() => indexedDbStorage('', o)).toThrow(/run="".*non-empty name/);
  });

  it('says what to do where there is no IndexedDB', async () => {
    const s = indexedDbStorage('x');
    await expect(s.readText('a')).rejects.toThrow(/no IndexedDB.*fake-indexeddb.*memoryStorage/);
  });
});
