import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  adam,
  chain,
  collectParams,
  GradientOptimizer,
  type GradientTransform,
  IgmTfjsOptimizer,
  sgd,
  toTfjsOptimizer,
} from '../src';

const N = 32;
const BATCH = 8;

function data(): { x: tf.Tensor2D; y: tf.Tensor2D } {
  return tf.tidy(() => {
    const x = tf.randomNormal([N, 4], 0, 1, 'float32', 1);
    const labels = tf.argMax(
      tf.matMul(x, tf.tensor2d([1, -1, 0, 0.5, 2, 0, -1, 0, 1, 0, 0, -2], [4, 3])),
      1,
    );
    return { x: x as tf.Tensor2D, y: tf.oneHot(labels, 3).toFloat() as tf.Tensor2D };
  });
}

/** A 4-8-3 MLP; `copyFrom` gives identical weights. MSE loss so the manual loss matches fit's exactly. */
function mlp(copyFrom?: tf.LayersModel): tf.Sequential {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [4], units: 8, activation: 'tanh' }),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  if (copyFrom) m.setWeights(copyFrom.getWeights());
  return m;
}

function mse(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.mean(tf.mean(tf.square(tf.sub(model.apply(x) as tf.Tensor, y)), -1));
}

function weightsOf(m: tf.LayersModel): Float32Array[] {
  return m.getWeights().map((w) => w.dataSync() as Float32Array);
}

function disposeModel(m: tf.LayersModel): void {
  m.dispose();
  (m.optimizer as unknown as { dispose?: () => void } | undefined)?.dispose?.();
}

/** Calls ctx.evaluate() `times` times (as SAM would), then passes the first gradients on. */
function probe(times: number, seen: number[] = []): GradientTransform<null> {
  return {
    name: 'probe',
    init: () => null,
    update(grads, _s, ctx) {
      for (let i = 0; i < times; i++) {
        const ev = ctx.evaluate!();
        seen.push(ev.grads.size);
      }
      return grads;
    },
    state: () => [],
  };
}

describeEachBackend('toTfjsOptimizer with model.fit', () => {
  it('sgd(momentum) through fit equals GradientOptimizer and tf.train.momentum', async () => {
    const { x, y } = data();
    const a = mlp();
    const b = mlp(a);
    const c = mlp(a);
    const opt = toTfjsOptimizer(sgd({ learningRate: 0.1, momentum: 0.9 }), { model: a });
    a.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await a.fit(x, y, { epochs: 2, batchSize: BATCH, shuffle: false, verbose: 0 });
    c.compile({ optimizer: tf.train.momentum(0.1, 0.9), loss: 'meanSquaredError' });
    await c.fit(x, y, { epochs: 2, batchSize: BATCH, shuffle: false, verbose: 0 });
    const g = new GradientOptimizer(sgd({ learningRate: 0.1, momentum: 0.9 }), collectParams(b));
    for (let e = 0; e < 2; e++) {
      for (let i = 0; i < N; i += BATCH) {
        const xb = tf.slice(x, [i, 0], [BATCH, 4]);
        const yb = tf.slice(y, [i, 0], [BATCH, 3]);
        g.minimize(() => mse(b, xb, yb));
        tf.dispose([xb, yb]);
      }
    }
    const wa = weightsOf(a);
    const wb = weightsOf(b);
    const wc = weightsOf(c);
    expect(opt.iterations).toBe(8);
    wa.forEach((w, i) => {
      expectAllClose(w, wb[i]!, {
        atol: 1e-6,
        rtol: 1e-5,
        label: `vs GradientOptimizer, weight ${i}`,
      });
      expectAllClose(w, wc[i]!, {
        atol: 1e-6,
        rtol: 1e-5,
        label: `vs tf.train.momentum, weight ${i}`,
      });
    });
    expect(opt.stateVariables().map((v) => v.name)).toEqual(
      a.trainableWeights.map((w) => `1.traceMomentum/${w.originalName}/buf`),
    );
    g.dispose();
    [a, b, c].forEach(disposeModel);
    tf.dispose([x, y]);
  });

  it('adam with weight decay through fit equals GradientOptimizer; lr is logged', async () => {
    const { x, y } = data();
    const a = mlp();
    const b = mlp(a);
    const make = () => adam({ learningRate: 0.01, beta2: 0.99, weightDecay: 1e-3 });
    const logs: number[] = [];
    const opt = toTfjsOptimizer(make(), { onLog: (v) => logs.push(v['lr']!) });
    a.compile({ optimizer: opt, loss: 'meanSquaredError' });
    await a.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
    const g = new GradientOptimizer(make(), collectParams(b));
    for (let i = 0; i < N; i += BATCH) {
      const xb = tf.slice(x, [i, 0], [BATCH, 4]);
      const yb = tf.slice(y, [i, 0], [BATCH, 3]);
      g.minimize(() => mse(b, xb, yb));
      tf.dispose([xb, yb]);
    }
    const wb = weightsOf(b);
    weightsOf(a).forEach((w, i) => {
      expectAllClose(w, wb[i]!, { atol: 1e-6, rtol: 1e-5, label: `weight ${i}` });
    });
    expect(logs).toEqual([0.01, 0.01, 0.01, 0.01]);
    g.dispose();
    [a, b].forEach(disposeModel);
    tf.dispose([x, y]);
  });

  it('re-evaluations inside fit keep loss and accuracy of the first pass and leak nothing', async () => {
    const { x, y } = data();
    const a = mlp();
    const b = mlp(a);
    const seen: number[] = [];
    // Full-batch steps: fit's logged loss/accuracy must be those at the weights before the step.
    a.compile({ optimizer: 'sgd', loss: 'meanSquaredError', metrics: ['accuracy'] });
    const [loss0, acc0] = (a.evaluate(x, y) as tf.Scalar[]).map((t) => {
      const v = t.dataSync()[0]!;
      t.dispose();
      return v;
    });
    a.compile({
      optimizer: toTfjsOptimizer(chain(probe(2, seen), sgd({ learningRate: 0.5, momentum: 0.9 }))),
      loss: 'meanSquaredError',
      metrics: ['accuracy'],
    });
    b.compile({
      optimizer: toTfjsOptimizer(sgd({ learningRate: 0.5, momentum: 0.9 })),
      loss: 'meanSquaredError',
      metrics: ['accuracy'],
    });
    const ha = await a.fit(x, y, { epochs: 3, batchSize: N, shuffle: false, verbose: 0 });
    const hb = await b.fit(x, y, { epochs: 3, batchSize: N, shuffle: false, verbose: 0 });
    expect(seen).toEqual([4, 4, 4, 4, 4, 4]);
    expect(Object.keys(ha.history).sort()).toEqual(['acc', 'loss']);
    expect(ha.history['loss']![0]).toBeCloseTo(loss0!, 6);
    expect(ha.history['acc']![0]).toBeCloseTo(acc0!, 6);
    // The probe does not change the update, so histories and weights equal plain sgd.
    for (const k of ['loss', 'acc'])
      expectAllClose(ha.history[k] as number[], hb.history[k] as number[], {
        atol: 1e-6,
        label: k,
      });
    const wb = weightsOf(b);
    weightsOf(a).forEach((w, i) => {
      expectAllClose(w, wb[i]!, { atol: 1e-6, rtol: 1e-5, label: `weight ${i}` });
    });
    // 200 fit steps with two re-evaluations each: tensor count flat.
    await expectNoTensorLeak(() => a.fit(x, y, { epochs: 1, batchSize: N, verbose: 0 }), {
      steps: 200,
    });
    // trainOnBatch returns the first pass's values first (extras from re-evaluations follow).
    const out = (await a.trainOnBatch(x, y)) as number[];
    // [loss, acc] of the first pass, then one accuracy per re-evaluation.
    expect(out).toHaveLength(4);
    [a, b].forEach(disposeModel);
    tf.dispose([x, y]);
  });

  it("evaluate({ batchStatistics: 'frozen' }) restores BatchNorm moving statistics", async () => {
    const { x, y } = data();
    const make = () =>
      tf.sequential({
        layers: [
          tf.layers.dense({ inputShape: [4], units: 6 }),
          tf.layers.batchNormalization({ momentum: 0.5 }),
          tf.layers.dense({ units: 3, activation: 'softmax' }),
        ],
      });
    const a = make();
    const b = make();
    b.setWeights(a.getWeights());
    const frozenProbe: GradientTransform<null> = {
      name: 'frozenProbe',
      init: () => null,
      update(grads, _s, ctx) {
        ctx.evaluate!(undefined, { batchStatistics: 'frozen' });
        return grads;
      },
      state: () => [],
    };
    a.compile({
      optimizer: toTfjsOptimizer(chain(frozenProbe, sgd({ learningRate: 0.1 })), { model: a }),
      loss: 'meanSquaredError',
    });
    b.compile({
      optimizer: toTfjsOptimizer(sgd({ learningRate: 0.1 }), { model: b }),
      loss: 'meanSquaredError',
    });
    await a.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
    await b.fit(x, y, { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
    const wb = weightsOf(b);
    weightsOf(a).forEach((w, i) => {
      expectAllClose(w, wb[i]!, {
        atol: 1e-6,
        rtol: 1e-5,
        label: `weight ${i} (incl. moving stats)`,
      });
    });
    // Control: an 'update' re-evaluation does move the moving statistics (so the check above has teeth).
    const c = make();
    c.setWeights(b.getWeights());
    const d = make();
    d.setWeights(b.getWeights());
    const updateProbe: GradientTransform<null> = {
      ...frozenProbe,
      update: (g, _s, ctx) => {
        ctx.evaluate!();
        return g;
      },
    };
    c.compile({
      optimizer: toTfjsOptimizer(chain(updateProbe, sgd({ learningRate: 0.1 }))),
      loss: 'meanSquaredError',
    });
    d.compile({ optimizer: toTfjsOptimizer(sgd({ learningRate: 0.1 })), loss: 'meanSquaredError' });
    await c.fit(x, y, { epochs: 1, batchSize: N, verbose: 0 });
    await d.fit(x, y, { epochs: 1, batchSize: N, verbose: 0 });
    const movingMean = (m: tf.LayersModel) => m.layers[1]!.getWeights()[2]!.dataSync();
    expect(Array.from(movingMean(c))).not.toEqual(Array.from(movingMean(d)));
    [c, d].forEach(disposeModel);
    const noModel = mlp();
    noModel.compile({
      optimizer: toTfjsOptimizer(chain(frozenProbe, sgd({ learningRate: 0.1 }))),
      loss: 'meanSquaredError',
    });
    await expect(noModel.fit(x, y, { epochs: 1, batchSize: N, verbose: 0 })).rejects.toThrow(
      /needs the model/,
    );
    [a, b, noModel].forEach(disposeModel);
    tf.dispose([x, y]);
  });

  it('optimizer state survives model.save({ includeOptimizer }) and loadLayersModel', async () => {
    const { x, y } = data();
    const make = () => sgd({ learningRate: 0.1, momentum: 0.9 });
    const a = mlp();
    const optA = toTfjsOptimizer(make(), { model: a });
    a.compile({ optimizer: optA, loss: 'meanSquaredError' });
    await a.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
    let saved: tf.io.ModelArtifacts | undefined;
    await a.save(
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
      { includeOptimizer: true },
    );
    const b = await tf.loadLayersModel(tf.io.fromMemory(saved!));
    expect(b.optimizer).toBeInstanceOf(IgmTfjsOptimizer);
    const optB = b.optimizer as unknown as IgmTfjsOptimizer;
    expect(optB.iterations).toBe(4);
    optB.setTransform(make(), { model: b });
    await a.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
    await b.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
    const wa = weightsOf(a);
    weightsOf(b).forEach((w, i) => {
      expectAllClose(w, wa[i]!, { atol: 1e-6, rtol: 1e-5, label: `weight ${i}` });
    });
    // Without restored momentum the continuation would differ: check the buffers match.
    const bufA = optA.stateVariables();
    optB.stateVariables().forEach((v, i) => {
      expectAllClose(v.variable, bufA[i]!.variable, { atol: 1e-6, rtol: 1e-5 });
    });
    [a, b].forEach(disposeModel);
    tf.dispose([x, y]);
  });

  it('applyGradients keys state by variable and a deserialised optimizer asks for its transform', () => {
    const v = tf.variable(tf.tensor1d([1, 2]));
    const opt = toTfjsOptimizer(sgd({ learningRate: 0.5 }));
    opt.applyGradients({ [v.name]: tf.ones([2]) });
    expectAllClose(v, [0.5, 1.5]);
    const bare = new IgmTfjsOptimizer();
    expect(() => bare.applyGradients({ [v.name]: tf.ones([2]) })).toThrow(/Call setTransform/);
    const w = tf.variable(tf.scalar(1));
    expect(() => opt.applyGradients({ [w.name]: tf.scalar(1) })).toThrow(
      /not among the parameters/,
    );
    // minimize over a variable the loss ignores: it gets no gradient and is not updated.
    const both = toTfjsOptimizer(sgd({ learningRate: 0.5, momentum: 0.9 }));
    both.minimize(() => tf.sum(v) as tf.Scalar, false, [v, w]);
    expectAllClose(v, [0, 1]);
    expectAllClose(w, 1);
    both.dispose();
    expect(() => toTfjsOptimizer({} as never)).toThrow(/expected a GradientTransform/);
    opt.dispose();
    tf.dispose([v, w]);
  });
});
