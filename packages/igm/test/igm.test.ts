import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runStageWise, type StageBoundary } from '@igm/alternating-trainer';
import { findState } from '@igm/core';
import {
  activeProjections,
  type FlatProjectionState,
  flatProjectionMatrix,
} from '@igm/flat-projection';
import { describeEachBackend, expectAllClose, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { gaussianData, MemoryDataset } from '../../trainer/test/doubles';
import { igm } from '../src';
import { ParityModel } from './parity-model';

function setup(seed = 2) {
  const dataset = new MemoryDataset(
    gaussianData({ n: 150, dims: { a: 5, v: 4 }, signal: { a: 2.0, v: 0.7 }, seed: 4 }),
  );
  const model = new ParityModel({ a: 5, v: 4 }, [6, 4], 3, undefined, seed);
  return { dataset, model };
}

const snapshot = (model: ParityModel) =>
  new Map(model.params().map((p) => [p.key, (p.variable.dataSync() as Float32Array).slice()]));

describeEachBackend('igm()', () => {
  it('stage boundary: T is built from the previous modality at the best checkpoint and installed', async () => {
    const { dataset, model } = setup();
    const method = igm({
      variant: 'paper',
      epochList: [3, 1, 1],
      order: ['a', 'v'],
      learningRate: 0.05,
    });
    const c = method.compose(model);
    const snapshots: Array<Map<string, Float32Array>> = [];
    const scores: number[] = [];
    const checked: string[] = [];
    const summary = await runStageWise({
      model,
      dataset,
      order: c.order,
      epochList: [3, 1, 1],
      step: c.step,
      transform: c.transform,
      batchSize: 10,
      progress: 'none',
      callbacks: [
        {
          name: 'snap',
          onEpochEnd: (_e, logs) => {
            snapshots.push(snapshot(model));
            scores.push(logs!['validation/macroF1']!);
          },
        },
      ],
      beforeStage: async (b: StageBoundary) => {
        // Weights at the boundary are the best epoch's (strictly best validation macro-F1).
        const best = scores.reduce((bi, v, i) => (v > scores[bi]! ? i : bi), 0);
        for (const [k, v] of snapshot(model))
          expectAllClose(v, snapshots[best]!.get(k)!, { atol: 0, label: k });
        await c.beforeStage(b);
        // Independent Y from the same pass: sum of outer products of batch means of the
        // previous modality's head-layer inputs.
        const k = b.previousModality;
        const layers = model.headLayers(k);
        const ys = layers.map((l) => tf.zeros([l.inputDim, l.inputDim]));
        let n = 0;
        await b.forEachInferenceOutputs(k, (out) => {
          n++;
          layers.forEach((l, i) => {
            const mean = tf.mean(out[l.inputName]!, 0);
            const next = tf.add(ys[i]!, tf.outerProduct(mean as tf.Tensor1D, mean as tf.Tensor1D));
            tf.keep(next);
            ys[i]!.dispose();
            ys[i] = next;
          });
        });
        expect(n).toBe(9); // floor(90 / 10) training batches, dropLast
        const state = findState<FlatProjectionState>(b.transformState, 'flatProjection')!;
        expect(activeProjections(state).sort()).toEqual(layers.map((l) => l.kernelKey).sort());
        layers.forEach((l, i) => {
          const expected = flatProjectionMatrix(ys[i] as tf.Tensor2D, 0.4, { method: 'eigen' });
          expectAllClose(state.matrices.get(l.kernelKey)!, expected, {
            atol: 1e-5,
            label: `T of ${l.kernelKey}`,
          });
          expected.dispose();
        });
        tf.dispose(ys);
        checked.push(`${b.modality}<-${k}`);
      },
    });
    expect(checked).toEqual(['v<-a', 'a<-v']);
    const rec = summary.history[3]!.records!;
    expect(rec['T/a/head0/kernel/spectrum']).toHaveLength(2);
    expect((rec['T/a/head0/kernel/spectrum'] as number[])[0]).toBeCloseTo(Math.exp(-0.4), 5);
    expect(rec['T/a/head0/kernel/batches']).toBe(9);
    const eig = rec['T/a/head0/kernel/eigenvalues'] as number[];
    expect(eig).toHaveLength(6);
    expect(eig[0]).toBeCloseTo(1, 6); // smallest s -> scale 1
    expect(eig[5]).toBeCloseTo(Math.exp(-0.4), 6); // dominant direction damped by e^-tau
    model.dispose();
  });

  it('trains end to end in both variants and without SAM', async () => {
    const results: Record<string, number> = {};
    for (const [name, options] of [
      ['paper', { variant: 'paper' as const }],
      ['official', { variant: 'official' as const }],
      ['official-no-mixup', { variant: 'official' as const, mixup: false as const }],
      ['no-sam', { sam: false as const }],
    ] as const) {
      const { dataset, model } = setup();
      const summary = await igm({
        ...options,
        epochList: [4, 2],
        order: ['a', 'v'],
        learningRate: 0.1,
      }).train({
        model,
        dataset,
        batchSize: 10,
        seed: 3,
        progress: 'none',
      });
      results[name] = summary.final!.test!.outputs['a']!.accuracy;
      expect(summary.fusionRule).toBe('mean-softmax');
      expect(summary.history.map((r) => r.stage)).toEqual(['a', 'a', 'a', 'a', 'v', 'v']);
      model.dispose();
    }
    // The strong modality alone separates the classes. Mixup (alpha 1, always on in the official
    // variant) slows fitting on this tiny problem: 4 epochs reach ~0.73 against ~0.93 without it.
    for (const [name, acc] of Object.entries(results)) {
      expect(acc, `${name}: ${JSON.stringify(results)}`).toBeGreaterThan(
        name === 'official' ? 0.6 : 0.8,
      );
    }
  });

  it('an aborted IGM run resumed mid-stage (T, momentum, mixup RNG restored) ends like an uninterrupted one', async () => {
    const run = async (dir: string, abortAt?: number, resume = false) => {
      const { dataset, model } = setup();
      const controller = new AbortController();
      let left = abortAt ?? -1;
      const summary = await igm({
        variant: 'official',
        epochList: [2, 2, 1],
        order: ['a', 'v'],
        learningRate: 0.05,
      }).train({
        model,
        dataset,
        batchSize: 10,
        seed: 9,
        progress: 'none',
        checkpoint: { dir },
        resume,
        signal: controller.signal,
        callbacks: [{ name: 'abort', onBatchEnd: () => void (--left === 0 && controller.abort()) }],
      });
      const weights = model.params().map((p) => Array.from(p.variable.dataSync()));
      model.dispose();
      return { summary, weights };
    };
    const full = await run(mkdtempSync(join(tmpdir(), 'igm-full-')));
    const dir = mkdtempSync(join(tmpdir(), 'igm-resume-'));
    const aborted = await run(dir, 23); // stage 1 (v), epoch 2, batch 5: T of a installed
    expect(aborted.summary.status).toBe('aborted');
    const resumed = await run(dir, undefined, true);
    expect(resumed.summary.history.map((r) => r.metrics)).toEqual(
      full.summary.history.map((r) => r.metrics),
    );
    expect(resumed.weights).toEqual(full.weights);
  });

  it('rejects bad options with clear messages', () => {
    expect(() => igm({ epochList: [1], variant: 'offical' as 'official' })).toThrow(
      /variant="offical". Expected one of "paper", "official"/,
    );
    expect(() => igm({ epochList: [] })).toThrow(/Expected epochs per stage/);
    expect(() => igm({ epochList: [1], tau: -1 })).toThrow(/tau=-1/);
    expect(() => igm({ epochList: [1], sam: 'asam', variant: 'official' })).toThrow(
      /ASAM exists only in the paper variant/,
    );
    expect(() => igm({ epochList: [1], mixup: { alpha: 0 } })).toThrow(/mixup.alpha=0/);
    expect(() => igm({ epochList: [1], rhoo: 1 } as never)).toThrow(/unknown option\(s\) "rhoo"/);
  });
});
