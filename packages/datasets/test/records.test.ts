/** Float32Records: the same bytes from memory (small files) as by positioned reads (large ones). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Float32Records, float32Bytes, IN_MEMORY_MAX_BYTES } from '../src/io/records';

const dir = mkdtempSync(join(tmpdir(), 'igm-records-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 50 records of 7 floats: record r holds r * 100 + k. */
const SIZE = 7;
const values = Float32Array.from(
  { length: 50 * SIZE },
  (_, i) => Math.floor(i / SIZE) * 100 + (i % SIZE) + 0.25,
);
const path = join(dir, 'records.f32');
writeFileSync(path, float32Bytes(values));

const expected = (indices: number[]) =>
  Float32Array.from(indices.flatMap((r) => Array.from(values.subarray(r * SIZE, (r + 1) * SIZE))));

describe('Float32Records', () => {
  const shuffled = [17, 3, 4, 5, 49, 0, 0, 22];
  it('serves a small file from memory with the bytes of positioned reads, in the order asked', () => {
    const memory = new Float32Records(path, SIZE);
    const positioned = new Float32Records(path, SIZE, 0);
    expect(memory.read(shuffled)).toEqual(expected(shuffled));
    expect(positioned.read(shuffled)).toEqual(expected(shuffled));
    expect(memory.read([])).toEqual(new Float32Array(0));
    expect(IN_MEMORY_MAX_BYTES).toBe(64 * 2 ** 20);
  });

  it('gives a small file whole (the floats read serves), null when it is read by position', () => {
    const memory = new Float32Records(path, SIZE);
    const whole = memory.inMemory();
    expect(whole).toEqual(values);
    expect(memory.inMemory()).toBe(whole);
    expect(memory.read([3])).toEqual(whole!.subarray(3 * SIZE, 4 * SIZE));
    expect(new Float32Records(path, SIZE, 0).inMemory()).toBeNull();
    expect(new Float32Records(path, SIZE, values.byteLength - 1).inMemory()).toBeNull();
  });

  it('reads the file once when it is small: later reads do not see the disk', () => {
    const copy = join(dir, 'once.f32');
    writeFileSync(copy, float32Bytes(values));
    const memory = new Float32Records(copy, SIZE);
    expect(memory.read([1])).toEqual(expected([1]));
    rmSync(copy);
    expect(memory.read([2, 1])).toEqual(expected([2, 1]));
    const positioned = new Float32Records(copy, SIZE, 0);
    expect(() => positioned.read([1])).toThrow(/ENOENT/);
  });

  it('names the file and the records of a short (damaged) file in both modes', () => {
    const short = join(dir, 'short.f32');
    writeFileSync(short, float32Bytes(values.subarray(0, 3 * SIZE + 2)));
    for (const limit of [IN_MEMORY_MAX_BYTES, 0]) {
      const records = new Float32Records(short, SIZE, limit);
      expect(records.read([2, 0])).toEqual(expected([2, 0]));
      expect(() => records.read([0, 3])).toThrow(/short read: records 3\.\.3 need 28 bytes, got 8/);
      expect(() => records.read([9])).toThrow(/short read: records 9\.\.9 need 28 bytes, got 0/);
      expect(() => records.read([9])).toThrow(short);
    }
  });
});
