import {
  type ChainState,
  chain,
  createRng,
  GradientOptimizer,
  type HeadLayerInfo,
  type Param,
  type StepContext,
  sgd,
} from '@igm/core';
import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  activeProjections,
  clearProjection,
  type FlatProjectionState,
  flatProjection,
  InputMomentAccumulator,
  installProjection,
  pairHeadLayers,
  previousModality,
  setProjection,
} from '../src';
import { type DenseLayer, fixture } from './fixture';

function head(modality: string, dims: number[]): HeadLayerInfo[] {
  return dims.slice(0, -1).map((inputDim, index) => ({
    modality,
    index,
    kernelKey: `${modality}/head/${index}/kernel`,
    biasKey: `${modality}/head/${index}/bias`,
    inputName: `input/head/${modality}/${index}`,
    inputDim,
    outputDim: dims[index + 1]!,
  }));
}

function paramsFor(layers: HeadLayerInfo[], init?: (l: HeadLayerInfo) => DenseLayer): Param[] {
  return layers.flatMap((l) => {
    const w = init?.(l);
    return [
      {
        key: l.kernelKey,
        group: `head/${l.modality}`,
        variable: tf.variable(
          w
            ? tf.tensor2d(w.kernel)
            : tf.randomNormal([l.inputDim, l.outputDim], 0, 0.3, 'float32', l.index),
        ),
      },
      {
        key: l.biasKey!,
        group: `head/${l.modality}`,
        variable: tf.variable(w ? tf.tensor1d(w.bias) : tf.zeros([l.outputDim])),
      },
    ];
  });
}

function context(stage?: string): StepContext {
  return {
    step: 0,
    epoch: 0,
    batchIndex: 0,
    params: new Map(),
    outputs: {},
    labels: tf.scalar(0),
    rng: createRng(0),
    ...(stage !== undefined ? { stage } : {}),
    log: () => {},
  };
}

/** Dense stack forward; returns logits and each layer's input. */
function forward(
  params: ReadonlyMap<string, Param>,
  layers: HeadLayerInfo[],
  reluAfter: number[],
  x: tf.Tensor,
): { logits: tf.Tensor; inputs: Record<string, tf.Tensor> } {
  const inputs: Record<string, tf.Tensor> = {};
  let h = x;
  for (const l of layers) {
    inputs[l.inputName] = h;
    h = tf.add(tf.matMul(h, params.get(l.kernelKey)!.variable), params.get(l.biasKey!)!.variable);
    if (reluAfter.includes(l.index)) h = tf.relu(h);
  }
  return { logits: h, inputs };
}

const AV = [...head('audio', [12, 8, 5, 3]), ...head('video', [12, 8, 5, 3])];
const TEXT = head('text', [6, 5, 4, 3]);
const IMAGE = head('image', [7, 6, 5, 4, 3]);

describeEachBackend('flatProjection', () => {
  it('previousModality is the cyclic predecessor k = mod(j + m - 2, m) + 1', () => {
    expect(previousModality(['audio', 'video'], 'audio')).toBe('video');
    expect(previousModality(['audio', 'video'], 'video')).toBe('audio');
    const nv = ['depth', 'rgb', 'flow'];
    expect(nv.map((m) => previousModality(nv, m))).toEqual(['flow', 'depth', 'rgb']);
    expect(previousModality(['only'], 'only')).toBe('only');
    expect(() => previousModality(nv, 'audio')).toThrow(/"audio", which is not in the order/);
  });

  it('pairs by shape as the reference, with the image head first layer unprojected', () => {
    expect(Object.fromEntries(pairHeadLayers(AV))).toEqual({
      'audio/head/0/kernel': 'video/head/0/kernel',
      'audio/head/1/kernel': 'video/head/1/kernel',
      'audio/head/2/kernel': 'video/head/2/kernel',
      'video/head/0/kernel': 'audio/head/0/kernel',
      'video/head/1/kernel': 'audio/head/1/kernel',
      'video/head/2/kernel': 'audio/head/2/kernel',
    });
    const ti = pairHeadLayers([...TEXT, ...IMAGE], { unprojected: ['image/head/0/kernel'] });
    expect(Object.fromEntries(ti)).toEqual({
      'text/head/0/kernel': 'image/head/1/kernel',
      'text/head/1/kernel': 'image/head/2/kernel',
      'text/head/2/kernel': 'image/head/3/kernel',
      'image/head/1/kernel': 'text/head/0/kernel',
      'image/head/2/kernel': 'text/head/1/kernel',
      'image/head/3/kernel': 'text/head/2/kernel',
    });
    expect(() => pairHeadLayers([...TEXT, ...IMAGE])).toThrow(
      /image\/head\/0\/kernel \(7x6\) of "image" has no same-shape layer.*unprojected/,
    );
    const twins = [...head('a', [4, 4, 4]), ...head('b', [4, 4, 4])];
    expect(() => pairHeadLayers(twins)).toThrow(/2 \(ambiguous\).*explicit pairs map/);
    const explicit = pairHeadLayers(twins, {
      pairs: {
        'a/head/0/kernel': 'b/head/0/kernel',
        'a/head/1/kernel': 'b/head/1/kernel',
        'b/head/0/kernel': 'a/head/0/kernel',
      },
      unprojected: ['b/head/1/kernel'],
    });
    expect(explicit.size).toBe(3);
    expect(() =>
      pairHeadLayers(twins, { pairs: { 'a/head/0/kernel': 'b/head/0/kernel' } }),
    ).toThrow(/neither in pairs nor in unprojected/);
    expect(() => pairHeadLayers(AV, { unprojected: ['typo'] })).toThrow(
      /"typo", which is not a head kernel key/,
    );
    expect(() => pairHeadLayers(AV, { order: ['audio'] })).toThrow(/List every modality in order/);
    expect(() => flatProjection({ layers: AV, tau: -1 })).toThrow(/tau=-1/);
    expect(() => flatProjection({ layers: AV, pairs: 'size' as never })).toThrow(/"size"/);
    expect(() => flatProjection({ layers: [] })).toThrow(/HeadLayerInfo list/);
    // Every kernel of a modality unprojected: its stages would never be projected.
    const a = head('a', [4, 4]);
    const b = head('b', [4, 4]);
    expect(() =>
      flatProjection({
        layers: [...a, ...b],
        pairs: { 'a/head/0/kernel': 'b/head/0/kernel' },
        unprojected: ['b/head/0/kernel'],
      }),
    ).toThrow(
      /flatProjection: the projected head kernels of "b" \(head kernels not listed in unprojected\) select no parameter: every one is in unprojected.*Head kernels by modality: a: a\/head\/0\/kernel \(4x4\); b: b\/head\/0\/kernel \(4x4\)/,
    );
  });

  it('a stage that names no modality of the head layers is an error, not a silent no-op', () => {
    const params = paramsFor(AV);
    const opt = new GradientOptimizer(flatProjection({ layers: AV }), params);
    const v = params[0]!.variable;
    expect(() =>
      opt.minimize(() => tf.sum(v), { keys: [params[0]!.key], stage: 'visual' }),
    ).toThrow(/the step's stage "visual" is not a modality of the head layers \(audio, video\)/);
    opt.dispose();
    for (const p of params) p.variable.dispose();
  });

  it('is the identity (same tensors, no op) while no T is installed', () => {
    const params = new Map(paramsFor(AV).map((p) => [p.key, p]));
    const fp = flatProjection({ layers: AV });
    const state = fp.init(params);
    const g = tf.ones([12, 8]);
    const out = fp.update(new Map([['video/head/0/kernel', g]]), state, context('video'));
    expect(out.get('video/head/0/kernel')).toBe(g);
    expect(activeProjections(state)).toEqual([]);
    tf.dispose([g, ...fp.state(state).map((v) => v.variable)]);
    for (const p of params.values()) p.variable.dispose();
  });

  it('toy: with T of a rank-1 Y, G_K <- T G_K damps the input direction by e^-tau; bias, others untouched', () => {
    const params = new Map(paramsFor(AV).map((p) => [p.key, p]));
    const fp = flatProjection({ layers: AV, tau: 0.4 });
    const state = fp.init(params);
    const acc = new InputMomentAccumulator();
    const u = tf.tensor1d([3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // |u| = 5
    tf.tidy(() => acc.add('audio/head/0/kernel', tf.reshape(u, [1, 12])));
    const report = installProjection(state, acc, head('audio', [12, 8, 5, 3]).slice(0, 1));
    expect(report[0]).toMatchObject({ layerKey: 'audio/head/0/kernel', batches: 1, sMin: 0 });
    expect(report[0]!.sMax).toBeCloseTo(25, 4);
    expect(activeProjections(state)).toEqual(['audio/head/0/kernel']);
    const v = tf.tensor2d([[1, -1, 2, 0, 0, 0, 0, 1]]);
    const along = tf.matMul(tf.reshape(tf.div(u, 5), [12, 1]), v); // G = u_hat v
    const ortho = tf.matMul(
      tf.reshape(tf.tensor1d([4, -3, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2]), [12, 1]),
      v,
    );
    const bias = tf.ones([8]);
    const grads = new Map<string, tf.Tensor>([
      ['video/head/0/kernel', tf.add(along, ortho)],
      ['video/head/0/bias', bias],
      ['audio/head/0/kernel', along],
    ]);
    const out = fp.update(grads, state, context('video'));
    expectAllClose(out.get('video/head/0/kernel')!, tf.add(tf.mul(along, Math.exp(-0.4)), ortho), {
      atol: 1e-5,
    });
    expect(out.get('video/head/0/bias')).toBe(bias);
    expect(out.get('audio/head/0/kernel')).toBe(along); // not the stage's modality
    // Without a stage in the context, every paired kernel with an installed T is projected.
    const noStage = fp.update(new Map([['video/head/0/kernel', along]]), state, context());
    expectAllClose(noStage.get('video/head/0/kernel')!, tf.mul(along, Math.exp(-0.4)), {
      atol: 1e-5,
    });
    clearProjection(state);
    expect(activeProjections(state)).toEqual([]);
    expect(() => setProjection(state, { nope: tf.eye(3) })).toThrow(
      /no projected layer uses the T of "nope"/,
    );
    expect(() => setProjection(state, { 'audio/head/1/kernel': tf.eye(3) })).toThrow(
      /shape \[3,3\]; expected \[8,8\]/,
    );
    acc.dispose();
    for (const { variable } of fp.state(state)) variable.dispose();
    for (const p of params.values()) p.variable.dispose();
  });

  it('follows a checkpoint restore of its state (no stale host flags)', () => {
    const params = new Map(paramsFor(AV).map((p) => [p.key, p]));
    const fp = flatProjection({ layers: AV });
    const a = fp.init(params);
    const b = fp.init(params);
    setProjection(a, { 'audio/head/2/kernel': tf.mul(tf.eye(5), 0.5) });
    fp.update(new Map(), b, context('video')); // b has read its (all-zero) flags once
    const src = new Map(fp.state(a).map((v) => [v.name, v.variable]));
    for (const { name, variable } of fp.state(b)) variable.assign(src.get(name)!);
    const g = tf.ones([5, 3]);
    const out = fp.update(new Map([['video/head/2/kernel', g]]), b, context('video'));
    expectAllClose(out.get('video/head/2/kernel')!, tf.fill([5, 3], 0.5), { atol: 0 });
    g.dispose();
    for (const s of [a, b]) for (const { variable } of fp.state(s)) variable.dispose();
    for (const p of params.values()) p.variable.dispose();
  });

  it('matches the torch reference: T from the text head inputs, two projected SGD-momentum steps on the image head', () => {
    const f = fixture.igm;
    const all = [...TEXT, ...IMAGE];
    const params = paramsFor(
      all,
      (l) => (l.modality === 'text' ? f.textLayers : f.imageLayers)[l.index]!,
    );
    const byKey = new Map(params.map((p) => [p.key, p]));
    // One inference pass over the text batches -> Y per text layer.
    const acc = new InputMomentAccumulator(TEXT);
    for (const xb of f.textBatches) {
      tf.tidy(() =>
        acc.addOutputs(TEXT, forward(byKey, TEXT, f.textReluAfter, tf.tensor2d(xb)).inputs),
      );
    }
    TEXT.forEach((l, i) => {
      expectAllClose(acc.get(l.kernelKey), f.textY[i]!, { atol: 1e-5, label: `Y ${i}` });
    });
    const fp = flatProjection({
      layers: all,
      order: ['text', 'image'],
      tau: f.tau,
      unprojected: ['image/head/0/kernel'],
    });
    const opt = new GradientOptimizer(
      chain(fp, sgd({ learningRate: f.lr, momentum: f.momentum, weightDecay: f.weightDecay })),
      params,
    );
    const state = (opt.state as ChainState).members[0] as FlatProjectionState;
    const report = installProjection(state, acc, TEXT);
    expect(report.map((r) => r.method)).toEqual(['eigen', 'eigen', 'eigen']); // 'auto', d <= 64
    TEXT.forEach((l, i) => {
      expectAllClose(state.matrices.get(l.kernelKey)!, f.textT[i]!, {
        atol: 1e-5,
        label: `T ${i}`,
      });
    });
    const imageKeys = IMAGE.flatMap((l) => [l.kernelKey, l.biasKey!]);
    for (const { x, labels } of f.imageBatches) {
      opt.minimize(
        () => {
          const { logits } = forward(byKey, IMAGE, f.imageReluAfter, tf.tensor2d(x));
          return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d(labels, 'int32'), 3), logits);
        },
        { keys: imageKeys, stage: 'image' },
      );
      expect(opt.lastLogs['flatProjection/projectedKernels']).toBe(3);
    }
    IMAGE.forEach((l, i) => {
      // float32 forward/backward of a tiny head over two steps: 1e-5 absolute.
      expectAllClose(byKey.get(l.kernelKey)!.variable, f.expected[i]!.kernel, {
        atol: 1e-5,
        label: `kernel ${i}`,
      });
      expectAllClose(byKey.get(l.biasKey!)!.variable, f.expected[i]!.bias, {
        atol: 1e-5,
        label: `bias ${i}`,
      });
    });
    acc.dispose();
    opt.dispose();
    for (const p of params) p.variable.dispose();
  });

  it('does not leak tensors over 200 steps with T installed', async () => {
    const params = paramsFor(AV);
    const byKey = new Map(params.map((p) => [p.key, p]));
    const fp = flatProjection({ layers: AV });
    const opt = new GradientOptimizer(
      chain(fp, sgd({ learningRate: 0.01, momentum: 0.9 })),
      params,
    );
    const state = (opt.state as ChainState).members[0] as FlatProjectionState;
    const acc = new InputMomentAccumulator();
    const audio = head('audio', [12, 8, 5, 3]);
    const x = tf.randomNormal([6, 12]);
    tf.tidy(() => {
      for (let b = 0; b < 3; b++)
        acc.addOutputs(audio, forward(byKey, audio, [0], tf.add(x, b)).inputs);
    });
    installProjection(state, acc, audio);
    const video = head('video', [12, 8, 5, 3]);
    const keys = video.flatMap((l) => [l.kernelKey, l.biasKey!]);
    await expectNoTensorLeak(() =>
      opt.minimize(() => tf.mean(tf.square(forward(byKey, video, [0], x).logits)), {
        keys,
        stage: 'video',
      }),
    );
    expect(opt.lastLogs['flatProjection/projectedKernels']).toBe(3);
    x.dispose();
    acc.dispose();
    opt.dispose();
    for (const p of params) p.variable.dispose();
  });
});
