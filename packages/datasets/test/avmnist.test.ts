import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BatchOptions, Split } from '@igm/core';
import { describeEachBackend, expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignSplits } from '../src/avmnist';
import { listFsdd } from '../src/fsdd';
import { encodeWav } from '../src/io/wav';
import { loadMnistDigit, MNIST_PIXELS } from '../src/mnist';
import {
  AV_MNIST_IMBALANCED,
  avMnist,
  avMnistFromBytes,
  avMnistImbalanced,
  datasetModalities,
  describeDataset,
  disposeBatch,
  loadDataset,
  type StreamingDataset,
} from '../src/node';
import { collectBatches, expectSameBatches } from './helpers/batches';
import { digitTone, removeDir, tempDir, writeFsddFixture } from './helpers/fixtures';

const quiet = { progress: false } as const;

describe('AV-MNIST-style on a fixture FSDD tree', () => {
  let root: string;
  let fsddDir: string;
  beforeAll(async () => {
    await useBackend('cpu');
    root = tempDir('avmnist');
    fsddDir = join(root, 'recordings');
    writeFsddFixture(fsddDir);
  });
  afterAll(() => removeDir(root));

  it('applies the FSDD split rule and a seeded, stratified validation split', async () => {
    const recordings = await listFsdd(fsddDir);
    const splits = assignSplits(recordings, 0, 0.25);
    recordings.forEach((r, i) => {
      expect(splits[i] === 'test').toBe(r.index <= 4);
    });
    for (let d = 0; d < 10; d++) {
      const val = recordings.filter((r, i) => r.digit === d && splits[i] === 'validation');
      expect(val.length).toBe(Math.round(0.25 * 6));
    }
    expect(assignSplits(recordings, 0, 0.25)).toEqual(splits);
    expect(assignSplits(recordings, 1, 0.25)).not.toEqual(splits);
  });

  it('builds, caches, pairs same-digit images without reuse, and is reproducible', async () => {
    const cacheDir = join(root, 'cache');
    const ds = await avMnist({ fsddDir, cacheDir, validationFraction: 0.25, ...quiet });
    expect(ds.info['builtNow']).toBe(true);
    expect(ds.splitSizes).toEqual({ train: 10 * 2 * 3 - 10 * 2, validation: 20, test: 100 });
    expect(ds.modalities).toEqual([
      { name: 'audio', kind: 'audio', shape: [40, 63, 1] },
      { name: 'visual', kind: 'image', shape: [28, 28, 1] },
    ]);
    expect(datasetModalities('av-mnist')).toEqual(ds.modalities.map((m) => m.name));
    const cache = ds.info['cache'] as string;
    const pairing = JSON.parse(readFileSync(join(cache, 'pairing.json'), 'utf8'));
    const used = new Set<string>();
    for (const s of pairing.samples) {
      expect(s.id.startsWith(`${s.digit}_`)).toBe(true);
      const key = `${s.digit}/${s.mnistIndex}`;
      expect(used.has(key)).toBe(false);
      used.add(key);
    }
    // Warm: same entry, nothing rebuilt, same data.
    const again = await avMnist({ fsddDir, cacheDir, validationFraction: 0.25, ...quiet });
    expect(again.info['builtNow']).toBe(false);
    expect(again.info['cache']).toBe(cache);
    const first = await collectSplit(ds, 'test');
    const second = await collectSplit(again, 'test');
    expect(second).toEqual(first);
    // Audio is standardised on train; images are in [0, 1].
    expect(Math.min(...first.visual)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...first.visual)).toBeLessThanOrEqual(1);
    // A different parameter is a different cache entry.
    const other = await avMnist({ fsddDir, cacheDir, validationFraction: 0.25, seed: 5, ...quiet });
    expect(other.info['cache']).not.toBe(cache);
  });

  it('pairs the exact MNIST image (no PCA, no noise) and labels by digit', async () => {
    const ds = await avMnist({
      fsddDir,
      cacheDir: join(root, 'cache-raw'),
      image: { pcaEnergyRemoved: 0 },
      audio: { snrDb: null },
      ...quiet,
    });
    const pairing = JSON.parse(
      readFileSync(join(ds.info['cache'] as string, 'pairing.json'), 'utf8'),
    );
    const byId = new Map(pairing.samples.map((s: { id: string }) => [s.id, s]));
    for await (const batch of ds.batches({ split: 'test', batchSize: 7 })) {
      const v = batch.inputs['visual']!.dataSync();
      const y = batch.labels.dataSync();
      batch.ids.forEach((id, b) => {
        const s = byId.get(id) as { digit: number; mnistIndex: number };
        expect(y[b]).toBe(s.digit);
        const img = loadMnistDigit(s.digit).subarray(
          s.mnistIndex * MNIST_PIXELS,
          (s.mnistIndex + 1) * MNIST_PIXELS,
        );
        expect(Array.from(v.subarray(b * MNIST_PIXELS, (b + 1) * MNIST_PIXELS))).toEqual(
          Array.from(img),
        );
      });
      disposeBatch(batch);
    }
  });

  it('places each digit on a larger canvas at a seeded position, deterministically', async () => {
    const cacheDir = join(root, 'cache-canvas');
    // Clean audio and the unprocessed digit, on a canvas of `canvas` pixels a side.
    const open = (canvas: number, seed = 0) =>
      avMnist({
        fsddDir,
        cacheDir,
        seed,
        image: { pcaEnergyRemoved: 0, canvas },
        audio: { snrDb: null },
        ...quiet,
      });
    const plain = await open(28);
    const ds = await open(36);
    expect(ds.modalities[1]).toEqual({ name: 'visual', kind: 'image', shape: [36, 36, 1] });
    expect(ds.info['cache']).not.toBe(plain.info['cache']);
    const pairing = JSON.parse(
      readFileSync(join(ds.info['cache'] as string, 'pairing.json'), 'utf8'),
    );
    const byId = new Map<string, { placement: { left: number; top: number } }>(
      pairing.samples.map((s: { id: string }) => [s.id, s]),
    );
    const flat = await collectSplit(plain, 'test');
    const moved = await collectSplit(ds, 'test');
    expect(moved.ids).toEqual(flat.ids);
    const lefts = new Set<number>();
    moved.ids.forEach((id, b) => {
      const { left, top } = byId.get(id)!.placement;
      expect(left >= 0 && left <= 8 && top >= 0 && top <= 8).toBe(true);
      lefts.add(left);
      const digit = flat.visual.slice(b * 784, (b + 1) * 784);
      const canvas = moved.visual.slice(b * 1296, (b + 1) * 1296);
      // The canvas holds the 28x28 digit at (top, left) and zeros everywhere else.
      const expected = new Array<number>(36 * 36).fill(0);
      for (let r = 0; r < 28; r++) {
        for (let c = 0; c < 28; c++) expected[(r + top) * 36 + c + left] = digit[r * 28 + c]!;
      }
      expect(canvas).toEqual(expected);
      expect(digit.some((v) => v > 0)).toBe(true);
    });
    expect(lefts.size).toBeGreaterThan(3);
    // Same options: same entry and placements; another dataset seed draws other positions.
    const again = await open(36);
    expect(again.info['builtNow']).toBe(false);
    expect((await collectSplit(again, 'test')).visual).toEqual(moved.visual);
    const other = await open(36, 3);
    const otherPairing = JSON.parse(
      readFileSync(join(other.info['cache'] as string, 'pairing.json'), 'utf8'),
    );
    expect(otherPairing.samples.map((s: { placement: unknown }) => s.placement)).not.toEqual(
      pairing.samples.map((s: { placement: unknown }) => s.placement),
    );
  });

  it('adds clipped pixel noise of the requested std, seeded per recording', async () => {
    const cacheDir = join(root, 'cache-noise');
    const image = { pcaEnergyRemoved: 0, noiseStd: 0.2 } as const;
    const clean = await avMnist({ fsddDir, cacheDir, image: { pcaEnergyRemoved: 0 }, ...quiet });
    const noisy = await avMnist({ fsddDir, cacheDir, image, ...quiet });
    expect(noisy.modalities[1]!.shape).toEqual([28, 28, 1]);
    const a = (await collectSplit(clean, 'test')).visual;
    const b = (await collectSplit(noisy, 'test')).visual;
    expect(Math.min(...b)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...b)).toBeLessThanOrEqual(1);
    // On the blank background (clean pixel 0) clipping keeps the positive half of the noise:
    // E[max(0, N(0, s))] = s / sqrt(2 pi).
    const background = b.filter((_, i) => a[i] === 0);
    const meanBackground = background.reduce((x, y) => x + y, 0) / background.length;
    expect(meanBackground).toBeCloseTo(0.2 / Math.sqrt(2 * Math.PI), 2);
    const rebuilt = await avMnist({
      fsddDir,
      cacheDir: join(root, 'cache-noise-2'),
      image,
      ...quiet,
    });
    expect((await collectSplit(rebuilt, 'test')).visual).toEqual(b);
  });

  it('av-mnist-imbalanced is av-mnist with the fixed recipe, under its own name', async () => {
    const cacheDir = join(root, 'cache-imbalanced');
    const ds = await loadDataset('av-mnist-imbalanced', { fsddDir, cacheDir, ...quiet });
    expect(ds.name).toBe('av-mnist-imbalanced');
    expect(datasetModalities('av-mnist-imbalanced')).toEqual(['audio', 'visual']);
    expect(ds.modalities).toEqual([
      { name: 'audio', kind: 'audio', shape: [40, 63, 1] },
      { name: 'visual', kind: 'image', shape: [40, 40, 1] },
    ]);
    expect(describeDataset(ds)).toMatch(/AV-MNIST-style, imbalanced/);
    expect((ds as StreamingDataset).info['params']).toMatchObject({
      audio: { snrDb: 10 },
      image: { pcaEnergyRemoved: 0, canvas: 40, noiseStd: 0 },
      seed: 0,
      validationFraction: 0.1,
    });
    // The same preprocessing through avMnist is the same cache entry and the same data.
    const same = await avMnist({ fsddDir, cacheDir, ...AV_MNIST_IMBALANCED, ...quiet });
    expect(same.info['builtNow']).toBe(false);
    expect(same.info['cache']).toBe((ds as StreamingDataset).info['cache']);
    expect((await collectSplit(same, 'test')).visual).toEqual(
      (await collectSplit(ds as StreamingDataset, 'test')).visual,
    );
    for (const key of ['image', 'audio', 'seed', 'validationFraction']) {
      await expect(
        avMnistImbalanced({ fsddDir, cacheDir, [key]: key === 'seed' ? 1 : {} } as never),
      ).rejects.toThrow(new RegExp(`option "${key}".*fixes.*use the av-mnist dataset`));
    }
  });

  it('detects a corrupt cache entry by checksum and rebuilds it', async () => {
    const cacheDir = join(root, 'cache-corrupt');
    const ds = await avMnist({ fsddDir, cacheDir, ...quiet });
    const cache = ds.info['cache'] as string;
    const before = readFileSync(join(cache, 'image.f32'));
    const damaged = Buffer.from(before);
    damaged[100] = damaged[100]! ^ 0xff;
    writeFileSync(join(cache, 'image.f32'), damaged);
    const reasons: string[] = [];
    const rebuilt = await avMnist({ fsddDir, cacheDir, ...quiet });
    expect(rebuilt.info['builtNow']).toBe(true);
    expect(rebuilt.info['rebuiltBecause']).toMatch(/image\.f32 fails its SHA-256 checksum/);
    expect(readFileSync(join(cache, 'image.f32')).equals(before)).toBe(true);
    // A truncated file and a missing manifest are caught too.
    writeFileSync(join(cache, 'audio.f32'), before.subarray(0, 10));
    const r2 = await avMnist({ fsddDir, cacheDir, ...quiet });
    expect(r2.info['rebuiltBecause']).toMatch(/audio\.f32 has 10 bytes/);
    reasons.push(String(r2.info['rebuiltBecause']));
    expect(readdirSync(join(cacheDir, 'av-mnist')).filter((n) => n.startsWith('.staging'))).toEqual(
      [],
    );
  });

  it('fails clearly on a cache folder that is not writable, leaving nothing behind', async () => {
    const file = join(root, 'not-a-folder');
    writeFileSync(file, 'x');
    await expect(avMnist({ fsddDir, cacheDir: join(file, 'cache'), ...quiet })).rejects.toThrow(
      /cache folder is not writable.*IGM_CACHE_DIR/,
    );
  });

  it('names the bad file for wrong sample rate, stereo, truncated or non-WAV recordings', async () => {
    const cases: Array<[string, Uint8Array, RegExp]> = [
      [
        'rate',
        encodeWav(digitTone(1, 0, 0, 16000, 3000), 16000),
        /sample rate is 16000 Hz; expected 8000 Hz/,
      ],
      [
        'stereo',
        encodeWav([digitTone(1, 0, 0, 8000, 3000), digitTone(1, 0, 0, 8000, 3000)], 8000),
        /2 channel\(s\); expected 1 \(mono\)/,
      ],
      [
        'truncated',
        encodeWav(digitTone(1, 0, 0, 8000, 3000), 8000).subarray(0, 1000),
        /truncated WAV/,
      ],
      ['garbage', new TextEncoder().encode('this is not a wav file, not at all'), /unreadable WAV/],
    ];
    for (const [label, bytes, pattern] of cases) {
      const dir = join(root, `bad-${label}`);
      writeFsddFixture(dir, { digits: 2, speakers: ['alice'], indices: 6 });
      const bad = join(dir, '1_alice_3.wav');
      writeFileSync(bad, bytes);
      const cacheDir = join(root, `cache-bad-${label}`);
      const error = await avMnist({
        fsddDir: dir,
        cacheDir,
        validationFraction: 0,
        ...quiet,
      }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(bad);
      expect((error as Error).message).toMatch(pattern);
      // Nothing half-built is left in the cache (only the memo of the inputs' content hashes).
      const entries = existsSync(join(cacheDir, 'av-mnist'))
        ? readdirSync(join(cacheDir, 'av-mnist')).filter((n) => n !== '.content-hashes.json')
        : [];
      expect(entries).toEqual([]);
    }
  });

  it('rejects a missing folder, bad names and bad options', async () => {
    await expect(avMnist({ fsddDir: join(root, 'nope'), ...quiet })).rejects.toThrow(
      /nope.*FSDD recordings folder/,
    );
    const dir = join(root, 'badname');
    writeFsddFixture(dir, { digits: 1, speakers: ['alice'], indices: 2 });
    writeFileSync(join(dir, 'hello.wav'), encodeWav(new Float32Array(10), 8000));
    await expect(avMnist({ fsddDir: dir, ...quiet })).rejects.toThrow(
      /hello\.wav.*\{digit\}_\{speaker\}_\{index\}/,
    );
    await expect(avMnist({ fsddDir, image: { pcaEnergyRemoved: 1.5 } })).rejects.toThrow(
      /pcaEnergyRemoved=1\.5/,
    );
    await expect(avMnist({ fsddDir, audio: { snr: 3 } as never })).rejects.toThrow(/"snr"/);
    await expect(avMnist({ fsddDir, image: { canvas: 27 } })).rejects.toThrow(
      /image\.canvas=27\. Expected an integer in \[28, 112\]/,
    );
    await expect(avMnist({ fsddDir, image: { canvas: 30.5 } })).rejects.toThrow(
      /image\.canvas=30\.5.*integer/,
    );
    await expect(avMnist({ fsddDir, image: { noiseStd: -0.1 } })).rejects.toThrow(
      /image\.noiseStd=-0\.1/,
    );
    await expect(avMnist({ fsddDir, image: { shift: 3 } as never })).rejects.toThrow(/"shift"/);
  });

  describe('from bytes (the browser build)', () => {
    const mnist = () => Array.from({ length: 10 }, (_, d) => loadMnistDigit(d));
    const recordingsOf = (dir: string) =>
      readdirSync(dir)
        .filter((n) => n.endsWith('.wav'))
        .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));

    const expectSameDataset = async (fromBytes: StreamingDataset, fromDisk: StreamingDataset) => {
      expect(fromBytes.splitSizes).toEqual(fromDisk.splitSizes);
      expect(fromBytes.modalities).toEqual(fromDisk.modalities);
      expect(fromBytes.info['params']).toEqual(fromDisk.info['params']);
      expect(fromBytes.info['audioStats']).toEqual(fromDisk.info['audioStats']);
      expect(fromBytes.info['pca']).toEqual(fromDisk.info['pca']);
      for (const split of ['train', 'validation', 'test'] as const) {
        expect(fromBytes.ids(split)).toEqual(fromDisk.ids(split));
        expect(await collectSplit(fromBytes, split)).toEqual(await collectSplit(fromDisk, split));
      }
      // Its samples are in memory: gathered on the backend, the same batches as read from disk.
      expect(fromBytes.keepSamplesOnBackend()).toBe(true);
      try {
        for (const split of ['train', 'validation', 'test'] as const) {
          const options = { split, batchSize: 16, shuffle: true, seed: 7 };
          expectSameBatches(
            await collectBatches(fromBytes, options),
            await collectBatches(fromDisk, options),
          );
        }
      } finally {
        fromBytes.dispose();
      }
    };

    it.each([
      ['the default recipe', { validationFraction: 0.25, seed: 3 }],
      [
        'a canvas and pixel-noise recipe',
        {
          validationFraction: 0.25,
          seed: 5,
          audio: { snrDb: 5 },
          image: { pcaEnergyRemoved: 0.5, canvas: 36, noiseStd: 0.15 },
        },
      ],
    ] as const)('gives exactly the values avMnist gives for %s', async (_, options) => {
      const fromDisk = await avMnist({
        fsddDir,
        cacheDir: join(root, 'cache-bytes'),
        ...options,
        ...quiet,
      });
      // Shuffled input order: the builder sorts by name as avMnist lists a folder.
      const recordings = recordingsOf(fsddDir).reverse();
      const fromBytes = await avMnistFromBytes({ recordings, mnist: mnist(), ...options });
      const { canvas = 28 } = (options as { image?: { canvas?: number } }).image ?? {};
      expect(fromBytes.modalities[1]!.shape).toEqual([canvas, canvas, 1]);
      await expectSameDataset(fromBytes, fromDisk);
    });

    it('builds the av-mnist-imbalanced recipe (AV_MNIST_IMBALANCED) as avMnistImbalanced does', async () => {
      const fromDisk = await avMnistImbalanced({
        fsddDir,
        cacheDir: join(root, 'cache-bytes'),
        ...quiet,
      });
      const recordings = recordingsOf(fsddDir);
      const fromBytes = await avMnistFromBytes({
        recordings,
        mnist: mnist(),
        ...AV_MNIST_IMBALANCED,
      });
      expect(fromBytes.modalities[1]!.shape).toEqual([40, 40, 1]);
      await expectSameDataset(fromBytes, fromDisk);
    });

    it('reports progress through a callback and names bad inputs', async () => {
      const recordings = recordingsOf(fsddDir);
      const ticks: number[] = [];
      await avMnistFromBytes({
        recordings,
        mnist: mnist(),
        validationFraction: 0.25,
        progress: (done, total) => ticks.push(done / total),
      });
      expect(ticks.at(-1)).toBe(1);
      await expect(avMnistFromBytes({ recordings: [], mnist: mnist() })).rejects.toThrow(
        /recordings=\[\].*non-empty array/,
      );
      await expect(
        avMnistFromBytes({
          recordings: [{ name: 'hello.wav', bytes: new Uint8Array(4) }],
          mnist: mnist(),
        }),
      ).rejects.toThrow(/recordings\[0\]\.name="hello\.wav" does not follow the FSDD pattern/);
      await expect(
        avMnistFromBytes({ recordings: [recordings[0]!, recordings[0]!], mnist: mnist() }),
      ).rejects.toThrow(/appears twice/);
      await expect(avMnistFromBytes({ recordings, mnist: mnist().slice(0, 9) })).rejects.toThrow(
        /mnist with 9 entries. Expected 10 Float32Arrays/,
      );
      const few = mnist();
      few[4] = few[4]!.subarray(0, MNIST_PIXELS);
      await expect(
        avMnistFromBytes({ recordings, mnist: few, validationFraction: 0.25 }),
      ).rejects.toThrow(/digit 4 has \d+ recordings but only 1 MNIST images/);
      const bad = recordings.map((r) =>
        r.name === '1_alice_3.wav' ? { ...r, bytes: new TextEncoder().encode('not a wav') } : r,
      );
      await expect(
        avMnistFromBytes({ recordings: bad, mnist: mnist(), validationFraction: 0.25 }),
      ).rejects.toThrow(/1_alice_3\.wav: unreadable WAV/);
      await expect(
        avMnistFromBytes({ recordings, mnist: mnist(), cacheDir: '/tmp' } as never),
      ).rejects.toThrow(/"cacheDir"/);
    });
  });
});

async function collectSplit(ds: StreamingDataset, split: Split) {
  const out = {
    ids: [] as string[],
    audio: [] as number[],
    visual: [] as number[],
    labels: [] as number[],
  };
  for await (const batch of ds.batches({ split, batchSize: 32 })) {
    out.ids.push(...batch.ids);
    out.audio.push(...batch.inputs['audio']!.dataSync());
    out.visual.push(...batch.inputs['visual']!.dataSync());
    out.labels.push(...batch.labels.dataSync());
    disposeBatch(batch);
  }
  return out;
}

/** Shuffled, drop-last, re-sampled and plain orders of every split (train: augment on). */
const BATCH_CASES: BatchOptions[] = [
  { split: 'train', batchSize: 8, shuffle: true, seed: 3, dropLast: true },
  { split: 'train', batchSize: 5, shuffle: true, seed: 4, indices: [0, 2, 2, 9, 1, 0, 7] },
  { split: 'train', batchSize: 64 },
  { split: 'test', batchSize: 9, shuffle: true, seed: 1 },
  { split: 'test', batchSize: 7, augment: false },
  { split: 'validation', batchSize: 3, shuffle: true, seed: 2 },
];

describeEachBackend('AV-MNIST-style batches', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('avmnist-leak');
    writeFsddFixture(join(root, 'rec'), { digits: 10, speakers: ['alice'], indices: 7 });
  });
  afterAll(() => removeDir(root));
  const open = () =>
    avMnist({
      fsddDir: join(root, 'rec'),
      cacheDir: join(root, 'c-val'),
      validationFraction: 0.5,
      ...quiet,
    });

  it('gathers on the backend exactly the batches it reads on the host', async () => {
    const ds = await open();
    const onHost = [];
    for (const options of BATCH_CASES) onHost.push(await collectBatches(ds, options));
    expect(ds.keepSamplesOnBackend()).toBe(true);
    try {
      for (const [i, options] of BATCH_CASES.entries()) {
        expectSameBatches(await collectBatches(ds, options), onHost[i]!);
      }
    } finally {
      ds.dispose();
    }
    // Turned off again: read on the host, nothing left on the backend.
    const before = tf.memory().numTensors;
    expect(ds.keepSamplesOnBackend(false)).toBe(false);
    expectSameBatches(await collectBatches(ds, BATCH_CASES[0]!), onHost[0]!);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('uploads the samples once, at the first batch, and releases them on dispose()', async () => {
    const ds = await open();
    const before = tf.memory().numTensors;
    expect(ds.keepSamplesOnBackend()).toBe(true);
    // Nothing is uploaded until a batch is handed out.
    const iterator = ds.batches({ split: 'test', batchSize: 4 })[Symbol.asyncIterator]();
    expect(tf.memory().numTensors).toBe(before);
    // An abandoned iteration leaves only the samples (one tensor per modality).
    const first = await iterator.next();
    disposeBatch(first.value!);
    await iterator.return?.();
    expect(tf.memory().numTensors).toBe(before + 2);
    await expectNoTensorLeak(
      async (i) => {
        for await (const batch of ds.batches({
          split: 'train',
          batchSize: 8,
          shuffle: true,
          seed: i,
        })) {
          disposeBatch(batch);
        }
      },
      { steps: 20 },
    );
    expect(tf.memory().numTensors).toBe(before + 2);
    // A scope the first batch is taken in does not take the samples with it.
    ds.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.engine().startScope();
    const again = await collectBatches(ds, BATCH_CASES[3]!);
    tf.engine().endScope();
    expect(tf.memory().numTensors).toBe(before + 2);
    expectSameBatches(await collectBatches(ds, BATCH_CASES[3]!), again);
    ds.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('streams shuffled batches without leaking tensors', async () => {
    const ds = await avMnist({
      fsddDir: join(root, 'rec'),
      cacheDir: join(root, 'c'),
      validationFraction: 0,
      ...quiet,
    });
    await expectNoTensorLeak(async (i) => {
      for await (const batch of ds.batches({
        split: 'test',
        batchSize: 64,
        shuffle: true,
        seed: i,
      })) {
        disposeBatch(batch);
      }
    });
  });
});

const realDir = process.env['FSDD_DIR'];
describe.skipIf(!realDir)('AV-MNIST-style on real FSDD recordings (FSDD_DIR)', () => {
  it('decodes and preprocesses a subset of the real recordings', async () => {
    const root = tempDir('avmnist-real');
    try {
      const dir = join(root, 'rec');
      const { mkdirSync } = await import('node:fs');
      mkdirSync(dir);
      // Link (never copy) 2 speakers x 10 digits x indices 0-9 of the real set.
      for (let d = 0; d < 10; d++) {
        for (const s of ['george', 'jackson']) {
          for (let i = 0; i < 10; i++)
            symlinkSync(join(realDir!, `${d}_${s}_${i}.wav`), join(dir, `${d}_${s}_${i}.wav`));
        }
      }
      const ds = await avMnist({ fsddDir: dir, cacheDir: join(root, 'c'), ...quiet });
      expect(ds.splitSizes).toEqual({ train: 90, validation: 10, test: 100 });
      for await (const batch of ds.batches({ split: 'train', batchSize: 50 })) {
        const a = batch.inputs['audio']!.dataSync();
        expect(a.every(Number.isFinite)).toBe(true);
        disposeBatch(batch);
      }
    } finally {
      removeDir(root);
    }
  });
});
if (!realDir) {
  console.warn('[@igm/datasets] FSDD_DIR is unset: skipping the real-FSDD AV-MNIST test.');
}
