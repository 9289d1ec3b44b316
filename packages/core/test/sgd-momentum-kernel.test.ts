import { expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adam,
  addDecayedWeights,
  chain,
  findState,
  GradientOptimizer,
  type GradientTransform,
  IgmArgumentError,
  IgmSgdMomentumUpdate,
  type Param,
  registerCpuSgdMomentumKernel,
  scale,
  scaleByLearningRate,
  sgd,
  type TraceMomentumState,
  traceMomentum,
  unregisterCpuSgdMomentumKernel,
} from '../src';
import {
  expectKernelMatchesReference,
  expectSameBits,
  expectSameRecords,
  kernelReference,
  runSgdMomentumKernel,
  runTailScenario,
  seededValues,
  TAIL_SCENARIOS,
} from './sgd-tail-scenario';

function params(shapes: Record<string, number[]>, seed = 1): Param[] {
  return Object.entries(shapes).map(([key, shape], i) => ({
    key,
    group: key,
    variable: tf.variable(
      tf.tensor(
        seededValues(
          shape.reduce((a, b) => a * b, 1),
          seed + i,
        ),
        shape,
      ),
    ),
  }));
}

function gradsFor(ps: Param[], seed: number): Map<string, tf.Tensor> {
  return new Map(
    ps.map((p, i) => [
      p.key,
      tf.tensor(seededValues(p.variable.size, seed * 31 + i), p.variable.shape),
    ]),
  );
}

/** Kernel names of one applyGradients call. */
async function kernelsOfStep(opt: GradientOptimizer, grads: Map<string, tf.Tensor>) {
  const info = await tf.profile(() => {
    opt.applyGradients(grads);
  });
  return info.kernels.map((k) => k.name);
}

// Exactness is the point: every comparison below is bit for bit (no tolerance). The fused loop
// rounds each operation to float32 in the op chain's order, so any difference is a bug.
describe('IgmSgdMomentumUpdate on cpu (registerCpuSgdMomentumKernel)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
    registerCpuSgdMomentumKernel();
  });
  afterAll(() => {
    unregisterCpuSgdMomentumKernel();
  });

  it('registers once', () => {
    expect(registerCpuSgdMomentumKernel()).toBe(false);
    expect(tf.getKernel(IgmSgdMomentumUpdate, 'cpu')).toBeDefined();
  });

  it(`equals the NumPy float32 reference bit for bit (${kernelReference.cases.length} cases)`, () => {
    expectKernelMatchesReference('cpu');
  });

  it('with weightDecay 0 needs no param and never reads it', () => {
    const c = kernelReference.cases.find((k) => k.attrs.weightDecay === 0 && k.shape.length === 2)!;
    tf.tidy(() => {
      const gradient = tf.tensor(c.gradient, c.shape);
      const buffer = tf.tensor(c.buffer, c.shape);
      const [next, update] = runSgdMomentumKernel({ gradient, buffer }, c.attrs);
      expectSameBits(next.dataSync(), c.nextBuffer, 'nextBuffer');
      expectSameBits(update.dataSync(), c.update, 'update');
      const poisoned = tf.fill(c.shape, Number.NaN);
      const [, u2] = runSgdMomentumKernel({ gradient, param: poisoned, buffer }, c.attrs);
      expectSameBits(u2.dataSync(), c.update, 'update with a NaN param');
    });
  });

  it('rejects bad calls with errors naming the input or attribute', () => {
    const attrs = { weightDecay: 0.1, momentum: 0.9, learningRate: 0.1, nesterov: false };
    tf.tidy(() => {
      const g = tf.ones([3]);
      const b = tf.zeros([3]);
      expect(() => runSgdMomentumKernel({ gradient: g, buffer: b }, attrs)).toThrow(
        /needs the input param/,
      );
      expect(() =>
        runSgdMomentumKernel({ gradient: g, param: tf.ones([4]), buffer: b }, attrs),
      ).toThrow(/input param has shape \[4\]; expected the gradient's shape \[3\]/);
      expect(() =>
        runSgdMomentumKernel({ gradient: g, param: g, buffer: tf.zeros([3], 'int32') }, attrs),
      ).toThrow(/input buffer has dtype int32; expected float32/);
      expect(() =>
        runSgdMomentumKernel({ gradient: g, param: g, buffer: b }, { ...attrs, momentum: 2 }),
      ).toThrow(IgmArgumentError);
      expect(() =>
        runSgdMomentumKernel(
          { gradient: g, param: g, buffer: b },
          { ...attrs, learningRate: Number.NaN },
        ),
      ).toThrow(/attribute learningRate=NaN/);
      expect(() =>
        runSgdMomentumKernel(
          { gradient: g, param: g, buffer: b },
          {
            ...attrs,
            nesterov: 1 as unknown as boolean,
          },
        ),
      ).toThrow(/attribute nesterov is 1; expected true or false/);
      expect(() =>
        runSgdMomentumKernel({ gradient: g } as Record<string, tf.Tensor>, attrs),
      ).toThrow(/inputs need gradient and buffer/);
    });
  });

  for (const scenario of TAIL_SCENARIOS) {
    it(`fused equals the op chain bit for bit: ${scenario.name}`, () => {
      registerCpuSgdMomentumKernel();
      const fused = runTailScenario(scenario);
      unregisterCpuSgdMomentumKernel();
      try {
        const ops = runTailScenario(scenario);
        expectSameRecords(fused, ops, scenario.name);
      } finally {
        registerCpuSgdMomentumKernel();
      }
    });
  }

  it('runs one fused kernel per key with a gradient, instead of the elementwise ops', async () => {
    const ps = params({ a: [3, 4], b: [5], c: [] });
    const opt = new GradientOptimizer(
      sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true }),
      ps,
    );
    const grads = gradsFor(ps, 1);
    grads.delete('b');
    const names = await kernelsOfStep(opt, grads);
    expect(names.filter((n) => n === IgmSgdMomentumUpdate)).toHaveLength(2);
    // What is left is applyUpdates' add per key (and its Identity/Cast bookkeeping).
    expect(names.filter((n) => n === 'Multiply')).toHaveLength(0);
    expect(names.filter((n) => n === 'Add')).toHaveLength(2);
    unregisterCpuSgdMomentumKernel();
    try {
      const ops = await kernelsOfStep(opt, grads);
      expect(ops).not.toContain(IgmSgdMomentumUpdate);
      // Per key: theta * wd, buf * mu, buf' * mu (nesterov), out * -lr.
      expect(ops.filter((n) => n === 'Multiply')).toHaveLength(2 * 4);
    } finally {
      registerCpuSgdMomentumKernel();
      tf.dispose([...grads.values()]);
      opt.dispose();
      tf.dispose(ps.map((p) => p.variable));
    }
  });

  it('fuses only the marked members: a copy of traceMomentum with its own update runs as written', async () => {
    const tm = traceMomentum({ momentum: 0.9 });
    let calls = 0;
    const custom: GradientTransform<TraceMomentumState> = {
      ...tm,
      update(grads, state, ctx) {
        calls++;
        return tm.update(grads, state, ctx);
      },
    };
    const ps = params({ a: [6] });
    const opt = new GradientOptimizer(chain(custom, scaleByLearningRate(0.1)), ps);
    const grads = gradsFor(ps, 2);
    try {
      const names = await kernelsOfStep(opt, grads);
      expect(names).not.toContain(IgmSgdMomentumUpdate);
      expect(calls).toBe(1);
      // The same transform object, its update replaced afterwards: not fused either.
      const tm2 = traceMomentum({ momentum: 0.9 });
      const original = tm2.update;
      (tm2 as { update: typeof original }).update = (g, s, c) => original(g, s, c);
      const opt2 = new GradientOptimizer(chain(tm2, scaleByLearningRate(0.1)), ps);
      expect(await kernelsOfStep(opt2, grads)).not.toContain(IgmSgdMomentumUpdate);
      opt2.dispose();
    } finally {
      tf.dispose([...grads.values()]);
      opt.dispose();
      tf.dispose(ps.map((p) => p.variable));
    }
  });

  it('keeps state names and findState of sgd(), adam() and chain(x, sgd()) as they were', () => {
    const ps = params({ w: [2, 2], b: [2] });
    const names = (t: GradientTransform) => {
      const opt = new GradientOptimizer(t, ps);
      const out = opt.stateVariables().map((v) => v.name);
      opt.dispose();
      return out;
    };
    expect(names(sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 1e-4 }))).toEqual([
      '1.traceMomentum/w/buf',
      '1.traceMomentum/b/buf',
    ]);
    expect(names(sgd({ learningRate: 0.1 }))).toEqual([]);
    expect(names(adam({ learningRate: 0.1 }))).toEqual([
      '1.scaleByAdam/w/m',
      '1.scaleByAdam/w/v',
      '1.scaleByAdam/w/count',
      '1.scaleByAdam/b/m',
      '1.scaleByAdam/b/v',
      '1.scaleByAdam/b/count',
    ]);
    // OGM-GE's composition: its modulation first, then sgd().
    expect(names(chain(scale(1), sgd({ learningRate: 0.1, momentum: 0.9 })))).toEqual([
      '1.sgd/1.traceMomentum/w/buf',
      '1.sgd/1.traceMomentum/b/buf',
    ]);
    const opt = new GradientOptimizer(
      chain(scale(1), sgd({ learningRate: 0.1, momentum: 0.9 })),
      ps,
    );
    const grads = gradsFor(ps, 3);
    opt.applyGradients(grads);
    const found = findState<TraceMomentumState>(opt.state, 'traceMomentum');
    expect(found?.slots.get('w')?.buf.name).toBe(
      opt.stateVariables().find((v) => v.name.endsWith('w/buf'))?.variable.name,
    );
    // After one step from a zero buffer, buf = g exactly.
    expectSameBits(found!.slots.get('w')!.buf.dataSync(), grads.get('w')!.dataSync(), 'buf');
    tf.dispose([...grads.values()]);
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
  });

  it('leaks no tensors over fused steps', async () => {
    const ps = params({ a: [9, 7], b: [7], c: [] });
    const opt = new GradientOptimizer(
      sgd({ learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4, nesterov: true }),
      ps,
    );
    const grads = gradsFor(ps, 4);
    await expectNoTensorLeak(() => opt.applyGradients(grads), { steps: 50 });
    expect(await kernelsOfStep(opt, grads)).toContain(IgmSgdMomentumUpdate);
    tf.dispose([...grads.values()]);
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
  });

  it('round-trips a checkpoint: restored state continues bit for bit, fused or not', () => {
    const shapes = { a: [5, 3], b: [3] };
    const make = () => sgd({ learningRate: 0.05, momentum: 0.9, weightDecay: 1e-3 });
    const step = (opt: GradientOptimizer, ps: Param[], t: number) => {
      const grads = gradsFor(ps, 10 + t);
      opt.applyGradients(grads);
      tf.dispose([...grads.values()]);
    };
    // Uninterrupted: 6 fused steps.
    const ref = params(shapes);
    const refOpt = new GradientOptimizer(make(), ref);
    for (let t = 0; t < 6; t++) step(refOpt, ref, t);
    // 3 fused steps, then a checkpoint by name.
    const first = params(shapes);
    const firstOpt = new GradientOptimizer(make(), first);
    for (let t = 0; t < 3; t++) step(firstOpt, first, t);
    const saved = new Map(
      [
        ...first.map((p) => ({ name: `param/${p.key}`, variable: p.variable })),
        ...firstOpt.stateVariables(),
      ].map((v) => [v.name, v.variable.dataSync().slice()]),
    );
    for (const fusedResume of [true, false]) {
      if (!fusedResume) unregisterCpuSgdMomentumKernel();
      try {
        const resumed = params(shapes, 99);
        const opt = new GradientOptimizer(make(), resumed);
        for (const p of resumed)
          p.variable.assign(tf.tensor(saved.get(`param/${p.key}`)!, p.variable.shape));
        for (const { name, variable } of opt.stateVariables())
          variable.assign(tf.tensor(saved.get(name)!, variable.shape));
        for (let t = 3; t < 6; t++) step(opt, resumed, t);
        resumed.forEach((p, i) => {
          expectSameBits(p.variable.dataSync(), ref[i]!.variable.dataSync(), `resumed ${p.key}`);
        });
        const refState = refOpt.stateVariables();
        opt.stateVariables().forEach((v, i) => {
          expect(v.name).toBe(refState[i]!.name);
          expectSameBits(v.variable.dataSync(), refState[i]!.variable.dataSync(), v.name);
        });
        opt.dispose();
        tf.dispose(resumed.map((p) => p.variable));
      } finally {
        registerCpuSgdMomentumKernel();
      }
    }
    for (const o of [refOpt, firstOpt]) o.dispose();
    tf.dispose([...ref, ...first].map((p) => p.variable));
  });

  it('raises the members’ own errors, before changing any state or logging', () => {
    const t = sgd({ learningRate: 0.1, momentum: 0.9, weightDecay: 0.01 });
    const ps = params({ a: [4] });
    const map = new Map(ps.map((p) => [p.key, p]));
    const state = t.init(map);
    const logs: string[] = [];
    const ctx = {
      step: 0,
      epoch: 0,
      batchIndex: 0,
      params: new Map<string, Param>(),
      outputs: {},
      labels: tf.scalar(0),
      rng: undefined as never,
      log: (name: string) => logs.push(name),
    };
    const g = new Map([['a', tf.ones([4])]]);
    expect(() => t.update(g, state, ctx)).toThrow(
      /addDecayedWeights: gradient for key "a" has no parameter in the step context/,
    );
    const noDecay = chain(traceMomentum({ momentum: 0.9 }), scaleByLearningRate(0.1));
    const s2 = noDecay.init(map);
    const unknown = new Map([['zz', tf.ones([4])]]);
    expect(() => noDecay.update(unknown, s2, { ...ctx, params: map })).toThrow(
      /traceMomentum: gradients for key\(s\) zz that init\(\) was not given/,
    );
    expect(logs).toEqual([]);
    const buf = findState<TraceMomentumState>(state, 'traceMomentum')!.slots.get('a')!.buf;
    expect(Array.from(buf.dataSync())).toEqual([0, 0, 0, 0]);
    tf.dispose([...g.values(), ...unknown.values(), ctx.labels]);
    for (const v of [...t.state(state), ...noDecay.state(s2)]) v.variable.dispose();
    tf.dispose(ps.map((p) => p.variable));
  });

  it('fuses addDecayedWeights only right before traceMomentum', async () => {
    // chain(addDecayedWeights, scale, traceMomentum, scaleByLearningRate): the decay is not
    // adjacent, so only the last two fuse (weight decay 0 in the kernel), with identical bits.
    const make = () =>
      chain(
        addDecayedWeights(0.05),
        scale(0.5),
        traceMomentum({ momentum: 0.9 }),
        scaleByLearningRate(0.1),
      );
    const record = runTailScenario({ name: 'gap', make });
    unregisterCpuSgdMomentumKernel();
    try {
      expectSameRecords(record, runTailScenario({ name: 'gap', make }), 'gap');
    } finally {
      registerCpuSgdMomentumKernel();
    }
    const ps = params({ a: [4] });
    const opt = new GradientOptimizer(make(), ps);
    const grads = gradsFor(ps, 5);
    const names = await kernelsOfStep(opt, grads);
    expect(names.filter((n) => n === IgmSgdMomentumUpdate)).toHaveLength(1);
    expect(names.filter((n) => n === 'Multiply').length).toBeGreaterThanOrEqual(2);
    tf.dispose([...grads.values()]);
    opt.dispose();
    tf.dispose(ps.map((p) => p.variable));
  });
});
