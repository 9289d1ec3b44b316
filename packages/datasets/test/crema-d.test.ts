import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEachBackend, expectNoTensorLeak, loadFixture, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../src/io/wav';
import { cremaDSpectrogram } from '../src/loaders/crema-d';
import { cremaD, datasetModalities, disposeBatch } from '../src/node';
import { digitTone, removeDir, tempDir, testJpeg } from './helpers/fixtures';

const EMOTIONS = ['NEU', 'HAP', 'SAD', 'FEA', 'DIS', 'ANG'];

/** root/annotations/{train,test}.csv, AudioWAV/<clip>.wav (16 kHz), Image-01-FPS/<clip>/0000k.jpg */
function writeCremaFixture(root: string, { trainPerClass = 3, testPerClass = 1 } = {}) {
  mkdirSync(join(root, 'annotations'), { recursive: true });
  mkdirSync(join(root, 'AudioWAV'));
  const lines: Record<string, string[]> = { train: [], test: [] };
  let n = 0;
  for (const [split, per] of [
    ['train', trainPerClass],
    ['test', testPerClass],
  ] as const) {
    EMOTIONS.forEach((emo, e) => {
      for (let k = 0; k < per; k++) {
        const clip = `${1001 + n}_DFA_${emo}_XX`;
        n++;
        lines[split]!.push(`${clip},${emo}`);
        writeFileSync(
          join(root, 'AudioWAV', `${clip}.wav`),
          encodeWav(digitTone(e, k, n, 16000, 8000 + 800 * k), 16000),
        );
        const dir = join(root, 'Image-01-FPS', clip);
        mkdirSync(dir, { recursive: true });
        for (let f = 0; f < 2; f++)
          writeFileSync(join(dir, `0000${f}.jpg`), testJpeg(48, 36, n + f));
      }
    });
  }
  writeFileSync(join(root, 'annotations', 'train.csv'), `${lines['train']!.join('\r\n')}\r\n`);
  writeFileSync(join(root, 'annotations', 'test.csv'), `${lines['test']!.join('\n')}\n`);
}

interface Fx {
  cremad: {
    input: number[];
    sampleRate: number;
    shape: number[];
    rows: number[];
    cols: number[];
    value: number[][];
  };
}

describe('CREMA-D audio recipe', () => {
  it('matches the NumPy/SciPy reference (resample_poly, tile, clip, STFT 512/353, log)', () => {
    const fx = loadFixture<Fx>(new URL('./fixtures/signal-reference.json', import.meta.url)).cremad;
    const spec = cremaDSpectrogram(Float32Array.from(fx.input), fx.sampleRate);
    expect(spec.length).toBe(257 * 188);
    expect(fx.shape).toEqual([257, 188]);
    let worst = 0;
    fx.rows.forEach((r, i) => {
      fx.cols.forEach((c, j) => {
        worst = Math.max(worst, Math.abs(spec[r * 188 + c]! - fx.value[i]![j]!));
      });
    });
    // float32 storage of |X| (relative 1e-6) through log(|X| + 1e-7): 1e-3 absolute in log space.
    expect(worst).toBeLessThan(1e-3);
  });
});

describe('CREMA-D loader on a fixture tree', () => {
  let root: string;
  beforeAll(async () => {
    await useBackend('cpu');
    root = tempDir('cremad');
    writeCremaFixture(join(root, 'data'));
  });
  afterAll(() => removeDir(root));

  it('reads the layout, keeps OGM label order, holds out a stratified validation split', async () => {
    const ds = await cremaD({
      root: join(root, 'data'),
      cacheDir: join(root, 'cache'),
      validationFraction: 1 / 3,
      imageSize: 32,
      progress: false,
    });
    expect(ds.classNames).toEqual(EMOTIONS);
    expect(ds.splitSizes).toEqual({ train: 12, validation: 6, test: 6 });
    expect(ds.modalities).toEqual([
      { name: 'audio', kind: 'audio', shape: [257, 188, 1] },
      { name: 'visual', kind: 'image', shape: [32, 32, 3] },
    ]);
    expect(datasetModalities('crema-d')).toEqual(ds.modalities.map((m) => m.name));
    const labels = Array.from(ds.labels('validation')).sort();
    expect(labels).toEqual([0, 1, 2, 3, 4, 5]);
    for await (const batch of ds.batches({ split: 'test', batchSize: 6 })) {
      expect(batch.ids.map((id) => id.split('_')[2])).toEqual(EMOTIONS);
      expect(Array.from(batch.labels.dataSync())).toEqual([0, 1, 2, 3, 4, 5]);
      expect(batch.inputs['audio']!.shape).toEqual([6, 257, 188, 1]);
      const v = batch.inputs['visual']!.dataSync();
      // ImageNet-normalised values lie in [(0 - 0.485) / 0.229, (1 - 0.406) / 0.225].
      expect(Math.min(...v)).toBeGreaterThanOrEqual(-2.12);
      expect(Math.max(...v)).toBeLessThanOrEqual(2.65);
      disposeBatch(batch);
    }
    const alpha = await cremaD({
      root: join(root, 'data'),
      cacheDir: join(root, 'cache'),
      labelOrder: 'alphabetical',
      validationFraction: 0,
      imageSize: 32,
      progress: false,
    });
    expect(alpha.classNames).toEqual(['ANG', 'DIS', 'FEA', 'HAP', 'NEU', 'SAD']);
    expect(Array.from(alpha.labels('test'))).toEqual([4, 3, 5, 2, 1, 0]);
    expect(alpha.splitSizes).toEqual({ train: 18, test: 6 });
  });

  it('test frames are deterministic; train augmentation is seeded', async () => {
    const ds = await cremaD({
      root: join(root, 'data'),
      cacheDir: join(root, 'cache'),
      validationFraction: 0,
      imageSize: 32,
      progress: false,
    });
    const read = async (split: 'train' | 'test', seed: number) => {
      for await (const b of ds.batches({ split, batchSize: 4, seed })) {
        const v = Array.from(b.inputs['visual']!.dataSync());
        disposeBatch(b);
        return v;
      }
      return [];
    };
    expect(await read('test', 1)).toEqual(await read('test', 2));
    expect(await read('train', 1)).toEqual(await read('train', 1));
    expect(await read('train', 1)).not.toEqual(await read('train', 2));
  });

  it('a validationFraction that holds out nothing is an error at load time, with the numbers', async () => {
    const small = join(root, 'small');
    writeCremaFixture(small, { trainPerClass: 2, testPerClass: 1 });
    const opts = {
      root: small,
      cacheDir: join(root, 'cache-small'),
      imageSize: 16,
      progress: false,
    };
    await expect(cremaD({ ...opts, validationFraction: 0.1 })).rejects.toThrow(
      /annotations\/train\.csv: cremaD: validationFraction=0\.1 holds out no sample: each class gives round\(0\.1 x n_c\) = 0 with n_c = NEU: 2, HAP: 2, SAD: 2, FEA: 2, DIS: 2, ANG: 2 \(12 in all\).*Use validationFraction >= 0\.25/,
    );
    // Taking every training clip of a class is an error too.
    await expect(cremaD({ ...opts, validationFraction: 0.9 })).rejects.toThrow(
      /validationFraction=0\.9 moves every training sample of NEU \(2\), HAP \(2\)/,
    );
    const ds = await cremaD({ ...opts, validationFraction: 0.25 });
    expect(ds.splitSizes).toEqual({ train: 6, validation: 6, test: 6 });
  });

  it('gives clear errors for bad input', async () => {
    const cacheDir = join(root, 'cache-bad');
    const opts = { cacheDir, imageSize: 32, validationFraction: 0, progress: false } as const;
    await expect(cremaD({ root: join(root, 'missing'), ...opts })).rejects.toThrow(
      /missing: dataset folder not found; expected annotations/,
    );
    const bad = (name: string) => {
      const dir = join(root, name);
      writeCremaFixture(dir, { trainPerClass: 1, testPerClass: 1 });
      return dir;
    };
    const noSplit = bad('nosplit');
    removeDir(join(noSplit, 'annotations', 'test.csv'));
    await expect(cremaD({ root: noSplit, ...opts })).rejects.toThrow(
      /test\.csv: file not found; expected a CREMA-D split CSV/,
    );
    const cols = bad('cols');
    writeFileSync(join(cols, 'annotations', 'train.csv'), '1001_DFA_NEU_XX,NEU,extra\n');
    await expect(cremaD({ root: cols, ...opts })).rejects.toThrow(
      /train\.csv: line 1 has 3 column\(s\).*expected 2: <clip>,<EMOTION>/,
    );
    const label = bad('label');
    writeFileSync(
      join(label, 'annotations', 'test.csv'),
      '1001_DFA_NEU_XX,NEU\n1002_DFA_XXX_XX,BORED\n',
    );
    await expect(cremaD({ root: label, ...opts })).rejects.toThrow(
      /test\.csv: line 2: unknown label "BORED"; expected one of NEU, HAP/,
    );
    const wav = bad('wav');
    const clip = readFileSync(join(wav, 'annotations', 'train.csv'), 'utf8').split(',')[0]!;
    writeFileSync(
      join(wav, 'AudioWAV', `${clip}.wav`),
      encodeWav(new Float32Array(4000), 16000).subarray(0, 500),
    );
    await expect(cremaD({ root: wav, ...opts })).rejects.toThrow(
      new RegExp(`${clip}\\.wav: truncated WAV`),
    );
    // A listed clip without its frames folder or WAV: the CSV, its line, the clip, what is missing.
    const frames = bad('frames');
    removeDir(join(frames, 'Image-01-FPS', clip));
    await expect(cremaD({ root: frames, ...opts })).rejects.toThrow(
      new RegExp(
        `annotations/train\\.csv: line 1: clip ${clip} lacks its frames folder \\S+/Image-01-FPS/${clip}\\. Expected AudioWAV/<clip>\\.wav`,
      ),
    );
    const noWav = bad('nowav');
    const testClip = readFileSync(join(noWav, 'annotations', 'test.csv'), 'utf8')
      .split('\n')[2]!
      .split(',')[0]!;
    removeDir(join(noWav, 'AudioWAV', `${clip}.wav`));
    removeDir(join(noWav, 'AudioWAV', `${testClip}.wav`));
    removeDir(join(noWav, 'Image-01-FPS', testClip, '00000.jpg'));
    removeDir(join(noWav, 'Image-01-FPS', testClip, '00001.jpg'));
    await expect(cremaD({ root: noWav, ...opts })).rejects.toThrow(
      new RegExp(
        `train\\.csv: line 1: clip ${clip} lacks its WAV \\S+/AudioWAV/${clip}\\.wav\\. 1 more listed sample\\(s\\) lack files: \\S+test\\.csv line 3 \\(clip ${testClip}\\): its WAV \\S+ and frames: \\S+ has 0 JPEG frame\\(s\\), expected at least 1`,
      ),
    );
    const jpeg = bad('jpeg');
    const jpgPath = join(jpeg, 'Image-01-FPS', clip, '00000.jpg');
    writeFileSync(jpgPath, readFileSync(jpgPath).subarray(0, 300));
    const ds = await cremaD({ root: jpeg, ...opts, validationFraction: 0 });
    const iterate = async () => {
      for await (const b of ds.batches({ split: 'train', batchSize: 8 })) disposeBatch(b);
    };
    await expect(iterate()).rejects.toThrow(/00000\.jpg: truncated JPEG/);
    // The failure leaves the dataset usable: the test split still streams.
    for await (const b of ds.batches({ split: 'test', batchSize: 8 })) disposeBatch(b);
    await expect(cremaD({ root: jpeg, ...opts, labelOrder: ['NEU'] })).rejects.toThrow(
      /labelOrder=\["NEU"\]/,
    );
  });
});

describeEachBackend('CREMA-D batches', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('cremad-leak');
    writeCremaFixture(join(root, 'data'), { trainPerClass: 1, testPerClass: 1 });
  });
  afterAll(() => removeDir(root));

  it('stream without leaking tensors', async () => {
    const ds = await cremaD({
      root: join(root, 'data'),
      cacheDir: join(root, 'c'),
      imageSize: 16,
      validationFraction: 0,
      progress: false,
    });
    await expectNoTensorLeak(async (i) => {
      for await (const b of ds.batches({ split: 'test', batchSize: 6, shuffle: true, seed: i }))
        disposeBatch(b);
    });
  });
});
