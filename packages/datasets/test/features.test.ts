import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeEachBackend, expectNoTensorLeak, useBackend } from '@igm/test-utils';
import { dump } from 'npyjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePythonList } from '../src/loaders/sarcasm';
import { datasetModalities, disposeBatch, nvGesture, sarcasm, twitter2015 } from '../src/node';
import { removeDir, tempDir, testJpeg } from './helpers/fixtures';

/** Feature value that encodes (split, row, column), so a test can check it read the right row. */
const value = (s: number, r: number, c: number) => s * 1000 + r + c / 1000;

function writeFeatures(
  dir: string,
  splits: Record<string, { ids: string[]; labels: number[] }>,
  dims: Record<string, number>,
) {
  mkdirSync(dir, { recursive: true });
  const manifest = { recipe: 'test fixture', splits: {} as Record<string, { ids: string[] }> };
  Object.entries(splits).forEach(([split, { ids, labels }], s) => {
    manifest.splits[split] = { ids };
    for (const [m, d] of Object.entries(dims)) {
      const data = Float32Array.from({ length: ids.length * d }, (_, k) =>
        value(s, Math.floor(k / d), k % d),
      );
      writeFileSync(join(dir, `${split}_${m}.npy`), new Uint8Array(dump(data, [ids.length, d])));
    }
    writeFileSync(
      join(dir, `${split}_labels.npy`),
      new Uint8Array(dump(Int32Array.from(labels), [labels.length])),
    );
  });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

function writeTwitter(root: string) {
  mkdirSync(join(root, 'annotations'), { recursive: true });
  const header = 'index\t#1 Label\t#2 ImageID\t#3 String\t#3 String';
  const splits: Record<string, { ids: string[]; labels: number[] }> = {};
  for (const [split, n] of [
    ['train', 6],
    ['dev', 3],
    ['test', 3],
  ] as const) {
    const lines = [split === 'test' ? 'index\t#1 Label\t#2 ImageID\t#3 String' : header];
    const ids: string[] = [];
    const labels: number[] = [];
    for (let i = 0; i < n; i++) {
      ids.push(String(i + 1));
      labels.push(i % 3);
      lines.push(`${i + 1}\t${i % 3}\t${100 + i}.jpg\tRT @user : $T$ is great #${i}\tTarget ${i}`);
    }
    writeFileSync(join(root, 'annotations', `${split}.tsv`), `${lines.join('\n')}\n`);
    // Feature rows in reverse order: the loader must map ids to rows.
    splits[split] = { ids: [...ids].reverse(), labels: [...labels].reverse() };
  }
  writeFeatures(join(root, 'features'), splits, { text: 6, image: 4 });
}

describe('precomputed-feature loaders on fixture trees', () => {
  let root: string;
  beforeAll(async () => {
    await useBackend('cpu');
    root = tempDir('features');
  });
  afterAll(() => removeDir(root));

  it('Twitter-2015: TSV + features, dev as validation, rows matched by id', async () => {
    const dir = join(root, 'twitter');
    writeTwitter(dir);
    const ds = await twitter2015({ root: dir, textDim: 6, imageDim: 4 });
    expect(ds.classNames).toEqual(['negative', 'neutral', 'positive']);
    expect(ds.splitSizes).toEqual({ train: 6, validation: 3, test: 3 });
    expect(datasetModalities('twitter-2015')).toEqual(ds.modalities.map((m) => m.name));
    for await (const b of ds.batches({ split: 'train', batchSize: 6 })) {
      expect(b.ids).toEqual(['1', '2', '3', '4', '5', '6']);
      expect(Array.from(b.labels.dataSync())).toEqual([0, 1, 2, 0, 1, 2]);
      const text = b.inputs['text']!.arraySync() as number[][];
      // id "1" is the last row (5) of the reversed feature file of split 0.
      expect(text[0]![2]).toBeCloseTo(value(0, 5, 2), 3);
      expect(b.inputs['image']!.shape).toEqual([6, 4]);
      disposeBatch(b);
    }
  });

  it('Twitter-2015: clear errors for wrong columns, labels, shapes and truncated files', async () => {
    const fresh = (name: string) => {
      const dir = join(root, name);
      writeTwitter(dir);
      return dir;
    };
    const opts = { textDim: 6, imageDim: 4 };
    await expect(twitter2015({ root: join(root, 'nope'), ...opts })).rejects.toThrow(
      /nope: dataset folder not found/,
    );
    const cols = fresh('tw-cols');
    writeFileSync(join(cols, 'annotations', 'dev.tsv'), '1\t0\tx.jpg\ttext only\n');
    await expect(twitter2015({ root: cols, ...opts })).rejects.toThrow(
      /dev\.tsv: line 1 has 4 tab-separated column\(s\); expected 5/,
    );
    const lab = fresh('tw-label');
    writeFileSync(join(lab, 'annotations', 'dev.tsv'), '1\t3\tx.jpg\tt\tT\n');
    await expect(twitter2015({ root: lab, ...opts })).rejects.toThrow(
      /dev\.tsv: line 1: unknown label "3"/,
    );
    await expect(twitter2015({ root: fresh('tw-dim'), textDim: 768, imageDim: 4 })).rejects.toThrow(
      /train_text\.npy: feature file has shape \(6, 6\); expected \(6, 768\)/,
    );
    const trunc = fresh('tw-trunc');
    const p = join(trunc, 'features', 'test_image.npy');
    writeFileSync(p, readFileSync(p).subarray(0, 100));
    await expect(twitter2015({ root: trunc, ...opts })).rejects.toThrow(
      /test_image\.npy: truncated NPY/,
    );
    const garbage = fresh('tw-garbage');
    writeFileSync(join(garbage, 'features', 'dev_labels.npy'), 'not numpy');
    await expect(twitter2015({ root: garbage, ...opts })).rejects.toThrow(
      /dev_labels\.npy: not an NPY file/,
    );
    const mism = fresh('tw-mismatch');
    writeFileSync(
      join(mism, 'features', 'dev_labels.npy'),
      new Uint8Array(dump(Int32Array.of(2, 1, 1), [3])),
    );
    await expect(twitter2015({ root: mism, ...opts })).rejects.toThrow(
      /dev_labels\.npy: row 2 \(sample "1"\) has label 1; the annotations \(\S+dev\.tsv line \d+\) say 0 \(negative\)/,
    );
    const ids = fresh('tw-ids');
    const man = JSON.parse(readFileSync(join(ids, 'features', 'manifest.json'), 'utf8'));
    man.splits.test.ids[0] = '99';
    writeFileSync(join(ids, 'features', 'manifest.json'), JSON.stringify(man));
    await expect(twitter2015({ root: ids, ...opts })).rejects.toThrow(
      /manifest\.json: splits\.test\.ids lacks sample "3" of the annotations \(\S+test\.tsv line \d+\)/,
    );
  });

  it('Sarcasm: Python-literal lines, keyword filter on train only, last element as label', async () => {
    expect(parsePythonList(`['123', "it's a <user> joke", 1]`)).toEqual([
      '123',
      "it's a <user> joke",
      1,
    ]);
    expect(parsePythonList(`['9', 'say \\'hi\\'', 0, 1]`)).toEqual(['9', "say 'hi'", 0, 1]);
    expect(() => parsePythonList(`['9', 'open`)).toThrow();
    const dir = join(root, 'sarcasm');
    mkdirSync(join(dir, 'text'), { recursive: true });
    writeFileSync(
      join(dir, 'text', 'train.txt'),
      [
        `['1', 'what a day <user>', 1]`,
        `['2', "this is a joke lol", 1]`,
        `['3', 'nice weather emoji_12', 0]`,
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'text', 'valid2.txt'),
      [`['4', 'a joke here', 1, 0]`, `['5', 'ok', 0, 1]`].join('\n'),
    );
    writeFileSync(join(dir, 'text', 'test2.txt'), `['6', 'sure <num>', 1, 1]\n`);
    writeFeatures(
      join(dir, 'features'),
      {
        train: { ids: ['1', '3'], labels: [1, 0] },
        valid2: { ids: ['4', '5'], labels: [0, 1] },
        test2: { ids: ['6'], labels: [1] },
      },
      { text: 3, image: 2 },
    );
    const ds = await sarcasm({ root: dir, textDim: 3, imageDim: 2 });
    expect(ds.splitSizes).toEqual({ train: 2, validation: 2, test: 1 });
    expect(datasetModalities('sarcasm')).toEqual(ds.modalities.map((m) => m.name));
    expect(ds.ids('train')).toEqual(['1', '3']);
    expect(Array.from(ds.labels('validation'))).toEqual([0, 1]);
    // Without the filter, train has post 2, which has no features: a clear error.
    await expect(sarcasm({ root: dir, textDim: 3, imageDim: 2, filter: false })).rejects.toThrow(
      /lacks sample "2"/,
    );
    writeFileSync(join(dir, 'text', 'test2.txt'), `['6', 'sure', 1]\n`);
    await expect(sarcasm({ root: dir, textDim: 3, imageDim: 2 })).rejects.toThrow(
      /test2\.txt: line 1 has 3 element\(s\); expected 4/,
    );
  });

  it('NVGesture: .lst parsing, labels 1-25 -> 0-24, stratified validation from train features', async () => {
    const dir = join(root, 'nv');
    mkdirSync(dir, { recursive: true });
    const line = (cls: number, subj: number) =>
      `path:./Video_data/class_${String(cls).padStart(2, '0')}/subject${subj}_r0 depth:sk_depth:10:90 color:sk_color:10:90 duo_left:duo_left:12:100 label:${cls}`;
    const train = [1, 1, 2, 2, 25, 25].map((c, i) => line(c, i));
    const test = [1, 25].map((c, i) => line(c, 20 + i));
    writeFileSync(join(dir, 'nvgesture_train_correct_v2.lst'), `${train.join('\n')}\n`);
    writeFileSync(join(dir, 'nvgesture_test_correct_v2.lst'), `${test.join('\n')}\n`);
    const ids = (lines: string[]) => lines.map((l) => l.split(' ')[0]!.slice(5));
    writeFeatures(
      join(dir, 'features'),
      {
        train: { ids: ids(train), labels: [0, 0, 1, 1, 24, 24] },
        test: { ids: ids(test), labels: [0, 24] },
      },
      { rgb: 5, depth: 5, flow: 5 },
    );
    const ds = await nvGesture({ root: dir, dim: 5, validationFraction: 0.5 });
    expect(ds.classNames).toHaveLength(25);
    expect(ds.splitSizes).toEqual({ train: 3, validation: 3, test: 2 });
    expect(Array.from(ds.labels('validation')).sort((a, b) => a - b)).toEqual([0, 1, 24]);
    expect(ds.modalities.map((m) => m.name)).toEqual(['rgb', 'depth', 'flow']);
    expect(datasetModalities('nvgesture')).toEqual(ds.modalities.map((m) => m.name));
    writeFileSync(join(dir, 'nvgesture_test_correct_v2.lst'), 'path:./x label:26\n');
    await expect(nvGesture({ root: dir, dim: 5 })).rejects.toThrow(
      /nvgesture_test_correct_v2\.lst: line 1: label "26"; expected path:<folder> and label:1\.\.25/,
    );
  });
});

describe('NVGesture from frames and flow files', () => {
  let root: string;
  beforeAll(async () => {
    await useBackend('cpu');
    root = tempDir('nv-frames');
  });
  afterAll(() => removeDir(root));

  it('crops RGB, depth and flow with one shared offset and windows time', async () => {
    const dir = join(root, 'nv');
    mkdirSync(dir, { recursive: true });
    const paths = {
      train: ['./Video_data/class_01/subject1_r0', './Video_data/class_02/subject2_r0'],
      test: ['./Video_data/class_02/subject3_r0'],
    };
    writeFileSync(
      join(dir, 'nvgesture_train_correct_cvpr2016_v2.lst'),
      `path:${paths.train[0]} label:1\npath:${paths.train[1]} label:2\n`,
    );
    writeFileSync(
      join(dir, 'nvgesture_test_correct_cvpr2016_v2.lst'),
      `path:${paths.test[0]} label:2\n`,
    );
    const flowValue = (y: number, x: number, c: number, t: number) =>
      y * 1000 + x * 10 + c + t / 10;
    for (const part of ['train', 'test'] as const) {
      paths[part].forEach((p, line) => {
        for (const sensor of ['sk_color', 'sk_depth']) {
          const fdir = join(dir, 'frames', p.slice(2), sensor);
          mkdirSync(fdir, { recursive: true });
          for (let f = 0; f < 5; f++)
            writeFileSync(join(fdir, `${String(f).padStart(5, '0')}.jpg`), testJpeg(16, 12, f));
        }
        const H = 12;
        const W = 12;
        const T = 4;
        const flow = new Float32Array(H * W * 2 * T);
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++)
            for (let c = 0; c < 2; c++)
              for (let t = 0; t < T; t++)
                flow[((y * W + x) * 2 + c) * T + t] = flowValue(y, x, c, t);
        mkdirSync(join(dir, 'Video_data', 'flow_data', part), { recursive: true });
        writeFileSync(
          join(dir, 'Video_data', 'flow_data', part, `${line}.npy`),
          new Uint8Array(dump(flow, [H, W, 2, T])),
        );
      });
    }
    const opts = {
      root: dir,
      source: 'frames',
      clipLength: 5,
      frames: 3,
      resize: 12,
      crop: 8,
      validationFraction: 0,
    } as const;
    const ds = await nvGesture(opts);
    expect(ds.modalities.map((m) => [m.name, m.shape])).toEqual([
      ['rgb', [3, 8, 8, 3]],
      ['depth', [3, 8, 8, 1]],
      ['flow', [4, 8, 8, 2]],
    ]);
    for await (const b of ds.batches({ split: 'test', batchSize: 1 })) {
      const flow = b.inputs['flow']!.arraySync() as number[][][][][];
      // Centred crop offset (12 - 8) / 2 = 2 for every stream.
      expect(flow[0]![1]![0]![0]![1]).toBeCloseTo(flowValue(2, 2, 1, 1), 3);
      expect(flow[0]![3]![7]![5]![0]).toBeCloseTo(flowValue(9, 7, 0, 3), 3);
      const depth = b.inputs['depth']!.dataSync();
      expect(Math.min(...depth)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...depth)).toBeLessThanOrEqual(1);
      expect(Array.from(b.labels.dataSync())).toEqual([1]);
      disposeBatch(b);
    }
    removeDir(join(dir, 'frames', paths.test[0]!.slice(2), 'sk_depth', '00004.jpg'));
    const run = async () => {
      for await (const b of ds.batches({ split: 'test', batchSize: 1 })) disposeBatch(b);
    };
    await expect(run()).rejects.toThrow(
      /subject3_r0\/sk_depth: 4 JPEG frame\(s\); expected at least 5/,
    );
    // At load time the same gap names the list file, its line and the sample.
    await expect(nvGesture(opts)).rejects.toThrow(
      /nvgesture_test_correct_cvpr2016_v2\.lst: line 1: sample \.\/Video_data\/class_02\/subject3_r0 lacks depth frames: \S+sk_depth has 4 JPEG frame\(s\), expected at least 5/,
    );
    removeDir(join(dir, 'Video_data', 'flow_data', 'train', '1.npy'));
    await expect(nvGesture(opts)).rejects.toThrow(
      /nvgesture_train_correct_cvpr2016_v2\.lst: line 2: sample \.\/Video_data\/class_02\/subject2_r0 lacks its flow file \S+train\/1\.npy\. 1 more listed sample\(s\) lack files: \S+nvgesture_test_correct_cvpr2016_v2\.lst line 1 \(sample .*subject3_r0\): depth frames/,
    );
    // Two training samples, one per class: 0.1 holds out nothing.
    await expect(nvGesture({ ...opts, validationFraction: 0.1 })).rejects.toThrow(
      /nvgesture_train_correct_cvpr2016_v2\.lst: nvGesture: validationFraction=0\.1 holds out no sample: each class gives round\(0\.1 x n_c\) = 0 with n_c = class_01: 1, class_02: 1 \(2 in all\)/,
    );
  });
});

describeEachBackend('feature batches', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('features-leak');
    writeTwitter(join(root, 'tw'));
  });
  afterAll(() => removeDir(root));

  it('stream without leaking tensors', async () => {
    const ds = await twitter2015({ root: join(root, 'tw'), textDim: 6, imageDim: 4 });
    await expectNoTensorLeak(async (i) => {
      for await (const b of ds.batches({ split: 'train', batchSize: 4, shuffle: true, seed: i }))
        disposeBatch(b);
    });
  });
});
