import { type MultimodalDataset, type MultimodalModelLike, type StepContext, sgd } from '@igm/core';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { expect, it } from 'vitest';
import { classMeans, PmrPrototypes, pmrLoss, pmrWeakModalities, prototypeDistances } from '../src';
import { disposeParams, makeParams, TestDriver } from './helpers';

interface Fixture {
  alpha: number;
  momentum: number;
  init: Record<string, number[]>;
  xa: number[][];
  xv: number[][];
  labels: number[][];
  xa_p: number[][];
  xv_p: number[][];
  y_p: number[];
  y_p2: number[];
  protos0: Record<string, number[][]>;
  protos1: Record<string, number[][]>;
  params: Record<string, number[]>;
  logs: Array<Record<string, number>>;
}
const fx = loadFixture<Fixture>(new URL('./fixtures/pmr.json', import.meta.url));
const groupOf = (k: string) =>
  k.startsWith('fusion') ? 'fusion' : k.split('/').slice(0, 2).join('/');

describeEachBackend('pmr', () => {
  it('matches the torch reference: prototypes, two steps with the weak-modality term, momentum update', async () => {
    const params = makeParams(fx.init, groupOf);
    const P = (k: string) => params.get(k)!.variable;
    const enc = (m: string, x: tf.Tensor) =>
      tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, P(`encoder/${m}/w`)), P(`encoder/${m}/b`)));
    // A stub model and dataset that feed the prototype pass with the fixture's batch.
    const model = {
      modalities: ['audio', 'visual'],
      numClasses: 3,
      featureDim: () => 3,
      forward: (inputs: Record<string, tf.Tensor>) => ({
        'features/audio': enc('audio', inputs['audio']!),
        'features/visual': enc('visual', inputs['visual']!),
      }),
    } as unknown as MultimodalModelLike;
    let protoLabels = fx.y_p;
    const dataset = {
      name: 'fixture',
      modalities: [],
      classNames: ['0', '1', '2'],
      splitSizes: { train: 10 },
      async *batches() {
        yield {
          inputs: { audio: tf.tensor2d(fx.xa_p), visual: tf.tensor2d(fx.xv_p) },
          labels: tf.tensor1d(protoLabels, 'int32'),
          ids: [],
        };
      },
    } as unknown as MultimodalDataset;
    const protos = new PmrPrototypes({ model, dataset, batchSize: 10, momentum: fx.momentum });
    await protos.onTrainBegin();
    for (const m of ['audio', 'visual'])
      expectAllClose(protos.prototypes(m), fx.protos0[m]!, { atol: 1e-6 });

    const term = pmrLoss({ prototypes: protos, alpha: fx.alpha });
    const driver = new TestDriver(
      sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 }),
      params,
    );
    const xa = tf.tensor2d(fx.xa);
    const xv = tf.tensor2d(fx.xv);
    fx.labels.forEach((y, step) => {
      const labels = tf.tensor1d(y, 'int32');
      const logs: Record<string, number> = {};
      const loss = driver.minimize(
        () => {
          const outputs = {
            'features/audio': enc('audio', xa),
            'features/visual': enc('visual', xv),
          };
          const out = tf.add(
            tf.matMul(
              tf.concat([outputs['features/audio'], outputs['features/visual']], 1),
              P('fusion/w'),
            ),
            P('fusion/b'),
          );
          const ctx = {
            epoch: 0,
            outputs,
            labels,
            log: (n: string, v: number | tf.Scalar) => {
              logs[n] = typeof v === 'number' ? v : v.dataSync()[0]!;
            },
          } as unknown as StepContext;
          const ce = tf.losses.softmaxCrossEntropy(tf.oneHot(labels, 3), out) as tf.Scalar;
          return { loss: tf.add(ce, term.compute(outputs, labels, ctx)) as tf.Scalar, outputs };
        },
        { labels },
      );
      expect(loss).toBeCloseTo(fx.logs[step]!['loss']!, 5);
      expect(logs['pmr/ratio']).toBeCloseTo(fx.logs[step]!['ratio']!, 4);
      expect(logs['pmr/pce/audio']).toBeCloseTo(fx.logs[step]!['pce_audio']!, 4);
      expect(logs['pmr/weak/visual']).toBe(fx.logs[step]!['ratio']! > 1 ? 1 : 0);
      labels.dispose();
    });
    // float32 vs float64, two steps; distances use sqrt(. + 1e-8): 1e-5.
    for (const [k, v] of Object.entries(fx.params))
      expectAllClose(P(k), v, { atol: 1e-5, rtol: 1e-5, label: k });
    protoLabels = fx.y_p2;
    await protos.onEpochEnd(1);
    for (const m of ['audio', 'visual'])
      expectAllClose(protos.prototypes(m), fx.protos1[m]!, { atol: 1e-5 });
    expect(protos.passes).toBe(2);
    protos.dispose();
    driver.dispose();
    disposeParams(params);
    tf.dispose([xa, xv]);
  });

  it('a prototype pass reads floor(n_B / 10) batches and stops, disposing what it read', async () => {
    // 25 samples of 2 classes in batches of 2: n_B = 12, so the pass takes the first 1 batch.
    const model = {
      modalities: ['audio', 'visual'],
      numClasses: 2,
      featureDim: () => 1,
      forward: (inputs: Record<string, tf.Tensor>) => ({
        'features/audio': tf.clone(inputs['audio']!),
        'features/visual': tf.clone(inputs['visual']!),
      }),
    } as unknown as MultimodalModelLike;
    let read = 0;
    const dataset = {
      name: 'counting',
      modalities: [],
      classNames: ['0', '1'],
      splitSizes: { train: 25 },
      async *batches() {
        for (let b = 0; b < 12; b++) {
          read++;
          yield {
            inputs: {
              audio: tf.tensor2d([[b], [b + 1]]),
              visual: tf.tensor2d([[2 * b], [2 * b + 2]]),
            },
            labels: tf.tensor1d([0, 1], 'int32'),
            ids: [],
          };
        }
      },
    } as unknown as MultimodalDataset;
    const protos = new PmrPrototypes({ model, dataset, batchSize: 2, momentum: 0 });
    await protos.onEpochEnd(0);
    expect(read).toBe(1);
    expectAllClose(protos.prototypes('audio'), [[0], [1]], { atol: 0 });
    expectAllClose(protos.prototypes('visual'), [[0], [2]], { atol: 0 });
    await expectNoTensorLeak(() => protos.onEpochEnd(1), { steps: 5, warmup: 1 });
    expect(read).toBe(7);
    protos.dispose();
  });

  it('distances, class means and the weak-modality rule: known answers', () => {
    const d = prototypeDistances(
      tf.tensor2d([
        [0, 0],
        [3, 4],
      ]),
      tf.tensor2d([
        [3, 4],
        [0, 0],
      ]),
    );
    expectAllClose(
      d,
      [
        [5, 0],
        [0, 5],
      ],
      { atol: 1e-3 },
    );
    const means = classMeans(
      tf.tensor2d([
        [1, 1],
        [3, 3],
        [5, 5],
      ]),
      tf.tensor1d([0, 0, 1], 'int32'),
      tf.tensor2d([
        [9, 9],
        [9, 9],
        [7, 7],
      ]),
    );
    expectAllClose(means, [
      [2, 2],
      [5, 5],
      [7, 7],
    ]);
    expect(pmrWeakModalities(['a', 'v'], { a: 4, v: 2 })).toEqual(['v']);
    expect(pmrWeakModalities(['a', 'v'], { a: 2, v: 2 })).toEqual([]);
    expect(pmrWeakModalities(['a', 'b', 'c'], { a: 4, b: 1, c: 3 })).toEqual(['b']);
    tf.dispose([d, means]);
  });

  it('does not leak tensors over 200 loss evaluations', async () => {
    const proto = tf.tensor2d([
      [0, 1],
      [1, 0],
    ]);
    const term = pmrLoss({ prototypes: () => proto, alpha: 1 });
    const outputs = {
      'features/a': tf.tensor2d([
        [0.1, 0.9],
        [0.8, 0.3],
      ]),
      'features/b': tf.tensor2d([
        [0.5, 0.5],
        [0.4, 0.6],
      ]),
    };
    const labels = tf.tensor1d([0, 1], 'int32');
    const ctx = { epoch: 0, outputs, labels, log: () => {} } as unknown as StepContext;
    await expectNoTensorLeak(() => tf.tidy(() => term.compute(outputs, labels, ctx)).dispose());
    tf.dispose([proto, labels, ...Object.values(outputs)]);
  });

  it('rejects bad options', () => {
    expect(() => pmrLoss({ prototypes: () => tf.scalar(0), alpha: -2 })).toThrow(/alpha=-2/);
    expect(() =>
      pmrLoss({ prototypes: () => tf.scalar(0), alpha: 1, window: { start: -1 } }),
    ).toThrow(/window/);
    expect(() => pmrLoss({ prototypes: 3 as never, alpha: 1 })).toThrow(/PmrPrototypes/);
  });
});
