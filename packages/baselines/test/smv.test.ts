import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  adam,
  type BatchOptions,
  createRng,
  type MultimodalBatch,
  type MultimodalDataset,
} from '@igm/core';
import { synthetic } from '@igm/datasets';
import { BatchNorm, MultimodalModel, mlpEncoder } from '@igm/models';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { runTraining } from '@igm/trainer';
import * as tfl from '@tensorflow/tfjs-layers';
import { expect, it } from 'vitest';
import {
  createMethod,
  type SmvEpochPlan,
  SmvModel,
  SmvResampler,
  smvCopies,
  smvModalityLevel,
  smvShapley,
  smvStep,
} from '../src';
import { stepRunner } from './helpers';

interface Valuation {
  init: Record<string, number[]>;
  inputs: Record<string, number[][]>;
  labels: number[];
  phi: number[][];
}
interface Fixture {
  valuation2: Valuation & {
    copies: number[][];
    z: number[];
    alpha: number;
    gaps: number[];
    ratio: number;
    weak: number;
    K: number;
  };
  valuation3: Valuation;
  step: {
    init: Record<string, number[]>;
    final: Record<string, number[]>;
    inputs: Record<string, number[][][]>;
    labels: number[][];
    keep: number[][];
    losses: number[];
  };
}
const fx = loadFixture<Fixture>(new URL('./fixtures/smv.json', import.meta.url));

/** A training split held in memory (positions 0..N-1), honouring `indices` and `shuffle`. */
class ArrayDataset implements MultimodalDataset {
  readonly name = 'array';
  readonly modalities;
  readonly classNames = ['0', '1', '2'];
  readonly splitSizes;
  constructor(
    readonly inputs: Record<string, number[][]>,
    readonly labels: number[],
  ) {
    this.modalities = Object.entries(inputs).map(([name, x]) => ({
      name,
      kind: 'vector' as const,
      shape: [x[0]!.length],
    }));
    this.splitSizes = { train: labels.length };
  }
  async *batches(o: BatchOptions): AsyncIterable<MultimodalBatch> {
    let order = o.indices ? Array.from(o.indices) : this.labels.map((_, i) => i);
    if (o.shuffle) {
      const p = createRng(o.seed ?? 0).permutation(order.length);
      order = Array.from(p, (k) => order[k]!);
    }
    for (let s = 0; s < order.length; s += o.batchSize) {
      const rows = order.slice(s, s + o.batchSize);
      if (rows.length < o.batchSize && o.dropLast) break;
      yield {
        inputs: Object.fromEntries(
          Object.entries(this.inputs).map(([m, x]) => [m, tf.tensor2d(rows.map((r) => x[r]!))]),
        ),
        labels: tf.tensor1d(
          rows.map((r) => this.labels[r]!),
          'int32',
        ),
        ids: rows.map(String),
      };
    }
  }
}

function encoder(dIn: number, name: string): tfl.LayersModel {
  const input = tfl.input({ shape: [dIn] });
  const h = tfl.layers.dense({ units: 3, name: 'fc' }).apply(input) as tfl.SymbolicTensor;
  const b = new BatchNorm({ name: 'bn' }).apply(h) as tfl.SymbolicTensor;
  const r = tfl.layers
    .activation({ activation: 'relu', name: 'relu' })
    .apply(b) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: r, name });
}

function smvModel(init: Record<string, number[]>): SmvModel {
  const dims: Record<string, number> = { audio: 4, visual: 5, text: 3 };
  const names = [...new Set(Object.keys(init).flatMap((k) => k.split('/')[1] ?? []))].filter(
    (m) => m in dims,
  );
  const inner = new MultimodalModel({
    encoders: Object.fromEntries(names.map((m) => [m, encoder(dims[m]!, `enc_${m}`)])),
    numClasses: 3,
    head: { type: 'concat', init: 'pytorch' },
  });
  const vars = new Map(
    [...inner.params(), ...inner.nonTrainable()].map((p) => [p.key, p.variable]),
  );
  for (const [k, v] of Object.entries(init)) vars.get(k)!.assign(tf.tensor(v));
  return new SmvModel(inner);
}

const maskOf = (keep: number[], M: number) =>
  Float32Array.from(
    keep.flatMap((k) => Array.from({ length: M }, (_, m) => (k < 0 || k === m ? 1 : 0))),
  );

describeEachBackend('smv', () => {
  it("valuation (two modalities): phi, copy counts and the modality-level decision match the authors' form", async () => {
    const v = fx.valuation2;
    const model = smvModel(v.init);
    const resampler = new SmvResampler({
      model,
      dataset: new ArrayDataset(v.inputs, v.labels),
      valuationView: 'deterministic',
    });
    const before = tf.memory().numTensors;
    const phi = await resampler.valuate(1, 16);
    expect(tf.memory().numTensors).toBe(before);
    // phi is a multiple of 1/2: exact.
    expect(phi).toEqual(v.phi);
    expect(phi.map((p) => p.map(smvCopies))).toEqual(v.copies);
    const decision = smvModalityLevel(phi, v.z, v.alpha);
    expectAllClose(decision.gaps, v.gaps, { atol: 1e-12 });
    expect(decision.ratio).toBeCloseTo(v.ratio, 12);
    expect(decision.weak).toBe(v.weak);
    expect(Math.floor(decision.ratio * v.labels.length)).toBe(v.K);
    model.dispose();
  });

  it('valuation (three modalities): the subset-weight Shapley form equals averaging over orderings', async () => {
    const v = fx.valuation3;
    const model = smvModel(v.init);
    const resampler = new SmvResampler({
      model,
      dataset: new ArrayDataset(v.inputs, v.labels),
      valuationView: 'deterministic',
    });
    const phi = await resampler.valuate(1, 7);
    phi.forEach((row, m) => {
      expectAllClose(row, v.phi[m]!, { atol: 1e-12, label: `phi[${m}]` });
    });
    model.dispose();
  });

  it('step: copies zero the other modalities’ features per sample; matches torch over two Adam steps', () => {
    const s = fx.step;
    const model = smvModel(s.init);
    let current = 0;
    const runner = stepRunner(
      model,
      smvStep({
        featureMask: (_e, _b, rows) => {
          expect(rows).toBe(8);
          return maskOf(s.keep[current]!, 2);
        },
      }),
      adam({ learningRate: 0.01, weightDecay: 1e-4 }),
    );
    for (current = 0; current < 2; current++) {
      const batch = {
        inputs: {
          audio: tf.tensor2d(s.inputs['audio']![current]!),
          visual: tf.tensor2d(s.inputs['visual']![current]!),
        },
        labels: tf.tensor1d(s.labels[current]!, 'int32'),
      };
      expect(runner.run(batch, { batchIndex: current })).toBeCloseTo(s.losses[current]!, 5);
      tf.dispose([...Object.values(batch.inputs), batch.labels]);
    }
    const vars = new Map(
      [...model.params(), ...model.nonTrainable()].map((p) => [p.key, p.variable]),
    );
    // float32 against float64 over two Adam steps with BatchNorm: 1e-5 absolute and relative.
    for (const [k, v] of Object.entries(s.final))
      expectAllClose(vars.get(k)!, v, { atol: 1e-5, rtol: 1e-5, label: k });
    runner.dispose();
    model.dispose();
  });

  it('Shapley and copy rules: known values', () => {
    // Two modalities, correctness of {a}, {v}, {a,v}: phi_a = (v(a) + v(av) - v(v)) / 2.
    expect(smvShapley([1, 0, 1], 2)).toEqual([1.5, 0.5]);
    expect(smvShapley([0, 1, 0], 2)).toEqual([-0.5, 0.5]);
    expect(smvShapley([0, 0, 0], 2)).toEqual([0, 0]);
    // Efficiency: sum_m phi_m = v(M) = M * correct(M).
    const phi3 = smvShapley([1, 0, 1, 0, 0, 1, 1], 3);
    expect(phi3.reduce((a, b) => a + b, 0)).toBeCloseTo(3, 12);
    expect([1.5, 1, 0.5, 0, -0.5, 0.4, -0.1, 0.39].map(smvCopies)).toEqual([
      0, 0, 1, 2, 3, 0, 0, 2,
    ]);
  });

  it('toy: a modality with zero fusion weights is valued as adding nothing and gets the solo copies', async () => {
    // W_visual = 0 and b = 0, labels = the audio-only predictions: v(a) = 1, v(av) = 2, and the
    // visual-only logits are 0 (argmax = class 0). So for y != 0: phi_a = 1.5, phi_v = 0.5 (one
    // visual copy); for y = 0: phi_a = phi_v = 1 (no copy).
    const v = fx.valuation2;
    const model = smvModel(v.init);
    const kernel = model.params().find((p) => p.key === 'fusion/dense_0/kernel')!.variable;
    const bias = model.params().find((p) => p.key === 'fusion/dense_0/bias')!.variable;
    kernel.assign(tf.concat([tf.slice(kernel, [0, 0], [3, -1]), tf.zeros([3, 3])]));
    bias.assign(tf.zeros([3]));
    const labels = tf.tidy(() => {
      const x = {
        audio: tf.tensor2d(v.inputs['audio']!),
        visual: tf.tensor2d(v.inputs['visual']!),
      };
      return Array.from(
        tf.argMax(model.forward(x, { training: false })['logits/audio']!, 1).dataSync(),
      );
    });
    expect(new Set(labels).size).toBeGreaterThan(1);
    const resampler = new SmvResampler({
      model,
      dataset: new ArrayDataset(v.inputs, labels),
      valuationView: 'deterministic',
      warmup: 1,
    });
    const phi = await resampler.valuate(1, 16);
    expect(phi[0]).toEqual(labels.map((y) => (y === 0 ? 1 : 1.5)));
    expect(phi[1]).toEqual(labels.map((y) => (y === 0 ? 1 : 0.5)));
    const logs: Record<string, number> = {};
    const list = await resampler.epochSamples({
      globalEpoch: 1,
      batchSize: 16,
      seed: 0,
      resumedMidEpoch: false,
      log: (n, x) => {
        logs[n] = x;
      },
    });
    const nonZero = labels.filter((y) => y !== 0).length;
    expect(list).toHaveLength(labels.length + nonZero);
    expect(logs['smv/copies/audio']).toBe(0);
    expect(logs['smv/copies/visual']).toBe(nonZero);
    model.dispose();
  });

  it('epochSamples: warm-up epochs plain; re-sampled epochs list originals + copies with aligned masks; modality level adds K weak copies', async () => {
    const v = fx.valuation2;
    const model = smvModel(v.init);
    const dataset = new ArrayDataset(v.inputs, v.labels);
    const N = v.labels.length;
    const resampler = new SmvResampler({
      model,
      dataset,
      warmup: 2,
      valuationView: 'deterministic',
    });
    const call = async (r: SmvResampler, epoch: number, batchSize = 16) => {
      const logs: Record<string, number> = {};
      const list = await r.epochSamples({
        globalEpoch: epoch,
        batchSize,
        seed: 0,
        resumedMidEpoch: false,
        log: (n, x) => {
          logs[n] = x;
        },
      });
      return { list, logs };
    };
    const e0 = await call(resampler, 0);
    expect(e0.list).toBeUndefined();
    expect(e0.logs).toEqual({ 'smv/copies/audio': 0, 'smv/copies/visual': 0 });
    const e1 = await call(resampler, 1);
    expect(e1.list).toBeUndefined();
    expect(e1.logs['smv/value/audio']).toBeCloseTo(v.phi[0]!.reduce((a, b) => a + b) / N, 12);
    expect(resampler.featureMask(1, 0, 16)).toBeUndefined();
    const e2 = await call(resampler, 2);
    const list = Array.from(e2.list!);
    const total = (k: number) => v.copies[k]!.reduce((a, b) => a + b, 0);
    expect(list).toHaveLength(N + total(0) + total(1));
    expect(e2.logs['smv/copies/audio']).toBe(total(0));
    expect(e2.logs['smv/copies/visual']).toBe(total(1));
    // Tally (position, kept modality) over the epoch's batches: originals once, copies c(phi) times.
    const tally = new Map<string, number>();
    for (let b = 0; b * 16 < list.length; b++) {
      const rows = Math.min(16, list.length - b * 16);
      const mask = resampler.featureMask(2, b, rows) ?? new Float32Array(rows * 2).fill(1);
      for (let r = 0; r < rows; r++) {
        const kept = mask[r * 2] && mask[r * 2 + 1] ? 'all' : mask[r * 2] ? 'audio' : 'visual';
        const key = `${list[b * 16 + r]}:${kept}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
      }
    }
    for (let i = 0; i < N; i++) {
      expect(tally.get(`${i}:all`)).toBe(1);
      expect(tally.get(`${i}:audio`) ?? 0).toBe(v.copies[0]![i]);
      expect(tally.get(`${i}:visual`) ?? 0).toBe(v.copies[1]![i]);
    }
    // The same epoch again (a resume at its start) gives the same list.
    expect(Array.from((await call(resampler, 2)).list!)).toEqual(list);
    // Modality level: K = floor(r N) copies, all keeping the modality with the larger gap.
    const modality = new SmvResampler({
      model,
      dataset,
      variant: 'modality',
      warmup: 1,
      valuationView: 'deterministic',
    });
    const m1 = await call(modality, 1);
    const K = Math.floor(m1.logs['smv/ratio']! * N);
    expect(m1.list).toHaveLength(N + K);
    expect(m1.logs['smv/copies/audio']! + m1.logs['smv/copies/visual']!).toBe(K);
    expect(Math.min(m1.logs['smv/copies/audio']!, m1.logs['smv/copies/visual']!)).toBe(0);
    model.dispose();
  });

  it('a run resumed inside a re-sampled epoch ends like an uninterrupted one (three modalities)', async () => {
    const dataset = synthetic({
      modalities: 3,
      classes: 3,
      samples: { train: 48, validation: 12, test: 12 },
      signal: { audio: 0.9, visual: 0.3, text: 0.5 },
      seed: 2,
    });
    const env = {
      dataset,
      numClasses: 3,
      batchSize: 16,
      seed: 1,
      encoders: () => ({
        audio: mlpEncoder({ inputDim: 16, units: [8], seed: 1, name: 'a' }),
        visual: mlpEncoder({ inputDim: 16, units: [8], seed: 2, name: 'v' }),
        text: mlpEncoder({ inputDim: 16, units: [8], seed: 3, name: 't' }),
      }),
    };
    const options = {
      epochs: 3,
      warmup: 1,
      optimizer: 'sgd',
      learningRate: 0.05,
      lrStepSize: null,
    };
    const train = async (dir: string, abortAfter?: number, resume = false) => {
      const run = createMethod('smv', options, env);
      const controller = new AbortController();
      let steps = 0;
      const summary = await runTraining({
        ...run.trainOptions(),
        callbacks: [
          ...run.callbacks,
          {
            name: 'aborter',
            onBatchEnd: () => {
              if (abortAfter !== undefined && ++steps === abortAfter) controller.abort();
            },
          },
        ],
        dataset,
        batchSize: 16,
        seed: 1,
        progress: 'none',
        checkpoint: { dir },
        resume,
        signal: controller.signal,
      });
      return { run, summary };
    };
    const full = await train(mkdtempSync(join(tmpdir(), 'igm-smv-')));
    const epoch1 = full.summary.history[1]!;
    // Epoch 1 is re-sampled: more than the 3 plain batches, and copies were added.
    expect(full.summary.history[0]!.step).toBe(3);
    expect(epoch1.step - 3).toBeGreaterThan(3);
    const copies = ['audio', 'visual', 'text'].map((m) => epoch1.logs[`smv/copies/${m}`]!);
    expect(copies.reduce((a, b) => a + b)).toBeGreaterThan(0);
    expect(Object.keys(epoch1.logs)).toContain('smv/value/text');
    const dir = mkdtempSync(join(tmpdir(), 'igm-smv-'));
    const aborted = await train(dir, 5);
    expect(aborted.summary.status).toBe('aborted');
    const plan = aborted.run.callbacks[0]!.getState!() as SmvEpochPlan;
    expect(plan.epoch).toBe(1);
    aborted.run.dispose();
    const resumed = await train(dir, undefined, true);
    expect(resumed.summary.history.map((h) => h.trainLoss)).toEqual(
      full.summary.history.map((h) => h.trainLoss),
    );
    expect(resumed.summary.history.map((h) => h.logs)).toEqual(
      full.summary.history.map((h) => h.logs),
    );
    const vars = new Map(resumed.run.model.params().map((p) => [p.key, p.variable]));
    for (const p of full.run.model.params())
      expectAllClose(vars.get(p.key)!, p.variable, { atol: 0, label: p.key });
    full.run.dispose();
    resumed.run.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects bad options and a non-concat model, and does not leak over 200 steps', async () => {
    const v = fx.valuation2;
    const model = smvModel(v.init);
    const dataset = new ArrayDataset(v.inputs, v.labels);
    expect(() => new SmvResampler({ model, dataset, warmup: 0 })).toThrow(/warmup=0/);
    expect(() => new SmvResampler({ model, dataset, variant: 'global' as never })).toThrow(
      /"sample", "modality"/,
    );
    expect(() => new SmvResampler({ model, dataset, partRatio: 0 })).toThrow(/partRatio=0/);
    const perModality = new MultimodalModel({
      encoders: {
        audio: mlpEncoder({ inputDim: 2, units: [2] }),
        visual: mlpEncoder({ inputDim: 2, units: [2], name: 'v' }),
      },
      numClasses: 3,
      head: { type: 'per-modality', hidden: [] },
    });
    expect(() => new SmvModel(perModality)).toThrow(
      /one concat fusion layer.*groups: encoder\/audio, encoder\/visual, head\/audio, head\/visual/,
    );
    perModality.dispose();
    const s = fx.step;
    const runner = stepRunner(
      model,
      smvStep({ featureMask: () => maskOf(s.keep[0]!, 2) }),
      adam({ learningRate: 0.001 }),
    );
    const batch = {
      inputs: {
        audio: tf.tensor2d(s.inputs['audio']![0]!),
        visual: tf.tensor2d(s.inputs['visual']![0]!),
      },
      labels: tf.tensor1d(s.labels[0]!, 'int32'),
    };
    await expectNoTensorLeak((i) => runner.run(batch, { batchIndex: i }));
    tf.dispose([...Object.values(batch.inputs), batch.labels]);
    runner.dispose();
    model.dispose();
  });
});
