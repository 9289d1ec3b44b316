import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEachBackend, expectNoTensorLeak, loadFixture, useBackend } from '@igm/test-utils';
import { dump } from 'npyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeWav } from '../src/io/wav';
import {
  datasetModalities,
  disposeBatch,
  kineticsPickleSpectrogram,
  kineticsSounds,
} from '../src/node';
import { digitTone, removeDir, tempDir, testJpeg } from './helpers/fixtures';

const CLASSES = ['playing drums', 'bowling', 'tickling'];

/** IGM layout plus OGM lists and fbank .npy files, 3 classes. */
function writeKsFixture(root: string) {
  mkdirSync(join(root, 'annotations'), { recursive: true });
  mkdirSync(join(root, 'fbank'), { recursive: true });
  const csv: Record<string, string[]> = { train: ['youtube_id,label'], test: ['youtube_id,label'] };
  const ogm: Record<string, string[]> = { train: [], test: [] };
  let n = 0;
  for (const [part, per] of [
    ['train', 4],
    ['test', 1],
  ] as const) {
    mkdirSync(join(root, `${part}_wav`), { recursive: true });
    CLASSES.forEach((name, c) => {
      for (let k = 0; k < per; k++) {
        const id = `yt-${n}_${String(n).padStart(6, '0')}_000010`;
        n++;
        csv[part]!.push(`${id},${name}`);
        ogm[part]!.push(`${id},10,${c}`);
        writeFileSync(
          join(root, `${part}_wav`, `${id}.wav`),
          encodeWav(digitTone(c, k, n, 16000, 8000), 16000),
        );
        const dir = join(root, `${part}_img`, 'Image-01-FPS', id);
        mkdirSync(dir, { recursive: true });
        const frames = part === 'train' && c === 0 && k === 0 ? 2 : 5; // one clip too short
        for (let f = 0; f < frames; f++)
          writeFileSync(join(dir, `frame_0000${f + 1}.jpg`), testJpeg(40, 30, n + f));
        const fb = Float32Array.from({ length: 1024 * 128 }, (_, i) => (i % 128) / 128 + c);
        writeFileSync(join(root, 'fbank', `${id}.npy`), new Uint8Array(dump(fb, [1024, 128])));
      }
    });
  }
  writeFileSync(join(root, 'annotations', 'train.csv'), `${csv['train']!.join('\n')}\n`);
  writeFileSync(join(root, 'annotations', 'test.csv'), `${csv['test']!.join('\n')}\n`);
  writeFileSync(join(root, 'my_train.txt'), `${ogm['train']!.join('\n')}\n`);
  writeFileSync(join(root, 'my_test.txt'), `${ogm['test']!.join('\n')}\n`);
}

describe('Kinetics-Sounds audio variants', () => {
  it('the pickle spectrogram matches scipy.signal.spectrogram + log + z-score', () => {
    const fx = loadFixture<{
      ksSpectrogram: { input: number[]; shape: number[]; value: number[][] };
    }>(new URL('./fixtures/signal-reference.json', import.meta.url)).ksSpectrogram;
    const z = kineticsPickleSpectrogram(Float32Array.from(fx.input), 16000, 1);
    const [bins, frames] = fx.shape as [number, number];
    expect(z.length).toBe(bins * frames);
    let worst = 0;
    fx.value.forEach((row, i) => {
      row.forEach((v, j) => {
        worst = Math.max(worst, Math.abs(z[i * 4 * frames + j * 2]! - v));
      });
    });
    // float32 PSD through log and z-score: 1e-3 (z-scores are O(1)).
    expect(worst).toBeLessThan(1e-3);
  });
});

describe('Kinetics-Sounds loader on a fixture tree', () => {
  let root: string;
  beforeAll(async () => {
    await useBackend('cpu');
    root = tempDir('ks');
    writeKsFixture(join(root, 'ks'));
  });
  afterAll(() => removeDir(root));

  it('IGM lists: first-appearance labels, 3 frames, short clips dropped, STFT 257x1003', async () => {
    const ds = await kineticsSounds({
      root: join(root, 'ks'),
      numClasses: 3,
      validationFraction: 0,
      imageSize: 16,
    });
    expect(ds.classNames).toEqual(CLASSES);
    expect(ds.info['dropped']).toBe(1);
    expect(ds.splitSizes).toEqual({ train: 11, test: 3 });
    expect(ds.modalities).toEqual([
      { name: 'audio', kind: 'audio', shape: [257, 1003, 1] },
      { name: 'visual', kind: 'video', shape: [3, 16, 16, 3] },
    ]);
    expect(datasetModalities('kinetics-sounds')).toEqual(ds.modalities.map((m) => m.name));
    for await (const b of ds.batches({ split: 'test', batchSize: 3 })) {
      expect(Array.from(b.labels.dataSync())).toEqual([0, 1, 2]);
      expect(b.inputs['audio']!.shape).toEqual([3, 257, 1003, 1]);
      expect(b.inputs['visual']!.shape).toEqual([3, 3, 16, 16, 3]);
      disposeBatch(b);
    }
  });

  it('OGM lists with fbank .npy and the pickle spectrogram variant', async () => {
    const ds = await kineticsSounds({
      root: join(root, 'ks'),
      lists: 'ogm',
      audio: 'fbank',
      numClasses: 3,
      imageSize: 16,
      validationFraction: 1 / 3,
    });
    // OGM's spread selection needs 3 frames: the 2-frame clip is dropped; 1 of 3-4 per class held out.
    expect(ds.splitSizes).toEqual({ train: 8, validation: 3, test: 3 });
    for await (const b of ds.batches({ split: 'test', batchSize: 3 })) {
      const a = b.inputs['audio']!;
      expect(a.shape).toEqual([3, 1024, 128, 1]);
      expect(a.dataSync()[128 * 1024 + 5]).toBeCloseTo(5 / 128 + 1, 5);
      disposeBatch(b);
    }
    const sp = await kineticsSounds({
      root: join(root, 'ks'),
      audio: 'spectrogram',
      numClasses: 3,
      imageSize: 16,
      validationFraction: 0,
    });
    expect(sp.modalities[0]!.shape).toEqual([257, 1004, 1]);
  });

  it('clear errors: header, unknown label, class count, fbank shape', async () => {
    const bad = join(root, 'bad');
    writeKsFixture(bad);
    writeFileSync(join(bad, 'annotations', 'test.csv'), 'youtube_id,label\nabc,dancing\n');
    await expect(kineticsSounds({ root: bad, numClasses: 3 })).rejects.toThrow(
      /test\.csv: line 2: unknown label "dancing"/,
    );
    await expect(kineticsSounds({ root: join(root, 'ks'), numClasses: 2 })).rejects.toThrow(
      /train\.csv has 3 classes; expected 2/,
    );
    writeFileSync(join(bad, 'annotations', 'test.csv'), 'id;label\n');
    await expect(kineticsSounds({ root: bad, numClasses: 3 })).rejects.toThrow(
      /expected columns youtube_id,label/,
    );
    writeFileSync(join(bad, 'my_test.txt'), 'abc,10,7\n');
    await expect(kineticsSounds({ root: bad, lists: 'ogm', numClasses: 3 })).rejects.toThrow(
      /my_test\.txt: line 1: unknown label "7"/,
    );
    await expect(kineticsSounds({ root: bad, audio: 'mfcc' as never })).rejects.toThrow(
      /audio="mfcc".*"stft", "fbank", "spectrogram"/,
    );
    // Listed clips without their media fail at load time with the list file, line and clip.
    const media = join(root, 'bad-media');
    writeKsFixture(media);
    const [, first, second] = readFileSync(join(media, 'annotations', 'train.csv'), 'utf8').split(
      '\n',
    );
    const firstId = first!.split(',')[0]!;
    const secondId = second!.split(',')[0]!;
    rmSync(join(media, 'train_wav', `${firstId}.wav`));
    rmSync(join(media, 'train_img', 'Image-01-FPS', secondId), { recursive: true });
    await expect(
      kineticsSounds({ root: media, numClasses: 3, validationFraction: 0 }),
    ).rejects.toThrow(
      new RegExp(
        `annotations/train\\.csv: line 2: clip ${firstId} lacks its WAV \\S+train_wav/${firstId}\\.wav\\. 1 more listed sample\\(s\\) lack files: line 3 \\(clip ${secondId}\\): its frames folder`,
      ),
    );
    // 3 to 4 clips per class at 0.1 hold out nothing: an error with the counts, at load time.
    await expect(kineticsSounds({ root: join(root, 'ks'), numClasses: 3 })).rejects.toThrow(
      /train\.csv: kineticsSounds: validationFraction=0\.1 holds out no sample: each class gives round\(0\.1 x n_c\) = 0 with n_c = playing drums: 3, bowling: 4, tickling: 4 \(11 in all\), so there would be no validation split.*Use validationFraction >= 0\.125/,
    );
    const fb = join(root, 'bad-fbank');
    writeKsFixture(fb);
    const testId = 'yt-12_000012_000010';
    writeFileSync(
      join(fb, 'fbank', `${testId}.npy`),
      new Uint8Array(dump(new Float32Array(998 * 128), [998, 128])),
    );
    const ds = await kineticsSounds({
      root: fb,
      lists: 'ogm',
      audio: 'fbank',
      numClasses: 3,
      imageSize: 8,
      validationFraction: 0,
    });
    const run = async () => {
      for await (const b of ds.batches({ split: 'test', batchSize: 3 })) disposeBatch(b);
    };
    await expect(run()).rejects.toThrow(
      new RegExp(`${testId}\\.npy: fbank has shape \\(998, 128\\); expected \\(1024, 128\\)`),
    );
  });
});

describeEachBackend('Kinetics-Sounds batches', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('ks-leak');
    writeKsFixture(join(root, 'ks'));
  });
  afterAll(() => removeDir(root));

  it('stream without leaking tensors', async () => {
    const ds = await kineticsSounds({
      root: join(root, 'ks'),
      audio: 'fbank',
      lists: 'ogm',
      numClasses: 3,
      imageSize: 8,
      validationFraction: 0,
    });
    await expectNoTensorLeak(
      async (i) => {
        // One clip per step (the iteration is abandoned after the first batch, which must not
        // leak either); 200 full passes would cost about 7 s of JPEG and NPY decoding.
        for await (const b of ds.batches({ split: 'test', batchSize: 1, shuffle: true, seed: i })) {
          disposeBatch(b);
          break;
        }
      },
      { steps: 200 },
    );
  });
});
