/**
 * Parity with the independent float64 PyTorch reference (tools/reference/igm/
 * igm_steps_reference.py): two official-variant steps and one paper-variant step of modality
 * "a" with the flat projection of v's T installed. Tolerance 1e-5: float32 forward/backward of
 * a 3-layer net at O(1) values plus two SGD steps accumulate a few 1e-7 relative rounding.
 */

import { unimodalStep } from '@igm/alternating-trainer';
import { chain, findState, type MultimodalBatch, type Rng, sgd } from '@igm/core';
import { type FlatProjectionState, flatProjection, setProjection } from '@igm/flat-projection';
import { sam } from '@igm/sam';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { runTrainerStep, TransformDriver } from '@igm/trainer';
import { expect, it } from 'vitest';
import { officialStep, perTensorPerturbation } from '../src';
import { ParityModel } from './parity-model';

interface Fixture {
  config: {
    lr: number;
    momentum: number;
    weightDecay: number;
    tau: number;
    rhoEncoder: number;
    rhoHead: number;
    flatRatio: number;
    rhoSam: number;
    dims: Record<string, number>;
    hidden: [number, number];
    classes: number;
  };
  params: Record<string, number[] | number[][]>;
  batches: Array<{ x: Record<string, number[][]>; y: number[] }>;
  draws: Array<{ lambda: number; perm: number[] }>;
  T: Record<string, number[][]>;
  official: {
    steps: Array<{
      lossOri: number;
      lossFlat: number;
      loss: number;
      params: Record<string, number[] | number[][]>;
    }>;
  };
  paper: { loss: number; params: Record<string, number[] | number[][]> };
}

const fx = loadFixture<Fixture>(new URL('./fixtures/igm-steps.json', import.meta.url));

/** An Rng that replays the reference's mixup draws. */
function replayRng(draws: Fixture['draws']): Rng {
  let i = 0;
  let j = 0;
  const fail = (): never => {
    throw new Error('replayRng: unexpected draw');
  };
  return {
    beta: () => draws[i++]!.lambda,
    permutation: () => Int32Array.from(draws[j++]!.perm),
    uniform: fail,
    normal: fail,
    int: fail,
    nextSeed: fail,
    fork: fail,
    getState: fail,
    setState: fail,
  };
}

function batchOf(b: Fixture['batches'][number]): MultimodalBatch {
  return {
    inputs: Object.fromEntries(Object.entries(b.x).map(([m, x]) => [m, tf.tensor2d(x)])),
    labels: tf.tensor1d(b.y, 'int32'),
    ids: b.y.map((_, i) => String(i)),
  };
}

function setupDriver(withSam: boolean, rng: Rng) {
  const c = fx.config;
  const model = new ParityModel(c.dims, c.hidden, c.classes, fx.params);
  const layers = ['a', 'v'].flatMap((m) => model.headLayers(m));
  const members = [
    ...(withSam ? [sam({ rho: c.rhoSam })] : []),
    flatProjection({ layers, order: ['v', 'a'], tau: c.tau }),
    sgd({ learningRate: c.lr, momentum: c.momentum, weightDecay: c.weightDecay }),
  ];
  const params = new Map(model.params().map((p) => [p.key, p]));
  const logs: Record<string, number> = {};
  const driver = new TransformDriver(chain(...members), params, rng, (k, v) => {
    logs[k] = v;
  });
  const state = findState<FlatProjectionState>(driver.state, 'flatProjection')!;
  tf.tidy(() =>
    setProjection(
      state,
      Object.fromEntries(Object.entries(fx.T).map(([k, t]) => [k, tf.tensor2d(t)])),
    ),
  );
  return { model, driver, logs };
}

function expectParams(
  model: ParityModel,
  expected: Record<string, number[] | number[][]>,
  label: string,
) {
  for (const [k, v] of Object.entries(expected)) {
    expectAllClose(model.variable(k), v, { atol: 1e-5, label: `${label} ${k}` });
  }
}

describeEachBackend('IGM step parity with the PyTorch reference', () => {
  it('official variant (1.7): two steps with mixup, per-tensor eps never undone, flat loss, projection', () => {
    const c = fx.config;
    const { model, driver, logs } = setupDriver(false, replayRng(fx.draws));
    const step = officialStep({
      mixup: { alpha: 1 },
      rhoEncoder: c.rhoEncoder,
      rhoHead: c.rhoHead,
      flatRatio: c.flatRatio,
    });
    fx.official.steps.forEach((expected, i) => {
      const batch = batchOf(fx.batches[i]!);
      const loss = runTrainerStep(step, {
        model,
        driver,
        batch,
        epoch: 0,
        batchIndex: i,
        batchesPerEpoch: 2,
        stage: 'a',
        log: (k, v) => {
          logs[k] = v;
        },
      });
      expect(loss).toBeCloseTo(expected.loss, 5);
      expect(logs['loss/ori']).toBeCloseTo(expected.lossOri, 5);
      expect(logs['loss/flat']).toBeCloseTo(expected.lossFlat, 5);
      expect(logs['mixup/lambda']).toBe(fx.draws[i]!.lambda);
      expect(logs['flatProjection/projectedKernels']).toBe(2);
      expectParams(model, expected.params, `official step ${i + 1}`);
      tf.dispose([...Object.values(batch.inputs), batch.labels]);
    });
    driver.dispose();
    model.dispose();
  });

  it('paper variant (1.6): standard SAM with restore, projection, SGD', () => {
    const { model, driver } = setupDriver(true, replayRng([]));
    const batch = batchOf(fx.batches[0]!);
    const loss = runTrainerStep(unimodalStep(), {
      model,
      driver,
      batch,
      epoch: 0,
      batchIndex: 0,
      batchesPerEpoch: 1,
      stage: 'a',
      log: () => {},
    });
    expect(loss).toBeCloseTo(fx.paper.loss, 5);
    expectParams(model, fx.paper.params, 'paper step');
    tf.dispose([...Object.values(batch.inputs), batch.labels]);
    driver.dispose();
    model.dispose();
  });

  it('per-tensor perturbation: rho g/||g||, and 0 for a zero gradient (the reference gives NaN)', () => {
    expectAllClose(perTensorPerturbation(tf.tensor1d([3, 4]), 0.5), [0.3, 0.4], { atol: 1e-7 });
    expectAllClose(
      perTensorPerturbation(tf.zeros([2, 2]), 0.5),
      [
        [0, 0],
        [0, 0],
      ],
      { atol: 0 },
    );
  });

  it('with the official rho (1e-10) the step is mixup with skewed label weights (1.7 notes)', () => {
    // L ~ (0.7 lam + 0.3) CE(o, y) + 0.7 (1 - lam) CE(o, y_pi): compare the official step's loss
    // with that closed form at the initial weights.
    const { model, driver, logs } = setupDriver(false, replayRng(fx.draws));
    const batch = batchOf(fx.batches[0]!);
    const { lambda, perm } = fx.draws[0]!;
    const expected = tf.tidy(() => {
      const x = batch.inputs['a']!;
      const xm = tf.add(
        tf.mul(x, lambda),
        tf.mul(tf.gather(x, tf.tensor1d(perm, 'int32')), 1 - lambda),
      );
      const o = model.forward({ a: xm }, { training: false, modalities: ['a'] })['logits/a']!;
      const logp = tf.logSoftmax(o as tf.Tensor2D);
      const pick = (y: tf.Tensor1D) => tf.neg(tf.sum(tf.mul(tf.oneHot(y, 3), logp), 1));
      const y = batch.labels;
      const yp = tf.gather(y, tf.tensor1d(perm, 'int32')) as tf.Tensor1D;
      return tf
        .mean(tf.add(tf.mul(pick(y), 0.7 * lambda + 0.3), tf.mul(pick(yp), 0.7 * (1 - lambda))))
        .dataSync()[0]!;
    });
    const loss = runTrainerStep(officialStep({ rhoEncoder: 1e-10, rhoHead: 1e-10 }), {
      model,
      driver,
      batch,
      epoch: 0,
      batchIndex: 0,
      batchesPerEpoch: 1,
      stage: 'a',
      log: (k, v) => {
        logs[k] = v;
      },
    });
    expect(loss).toBeCloseTo(expected, 6);
    tf.dispose([...Object.values(batch.inputs), batch.labels]);
    driver.dispose();
    model.dispose();
  });

  it('does not leak tensors over 200 official and paper steps', async () => {
    for (const variant of ['official', 'paper'] as const) {
      const draws = Array.from({ length: 400 }, () => fx.draws[0]!);
      const { model, driver } = setupDriver(variant === 'paper', replayRng(draws));
      const batch = batchOf(fx.batches[0]!);
      const step =
        variant === 'official' ? officialStep({ rhoEncoder: 1e-3, rhoHead: 1e-3 }) : unimodalStep();
      await expectNoTensorLeak((i) =>
        runTrainerStep(step, {
          model,
          driver,
          batch,
          epoch: 0,
          batchIndex: i,
          batchesPerEpoch: 1,
          stage: 'a',
          log: () => {},
        }),
      );
      tf.dispose([...Object.values(batch.inputs), batch.labels]);
      driver.dispose();
      model.dispose();
    }
  });
});
