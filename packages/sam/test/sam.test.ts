import {
  chain,
  GradientOptimizer,
  type GradientTransform,
  type LossPass,
  type Param,
  sgd,
} from '@igm/core';
import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import { asam, isBiasParam, sam } from '../src';
import { disposeParams, fixture, KEYS, mlpLoss, mlpParams } from './helpers';

/** Records the gradients it sees (as plain arrays) and passes them on. */
function probe(into: Array<Map<string, number[]>>): GradientTransform<null> {
  return {
    name: 'probe',
    init: () => null,
    update(grads) {
      into.push(new Map([...grads].map(([k, g]) => [k, Array.from(g.dataSync())])));
      return grads;
    },
    state: () => [],
  };
}

/** u = 0: the chain leaves the weights as SAM left them. */
const noStep: GradientTransform<null> = {
  name: 'noStep',
  init: () => null,
  update: (grads) => new Map([...grads].map(([k, g]) => [k, tf.zerosLike(g)])),
  state: () => [],
};

// Plain double-precision linear algebra for the closed forms.
const matVec = (A: number[][], v: number[]) =>
  A.map((row) => row.reduce((s, a, j) => s + a * v[j]!, 0));
const norm = (v: number[]) => Math.sqrt(v.reduce((s, a) => s + a * a, 0));

const A = [
  [3, 1, 0, 0.2],
  [1, 2, 0.5, 0],
  [0, 0.5, 1, 0.3],
  [0.2, 0, 0.3, 1.5],
];
const W0 = [1, -2, 0.5, 0.8];

let uid = 0;
/** w split into two keyed tensors a = w[0:2], b = w[2:4]; L = 0.5 w^T A w. */
function quadratic(w0: number[] = W0) {
  uid++;
  const a = tf.variable(tf.tensor1d(w0.slice(0, 2)), true, `quad_a_${uid}`);
  const b = tf.variable(tf.tensor1d(w0.slice(2)), true, `quad_b_${uid}`);
  const Am = tf.tensor2d(A);
  const params: Param[] = [
    { key: 'a', variable: a, group: 'first' },
    { key: 'b', variable: b, group: 'second' },
  ];
  const loss = () => {
    const w = tf.concat([a, b]);
    return tf.mul(0.5, tf.sum(tf.mul(w, tf.squeeze(tf.matMul(Am, tf.reshape(w, [4, 1]))))));
  };
  const dispose = () => {
    a.dispose();
    b.dispose();
    Am.dispose();
  };
  return { a, b, params, loss, dispose };
}

/** The gradient the transform hands on, for a quadratic, as one 4-vector. */
function samGradientOnQuadratic(t: GradientTransform<null>, w0: number[] = W0): number[] {
  const q = quadratic(w0);
  const seen: Array<Map<string, number[]>> = [];
  const opt = new GradientOptimizer(chain(t, probe(seen), noStep), q.params);
  opt.minimize(q.loss);
  opt.dispose();
  q.dispose();
  return [...seen[0]!.get('a')!, ...seen[0]!.get('b')!];
}

describeEachBackend('sam', () => {
  it('SAM gradient on L = 0.5 w^T A w is A (w + rho A w / ||A w||) exactly', () => {
    const rho = 0.3;
    const g = matVec(A, W0);
    const n = norm(g);
    const expected = matVec(
      A,
      W0.map((w, i) => w + (rho * g[i]!) / n),
    );
    // float32 arithmetic on O(1) values: 1e-5 absolute.
    expectAllClose(samGradientOnQuadratic(sam({ rho })), expected, { atol: 1e-5, label: 'sam' });
  });

  it('ASAM gradient on the quadratic is A (w + rho w^2 g / || |w| g ||)', () => {
    const rho = 0.5;
    const g = matVec(A, W0);
    const n = norm(g.map((gi, i) => Math.abs(W0[i]!) * gi));
    const expected = matVec(
      A,
      W0.map((w, i) => w + (rho * w * w * g[i]!) / n),
    );
    expectAllClose(samGradientOnQuadratic(asam({ rho })), expected, { atol: 1e-5, label: 'asam' });
  });

  it("'per-variable' normalises each tensor by its own norm; rhoByGroup sets rho per group", () => {
    const g = matVec(A, W0);
    const na = norm(g.slice(0, 2));
    const nb = norm(g.slice(2));
    const rhos = [0.2, 0.2, 0.05, 0.05];
    const expected = matVec(
      A,
      W0.map((w, i) => w + (rhos[i]! * g[i]!) / (i < 2 ? na : nb)),
    );
    const t = sam({ normalize: 'per-variable', rho: 0.2, rhoByGroup: { second: 0.05 } });
    expectAllClose(samGradientOnQuadratic(t), expected, { atol: 1e-5, label: 'per-variable' });
    // The global variant differs measurably on this problem.
    const global = samGradientOnQuadratic(sam({ rho: 0.2, rhoByGroup: { second: 0.05 } }));
    const gn = norm(g);
    const expectedGlobal = matVec(
      A,
      W0.map((w, i) => w + (rhos[i]! * g[i]!) / gn),
    );
    expectAllClose(global, expectedGlobal, { atol: 1e-5, label: 'global' });
    expect(Math.max(...expected.map((v, i) => Math.abs(v - expectedGlobal[i]!)))).toBeGreaterThan(
      1e-2,
    );
  });

  it("'per-variable' gives e_p = 0 (no NaN) for a tensor with an exactly zero gradient", () => {
    const a = tf.variable(tf.tensor1d([1, -2]), true, `zero_a_${++uid}`);
    const b = tf.variable(tf.tensor1d([0.5, 3]), true, `zero_b_${uid}`);
    const seen: Array<Map<string, number[]>> = [];
    const perturbed: number[][] = [];
    const opt = new GradientOptimizer(
      chain(sam({ normalize: 'per-variable', rho: 0.1, adaptive: true }), probe(seen), noStep),
      [
        { key: 'a', variable: a, group: 'g' },
        { key: 'b', variable: b, group: 'g' },
      ],
    );
    opt.minimize((pass) => {
      if (pass.index === 1) perturbed.push(Array.from(b.dataSync()));
      // b enters with weight 0: connected to the loss, exactly zero gradient.
      return tf.add(tf.sum(tf.square(a)), tf.mul(0, tf.sum(b)));
    });
    expect(perturbed[0]).toEqual([0.5, 3]);
    expect(seen[0]!.get('b')).toEqual([0, 0]);
    expect(seen[0]!.get('a')!.every(Number.isFinite)).toBe(true);
    opt.dispose();
    a.dispose();
    b.dispose();
  });

  it('restores the weights bit-exactly; restore=false leaves w + e in place', () => {
    const rho = 0.4;
    const q = quadratic();
    const opt = new GradientOptimizer(chain(sam({ rho }), noStep), q.params);
    opt.minimize(q.loss);
    expect(Array.from(q.a.dataSync())).toEqual(Array.from(new Float32Array(W0.slice(0, 2))));
    expect(Array.from(q.b.dataSync())).toEqual(Array.from(new Float32Array(W0.slice(2))));
    opt.dispose();
    q.dispose();

    const q2 = quadratic();
    const opt2 = new GradientOptimizer(chain(sam({ rho, restore: false }), noStep), q2.params);
    opt2.minimize(q2.loss);
    const g = matVec(A, W0);
    const n = norm(g);
    expectAllClose(
      [...q2.a.dataSync(), ...q2.b.dataSync()],
      W0.map((w, i) => w + (rho * g[i]!) / n),
      { atol: 1e-6, label: 'w + e' },
    );
    opt2.dispose();
    q2.dispose();
  });

  it("asks for the second pass with batchStatistics 'frozen' and logs grad_norm and rho", () => {
    const q = quadratic();
    const passes: LossPass[] = [];
    const opt = new GradientOptimizer(
      chain(sam({ rho: 0.1, rhoByGroup: { first: 0.2 } }), noStep),
      q.params,
    );
    opt.minimize((pass) => {
      passes.push(pass);
      return q.loss();
    });
    expect(passes.map((p) => [p.index, p.batchStatistics])).toEqual([
      [0, 'update'],
      [1, 'frozen'],
    ]);
    expect(opt.lastLogs['sam/grad_norm']).toBeCloseTo(norm(matVec(A, W0)), 4);
    expect(opt.lastLogs['sam/rho']).toBe(0.1);
    expect(opt.lastLogs['sam/rho/first']).toBe(0.2);
    opt.dispose();
    q.dispose();
  });

  it('accepts rho as a schedule and logs its current value', () => {
    const q = quadratic();
    const opt = new GradientOptimizer(
      chain(sam({ rho: ({ step }) => 0.1 * (step + 1) }), noStep),
      q.params,
    );
    opt.minimize(q.loss);
    opt.minimize(q.loss);
    expect(opt.lastLogs['sam/rho']).toBeCloseTo(0.2, 12);
    opt.dispose();
    q.dispose();
  });

  for (const [name, record] of Object.entries(fixture.cases)) {
    it(`matches the float64 PyTorch reference: ${name}, 3 steps of SGD(0.1, momentum 0.9, wd 1e-4)`, () => {
      const params = mlpParams();
      const { rho, adaptive, normalize, restore, excludeBias, rhoByGroup } = record.config;
      const seen: Array<Map<string, number[]>> = [];
      const { learningRate, momentum, weightDecay } = fixture.sgd;
      const opt = new GradientOptimizer(
        chain(
          sam({
            rho,
            adaptive,
            normalize,
            restore,
            excludeBias,
            ...(rhoByGroup ? { rhoByGroup } : {}),
          }),
          probe(seen),
          sgd({ learningRate, momentum, weightDecay }),
        ),
        params,
      );
      let perturbed: number[][] = [];
      // float32 forward/backward against float64: losses and gradients are O(1), the weights move
      // by O(0.1) per step; 2e-5 absolute + 1e-4 relative covers float32 rounding over 3 steps.
      const tol = { atol: 2e-5, rtol: 1e-4 };
      for (let step = 0; step < 3; step++) {
        const lossFn = mlpLoss(params, step);
        const loss = opt.minimize((pass) => {
          if (step === 0 && pass.index === 1)
            perturbed = params.map((p) => Array.from(p.variable.dataSync()));
          return lossFn(pass);
        });
        expectAllClose(loss, record.losses[step]!, { ...tol, label: `${name} loss ${step}` });
        expectAllClose(opt.lastLogs['sam/grad_norm']!, record.grad_norms[step]!, {
          ...tol,
          label: `${name} grad_norm ${step}`,
        });
        if (step === 0) {
          KEYS.forEach((key, i) => {
            const init = (fixture.init[key]! as number[] | number[][]).flat();
            const e = perturbed[i]!.map((v, j) => v - init[j]!);
            expectAllClose(e, record.e0[key]!, { ...tol, label: `${name} e0 ${key}` });
            expectAllClose(seen[0]!.get(key)!, record.samGrad0[key]!, {
              ...tol,
              label: `${name} samGrad0 ${key}`,
            });
          });
        }
        KEYS.forEach((key, i) => {
          expectAllClose(params[i]!.variable, record.weights[step]![key]!, {
            ...tol,
            label: `${name} weights after step ${step + 1} ${key}`,
          });
        });
      }
      opt.dispose();
      disposeParams(params);
    });
  }

  it('does not leak tensors over 200 steps of chain(sam, sgd) and chain(asam, sgd)', async () => {
    for (const t of [
      sam(),
      asam(),
      asam({ normalize: 'per-variable', excludeBias: true }),
      sam({ restore: false }),
    ]) {
      const params = mlpParams();
      const opt = new GradientOptimizer(
        chain(t, sgd({ learningRate: 0.01, momentum: 0.9, weightDecay: 1e-4 })),
        params,
      );
      const lossFn = mlpLoss(params, 0);
      await expectNoTensorLeak(() => opt.minimize(lossFn), { steps: 200 });
      opt.dispose();
      disposeParams(params);
    }
  });
});

it('rejects bad arguments with the value and the fix', () => {
  expect(() => sam({ rho: -0.1 })).toThrow(
    /sam: received rho=-0.1. Expected a finite number in \[0, Infinity\]/,
  );
  expect(() => sam({ eps: 0 })).toThrow(/received eps=0. Expected a finite number in \(0/);
  expect(() => sam({ eps: -1 })).toThrow(/eps=-1/);
  expect(() => sam({ normalize: 'layer' as never })).toThrow(
    /normalize="layer". Expected one of "global", "per-variable"/,
  );
  expect(() => sam({ rhoByGroup: { head: -1 } })).toThrow(/rhoByGroup.head=-1/);
  expect(() => sam({ rh0: 0.1 } as never)).toThrow(/unknown option\(s\) "rh0"/);
  expect(() => asam({ adaptive: false } as never)).toThrow(/asam: unknown option\(s\) "adaptive"/);
  expect(() => sam({ adaptive: 'yes' as never })).toThrow(/adaptive="yes". Expected true or false/);
  const a = tf.variable(tf.scalar(1), true, 'bad_args_a');
  const params = new Map<string, Param>([
    ['enc/k', { key: 'enc/k', variable: a, group: 'encoder' }],
  ]);
  expect(() => sam({ rhoByGroup: { encoder: 0.1, head: 0.2, decoder: 1 } }).init(params)).toThrow(
    /rhoByGroup names group\(s\) "head", "decoder" that no parameter belongs to. Groups present: "encoder"/,
  );
  // excludeBias selections: matching nothing, or without ASAM, would change nothing.
  expect(() => asam({ excludeBias: true }).init(params)).toThrow(
    /asam: excludeBias: true \(keys whose last segment is bias or beta\) selects no parameter.*groups: encoder: 1 tensor, rank 0 x1 \(e\.g\. enc\/k\)/,
  );
  expect(() => asam({ excludeBias: (p) => p.group === 'head' }).init(params)).toThrow(
    /asam: the excludeBias predicate selects no parameter/,
  );
  expect(asam({ excludeBias: (p) => p.key === 'enc/k' }).init(params)).toBeNull();
  expect(() => sam({ excludeBias: true })).toThrow(
    /sam: received excludeBias=true without adaptive: true\. Only ASAM scales by \|w\|/,
  );
  const schedule = sam({ rho: () => -1 });
  const opt = new GradientOptimizer(schedule, params);
  expect(() => opt.minimize(() => tf.square(a))).toThrow(/schedule at step 0.*rho=-1/);
  opt.dispose();
  a.dispose();
});

it('fails clearly when the driver gives no evaluate (precomputed gradients)', () => {
  const a = tf.variable(tf.scalar(1), true, 'no_eval_a');
  const opt = new GradientOptimizer(sam(), [{ key: 'a', variable: a, group: 'g' }]);
  expect(() => opt.applyGradients(new Map([['a', tf.scalar(1)]]))).toThrow(
    /sam re-evaluates the loss, but this step context has no evaluate\(\)/,
  );
  expect(Array.from(a.dataSync())).toEqual([1]);
  opt.dispose();
  a.dispose();
});

it('isBiasParam recognises tfjs bias and BatchNorm beta keys only', () => {
  const p = (key: string) => ({ key, group: 'g', variable: undefined as never });
  expect(
    ['dense_Dense1/bias', 'head/audio/0/bias', 'bn/beta', 'conv/bias_1', 'x.bias'].map((k) =>
      isBiasParam(p(k)),
    ),
  ).toEqual([true, true, true, true, true]);
  expect(
    ['dense/kernel', 'bn/gamma', 'biasnet/kernel', 'my_bias_layer/kernel'].map((k) =>
      isBiasParam(p(k)),
    ),
  ).toEqual([false, false, false, false]);
});
