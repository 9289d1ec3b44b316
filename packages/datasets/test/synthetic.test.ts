import { describeEachBackend, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { disposeBatch, synthetic } from '../src';

async function collect(ds: ReturnType<typeof synthetic>, split: 'train' | 'validation' | 'test') {
  const data: Record<string, number[]> = {};
  const labels: number[] = [];
  const ids: string[] = [];
  for await (const batch of ds.batches({ split, batchSize: 64 })) {
    for (const [m, t] of Object.entries(batch.inputs)) {
      if (!data[m]) data[m] = [];
      data[m].push(...t.dataSync());
    }
    labels.push(...batch.labels.dataSync());
    ids.push(...batch.ids);
    disposeBatch(batch);
  }
  return { data, labels, ids };
}

/** Accuracy of a nearest-class-mean classifier fitted on train, per modality. */
async function nearestMeanAccuracy(ds: ReturnType<typeof synthetic>, m: string, d: number) {
  const train = await collect(ds, 'train');
  const test = await collect(ds, 'test');
  const C = ds.classNames.length;
  const means = Array.from({ length: C }, () => new Float64Array(d));
  const counts = new Float64Array(C);
  train.labels.forEach((y, i) => {
    counts[y]! += 1;
    for (let k = 0; k < d; k++) means[y]![k]! += train.data[m]![i * d + k]!;
  });
  means.forEach((mu, c) => {
    for (let k = 0; k < d; k++) mu[k]! /= counts[c]!;
  });
  let correct = 0;
  test.labels.forEach((y, i) => {
    let best = -1;
    let bestDist = Infinity;
    for (let c = 0; c < C; c++) {
      let dist = 0;
      for (let k = 0; k < d; k++) dist += (test.data[m]![i * d + k]! - means[c]![k]!) ** 2;
      if (dist < bestDist) {
        bestDist = dist;
        best = c;
      }
    }
    if (best === y) correct++;
  });
  return correct / test.labels.length;
}

describeEachBackend('synthetic', () => {
  it('yields batches with the declared shapes, int32 labels and ids', async () => {
    const ds = synthetic({
      modalities: [{ name: 'audio', shape: [12, 8] }, 'visual', { name: 'text', shape: [5] }],
      classes: 3,
      samples: { train: 10, test: 7 },
    });
    expect(ds.modalities.map((m) => [m.name, m.kind, m.shape])).toEqual([
      ['audio', 'audio', [12, 8]],
      ['visual', 'image', [16]],
      ['text', 'text', [5]],
    ]);
    expect(ds.splitSizes).toEqual({ train: 10, test: 7 });
    const shapes: number[][] = [];
    for await (const batch of ds.batches({ split: 'train', batchSize: 4 })) {
      shapes.push(batch.inputs['audio']!.shape);
      expect(batch.labels.dtype).toBe('int32');
      expect(batch.inputs['text']!.shape).toEqual([batch.ids.length, 5]);
      disposeBatch(batch);
    }
    expect(shapes).toEqual([
      [4, 12, 8],
      [4, 12, 8],
      [2, 12, 8],
    ]);
    const dropped: number[] = [];
    for await (const batch of ds.batches({ split: 'train', batchSize: 4, dropLast: true })) {
      dropped.push(batch.ids.length);
      disposeBatch(batch);
    }
    expect(dropped).toEqual([4, 4]);
  });

  it('is deterministic in the seed; shuffling permutes the same samples', async () => {
    const a = await collect(synthetic({ seed: 3, samples: 60 }), 'train');
    const b = await collect(synthetic({ seed: 3, samples: 60 }), 'train');
    const c = await collect(synthetic({ seed: 4, samples: 60 }), 'train');
    expect(a.data['audio']).toEqual(b.data['audio']);
    expect(a.data['audio']).not.toEqual(c.data['audio']);
    const ds = synthetic({ seed: 3, samples: 60 });
    const order: string[] = [];
    const byId = new Map<string, number[]>();
    for await (const batch of ds.batches({
      split: 'train',
      batchSize: 7,
      shuffle: true,
      seed: 9,
    })) {
      const v = batch.inputs['visual']!.arraySync() as number[][];
      batch.ids.forEach((id, i) => {
        order.push(id);
        byId.set(id, v[i]!);
      });
      disposeBatch(batch);
    }
    expect(order).not.toEqual(a.ids);
    expect([...order].sort()).toEqual([...a.ids].sort());
    const i = a.ids.indexOf(order[0]!);
    expect(byId.get(order[0]!)!).toEqual(a.data['visual']!.slice(i * 16, i * 16 + 16));
    const again: string[] = [];
    for await (const batch of ds.batches({
      split: 'train',
      batchSize: 7,
      shuffle: true,
      seed: 9,
    })) {
      again.push(...batch.ids);
      disposeBatch(batch);
    }
    expect(again).toEqual(order);
  });

  it('indices: visits the listed positions in order, repeats included; shuffle permutes the list', async () => {
    const ds = synthetic({ seed: 3, samples: 20 });
    const all = await collect(ds, 'train');
    const indices = [4, 0, 4, 13, 2, 2, 2];
    const seen: string[] = [];
    const rows: number[][] = [];
    for await (const batch of ds.batches({ split: 'train', batchSize: 3, indices })) {
      seen.push(...batch.ids);
      rows.push(...(batch.inputs['audio']!.arraySync() as number[][]));
      disposeBatch(batch);
    }
    expect(seen).toEqual(indices.map((i) => all.ids[i]!));
    expect(rows[2]).toEqual(all.data['audio']!.slice(4 * 16, 5 * 16));
    const shuffled: string[] = [];
    for await (const batch of ds.batches({
      split: 'train',
      batchSize: 3,
      indices: Int32Array.from(indices),
      shuffle: true,
      seed: 5,
      dropLast: true,
    })) {
      shuffled.push(...batch.ids);
      disposeBatch(batch);
    }
    expect(shuffled).toHaveLength(6);
    const counts = (ids: string[]) =>
      ids.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>());
    for (const [id, c] of counts(shuffled)) expect(c).toBeLessThanOrEqual(counts(seen).get(id)!);
    expect(() => ds.batches({ split: 'train', batchSize: 2, indices: [0, 99] })).toThrow(
      /indices\[1\]=99.*\[0, 14\)/,
    );
    expect(() => ds.batches({ split: 'train', batchSize: 2, indices: 'all' as never })).toThrow(
      /indices=all/,
    );
  });

  it('signal sets each modality’s unimodal accuracy to about signal + (1 - signal) / C', async () => {
    const C = 4;
    const ds = synthetic({
      classes: C,
      samples: { train: 800, test: 2000 },
      signal: { audio: 0.9, visual: 0.3 },
      seed: 1,
    });
    const audio = await nearestMeanAccuracy(ds, 'audio', 16);
    const visual = await nearestMeanAccuracy(ds, 'visual', 16);
    // Binomial std of an accuracy on 2,000 samples is about 0.011; 0.04 is > 3 std.
    expect(audio).toBeCloseTo(0.9 + 0.1 / C, 1);
    expect(Math.abs(audio - (0.9 + 0.1 / C))).toBeLessThan(0.04);
    expect(Math.abs(visual - (0.3 + 0.7 / C))).toBeLessThan(0.04);
  });

  it('rejects bad arguments with the value and the fix', () => {
    expect(() => synthetic({ signal: { audio: 1.5 } })).toThrow(/signal\.audio=1\.5.*\[0, 1\]/);
    expect(() => synthetic({ signal: { audoi: 0.5 } })).toThrow(/"audoi".*audio, visual/);
    expect(() => synthetic({ clases: 3 } as never)).toThrow(/unknown option.*"clases"/);
    expect(() => synthetic({ modalities: 4 })).toThrow(/modalities=4/);
    expect(() => synthetic({ modalities: [{ name: 'a', shape: [2, 2, 2] }] })).toThrow(
      /\[d\] or \[h, w\]/,
    );
    const ds = synthetic({ samples: { train: 5 } });
    expect(() => ds.batches({ split: 'test', batchSize: 2 })).toThrow(/Available splits: train/);
    expect(() => ds.batches({ split: 'train', batchSize: 0 })).toThrow(/batchSize=0/);
    expect(() => ds.batches({ split: 'dev' as never, batchSize: 2 })).toThrow(
      /"dev".*"validation"/,
    );
  });

  it('does not leak tensors over 200 batches', async () => {
    const ds = synthetic({ samples: { train: 8 }, modalities: 3 });
    await expectNoTensorLeak(async () => {
      for await (const batch of ds.batches({ split: 'train', batchSize: 8, shuffle: true })) {
        tf.tidy(() => {
          tf.sum(batch.inputs['audio']!);
        });
        disposeBatch(batch);
      }
    });
    // Abandoning an iteration early leaves nothing behind either.
    const before = tf.memory().numTensors;
    for await (const batch of ds.batches({ split: 'train', batchSize: 2 })) {
      disposeBatch(batch);
      break;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
