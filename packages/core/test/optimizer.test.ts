import { describeEachBackend, expectAllClose, expectNoTensorLeak, tf } from '@igm/test-utils';
import { expect, it } from 'vitest';
import {
  chain,
  createRng,
  GradientOptimizer,
  type GradientTransform,
  identity,
  type Param,
} from '../src';

/** u = -lr * g: plain gradient descent, enough to exercise the driver. */
function descend(lr: number): GradientTransform<null> {
  return {
    name: 'descend',
    init: () => null,
    update: (grads) => new Map([...grads].map(([k, g]) => [k, tf.mul(g, -lr)])),
    state: () => [],
  };
}

describeEachBackend('GradientOptimizer', () => {
  it('minimises a quadratic to its known optimum', () => {
    const w = tf.variable(tf.tensor1d([3, -2]), true, 'w_quad');
    const params: Param[] = [{ key: 'w', variable: w, group: 'all' }];
    const opt = new GradientOptimizer(chain(identity(), descend(0.1)), params);
    // L = ||w - c||^2, c = (1, 1): gradient descent contracts by (1 - 2 lr) per step.
    const c = tf.tensor1d([1, 1]);
    for (let i = 0; i < 100; i++) opt.minimize(() => tf.sum(tf.square(tf.sub(w, c))));
    expectAllClose(w, [1, 1], { atol: 1e-6 });
    expect(opt.step).toBe(100);
    opt.dispose();
    w.dispose();
    c.dispose();
  });

  it('updates only the keys it is asked to train', () => {
    const a = tf.variable(tf.scalar(1), true, 'a_keys');
    const b = tf.variable(tf.scalar(1), true, 'b_keys');
    const opt = new GradientOptimizer(descend(0.5), [
      { key: 'a', variable: a, group: 'x' },
      { key: 'b', variable: b, group: 'y' },
    ]);
    opt.minimize(() => tf.add(tf.square(a), tf.square(b)), { keys: ['a'] });
    expectAllClose(a, 0);
    expectAllClose(b, 1);
    expect(() => opt.minimize(() => tf.square(a), { keys: ['nope'] })).toThrow(
      /unknown parameter key "nope"/,
    );
    opt.dispose();
    a.dispose();
    b.dispose();
  });

  it('does not leak tensors across steps', async () => {
    const w = tf.variable(tf.randomNormal([4, 3]), true, 'w_leak');
    const x = tf.randomNormal([8, 4]);
    const opt = new GradientOptimizer(descend(0.01), [{ key: 'w', variable: w, group: 'g' }]);
    await expectNoTensorLeak(() => opt.minimize(() => tf.mean(tf.square(tf.matMul(x, w)))));
    opt.dispose();
    w.dispose();
    x.dispose();
  });
});

it('chain rejects state it did not create', () => {
  const t = chain(identity());
  expect(() => t.update(new Map(), undefined as never, {} as never)).toThrow(
    /Call init\(params\) once/,
  );
});

it('rng is reproducible and its state round-trips', () => {
  const r = createRng(42);
  r.uniform();
  const saved = r.getState();
  const seq = [r.uniform(), r.normal(), r.int(10), r.beta(1, 1)];
  const r2 = createRng(7);
  r2.setState(saved);
  expect([r2.uniform(), r2.normal(), r2.int(10), r2.beta(1, 1)]).toEqual(seq);
  const p = createRng(1).permutation(50);
  expect([...p].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
  // Moments of 20k uniforms and normals: standard errors ~0.002 and ~0.007.
  const u = createRng(3);
  let su = 0;
  let sn = 0;
  let sn2 = 0;
  for (let i = 0; i < 20000; i++) {
    su += u.uniform();
    const n = u.normal();
    sn += n;
    sn2 += n * n;
  }
  expect(Math.abs(su / 20000 - 0.5)).toBeLessThan(0.01);
  expect(Math.abs(sn / 20000)).toBeLessThan(0.03);
  expect(Math.abs(sn2 / 20000 - 1)).toBeLessThan(0.04);
});

describeEachBackend('GradientOptimizer outputs', () => {
  it('hands the forward outputs to transforms alive, and frees them after the step', async () => {
    const w = tf.variable(tf.tensor2d([[1, 2]]), true, 'w_outputs');
    const x = tf.tensor2d([[3], [4]]);
    let seen: number[] = [];
    const readsOutputs: GradientTransform<null> = {
      name: 'readsOutputs',
      init: () => null,
      update: (grads, _s, ctx) => {
        seen = Array.from(ctx.outputs['h']!.dataSync());
        return new Map([...grads].map(([k, g]) => [k, tf.mul(g, -0.01)]));
      },
      state: () => [],
    };
    const opt = new GradientOptimizer(readsOutputs, [{ key: 'w', variable: w, group: 'g' }]);
    const lossFn = () => {
      const h = tf.matMul(x, w);
      return { loss: tf.mean(h), outputs: { h } };
    };
    opt.minimize(lossFn);
    expect(seen).toEqual([3, 6, 4, 8]);
    await expectNoTensorLeak(() => opt.minimize(lossFn), { steps: 20 });
    // An output the caller owns (created outside the closure) survives the step.
    const owned = tf.tensor1d([1, 2]);
    opt.minimize(() => {
      const h = tf.matMul(x, w);
      return { loss: tf.mean(h), outputs: { h, owned } };
    });
    expect(owned.isDisposed).toBe(false);
    owned.dispose();
    opt.dispose();
    w.dispose();
    x.dispose();
  });
});
