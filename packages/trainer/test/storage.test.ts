import { type ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeEachBackend, expectAllClose } from '@igm/test-utils';
import { describe, expect, it } from 'vitest';
import { runTraining as runTrainingWithoutFileSystem } from '../src';
import {
  fileSystemCheckpoints,
  fileSystemRecords,
  fileSystemStorage,
  jointStep,
  memoryStorage,
  type RunOptions,
  type RunStorage,
  readCheckpoint,
  runTraining,
  type TensorRecord,
  writeCheckpoint,
} from '../src/node';
import { gaussianData, MemoryDataset, momentumDescend, TinyModel } from './doubles';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'igm-storage-'));
const pkg = dirname(dirname(fileURLToPath(import.meta.url)));

function setup() {
  const dataset = new MemoryDataset(gaussianData({ n: 120, seed: 3 }));
  const model = new TinyModel({ modalities: { strong: 6, weak: 6 }, numClasses: 3, seed: 5 });
  return { dataset, model };
}

/** A run of 4 epochs that aborts after `abortAt` steps (if given); `where` picks its storage. */
async function trainRun(
  where: Pick<RunOptions, 'outDir' | 'storage' | 'checkpoint' | 'resume'>,
  abortAt?: number,
  train: (o: RunOptions) => ReturnType<typeof runTraining> = runTraining,
) {
  const { dataset, model } = setup();
  const controller = new AbortController();
  let steps = 0;
  const summary = await train({
    model,
    dataset,
    step: jointStep(),
    transform: momentumDescend(0.05, 0.9),
    epochs: 4,
    batchSize: 8,
    seed: 7,
    progress: 'none',
    signal: controller.signal,
    config: { note: 'storage test' },
    callbacks: [
      {
        name: 'aborter',
        onBatchEnd: () => {
          if (abortAt !== undefined && ++steps === abortAt) controller.abort();
        },
      },
    ],
    ...where,
  });
  return { summary, model };
}

const withoutSeconds = (text: string) =>
  text
    .trim()
    .split('\n')
    .map((l) => {
      const { seconds: _s, ...rest } = JSON.parse(l);
      return rest;
    });

describeEachBackend('run storage', () => {
  it('a run aborted and resumed entirely in memory ends with the numbers and records of the same run on disk', async () => {
    const disk = tmp();
    const diskWhere = { outDir: disk, checkpoint: { dir: join(disk, 'ckpt'), every: 2 } };
    const a = await trainRun(diskWhere, 13);
    expect(a.summary.status).toBe('aborted');
    a.model.dispose();
    const onDisk = await trainRun({ ...diskWhere, resume: true });

    const memory = memoryStorage();
    const memoryWhere = { storage: memory, checkpoint: { every: 2 } };
    const b = await trainRun(memoryWhere, 13);
    expect(b.summary.status).toBe('aborted');
    b.model.dispose();
    const inMemory = await trainRun({ ...memoryWhere, resume: true });

    expect(inMemory.summary.status).toBe('completed');
    expect(inMemory.summary.steps).toBe(36);
    const strip = (s: typeof onDisk.summary) => s.history.map(({ seconds: _s, ...rest }) => rest);
    expect(strip(inMemory.summary)).toEqual(strip(onDisk.summary));
    expect(inMemory.summary.best).toEqual(onDisk.summary.best);
    for (const p of onDisk.model.params()) {
      expectAllClose(inMemory.model.variable(p.key), p.variable, { atol: 0, label: p.key });
    }
    // The records are the same text (metrics.jsonl but for the measured seconds).
    for (const name of ['config.json', 'summary.json']) {
      expect(await memory.readText(name), name).toBe(readFileSync(join(disk, name), 'utf8'));
    }
    expect(withoutSeconds((await memory.readText('metrics.jsonl'))!)).toEqual(
      withoutSeconds(readFileSync(join(disk, 'metrics.jsonl'), 'utf8')),
    );
    expect(await memory.checkpoints.exists('last')).toBe(true);
    expect(await memory.checkpoints.exists('best')).toBe(true);
    onDisk.model.dispose();
    inMemory.model.dispose();
  });

  it('the entry without a file system trains into memoryStorage and names the fix for outDir', async () => {
    const memory = memoryStorage('tab');
    const { summary, model } = await trainRun(
      { storage: memory, checkpoint: {} },
      undefined,
      runTrainingWithoutFileSystem,
    );
    expect(summary.status).toBe('completed');
    expect((await memory.readText('metrics.jsonl'))!.trim().split('\n')).toHaveLength(4);
    const last = await memory.checkpoints.load<{ position: { globalEpoch: number } }>('last');
    expect(last!.state.position.globalEpoch).toBe(4);
    expect(last!.path).toBe('tab:checkpoints/last');
    await expect(
      trainRun({ outDir: 'runs/x' }, undefined, runTrainingWithoutFileSystem),
    ).rejects.toThrow(
      /received outDir="runs\/x", but this build of @igm\/trainer has no file system.*Pass `storage` instead/,
    );
    // Records only: without `checkpoint`, storage receives no checkpoint.
    const recordsOnly = memoryStorage();
    await trainRun({ storage: recordsOnly }, undefined, runTrainingWithoutFileSystem);
    expect(await recordsOnly.readText('summary.json')).toMatch(/"status": "completed"/);
    expect(await recordsOnly.checkpoints.exists('last')).toBe(false);
    model.dispose();
  });

  it('fileSystemStorage(dir) writes the files outDir and checkpoint.dir write', async () => {
    const a = tmp();
    const b = tmp();
    const viaOptions = await trainRun({ outDir: a, checkpoint: { dir: join(a, 'checkpoints') } });
    const viaStorage = await trainRun({ storage: fileSystemStorage(b), checkpoint: {} });
    for (const name of ['config.json', 'summary.json']) {
      expect(readFileSync(join(b, name), 'utf8'), name).toBe(readFileSync(join(a, name), 'utf8'));
    }
    for (const name of ['last', 'best']) {
      for (const file of ['weights.bin', 'manifest.json']) {
        expect(readFileSync(join(b, 'checkpoints', name, file))).toEqual(
          readFileSync(join(a, 'checkpoints', name, file)),
        );
      }
    }
    viaOptions.model.dispose();
    viaStorage.model.dispose();
  });
});

describe('storage options', () => {
  it('rejects conflicting or malformed storage with the fix', async () => {
    const run = (where: Record<string, unknown>) => trainRun(where as never);
    await expect(run({ storage: memoryStorage(), outDir: tmp() })).rejects.toThrow(
      /received both outDir=.* and storage\. Pass one of them/,
    );
    await expect(run({ storage: memoryStorage(), checkpoint: { dir: 'x' } })).rejects.toThrow(
      /received both checkpoint.dir="x" and storage\. With storage, checkpoints go to storage.checkpoints/,
    );
    await expect(run({ storage: { writeText() {} } })).rejects.toThrow(
      /storage is not a RunStorage \(it lacks locate, appendText, readText, checkpoints.locate, checkpoints.save/,
    );
    await expect(run({ checkpoint: { every: 2 } })).rejects.toThrow(
      /received checkpoint.dir=undefined\. Expected a directory path \(or pass `storage`/,
    );
    await expect(run({ storage: memoryStorage(), resume: true })).rejects.toThrow(
      /resume=true without checkpoint.dir \(or `checkpoint` with `storage`\)/,
    );
  });
});

describe('memoryStorage', () => {
  const record = (values: number[]): TensorRecord => ({
    name: 'w',
    shape: [values.length],
    dtype: 'float32',
    values: Float32Array.from(values),
  });

  it('keeps copies, passes the state through JSON, and removes', async () => {
    const store = memoryStorage().checkpoints;
    expect(await store.load('last')).toBeNull();
    const input = record([1, 2, 3]);
    const state = { loss: Number.NaN, nested: { k: 1 } };
    expect(await store.save('last', { tensors: [input], state })).toBe('memory:checkpoints/last');
    input.values[0] = 99; // changing the input after saving changes nothing
    state.nested.k = 2;
    const loaded = await store.load<typeof state>('last');
    expect([...loaded!.tensors.get('w')!.values]).toEqual([1, 2, 3]);
    expect(loaded!.state).toEqual({ loss: null, nested: { k: 1 } }); // as JSON carries it
    loaded!.tensors.get('w')!.values[1] = 42; // nor does changing what was loaded
    expect([...(await store.load('last'))!.tensors.get('w')!.values]).toEqual([1, 2, 3]);
    await store.save('last', { tensors: [record([4])], state: { k: 2 } });
    expect((await store.load<{ k: number }>('last'))!.state.k).toBe(2);
    await expect(
      store.save('best', { tensors: [record([1]), record([2])], state: {} }),
    ).rejects.toThrow(/"w" appears twice/);
    expect(await store.exists('best')).toBe(false); // a failed save stores nothing
    await store.remove('last');
    expect(await store.exists('last')).toBe(false);
    await store.remove('last'); // removing nothing is fine
  });

  it('records: write replaces, append adds, read of a missing record is null', async () => {
    const s: RunStorage = memoryStorage();
    expect(await s.readText('metrics.jsonl')).toBeNull();
    await s.appendText('metrics.jsonl', 'a\n');
    await s.appendText('metrics.jsonl', 'b\n');
    expect(await s.readText('metrics.jsonl')).toBe('a\nb\n');
    await s.writeText('metrics.jsonl', 'c\n');
    expect(await s.readText('metrics.jsonl')).toBe('c\n');
    expect(s.locate('summary.json')).toBe('memory:summary.json');
  });
});

describe('file-system storage', () => {
  it('records: atomic writes, appends, null for a missing file, dead leftovers removed', async () => {
    const dir = join(tmp(), 'run');
    const records = fileSystemRecords(dir);
    expect(await records.readText('summary.json')).toBeNull();
    mkdirSync(dir);
    const leftover = `.summary.json.0.tmp-999999999@${hostname()}`;
    writeFileSync(join(dir, leftover), 'half');
    await records.writeText('summary.json', '{"a":1}\n');
    await records.appendText('metrics.jsonl', 'x\n');
    await records.appendText('metrics.jsonl', 'y\n');
    expect(readdirSync(dir).sort()).toEqual(['metrics.jsonl', 'summary.json']);
    expect(await records.readText('metrics.jsonl')).toBe('x\ny\n');
    expect(records.locate('summary.json')).toBe(join(dir, 'summary.json'));
  });

  it('checkpoints: exists, remove and locate', async () => {
    const dir = tmp();
    const store = fileSystemCheckpoints(dir);
    const values = Float32Array.from([1, 2]);
    expect(await store.exists('best')).toBe(false);
    expect(
      await store.save('best', {
        tensors: [{ name: 'w', shape: [2], dtype: 'float32', values }],
        state: {},
      }),
    ).toBe(join(dir, 'best'));
    expect(await store.exists('best')).toBe(true);
    expect(store.locate('best')).toBe(join(dir, 'best'));
    await store.remove('best');
    expect(await store.exists('best')).toBe(false);
    expect(await store.load('best')).toBeNull();
  });

  it('a SIGKILL at any moment of a replace leaves the previous or the new checkpoint, complete', async () => {
    const dir = tmp();
    const lines = (p: ChildProcess) => {
      const seen: number[] = [];
      p.stdout!.on('data', (d) => {
        for (const l of String(d).split('\n')) if (l) seen.push(Number(l));
      });
      return seen;
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(pkg, 'test', 'child', 'checkpoint-writer.ts'), dir],
        { cwd: pkg, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      const written = lines(child);
      const exit = new Promise((resolve) => child.once('exit', resolve));
      const deadline = Date.now() + 60_000;
      while (written.length < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 2));
      expect(written.length).toBeGreaterThanOrEqual(2);
      await new Promise((r) => setTimeout(r, 3 * attempt)); // vary the moment of the kill
      child.kill('SIGKILL');
      await exit;
      const completed = written[written.length - 1]!;
      const ck = await readCheckpoint<{ k: number }>(dir, 'last'); // checks sha256 too
      expect(ck, `attempt ${attempt}`).not.toBeNull();
      const { k } = ck!.state;
      expect(k).toBeGreaterThanOrEqual(completed); // the last completed write or the one after
      expect(k).toBeLessThanOrEqual(completed + 1);
      const w = ck!.tensors.get('w')!.values;
      expect(w[0] === k && w[w.length - 1] === k, `attempt ${attempt}: weights of k=${k}`).toBe(
        true,
      );
    }
    // The next write removes what the killed writers left behind.
    await writeCheckpoint(dir, 'last', [], { k: 0 });
    expect(readdirSync(dir)).toEqual(['last']);
    expect(existsSync(join(dir, 'last', 'state.json'))).toBe(true);
  }, 120_000);
});
