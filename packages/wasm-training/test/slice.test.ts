/**
 * Slice and SplitV (overrides): the same values as the cpu backend for every rank, contiguous and
 * strided slices, -1 sizes, empty slices, float32 / int32 / bool, and the gradients that use them
 * (concat's, split's); they never copy the whole input into JavaScript (no readSync).
 */
import { tf } from '@igm/test-utils';
import { describe, expect, it, vi } from 'vitest';
import { onBackend, seeded } from './parity';

const input = (shape: number[], seed: number, dtype: 'float32' | 'int32' | 'bool') => {
  const values = seeded(shape, seed);
  if (dtype === 'float32') return tf.tensor(values, shape);
  if (dtype === 'int32')
    return tf.tensor(
      Int32Array.from(values, (v) => Math.round(v * 1000)),
      shape,
      'int32',
    );
  return tf.tensor(
    Uint8Array.from(values, (v) => (v > 0 ? 1 : 0)),
    shape,
    'bool',
  );
};

/** Runs `f` on cpu and on wasm and expects the same values, exactly (slices are copies). */
async function expectSame(f: () => tf.Tensor[]): Promise<void> {
  const cpu = await onBackend('cpu', f);
  const wasm = await onBackend('wasm', f);
  expect(wasm.length).toBe(cpu.length);
  for (let i = 0; i < cpu.length; i++) expect(Array.from(wasm[i]!)).toEqual(Array.from(cpu[i]!));
}

describe('Slice and SplitV (wasm, overrides) vs cpu', () => {
  const cases: Array<[number[], number[], number[]]> = [
    [[7], [2], [4]],
    [
      [5, 6],
      [1, 0],
      [3, 6],
    ], // contiguous rows
    [
      [5, 6],
      [1, 2],
      [3, 3],
    ], // strided
    [
      [5, 6],
      [0, 0],
      [-1, 2],
    ],
    [
      [4, 3, 5],
      [1, 1, 1],
      [2, 2, 3],
    ],
    [
      [2, 4, 3, 5],
      [1, 0, 1, 2],
      [1, 4, 2, -1],
    ],
    [
      [2, 2, 3, 2, 4],
      [0, 1, 1, 0, 1],
      [2, 1, 2, 2, 2],
    ], // rank 5
    [
      [3, 4],
      [1, 1],
      [0, 2],
    ], // empty
  ];
  for (const dtype of ['float32', 'int32', 'bool'] as const) {
    it(`slices (${dtype}): every rank, contiguous, strided, -1 sizes, empty`, async () => {
      await expectSame(() =>
        cases.map(([shape, begin, size], i) =>
          tf.cast(tf.slice(input(shape, i + 1, dtype), begin, size), 'float32'),
        ),
      );
    });
  }

  it('split in equal parts and by sizes, along every axis, and concat / split gradients', async () => {
    await expectSame(() => {
      const x = input([4, 6, 5], 9, 'float32');
      const parts = [
        ...tf.split(x, 2, 0),
        ...tf.split(x, [1, 3, 2], 1),
        ...tf.split(x, [2, -1], 2),
        ...tf.split(input([6, 3], 3, 'int32'), 3, 0).map((t) => tf.cast(t, 'float32')),
      ];
      const [ga, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.concat([a, b], 1), input([3, 7], 4, 'float32'))),
      )([input([3, 2], 5, 'float32'), input([3, 5], 6, 'float32')]);
      const [gs] = tf.grads((a: tf.Tensor) => {
        const [p, q] = tf.split(a, [2, 3], 1);
        return tf.add(tf.sum(tf.mul(p!, 2)), tf.sum(tf.mul(q!, q!)));
      })([input([4, 5], 7, 'float32')]);
      return [...parts, ga!, gb!, gs!];
    });
  });

  it('gathers along every axis, with repeats and multi-dimensional indices, and its gradient', async () => {
    await expectSame(() => {
      const x = input([5, 4, 3], 11, 'float32');
      const outs = [
        tf.gather(x, tf.tensor1d([4, 0, 0, 2], 'int32'), 0),
        tf.gather(x, tf.tensor1d([3, 1], 'int32'), 1),
        tf.gather(x, tf.tensor2d([2, 0, 1, 1], [2, 2], 'int32'), 2),
        tf.gather(x, tf.tensor1d([], 'int32'), 0),
        tf.cast(tf.gather(input([6, 2], 12, 'int32'), tf.tensor1d([5, 1], 'int32')), 'float32'),
        tf.cast(tf.gather(input([6, 2], 13, 'bool'), tf.tensor1d([0, 5, 3], 'int32')), 'float32'),
      ];
      const [g] = tf.grads((t: tf.Tensor) =>
        tf.sum(
          tf.mul(tf.gather(t, tf.tensor1d([1, 1, 3], 'int32')), input([3, 4, 3], 14, 'float32')),
        ),
      )([x]);
      return [...outs, g!];
    });
  });

  it('gather: an index out of range is an error naming it', async () => {
    await onBackend('wasm', () => []);
    const x = tf.zeros([4, 2]);
    expect(() => tf.gather(x, tf.tensor1d([1, 4], 'int32'))).toThrow(
      /GatherV2: the index value 4 is not in \[0, 3\]/,
    );
    x.dispose();
  });

  it('reads only the slice: no copy of the whole input into JavaScript', async () => {
    await onBackend('wasm', () => []);
    const backend = tf.backend() as unknown as { readSync: (id: unknown) => unknown };
    const x = tf.tensor(seeded([300, 252], 2), [300, 252]);
    const spy = vi.spyOn(backend, 'readSync');
    const rows = tf.slice(x, [100, 0], [64, 252]);
    const cols = tf.slice(x, [0, 10], [300, 20]);
    const parts = tf.split(x, [100, 200], 0);
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
    expect(Array.from(rows.dataSync().subarray(0, 3))).toEqual(
      Array.from(x.dataSync().subarray(100 * 252, 100 * 252 + 3)),
    );
    tf.dispose([x, rows, cols, ...parts]);
  });
});
