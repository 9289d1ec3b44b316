/**
 * The BatchNorm layer on @igm/core's fused training kernels (IgmBatchNormTraining / Grad), on
 * cpu (registerCpuBatchNormKernels) and wasm (@igm/wasm-training):
 *
 * - parity with PyTorch's BatchNorm1d/2d in float32 (tools/reference/models/batch_norm_kernels.py);
 * - a few training steps of smallCnn and a small resnet18 give the same weights and running
 *   statistics bit for bit with and without the fused kernels;
 * - the encoders' BatchNorm layers with activation 'relu' (and ResNet's with a residual) train bit
 *   for bit as the former layout (BatchNorm, a tfjs-layers add layer for the residual, then a
 *   separate ReLU layer), with and without the fused kernels;
 * - tensor counts stay flat over training steps.
 */
import {
  IgmBatchNormTraining,
  IgmBatchNormTrainingGrad,
  unregisterCpuBatchNormKernels,
} from '@igm/core';
import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { unregisterWasmTrainingKernels } from '@igm/wasm-training';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, expect, it } from 'vitest';
import { useFusedBatchNorm } from '../../wasm-training/test/fused-batch-norm';
import { BatchNorm, resnet18, smallCnn } from '../src/index';

interface BnCase {
  shape: number[];
  x: number[];
  gamma: number[];
  beta: number[];
  w: number[];
  y: number[];
  mean: number[];
  variance: number[];
  runningMean: number[];
  runningVariance: number[];
  dx: number[];
  dgamma: number[];
  dbeta: number[];
}

const fx = loadFixture<{ source: string; epsilon: number; cases: BnCase[] }>(
  new URL('./fixtures/batch_norm_kernels.json', import.meta.url),
);

/** Weights (trainable and running statistics) after `steps` momentum-SGD steps of `model`. */
function trainSteps(model: tfl.LayersModel, xShape: number[], steps: number): Float32Array[] {
  const x = tf.randomNormal(xShape, 0, 1, 'float32', 7);
  const outShape = model.outputs[0]!.shape.slice(1) as number[];
  const w = tf.randomNormal([xShape[0]!, ...outShape], 0, 1, 'float32', 8);
  const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
  const opt = tf.train.momentum(0.05, 0.9);
  for (let s = 0; s < steps; s++) {
    opt.minimize(
      () => tf.sum(tf.mul(model.apply(x, { training: true }) as tf.Tensor, w)) as tf.Scalar,
      false,
      vars,
    );
  }
  const out = model.weights.map((v) => v.read().dataSync().slice() as Float32Array);
  opt.dispose();
  tf.dispose([x, w]);
  return out;
}

/** `values` (one per weight of `from`, in its order) reordered as the weights of `to`, by name. */
function byName(
  from: tfl.LayersModel,
  values: Float32Array[],
  to: tfl.LayersModel,
): Float32Array[] {
  const name = (w: tfl.LayerVariable) => w.name.replace(/_\d+$/, '');
  const map = new Map(from.weights.map((w, i) => [name(w), values[i]!]));
  return to.weights.map((w) => map.get(name(w))!);
}

function expectSameWeights(a: Float32Array[], b: Float32Array[], names: string[], label: string) {
  expect(a.length).toBe(b.length);
  a.forEach((v, k) => {
    const x = new Uint32Array(v.buffer, v.byteOffset, v.length);
    const y = new Uint32Array(b[k]!.buffer, b[k]!.byteOffset, b[k]!.length);
    const i = x.findIndex((bits, j) => bits !== y[j]);
    if (i >= 0) {
      expect.fail(`${label}, ${names[k]}[${i}]: fused ${v[i]}, composition ${b[k]![i]}`);
    }
  });
}

type LayerJson = {
  class_name: string;
  name: string;
  config: Record<string, unknown>;
  inbound_nodes: unknown[];
};
type ModelJson = {
  class_name: string;
  config: { layers: LayerJson[]; output_layers: unknown[] };
};

/**
 * The same model with every BatchNorm of activation 'relu' split into a BatchNorm without
 * activation and a tfjs-layers ReLU layer after it, and a BatchNorm with a residual into a
 * BatchNorm of its first input, a tfjs-layers add layer of that and the residual, then the ReLU
 * layer (the encoders' layout before the fused activation and residual), built from the
 * serialized topology, with `model`'s weights.
 */
async function splitBatchNormRelu(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  const json = model.toJSON(null, false) as unknown as ModelJson;
  const renamed = new Map<string, string>();
  const added = new Set<string>();
  const layers: LayerJson[] = [];
  const plainLayer = (className: string, name: string, inbound: unknown[]): LayerJson => {
    added.add(name);
    return {
      class_name: className,
      name,
      config: { name, trainable: true, dtype: 'float32' },
      inbound_nodes: [inbound],
    };
  };
  // Consumers of a split BatchNorm read its ReLU instead.
  const rewire = (node: unknown): unknown =>
    Array.isArray(node)
      ? typeof node[0] === 'string' && renamed.has(node[0])
        ? [renamed.get(node[0]), ...node.slice(1)]
        : node.map(rewire)
      : node;
  for (const layer of json.config.layers) {
    layers.push(layer);
    if (layer.class_name === BatchNorm.className && layer.config['activation'] === 'relu') {
      layer.config['activation'] = 'none';
      let last = layer.name;
      if (layer.config['residual'] === true) {
        layer.config['residual'] = false;
        const [[input, residual]] = layer.inbound_nodes as [[unknown, unknown]];
        layer.inbound_nodes = [[input]];
        last = `${layer.name}.separateAdd`;
        // (The residual may be an earlier split BatchNorm: read its ReLU.)
        layers.push(plainLayer('Add', last, [[layer.name, 0, 0, {}], rewire(residual)]));
      }
      const reluName = `${layer.name}.separateRelu`;
      renamed.set(layer.name, reluName);
      layers.push(plainLayer('ReLU', reluName, [[last, 0, 0, {}]]));
    }
  }
  expect(renamed.size).toBeGreaterThan(0);
  for (const layer of layers) {
    if (!added.has(layer.name)) layer.inbound_nodes = rewire(layer.inbound_nodes) as unknown[];
  }
  json.config.layers = layers;
  json.config.output_layers = rewire(json.config.output_layers) as unknown[];
  const split = await tfl.models.modelFromJSON({
    modelTopology: json as unknown as tf.io.ModelJSON['modelTopology'],
  });
  expect(split.layers.length).toBe(model.layers.length + added.size);
  // The same weights (tfjs numbers the variables of each new model: '_<k>' dropped), copied by
  // name: the split layout orders a block's shortcut layers after its second BatchNorm.
  const name = (w: tfl.LayerVariable) => w.name.replace(/_\d+$/, '');
  const byName = new Map(model.weights.map((w) => [name(w), w.read()]));
  expect([...split.weights.map(name)].sort()).toEqual([...byName.keys()].sort());
  split.setWeights(split.weights.map((w) => byName.get(name(w))!));
  return split;
}

/** The encoders trained for a few steps: name, builder, input shape. */
const TRAINING_MODELS = [
  [
    'smallCnn',
    () => smallCnn({ inChannels: 2, inputShape: [12, 12], filters: [6, 10], seed: 3 }),
    [4, 12, 12, 2],
  ],
  [
    'resnet18',
    () => resnet18({ inChannels: 1, inputShape: [32, 32], widths: [4, 4, 8, 8], seed: 5 }),
    [2, 32, 32, 1],
  ],
] as const;

describeEachBackend('BatchNorm on the fused kernels', (backend) => {
  afterAll(() => {
    if (backend === 'cpu') unregisterCpuBatchNormKernels();
    else unregisterWasmTrainingKernels();
  });

  it.each(fx.cases.map((c) => [c.shape.join('x'), c] as const))(
    'matches PyTorch BatchNorm (float32) for x %s: y, statistics, running statistics, gradients',
    async (_, c) => {
      useFusedBatchNorm(backend, true);
      const C = c.shape[c.shape.length - 1]!;
      const layer = new BatchNorm({
        gammaInit: new Float32Array(c.gamma),
        betaInit: new Float32Array(c.beta),
      });
      const x = tf.variable(tf.tensor(c.x, c.shape));
      const w = tf.tensor(c.w, c.shape);
      layer.build(c.shape);
      const [gamma, beta] = layer.trainableWeights.map((v) => v.read() as tf.Variable);
      let y: tf.Tensor | undefined;
      const run = () =>
        tf.variableGrads(() => {
          y = tf.keep(layer.apply(x, { training: true }) as tf.Tensor);
          return tf.sum(tf.mul(tf.relu(y), w)) as tf.Scalar;
        }, [x, gamma!, beta!]);
      const profile = await tf.profile(() => {
        const { value, grads } = run();
        return [value, ...Object.values(grads)];
      });
      expect(profile.kernelNames).toContain(IgmBatchNormTraining);
      expect(profile.kernelNames).toContain(IgmBatchNormTrainingGrad);
      y!.dispose();
      // A fresh layer for the values (the profiled call already updated the running statistics).
      const fresh = new BatchNorm({
        gammaInit: new Float32Array(c.gamma),
        betaInit: new Float32Array(c.beta),
      });
      fresh.build(c.shape);
      const [g2, b2] = fresh.trainableWeights.map((v) => v.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => {
        y = tf.keep(fresh.apply(x, { training: true }) as tf.Tensor);
        return tf.sum(tf.mul(tf.relu(y), w)) as tf.Scalar;
      }, [x, g2!, b2!]);
      const [, , runMean, runVar] = fresh.getWeights();
      // float32 on both sides, summed in different orders: measured within 2.4e-7 x the largest
      // entry (~2 float32 ulps); the bound leaves 4x of room.
      const close = (got: tf.Tensor, want: number[], label: string) => {
        const scale = Math.max(1, ...want.map(Math.abs));
        expectAllClose(got, want, { atol: 1e-6 * scale, rtol: 1e-5, label: `${backend} ${label}` });
      };
      close(y!, c.y, 'y');
      close(runMean!, c.runningMean, 'running mean');
      close(runVar!, c.runningVariance, 'running variance');
      close(grads[x.name]!, c.dx, 'dx');
      close(grads[g2!.name]!, c.dgamma, 'dgamma');
      close(grads[b2!.name]!, c.dbeta, 'dbeta');
      expect(C).toBe(c.gamma.length);
      tf.dispose([x, w, y!, value, ...Object.values(grads)]);
      // Layers applied to tensors (not symbolic inputs) cannot be disposed: free their variables.
      for (const v of [...layer.weights, ...fresh.weights]) v.dispose();
    },
  );

  it.each(TRAINING_MODELS)(
    '%s: 3 training steps give the same weights and running statistics bit for bit',
    (name, make, xShape) => {
      useFusedBatchNorm(backend, false);
      const composedModel = make();
      const composed = trainSteps(composedModel, [...xShape], 3);
      useFusedBatchNorm(backend, true);
      const fusedModel = make();
      const fused = trainSteps(fusedModel, [...xShape], 3);
      expectSameWeights(
        fused,
        composed,
        fusedModel.weights.map((v) => v.name),
        `${backend} ${name}`,
      );
      composedModel.dispose();
      fusedModel.dispose();
    },
  );

  it.each(TRAINING_MODELS)(
    '%s: BatchNorm with activation relu trains bit for bit as BatchNorm + a ReLU layer (3 steps)',
    async (name, make, xShape) => {
      const fusedModel = make();
      const bnRelu = fusedModel.layers.filter(
        (l) => l instanceof BatchNorm && l.activation === 'relu',
      );
      // resnet18: the stem's and each block's first BatchNorm, and each block's second (residual).
      expect(bnRelu.length).toBe(name === 'smallCnn' ? 2 : 17);
      const residual = bnRelu.filter((l) => (l as BatchNorm).residual);
      expect(residual.length).toBe(name === 'smallCnn' ? 0 : 8);
      expect(fusedModel.layers.some((l) => ['ReLU', 'Add'].includes(l.getClassName()))).toBe(false);
      const splitModel = await splitBatchNormRelu(fusedModel);
      // The old layout on the composition (no fused kernels): tf.moments + tf.batchNorm + tf.relu.
      useFusedBatchNorm(backend, false);
      const old = byName(splitModel, trainSteps(splitModel, [...xShape], 3), fusedModel);
      const names = fusedModel.weights.map((v) => v.name);
      const optionModel = make();
      const optionComposed = trainSteps(optionModel, [...xShape], 3);
      useFusedBatchNorm(backend, true);
      const fused = trainSteps(fusedModel, [...xShape], 3);
      const base = make();
      const splitFusedModel = await splitBatchNormRelu(base);
      const oldFused = byName(splitFusedModel, trainSteps(splitFusedModel, [...xShape], 3), base);
      expectSameWeights(fused, old, names, `${backend} ${name} fused relu vs bn + ReLU layer`);
      expectSameWeights(optionComposed, old, names, `${backend} ${name} option, composition`);
      expectSameWeights(oldFused, old, names, `${backend} ${name} bn + ReLU layer, fused kernels`);
      for (const m of [fusedModel, splitModel, optionModel, splitFusedModel, base]) m.dispose();
    },
  );

  it('resnet18 draws the same initial weights as before its blocks fused the residual sum', () => {
    const fx0 = loadFixture<{
      weights: Record<string, Record<string, { sum: number; first: number[] }>>;
    }>(new URL('./fixtures/resnet18_init_before_fused_residual.json', import.meta.url));
    for (const init of ['reference', 'pytorch', 'igm'] as const) {
      const model = resnet18({ inChannels: 1, widths: [4, 4, 8, 8], init, seed: 7 });
      const want = fx0.weights[init]!;
      expect(model.trainableWeights.map((w) => w.originalName).sort()).toEqual(
        Object.keys(want).sort(),
      );
      for (const w of model.trainableWeights) {
        const v = w.read().dataSync() as Float32Array;
        let sum = 0;
        for (const x of v) sum += x;
        // Same values, so the same float64 sum in the same order: exact equality.
        expect(sum, `${init} ${w.originalName}`).toBe(want[w.originalName]!.sum);
        expect(Array.from(v.slice(0, 4)), `${init} ${w.originalName}`).toEqual(
          want[w.originalName]!.first,
        );
      }
      model.dispose();
    }
  });

  it('a residual BatchNorm takes [x, residual], serializes it, and adds it in inference mode', async () => {
    useFusedBatchNorm(backend, true);
    const layer = new BatchNorm({ name: 'bnres', activation: 'relu', residual: true });
    expect(layer.getConfig()).toMatchObject({ activation: 'relu', residual: true });
    expect(new BatchNorm().getConfig()['residual']).toBe(false);
    expect(() => new BatchNorm({ residual: 'yes' as unknown as boolean })).toThrow(
      /BatchNorm: residual="yes". Expected true or false/,
    );
    const x = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 11);
    const r = tf.randomNormal([2, 3, 3, 4], 0, 1, 'float32', 12);
    const y = layer.apply([x, r]) as tf.Tensor;
    const [gamma, beta, mean, variance] = layer.getWeights();
    const want = tf.relu(tf.add(tf.batchNorm(x, mean!, variance!, beta!, gamma!, 1e-5), r));
    expect(Array.from(y.dataSync())).toEqual(Array.from(want.dataSync()));
    expect(() => layer.apply(x)).toThrow(
      /residual: true takes two inputs \[x, residual\]; received 1/,
    );
    expect(() => layer.apply([x, tf.zeros([2, 3, 3, 5])])).toThrow(
      /the residual has shape \[2, 3, 3, 5\]; expected x's shape \[2, 3, 3, 4\]/,
    );
    const model = resnet18({ inChannels: 1, widths: [4, 4, 8, 8], seed: 2 });
    const loaded = await tfl.models.modelFromJSON({
      modelTopology: model.toJSON(null, false) as unknown as tf.io.ModelJSON['modelTopology'],
    });
    expect((loaded.getLayer('layer2.0.bn2') as BatchNorm).residual).toBe(true);
    loaded.setWeights(model.weights.map((w) => w.read()));
    const input = tf.randomNormal([2, 32, 32, 1], 0, 1, 'float32', 13);
    const a = model.predict(input) as tf.Tensor;
    const b = loaded.predict(input) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, r, y, want, input, a, b]);
    for (const v of layer.weights) v.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('serializes the activation and applies it in inference mode', async () => {
    useFusedBatchNorm(backend, true);
    const layer = new BatchNorm({ name: 'bnr', activation: 'relu', momentum: 0.8 });
    expect(layer.getConfig()).toMatchObject({ activation: 'relu', momentum: 0.8 });
    expect(new BatchNorm().getConfig()['activation']).toBe('none');
    expect(() => new BatchNorm({ activation: 'tanh' as 'relu' })).toThrow(
      /BatchNorm: received activation="tanh". Expected one of "none", "relu"/,
    );
    const model = smallCnn({ inChannels: 1, inputShape: [8, 8], filters: [4], seed: 1 });
    const loaded = await tfl.models.modelFromJSON({
      modelTopology: model.toJSON(null, false) as unknown as tf.io.ModelJSON['modelTopology'],
    });
    const bn = loaded.getLayer('block0.bn') as BatchNorm;
    expect(bn).toBeInstanceOf(BatchNorm);
    expect(bn.activation).toBe('relu');
    loaded.setWeights(model.weights.map((w) => w.read()));
    const x = tf.randomNormal([2, 8, 8, 1], 0, 1, 'float32', 9);
    // Inference: batchNorm with the moving statistics, then tf.relu.
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    const conv = model.getLayer('block0.conv').apply(x) as tf.Tensor;
    const inferred = bn.apply(conv) as tf.Tensor;
    const [gamma, beta, mean, variance] = bn.getWeights();
    const want = tf.relu(tf.batchNorm(conv, mean!, variance!, beta!, gamma!, 1e-5));
    expect(Array.from(inferred.dataSync())).toEqual(Array.from(want.dataSync()));
    expect(Math.min(...inferred.dataSync())).toBe(0);
    tf.dispose([x, a, b, conv, inferred, want]);
    model.dispose();
    loaded.dispose();
  });

  it('keeps tensor counts flat over smallCnn training steps', async () => {
    useFusedBatchNorm(backend, true);
    const model = smallCnn({ inChannels: 1, inputShape: [10, 10], filters: [5, 7], seed: 2 });
    const x = tf.randomNormal([3, 10, 10, 1], 0, 1, 'float32', 4);
    const vars = model.trainableWeights.map((v) => v.read() as tf.Variable);
    const opt = tf.train.sgd(0.01);
    await expectNoTensorLeak(() => {
      opt.minimize(
        () => tf.sum(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar,
        false,
        vars,
      );
    });
    opt.dispose();
    x.dispose();
    model.dispose();
  });
});
