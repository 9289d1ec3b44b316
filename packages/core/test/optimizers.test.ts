import {
  describeEachBackend,
  expectAllClose,
  expectNoTensorLeak,
  loadFixture,
  tf,
} from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  adam,
  adamw,
  addDecayedWeights,
  chain,
  GradientOptimizer,
  type GradientTransform,
  type Param,
  scale,
  scaleByAdam,
  scaleByLearningRate,
  sgd,
  traceMomentum,
} from '../src';

type Nested = number | Nested[];
interface OptimFixture {
  steps: number;
  init: Record<string, Nested>;
  grads: Array<Record<string, Nested | null>>;
  optimizers: Record<
    string,
    {
      optimizer: string;
      config: Record<string, number | boolean | number[]>;
      params: Array<Record<string, Nested>>;
      state: Record<string, Nested>;
    }
  >;
}

const fixture = loadFixture<OptimFixture>(new URL('./fixtures/optim.json', import.meta.url));

/**
 * Tolerances: the reference runs in float64, we run in float32 (unit roundoff 6e-8). Five steps of
 * a handful of multiply-adds on O(1) values accumulate a few ulps, i.e. ~1e-6 relative; Adam's
 * division by sqrt(v_hat) + eps can amplify that by ~10x where v is small. So 1e-6 absolute plus
 * 1e-5 relative is tight enough to catch any semantic error (a wrong bias correction, decay
 * placement or first-step buffer shifts values by >= 1e-3) and loose enough for float32.
 */
const TOL = { atol: 1e-6, rtol: 1e-5 };

function transformFor(name: string): GradientTransform {
  const { config } = fixture.optimizers[name]!;
  const lr = config['lr'] as number;
  const wd = config['weight_decay'] as number;
  switch (name) {
    case 'sgd_momentum':
    case 'sgd_nesterov':
    case 'sgd_plain':
      return sgd({
        learningRate: lr,
        momentum: config['momentum'] as number,
        nesterov: config['nesterov'] === true,
        weightDecay: wd,
      });
    case 'adam':
    case 'adamw': {
      const [beta1, beta2] = config['betas'] as number[];
      const make = name === 'adam' ? adam : adamw;
      return make({
        learningRate: lr,
        beta1: beta1!,
        beta2: beta2!,
        eps: config['eps'] as number,
        weightDecay: wd,
      });
    }
    default:
      throw new Error(name);
  }
}

function makeParams(): Param[] {
  return Object.entries(fixture.init).map(([key, v]) => ({
    key,
    variable: tf.variable(tf.tensor(v as number[])),
    group: key,
  }));
}

function disposeParams(params: Param[]): void {
  for (const p of params) p.variable.dispose();
}

describeEachBackend('optimizers match torch.optim', () => {
  for (const name of Object.keys(fixture.optimizers)) {
    it(`${name} (${fixture.optimizers[name]!.optimizer}) step by step, with missing and late gradients`, () => {
      const ref = fixture.optimizers[name]!;
      const params = makeParams();
      const opt = new GradientOptimizer(transformFor(name), params);
      for (let t = 0; t < fixture.steps; t++) {
        const grads = new Map<string, tf.Tensor>();
        for (const [k, g] of Object.entries(fixture.grads[t]!))
          if (g !== null) grads.set(k, tf.tensor(g as number[]));
        opt.applyGradients(grads);
        tf.dispose([...grads.values()]);
        for (const p of params)
          expectAllClose(p.variable, ref.params[t]![p.key] as number[], {
            ...TOL,
            label: `${name} step ${t} ${p.key}`,
          });
      }
      const vars = opt.stateVariables();
      for (const [slot, expected] of Object.entries(ref.state)) {
        const found = vars.filter((v) => v.name.endsWith(`/${slot}`));
        expect(
          found.map((v) => v.name),
          `state ${slot}`,
        ).toHaveLength(1);
        expectAllClose(found[0]!.variable, expected as number[], {
          ...TOL,
          label: `${name} state ${slot}`,
        });
      }
      opt.dispose();
      disposeParams(params);
    });
  }

  it('sgd equals tf.train.momentum when weight decay is 0', () => {
    const params = makeParams();
    const twins = makeParams();
    const opt = new GradientOptimizer(sgd({ learningRate: 0.1, momentum: 0.9 }), params);
    const tfOpt = tf.train.momentum(0.1, 0.9);
    for (let t = 0; t < fixture.steps; t++) {
      // tf.train.momentum indexes slots by variable name, so a fixed full list is used here.
      const g = fixture.grads[t]!;
      const grads = new Map(
        Object.keys(fixture.init).map((k) => [
          k,
          tf.tensor((g[k] ?? fixture.grads[fixture.steps - 1]![k]) as number[]),
        ]),
      );
      opt.applyGradients(grads);
      tfOpt.applyGradients(
        twins.map((p) => ({ name: p.variable.name, tensor: grads.get(p.key)! })),
      );
      tf.dispose([...grads.values()]);
    }
    for (let i = 0; i < params.length; i++)
      expectAllClose(params[i]!.variable, twins[i]!.variable, { atol: 1e-6, rtol: 1e-6 });
    tfOpt.dispose();
    opt.dispose();
    disposeParams(params);
    disposeParams(twins);
  });

  it('sgd(momentum) and adam converge to the minimum of a convex quadratic', () => {
    // L(w) = 0.5 * sum_i a_i (w_i - c_i)^2, minimum at c.
    const a = tf.tensor1d([1, 4, 0.5]);
    const c = tf.tensor1d([2, -1, 0.5]);
    for (const t of [
      sgd({ learningRate: 0.1, momentum: 0.9 }),
      sgd({ learningRate: 0.2, momentum: 0.5, nesterov: true }),
      adam({ learningRate: 0.05 }),
    ]) {
      const w = tf.variable(tf.zeros([3]));
      const opt = new GradientOptimizer(t, [{ key: 'w', variable: w, group: 'g' }]);
      for (let i = 0; i < 600; i++)
        opt.minimize(() => tf.mul(0.5, tf.sum(tf.mul(a, tf.square(tf.sub(w, c))))));
      expectAllClose(w, [2, -1, 0.5], { atol: 1e-3, label: t.name });
      opt.dispose();
      w.dispose();
    }
    a.dispose();
    c.dispose();
  });

  it('weight decay alone shrinks parameters towards 0 at rate (1 - lr * wd)', () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const opt = new GradientOptimizer(chain(addDecayedWeights(0.5), scaleByLearningRate(0.1)), [
      { key: 'w', variable: w, group: 'g' },
    ]);
    for (let i = 0; i < 10; i++) opt.applyGradients(new Map([['w', tf.zeros([2])]]));
    expectAllClose(w, [0.95 ** 10, -2 * 0.95 ** 10], { atol: 1e-6 });
    opt.dispose();
    w.dispose();
  });

  it('scaleByLearningRate reads schedules and logs lr; scale multiplies', () => {
    const w = tf.variable(tf.tensor1d([0]));
    const seen: number[] = [];
    const opt = new GradientOptimizer(
      chain(
        scale(2),
        scaleByLearningRate(({ step }) => 0.1 * (step + 1)),
      ),
      [{ key: 'w', variable: w, group: 'g' }],
      { onLog: (v) => seen.push(v['lr']!) },
    );
    for (let i = 0; i < 3; i++) opt.applyGradients(new Map([['w', tf.ones([1])]]));
    expect(seen.map((x) => +x.toFixed(6))).toEqual([0.1, 0.2, 0.3]);
    expectAllClose(w, [-2 * 0.6], { atol: 1e-6 });
    opt.dispose();
    w.dispose();
  });

  for (const [label, make] of [
    ['sgd', () => sgd({ learningRate: 0.01, momentum: 0.9, nesterov: true, weightDecay: 1e-4 })],
    ['adam', () => adam({ learningRate: 0.01, weightDecay: 1e-4 })],
    ['adamw', () => adamw({ learningRate: 0.01 })],
  ] as const) {
    it(`${label} does not leak tensors over 200 steps`, async () => {
      const w = tf.variable(tf.randomNormal([4, 3]));
      const b = tf.variable(tf.zeros([3]));
      const x = tf.randomNormal([8, 4]);
      const opt = new GradientOptimizer(make(), [
        { key: 'w', variable: w, group: 'g' },
        { key: 'b', variable: b, group: 'g' },
      ]);
      await expectNoTensorLeak((i) =>
        opt.minimize(() => tf.mean(tf.square(tf.add(tf.matMul(x, w), b))), {
          keys: i % 3 === 0 ? ['w'] : ['w', 'b'],
        }),
      );
      opt.dispose();
      w.dispose();
      b.dispose();
      x.dispose();
    });
  }
});

it('bad optimizer arguments name the value and the fix', () => {
  expect(() => sgd({ learningRate: -0.1 })).toThrow(/learningRate=-0.1/);
  expect(() => sgd({ learningRate: 0.1, momentum: -1 })).toThrow(
    /momentum=-1\. Expected a finite number in \[0, 1\]/,
  );
  expect(() => sgd({ learningRate: 0.1, nesterov: true })).toThrow(/Nesterov needs momentum > 0/);
  expect(() => sgd({ learningRate: 0.1, weightDecay: -1 })).toThrow(/weightDecay=-1/);
  expect(() => sgd({ learingRate: 0.1 } as never)).toThrow(/unknown option\(s\) "learingRate"/);
  expect(() => adam({ learningRate: 0.1, beta2: 1 })).toThrow(/beta2=1/);
  expect(() => adam({ learningRate: 0.1, eps: -1 })).toThrow(/eps=-1/);
  expect(() => adamw({} as never)).toThrow(/learningRate is required/);
  expect(() => traceMomentum({ momentum: 2 })).toThrow(/momentum=2/);
  expect(() => scaleByAdam({ beta1: -0.1 })).toThrow(/beta1=-0.1/);
  expect(() => scaleByLearningRate('0.1' as never)).toThrow(/learningRate="?0.1"?/);
  expect(() => addDecayedWeights(Number.NaN)).toThrow(/weightDecay=NaN/);
});
