import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Callback, GradientTransform } from '@igm/core';
import { describeEachBackend, expectAllClose, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  crossEntropy,
  jointStep,
  readCheckpoint,
  runTraining,
  type TrainerStep,
  TrainingDivergedError,
} from '../src/node';
import { descend, gaussianData, MemoryDataset, momentumDescend, TinyModel } from './doubles';

const tmp = (): string => mkdtempSync(join(tmpdir(), 'igm-trainer-'));

function setup(seed = 5) {
  const dataset = new MemoryDataset(gaussianData({ n: 120, seed: 3 }));
  const model = new TinyModel({ modalities: { strong: 6, weak: 6 }, numClasses: 3, seed });
  return { dataset, model };
}

describeEachBackend('runTraining', () => {
  it('learns a separable toy problem and reports fused and per-modality metrics', async () => {
    const { dataset, model } = setup();
    const out = tmp();
    const summary = await runTraining({
      model,
      dataset,
      step: jointStep(),
      transform: momentumDescend(0.1, 0.9),
      epochs: 8,
      batchSize: 8,
      seed: 1,
      outDir: out,
      progress: 'none',
      fusionRule: 'mean-softmax',
    });
    expect(summary.status).toBe('completed');
    expect(summary.epochs).toBe(8);
    expect(summary.steps).toBe(8 * Math.floor(72 / 8));
    const test = summary.final!.test!;
    expect(test.n).toBe(24);
    expect(Object.keys(test.outputs).sort()).toEqual(['fused', 'strong', 'weak']);
    // The strong modality alone separates the classes (margin 2.5 sigma per dim, 6 dims).
    expect(test.outputs['strong']!.accuracy).toBeGreaterThan(0.85);
    expect(test.outputs['fused']!.accuracy).toBeGreaterThan(0.85);
    expect(summary.selection).toEqual({ split: 'validation', metric: 'macroF1' });
    expect(summary.best!.label).toMatch(/best-on-validation/);
    expect(summary.bestOnTest!.label).toMatch(/reference protocol/);
    expect(summary.bestOnTest!.value).toBeGreaterThanOrEqual(
      summary.best!.metrics.test!.outputs['fused']!.macroF1,
    );
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(8);
    const first = JSON.parse(lines[0]!);
    expect(first.lr).toBe(0.1);
    expect(first.metrics.validation.outputs.fused.mAP).toBeGreaterThan(0);
    const written = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(written.fusionRule).toBe('mean-softmax');
    expect(written.evaluatedSamples).toEqual({ validation: 24, test: 24 });
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).trainer.batchSize).toBe(8);
    model.dispose();
  });

  it('fires callbacks in the documented order, with stages', async () => {
    const { dataset, model } = setup();
    const events: string[] = [];
    const cb: Callback = {
      name: 'recorder',
      onTrainBegin: () => void events.push('trainBegin'),
      onStageBegin: (s, i) => void events.push(`stageBegin:${s}:${i}`),
      onEpochBegin: (e) => void events.push(`epochBegin:${e}`),
      onBatchBegin: (b) => void (b === 0 && events.push('batchBegin:0')),
      onBatchEnd: (b, logs) =>
        void (b === 0 && events.push(`batchEnd:0:${Number.isFinite(logs!['loss'])}`)),
      onEpochEnd: (e, logs) => void events.push(`epochEnd:${e}:${'validation/macroF1' in logs!}`),
      onStageEnd: (s) => void events.push(`stageEnd:${s}`),
      onTrainEnd: () => void events.push('trainEnd'),
    };
    const starts: string[] = [];
    await runTraining({
      model,
      dataset,
      step: jointStep(),
      transform: descend(0.05),
      stages: [
        { name: 'strong', epochs: 1 },
        { name: 'weak', epochs: 2 },
      ],
      batchSize: 24,
      callbacks: [cb],
      progress: 'none',
      onStageStart: (ctx) => {
        starts.push(`${ctx.stage.name}<-${ctx.previousStage?.name ?? '-'}:${ctx.reloadBest()}`);
      },
    });
    expect(starts).toEqual(['strong<--:false', 'weak<-strong:true']);
    expect(events).toEqual([
      'trainBegin',
      'stageBegin:strong:0',
      'epochBegin:0',
      'batchBegin:0',
      'batchEnd:0:true',
      'epochEnd:0:true',
      'stageEnd:strong',
      'stageBegin:weak:1',
      'epochBegin:1',
      'batchBegin:0',
      'batchEnd:0:true',
      'epochEnd:1:true',
      'epochBegin:2',
      'batchBegin:0',
      'batchEnd:0:true',
      'epochEnd:2:true',
      'stageEnd:weak',
      'trainEnd',
    ]);
    model.dispose();
  });

  it('reloadBest restores the weights of the best epoch so far', async () => {
    const { dataset, model } = setup();
    const snapshots: Float32Array[] = [];
    let reloaded: Float32Array | null = null;
    const summary = await runTraining({
      model,
      dataset,
      step: jointStep(),
      transform: descend(0.2),
      stages: [
        { name: 'a', epochs: 3 },
        { name: 'b', epochs: 1 },
      ],
      batchSize: 8,
      progress: 'none',
      callbacks: [
        {
          name: 'watch',
          onEpochEnd: () =>
            void snapshots.push(
              (model.variable('strong/enc/kernel').dataSync() as Float32Array).slice(),
            ),
        },
      ],
      onStageStart: (ctx) => {
        if (ctx.stageIndex === 1) {
          expect(ctx.reloadBest()).toBe(true);
          reloaded = (model.variable('strong/enc/kernel').dataSync() as Float32Array).slice();
        }
      },
    });
    const bestEpoch = summary.history.filter((r) => r.stageIndex === 0 && r.selected).pop()!.epoch;
    expectAllClose(reloaded!, snapshots[bestEpoch]!, { atol: 0 });
    model.dispose();
  });

  it('stops on a NaN loss with a clear message and keeps the last checkpoint', async () => {
    const { dataset, model } = setup();
    const ckpt = tmp();
    let calls = 0;
    const poisoned: TrainerStep = {
      name: 'poisoned',
      run(tools) {
        calls++;
        const loss = jointStep().run(tools);
        return calls > 20 ? tf.mul(tf.div(loss, 0), 0) : loss; // NaN (0 * Inf) from step 20 on
      },
    };
    const error = await runTraining({
      model,
      dataset,
      step: poisoned,
      transform: descend(0.05),
      epochs: 5,
      batchSize: 8,
      progress: 'none',
      checkpoint: { dir: ckpt },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as Error).message).toMatch(
      /loss is NaN at epoch 2, batch 2, step 20\. .*last good checkpoint is kept at .*last/,
    );
    const diverged = error as TrainingDivergedError;
    expect(diverged.position).toEqual({ epoch: 2, batch: 2, step: 20 });
    expect(Number.isNaN(diverged.loss)).toBe(true);
    expect(diverged.checkpoint).toBe(join(ckpt, 'last'));
    const last = await readCheckpoint<{ position: { globalEpoch: number } }>(ckpt, 'last');
    expect(last!.state.position.globalEpoch).toBe(2);
    model.dispose();
  });

  it('a run that diverges before its first checkpoint names none', async () => {
    const { dataset, model } = setup();
    const ckpt = tmp();
    const poisoned: TrainerStep = {
      name: 'poisoned',
      run: (tools) => tf.mul(tf.div(jointStep().run(tools), 0), 0), // NaN from the first step
    };
    const error = (await runTraining({
      model,
      dataset,
      step: poisoned,
      transform: descend(0.05),
      epochs: 3,
      batchSize: 8,
      progress: 'none',
      checkpoint: { dir: ckpt },
    }).catch((e: unknown) => e)) as TrainingDivergedError;
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect(error.checkpoint).toBeUndefined();
    expect(error.position).toEqual({ epoch: 0, batch: 0, step: 0 });
    expect(error.message).toMatch(/no checkpoint was written before it/);
    expect(error.message).not.toMatch(/kept at|resume: true/);
    model.dispose();
  });

  it('an abort stops after the current step; resuming ends like an uninterrupted run', async () => {
    const run = async (opts: {
      abortAt?: number;
      resume?: boolean;
      dir: string;
      model: TinyModel;
      onTrainBegin?: Array<Record<string, number> | undefined>;
    }) => {
      const controller = new AbortController();
      const { dataset } = setup();
      return runTraining({
        model: opts.model,
        dataset,
        step: jointStep(),
        transform: momentumDescend(0.05, 0.9),
        epochs: 4,
        batchSize: 8,
        seed: 7,
        progress: 'none',
        checkpoint: { dir: opts.dir, every: 2 },
        resume: opts.resume ?? false,
        signal: controller.signal,
        callbacks: [
          {
            name: 'aborter',
            onTrainBegin: (logs) => void opts.onTrainBegin?.push(logs),
            onBatchEnd: () => {
              if (opts.abortAt !== undefined && --opts.abortAt === 0) controller.abort();
            },
          },
        ],
      });
    };
    const m1 = setup().model;
    const full = await run({ dir: tmp(), model: m1 });
    const dir = tmp();
    const m2 = setup().model;
    const aborted = await run({ dir, model: m2, abortAt: 13 });
    expect(aborted.status).toBe('aborted');
    expect(aborted.steps).toBe(13);
    m2.dispose();
    const m3 = setup().model; // fresh weights: everything must come from the checkpoint
    const begins: Array<Record<string, number> | undefined> = [];
    const resumed = await run({ dir, model: m3, resume: true, onTrainBegin: begins });
    expect(resumed.status).toBe('completed');
    // onTrainBegin says where the run continues: 13 steps of 9 per epoch = epoch 1, batch 4.
    expect(begins).toEqual([{ resumed: 1, epoch: 1, batch: 4, step: 13, epochs: 4 }]);
    expect(resumed.history.map((r) => r.metrics)).toEqual(full.history.map((r) => r.metrics));
    expect(resumed.history.map((r) => r.trainLoss)).toEqual(full.history.map((r) => r.trainLoss));
    for (const p of m1.params()) {
      expectAllClose(m3.variable(p.key), p.variable, { atol: 0, label: p.key });
    }
    m1.dispose();
    m3.dispose();
  });

  it('passes outputs, evaluate and named losses to transforms (SAM, MMPareto shape)', async () => {
    const { dataset, model } = setup();
    const seen: string[] = [];
    const probe: GradientTransform<null> = {
      name: 'probe',
      init: () => null,
      update(grads, _s, ctx) {
        if (ctx.step === 0) {
          seen.push(...Object.keys(ctx.outputs).sort());
          const again = ctx.evaluate!(undefined, { batchStatistics: 'frozen' });
          const named = ctx.evaluate!(undefined, { loss: 'logits/weak' });
          // The named loss reaches only the weak modality's parameters.
          const weakOnly = [...named.grads].filter(([, g]) => tf.max(tf.abs(g)).dataSync()[0]! > 0);
          seen.push(
            `again:${again.grads.size}`,
            `weakOnly:${weakOnly.every(([k]) => k.startsWith('weak'))}`,
          );
          const expected = crossEntropy(named.outputs['logits/weak']!, ctx.labels);
          expectAllClose(named.loss, expected, { atol: 1e-6 });
        }
        return new Map([...grads].map(([k, g]) => [k, tf.mul(g, -0.01)]));
      },
      state: () => [],
    };
    await runTraining({
      model,
      dataset,
      step: jointStep(),
      transform: probe,
      epochs: 1,
      batchSize: 8,
      progress: 'none',
    });
    expect(seen).toEqual([
      'features/strong',
      'features/weak',
      'input/head/strong/0',
      'input/head/weak/0',
      'logits/strong',
      'logits/weak',
      'probs/fused',
      'again:8',
      'weakOnly:true',
    ]);
    model.dispose();
  });

  it('epochSamples: a re-sampled epoch visits the hook list in order, with its own batch count; resume continues it', async () => {
    // Epoch 0: the usual pass (72 samples, 9 batches of 8); epoch 1: positions 0..71 plus 20
    // repeats of position 5 (92 samples -> 11 batches); epoch 2: 30 samples (3 batches).
    const lists: Array<number[] | undefined> = [
      undefined,
      [...Array.from({ length: 72 }, (_, i) => i), ...Array.from({ length: 20 }, () => 5)],
      Array.from({ length: 30 }, (_, i) => (7 * i) % 72),
    ];
    const run = async (opts: { dir: string; abortAt?: number; resume?: boolean }) => {
      const { dataset, model } = setup();
      const trainIds = dataset.data.splits.train!.map(String);
      const seen: Array<{ epoch: number; b: number; n: number; ids: string[] }> = [];
      const hookCalls: Array<[number, boolean]> = [];
      const controller = new AbortController();
      const recording = jointStep();
      const summary = await runTraining({
        model,
        dataset,
        step: {
          name: 'recording',
          run(tools) {
            seen.push({
              epoch: tools.globalEpoch,
              b: tools.batchIndex,
              n: tools.batchesPerEpoch,
              ids: [...tools.batch.ids],
            });
            return recording.run(tools);
          },
        },
        transform: momentumDescend(0.05, 0.9),
        epochs: 3,
        batchSize: 8,
        seed: 2,
        progress: 'none',
        checkpoint: { dir: opts.dir },
        resume: opts.resume ?? false,
        signal: controller.signal,
        callbacks: [
          {
            name: 'aborter',
            onBatchEnd: () => {
              if (opts.abortAt !== undefined && --opts.abortAt === 0) controller.abort();
            },
          },
        ],
        epochSamples: ({ globalEpoch, batchSize, resumedMidEpoch, log }) => {
          expect(batchSize).toBe(8);
          hookCalls.push([globalEpoch, resumedMidEpoch]);
          const list = lists[globalEpoch];
          log('resampled', list ? list.length : 0);
          return list;
        },
      });
      return { summary, seen, hookCalls, model, trainIds };
    };
    const full = await run({ dir: tmp() });
    expect(full.summary.steps).toBe(9 + 11 + 3);
    expect(full.summary.history.map((h) => h.logs['resampled'])).toEqual([0, 92, 30]);
    const epoch1 = full.seen.filter((s) => s.epoch === 1);
    expect(epoch1.map((s) => s.n)).toEqual(Array(11).fill(11));
    expect(epoch1.flatMap((s) => s.ids)).toEqual(
      lists[1]!.slice(0, 88).map((i) => full.trainIds[i]!),
    );
    // Abort inside epoch 1 (step 12 = its third batch); the resumed run asks for the list again.
    const dir = tmp();
    const aborted = await run({ dir, abortAt: 12 });
    expect(aborted.summary.status).toBe('aborted');
    aborted.model.dispose();
    const resumed = await run({ dir, resume: true });
    expect(resumed.hookCalls).toEqual([
      [1, true],
      [2, false],
    ]);
    expect(resumed.seen[0]!).toMatchObject({ epoch: 1, b: 3 });
    expect(resumed.summary.history.map((h) => h.logs)).toEqual(
      full.summary.history.map((h) => h.logs),
    );
    expect(resumed.summary.history.map((h) => h.trainLoss)).toEqual(
      full.summary.history.map((h) => h.trainLoss),
    );
    for (const p of full.model.params()) {
      expectAllClose(resumed.model.variable(p.key), p.variable, { atol: 0, label: p.key });
    }
    full.model.dispose();
    resumed.model.dispose();
  });

  it('epochSamples: a dataset that ignores `indices` is a clear error', async () => {
    const { dataset, model } = setup();
    const ignoring = {
      ...dataset,
      name: dataset.name,
      modalities: dataset.modalities,
      classNames: dataset.classNames,
      splitSizes: dataset.splitSizes,
      batches: (o: Parameters<typeof dataset.batches>[0]) =>
        dataset.batches({ ...o, indices: undefined }),
    };
    await expect(
      runTraining({
        model,
        dataset: ignoring,
        step: jointStep(),
        transform: descend(0.01),
        epochs: 1,
        batchSize: 8,
        progress: 'none',
        epochSamples: () => Array.from({ length: 100 }, (_, i) => i % 72),
      }),
    ).rejects.toThrow(/returned 9 batches for a re-sampled epoch of 100 samples.*indices/);
    // A shorter list of whole batches is caught by the count as well.
    await expect(
      runTraining({
        model,
        dataset: ignoring,
        step: jointStep(),
        transform: descend(0.01),
        epochs: 1,
        batchSize: 8,
        progress: 'none',
        epochSamples: () => Array.from({ length: 16 }, (_, i) => i),
      }),
    ).rejects.toThrow(/returned 9 batches for a re-sampled epoch of 16 samples \(expected 2\)/);
    model.dispose();
  });

  it('keeps tf.memory().numTensors flat over 240 steps', async () => {
    const { dataset, model } = setup();
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    await runTraining({
      model,
      dataset,
      step: jointStep(),
      transform: momentumDescend(0.01, 0.9),
      epochs: 24,
      batchSize: 8,
      progress: 'none',
      evaluate: ['validation'],
      callbacks: [{ name: 'count', onBatchEnd: () => void counts.push(tf.memory().numTensors) }],
    });
    expect(counts.length).toBe(24 * 9);
    expect(new Set(counts.slice(1)).size, `numTensors per step: ${[...new Set(counts)]}`).toBe(1);
    expect(tf.memory().numTensors).toBe(before); // transform state disposed at the end
    model.dispose();
  });
});

describeEachBackend('runTraining arguments', () => {
  it('rejects bad options with messages that name the value and the fix', async () => {
    const { dataset, model } = setup();
    const base = { model, dataset, step: jointStep(), transform: descend(0.1), batchSize: 8 };
    await expect(runTraining({ ...base })).rejects.toThrow(/Pass exactly one of them/);
    await expect(runTraining({ ...base, epochs: 0 })).rejects.toThrow(/received epochs=0/);
    await expect(runTraining({ ...base, epochs: 1, batchSize: 1.5 })).rejects.toThrow(
      /batchSize=1.5/,
    );
    await expect(runTraining({ ...base, epochs: 1, batchSize: 500 })).rejects.toThrow(
      /exceeds the 72 training samples/,
    );
    await expect(runTraining({ ...base, epochs: 1, resume: true })).rejects.toThrow(
      /without checkpoint.dir/,
    );
    await expect(
      runTraining({ ...base, epochs: 1, selection: { metric: 'mAP' as 'accuracy' } }),
    ).rejects.toThrow(/selection.metric="mAP". Expected one of "macroF1", "accuracy"/);
    await expect(runTraining({ ...base, epochs: 1, epochz: 3 } as never)).rejects.toThrow(
      /unknown option\(s\) "epochz"/,
    );
    const other = new TinyModel({ modalities: { strong: 6, audio: 6 }, numClasses: 3 });
    await expect(runTraining({ ...base, model: other, epochs: 1 })).rejects.toThrow(
      /missing: audio/,
    );
    other.dispose();
    model.dispose();
  });
});
