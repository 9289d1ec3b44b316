import type { HeadLayerInfo } from '@igm/core';
import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { InputMomentAccumulator } from '../src';
import { fixture } from './fixture';

describeEachBackend('InputMomentAccumulator', () => {
  it('matches the torch reference Y = sum_b xbar_b^T xbar_b', () => {
    const acc = new InputMomentAccumulator();
    for (const b of fixture.accumulator.batches)
      tf.tidy(() => acc.add('audio/dense0/kernel', tf.tensor2d(b)));
    // float32 sums of O(1) products over 5 batches: 1e-6 absolute.
    expectAllClose(acc.get('audio/dense0/kernel'), fixture.accumulator.Y, { atol: 1e-6 });
    expect(acc.count('audio/dense0/kernel')).toBe(5);
    expect(acc.dim('audio/dense0/kernel')).toBe(6);
    acc.dispose();
  });

  it('toy: one batch of identical rows gives the outer product of that row; reset zeroes', () => {
    const acc = new InputMomentAccumulator([{ key: 'k', dim: 3 }]);
    tf.tidy(() =>
      acc.add(
        'k',
        tf.tensor2d([
          [1, 2, 3],
          [1, 2, 3],
        ]),
      ),
    );
    expectAllClose(
      acc.get('k'),
      [
        [1, 2, 3],
        [2, 4, 6],
        [3, 6, 9],
      ],
      { atol: 0 },
    );
    acc.reset();
    expectAllClose(
      acc.get('k'),
      [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ],
      { atol: 0 },
    );
    expect(acc.count('k')).toBe(0);
    acc.dispose();
  });

  it('adds head inputs from forward outputs and exposes checkpointable state', () => {
    const layers: HeadLayerInfo[] = [
      {
        modality: 'audio',
        index: 0,
        kernelKey: 'a/0/kernel',
        inputName: 'input/head/audio/0',
        inputDim: 4,
        outputDim: 3,
      },
      {
        modality: 'audio',
        index: 1,
        kernelKey: 'a/1/kernel',
        inputName: 'input/head/audio/1',
        inputDim: 3,
        outputDim: 2,
      },
    ];
    const acc = new InputMomentAccumulator(layers);
    expect(acc.stateVariables().map((v) => v.name)).toEqual([
      'Y/a/0/kernel',
      'count/a/0/kernel',
      'Y/a/1/kernel',
      'count/a/1/kernel',
    ]);
    tf.tidy(() =>
      acc.addOutputs(layers, {
        'input/head/audio/0': tf.ones([2, 4]),
        'input/head/audio/1': tf.fill([5, 3], 2),
      }),
    );
    expectAllClose(acc.get('a/1/kernel'), tf.fill([3, 3], 4), { atol: 0 });
    // Restore: a second accumulator gets the first one's state by assigning its variables.
    const copy = new InputMomentAccumulator(layers);
    const src = new Map(acc.stateVariables().map((v) => [v.name, v.variable]));
    for (const { name, variable } of copy.stateVariables()) variable.assign(src.get(name)!);
    expect(copy.count('a/0/kernel')).toBe(1);
    expectAllClose(copy.get('a/0/kernel'), acc.get('a/0/kernel'), { atol: 0 });
    expect(() => acc.addOutputs(layers, {})).toThrow(/no "input\/head\/audio\/0"/);
    expect(() => acc.add('a/0/kernel', tf.ones([2, 5]))).toThrow(
      /dimension 4, but received dimension 5/,
    );
    expect(() => acc.add('a/0/kernel', tf.ones([4]))).toThrow(/shape \[4\]/);
    expect(() => acc.get('nope')).toThrow(/no layer "nope"/);
    acc.dispose();
    copy.dispose();
    expect(() => acc.add('a/0/kernel', tf.ones([2, 4]))).toThrow(/after dispose/);
  });

  it('does not leak tensors over 200 adds', async () => {
    const acc = new InputMomentAccumulator();
    const x = tf.randomNormal([12, 64]);
    await expectNoTensorLeak(() => acc.add('k', x));
    expect(acc.count('k')).toBe(202);
    x.dispose();
    acc.dispose();
  });
});
