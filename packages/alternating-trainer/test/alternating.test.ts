import { createRng, type GradientTransform, type Param } from '@igm/core';
import { describeEachBackend, expectAllClose, tf } from '@igm/test-utils';
import { crossEntropyPerSample } from '@igm/trainer';
import { describe, expect, it } from 'vitest';
import {
  gaussianData,
  MemoryDataset,
  momentumDescend,
  TinyModel,
} from '../../trainer/test/doubles';
import {
  batchWiseStep,
  drawMixup,
  mixInputs,
  mixupLossPerSample,
  previousInOrder,
  runBatchWise,
  runStageWise,
  type StageBoundary,
  stagesFromEpochList,
  unimodalStep,
} from '../src';

function setup(sharedHead = false) {
  const dataset = new MemoryDataset(gaussianData({ n: 120, seed: 3 }));
  const model = new TinyModel({
    modalities: { strong: 6, weak: 6 },
    numClasses: 3,
    seed: 5,
    sharedHead,
  });
  return { dataset, model };
}

const snapshot = (params: Param[]) =>
  new Map(params.map((p) => [p.key, (p.variable.dataSync() as Float32Array).slice()]));

/** Records which keys each step updates, per stage, and the momentum buffers' norm at stage start. */
function recordingTransform(lr: number) {
  const inner = momentumDescend(lr, 0.9);
  const seen: Array<{ stage: string | undefined; step: number; keys: string[] }> = [];
  const t: GradientTransform<Map<string, tf.Variable>> = {
    name: 'recording',
    init: (p) => inner.init(p),
    update(grads, s, ctx) {
      seen.push({ stage: ctx.stage, step: ctx.step, keys: [...grads.keys()].sort() });
      return inner.update(grads, s, ctx);
    },
    state: (s) => inner.state(s),
  };
  return { t, seen };
}

describe('stage plans', () => {
  it('builds CREMA-D [25, 50] x 6 and the cyclic predecessor for m >= 3', () => {
    const list = Array.from({ length: 6 }, () => [25, 50]).flat();
    const stages = stagesFromEpochList(['audio', 'visual'], list);
    expect(stages).toHaveLength(12);
    expect(stages.slice(0, 3)).toEqual([
      { name: 'audio', epochs: 25 },
      { name: 'visual', epochs: 50 },
      { name: 'audio', epochs: 25 },
    ]);
    expect(stages.reduce((n, s) => n + s.epochs, 0)).toBe(450);
    // NVGesture: depth uses flow, RGB uses depth, flow uses RGB (k = mod(j + m - 2, m) + 1).
    const order = ['depth', 'rgb', 'flow'];
    expect(order.map((m) => previousInOrder(order, m))).toEqual(['flow', 'depth', 'rgb']);
    expect(previousInOrder(['audio', 'visual'], 'audio')).toBe('visual');
    expect(stagesFromEpochList(order, [50, 50, 50, 50]).map((s) => s.name)).toEqual([
      'depth',
      'rgb',
      'flow',
      'depth',
    ]);
    expect(() => stagesFromEpochList(['a', 'a'], [1])).toThrow(/names a modality twice/);
    expect(() => stagesFromEpochList(['a'], [])).toThrow(/Expected epochs per stage/);
    expect(() => stagesFromEpochList(['a'], [2, 0.5])).toThrow(/epochList\[1\]=0.5/);
    expect(() => previousInOrder(['a'], 'b')).toThrow(/not in the order \[a\]/);
  });
});

describeEachBackend('stage-wise alternation', () => {
  it('trains one modality per stage, reloads the best, resets the optimizer, and calls beforeStage', async () => {
    const { dataset, model } = setup();
    const { t, seen } = recordingTransform(0.05);
    const boundaries: Array<Record<string, unknown>> = [];
    const atStageStart: Array<Map<string, Float32Array>> = [];
    const summary = await runStageWise({
      model,
      dataset,
      transform: t,
      order: ['strong', 'weak'],
      epochList: [2, 1, 1],
      batchSize: 8,
      progress: 'none',
      callbacks: [
        {
          name: 'watch',
          onStageBegin: () => void atStageStart.push(snapshot(model.params())),
        },
      ],
      beforeStage: async (b: StageBoundary) => {
        const bufs = (b.transformState as Map<string, tf.Variable>).values();
        const norm = [...bufs].reduce((n, v) => n + tf.sum(tf.abs(v)).dataSync()[0]!, 0);
        const outputs: string[][] = [];
        const n = await b.forEachInferenceOutputs(b.previousModality, (out) => {
          outputs.push(Object.keys(out).sort());
        });
        boundaries.push({
          stage: b.stageIndex,
          j: b.modality,
          k: b.previousModality,
          norm,
          n,
          outputs: outputs[0],
        });
      },
    });
    expect(boundaries).toEqual([
      {
        stage: 1,
        j: 'weak',
        k: 'strong',
        norm: 0,
        n: 9,
        outputs: ['features/strong', 'input/head/strong/0', 'logits/strong', 'probs/fused'],
      },
      {
        stage: 2,
        j: 'strong',
        k: 'weak',
        norm: 0,
        n: 9,
        outputs: ['features/weak', 'input/head/weak/0', 'logits/weak', 'probs/fused'],
      },
    ]);
    // Only the stage's modality is trained, and the optimizer step restarts at 0 each stage.
    const strongKeys = [
      'strong/enc/bias',
      'strong/enc/kernel',
      'strong/head/bias',
      'strong/head/kernel',
    ];
    const weakKeys = strongKeys.map((k) => k.replace('strong', 'weak'));
    expect(
      seen.filter((s) => s.stage === 'strong').every((s) => s.keys.join() === strongKeys.join()),
    ).toBe(true);
    expect(
      seen.filter((s) => s.stage === 'weak').every((s) => s.keys.join() === weakKeys.join()),
    ).toBe(true);
    expect(seen.map((s) => s.step)).toEqual([
      ...Array.from({ length: 18 }, (_, i) => i),
      ...Array.from({ length: 9 }, (_, i) => i),
      ...Array.from({ length: 9 }, (_, i) => i),
    ]);
    // The weak modality's parameters did not move during stage 0 (no decay, no momentum).
    for (const k of weakKeys)
      expectAllClose(atStageStart[1]!.get(k)!, atStageStart[0]!.get(k)!, { atol: 0, label: k });
    expect(summary.history.map((r) => r.stage)).toEqual(['strong', 'strong', 'weak', 'strong']);
    model.dispose();
  });

  it('starts each stage from the best weights so far (global across stages)', async () => {
    const { dataset, model } = setup();
    const weights: Array<Map<string, Float32Array>> = [];
    const scores: number[] = [];
    const checked: number[] = [];
    await runStageWise({
      model,
      dataset,
      transform: momentumDescend(0.3, 0.9),
      order: ['strong', 'weak'],
      epochList: [3, 2, 2],
      batchSize: 8,
      progress: 'none',
      callbacks: [
        {
          name: 'w',
          onEpochEnd: (_e, logs) => {
            weights.push(snapshot(model.params()));
            scores.push(logs!['validation/macroF1']!);
          },
        },
      ],
      beforeStage: (b) => {
        // First epoch with the highest validation macro-F1 so far (strict improvement wins).
        const best = scores.reduce((bi, v, i) => (v > scores[bi]! ? i : bi), 0);
        for (const [k, v] of snapshot(model.params())) {
          expectAllClose(v, weights[best]!.get(k)!, { atol: 0, label: k });
        }
        checked.push(b.stageIndex);
      },
    });
    expect(checked).toEqual([1, 2]);
    model.dispose();
  });

  it('unimodal mixup step matches the hand-computed mixup loss', () => {
    const rng = createRng(3);
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    const draw = drawMixup(rng, 1.0, 3);
    const replay = createRng(3);
    const lambda = replay.beta(1, 1);
    const perm = Array.from(replay.permutation(3));
    expect(draw.lambda).toBe(lambda);
    expect(Array.from(draw.permutation.dataSync())).toEqual(perm);
    const rows = [
      [1, 2],
      [3, 4],
      [5, 6],
    ];
    expectAllClose(
      mixInputs(x, draw),
      rows.map((r, i) => r.map((v, c) => lambda * v + (1 - lambda) * rows[perm[i]!]![c]!)),
      { atol: 1e-6 },
    );
    const logits = tf.tensor2d([
      [1, 0, -1],
      [0, 2, 0],
      [0.5, 0.5, 0],
    ]);
    const y = tf.tensor1d([0, 1, 2], 'int32');
    const ce = crossEntropyPerSample(logits, y).dataSync();
    const ceP = crossEntropyPerSample(
      logits,
      tf.tensor1d(
        perm.map((p) => [0, 1, 2][p]!),
        'int32',
      ),
    ).dataSync();
    expectAllClose(
      mixupLossPerSample(logits, y, draw),
      Array.from(ce, (c, i) => lambda * c + (1 - lambda) * ceP[i]!),
      { atol: 1e-6 },
    );
    expect(() => drawMixup(rng, 0, 3)).toThrow(/alpha=0/);
  });

  it('keeps numTensors flat over 200+ stage-wise steps with mixup', async () => {
    const { dataset, model } = setup();
    const counts: number[] = [];
    await runStageWise({
      model,
      dataset,
      step: unimodalStep({ mixup: { alpha: 1 } }),
      transform: momentumDescend(0.02, 0.9),
      order: ['strong', 'weak'],
      epochList: [12, 12],
      batchSize: 8,
      progress: 'none',
      evaluate: ['validation'],
      callbacks: [{ name: 'count', onBatchEnd: () => void counts.push(tf.memory().numTensors) }],
    });
    expect(counts.length).toBe(24 * 9);
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
  });
});

describeEachBackend('batch-wise alternation (MLA)', () => {
  it('takes one step per modality per batch on the shared head; other encoders get nothing', async () => {
    const { dataset, model } = setup(true);
    const { t, seen } = recordingTransform(0.05);
    const summary = await runBatchWise({
      model,
      dataset,
      transform: t,
      order: ['strong', 'weak'],
      epochs: 2,
      batchSize: 8,
      progress: 'none',
    });
    expect(summary.steps).toBe(18);
    expect(seen).toHaveLength(36);
    expect(seen[0]).toEqual({
      stage: 'strong',
      step: 0,
      keys: ['shared/head/bias', 'shared/head/kernel', 'strong/enc/bias', 'strong/enc/kernel'],
    });
    expect(seen[1]).toEqual({
      stage: 'weak',
      step: 1,
      keys: ['shared/head/bias', 'shared/head/kernel', 'weak/enc/bias', 'weak/enc/kernel'],
    });
    expect(summary.final!.test!.outputs['strong']!.accuracy).toBeGreaterThan(0.7);
    model.dispose();
  });

  it('the second modality sees the head as updated by the first (sequential steps)', async () => {
    const { dataset, model } = setup(true);
    const inner = momentumDescend(0.1, 0.9);
    let checkedWeak = 0;
    let kernelAtStrong: Float32Array | null = null;
    const probe: GradientTransform<Map<string, tf.Variable>> = {
      name: 'probe',
      init: (p) => inner.init(p),
      update(grads, s, ctx) {
        const K = ctx.params.get('shared/head/kernel')!.variable;
        const c = ctx.params.get('shared/head/bias')!.variable;
        if (ctx.stage === 'strong') kernelAtStrong = (K.dataSync() as Float32Array).slice();
        if (ctx.stage === 'weak' && ctx.step < 6) {
          const f = ctx.outputs['features/weak']!;
          expectAllClose(ctx.outputs['logits/weak']!, tf.add(tf.matMul(f, K), c), { atol: 1e-5 });
          // ... and that head differs from the one the strong step saw.
          expect(Array.from(K.dataSync())).not.toEqual(Array.from(kernelAtStrong!));
          checkedWeak++;
        }
        return inner.update(grads, s, ctx);
      },
      state: (s) => inner.state(s),
    };
    await runBatchWise({
      model,
      dataset,
      transform: probe,
      order: ['strong', 'weak'],
      epochs: 1,
      batchSize: 8,
      progress: 'none',
    });
    expect(checkedWeak).toBe(3);
    const unshared = setup(false).model;
    expect(() => batchWiseStep({ order: ['strong'] }).validate!(unshared)).toThrow(
      /batchWiseStep: headGroup "head\/shared" selects no parameter.*parameter groups: encoder\/strong: /,
    );
    unshared.dispose();
    expect(() => batchWiseStep({ order: [] })).toThrow(/Expected the modalities in step order/);
    model.dispose();
  });

  it('keeps numTensors flat over 200 batch-wise steps', async () => {
    const { dataset, model } = setup(true);
    const counts: number[] = [];
    await runBatchWise({
      model,
      dataset,
      transform: momentumDescend(0.02, 0.9),
      order: ['strong', 'weak'],
      epochs: 23,
      batchSize: 8,
      progress: 'none',
      evaluate: ['validation'],
      callbacks: [{ name: 'count', onBatchEnd: () => void counts.push(tf.memory().numTensors) }],
    });
    expect(counts.length).toBe(23 * 9);
    expect(new Set(counts.slice(1)).size).toBe(1);
    model.dispose();
  });
});
