/**
 * Test helpers: the fixture MLP as keyed parameters and its loss closure.
 */
import type { LossFn, Param } from '@igm/core';
import { loadFixture, tf } from '@igm/test-utils';

export const KEYS = ['dense1/kernel', 'dense1/bias', 'dense2/kernel', 'dense2/bias'] as const;

export interface CaseRecord {
  config: {
    rho: number;
    adaptive: boolean;
    normalize: 'global' | 'per-variable';
    restore: boolean;
    excludeBias: boolean;
    rhoByGroup?: Record<string, number>;
  };
  losses: number[];
  grad_norms: number[];
  perturbedLoss0: number;
  grad0: Record<string, number[] | number[][]>;
  e0: Record<string, number[] | number[][]>;
  samGrad0: Record<string, number[] | number[][]>;
  weights: Array<Record<string, number[] | number[][]>>;
}

export interface MlpFixture {
  sgd: { learningRate: number; momentum: number; weightDecay: number };
  x: number[][];
  y: number[];
  groups: Record<string, string>;
  init: Record<string, number[] | number[][]>;
  cases: Record<string, CaseRecord>;
}

export const fixture = loadFixture<MlpFixture>(new URL('./fixtures/sam_mlp.json', import.meta.url));

let counter = 0;

/** Fresh variables holding the fixture's initial weights. */
export function mlpParams(): Param[] {
  counter++;
  return KEYS.map((key) => ({
    key,
    variable: tf.variable(tf.tensor(fixture.init[key]!), true, `sam_test_${counter}_${key}`),
    group: fixture.groups[key]!,
  }));
}

/** Mean cross-entropy of the 4-6-3 tanh MLP on samples [4*step, 4*step+4). */
export function mlpLoss(params: Param[], step: number): LossFn {
  const [k1, b1, k2, b2] = params.map((p) => p.variable);
  return () => {
    const x = tf.tensor2d(fixture.x.slice(4 * step, 4 * step + 4));
    const y = tf.oneHot(tf.tensor1d(fixture.y.slice(4 * step, 4 * step + 4), 'int32'), 3);
    const h = tf.tanh(tf.add(tf.matMul(x, k1!), b1!));
    const logits = tf.add(tf.matMul(h, k2!), b2!);
    return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1)));
  };
}

export function disposeParams(params: Param[]): void {
  for (const p of params) p.variable.dispose();
}
