/**
 * Scenarios for the fused SGD tail (IgmSgdMomentumUpdate): chains that end in
 * `[addDecayedWeights] traceMomentum scaleByLearningRate`, run for several steps on parameters of
 * awkward sizes (scalars, sizes that are not multiples of 4) with keys that get no gradient in
 * some steps. `runTailScenario` records everything a step changes (parameters, state variables
 * by name, logs) so two runs, one fused and one through the op chain, can be compared bit for bit.
 * `expectKernelMatchesReference` checks the kernel of the active backend against the NumPy
 * float32 reference (tools/reference/core/sgd_momentum_kernel.py). Shared by @igm/core's cpu
 * tests and @igm/wasm-training's wasm tests.
 */
import { loadFixture, tf } from '@igm/test-utils';
import { expect } from 'vitest';
import {
  addDecayedWeights,
  chain,
  GradientOptimizer,
  type GradientTransform,
  IgmSgdMomentumUpdate,
  type Param,
  type SgdMomentumUpdateAttrs,
  scale,
  scaleByLearningRate,
  sgd,
  stepLR,
  traceMomentum,
} from '../src/index';

export interface TailScenario {
  readonly name: string;
  readonly make: () => GradientTransform;
}

/** Parameter shapes: a scalar, sizes 1, 3, 7, 10, 16, 37, 45 and a 2-D weight of 1,027 elements. */
export const TAIL_SHAPES: Readonly<Record<string, number[]>> = {
  scalar: [],
  one: [1],
  three: [3],
  seven: [7],
  w: [2, 5],
  sixteen: [4, 4],
  odd: [37],
  cube: [3, 3, 5],
  dense: [13, 79],
};

/** Steps per scenario. */
export const TAIL_STEPS = 6;

/** `seven` gets no gradient in steps 1 and 3; `odd` gets its first gradient in step 2. */
export function hasGradient(key: string, step: number): boolean {
  if (key === 'seven') return step !== 1 && step !== 3;
  if (key === 'odd') return step >= 2;
  return true;
}

/** A schedule that is 0 at step 2 (updates of -0 and +0) and decays otherwise. */
const decaying = ({ step }: { step: number }) => (step === 2 ? 0 : 0.1 / (1 + step));

export const TAIL_SCENARIOS: readonly TailScenario[] = [
  { name: 'sgd momentum 0.9', make: () => sgd({ learningRate: 0.05, momentum: 0.9 }) },
  {
    name: 'sgd momentum 0.9, weight decay 5e-4',
    make: () => sgd({ learningRate: 0.01, momentum: 0.9, weightDecay: 5e-4 }),
  },
  {
    name: 'sgd nesterov, weight decay 1e-3, stepLR schedule',
    make: () =>
      sgd({
        learningRate: stepLR({ initial: 0.1, stepSize: 2, gamma: 0.3, unit: 'step' }),
        momentum: 0.8,
        nesterov: true,
        weightDecay: 1e-3,
      }),
  },
  {
    name: 'chain(scale, addDecayedWeights, traceMomentum, scaleByLearningRate(schedule, logAs))',
    make: () =>
      chain(
        scale(0.5),
        addDecayedWeights(0.01),
        traceMomentum({ momentum: 0.95 }),
        scaleByLearningRate(decaying, { logAs: 'rate' }),
      ),
  },
  {
    name: 'chain(traceMomentum nesterov, scaleByLearningRate) without decay',
    make: () => chain(traceMomentum({ momentum: 0.5, nesterov: true }), scaleByLearningRate(0.3)),
  },
  {
    name: 'chain(addDecayedWeights(0), traceMomentum(1), scaleByLearningRate) then scale',
    make: () =>
      chain(
        addDecayedWeights(0),
        traceMomentum({ momentum: 1 }),
        scaleByLearningRate(0.02),
        scale(2),
      ),
  },
  {
    name: 'two sgd chains in a row (decay 0.1, momentum 0.7; momentum 0.6)',
    make: () =>
      chain(
        sgd({ learningRate: 1.5, momentum: 0.7, weightDecay: 0.1 }),
        sgd({ learningRate: 0.7, momentum: 0.6 }),
      ),
  },
];

/** Uniform(-scale, scale) float32 values from a seed (xorshift32). */
export function seededValues(size: number, seed: number, range = 1): Float32Array {
  const out = new Float32Array(size);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = ((s / 0xffffffff) * 2 - 1) * range;
  }
  return out;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export interface TailRecord {
  /** Per step: every parameter's values and every state variable's values, by name. */
  readonly steps: Array<Record<string, Float32Array>>;
  /** Per step: the values the transform logged. */
  readonly logs: Array<Record<string, number>>;
  readonly stateNames: string[];
}

/** Runs `scenario` for TAIL_STEPS steps on the active backend, as it is registered now. */
export function runTailScenario(scenario: TailScenario): TailRecord {
  const keys = Object.keys(TAIL_SHAPES);
  const params: Param[] = keys.map((key, i) => {
    const shape = TAIL_SHAPES[key]!;
    return {
      key,
      group: key,
      variable: tf.variable(tf.tensor(seededValues(size(shape), 100 + i, 2), shape, 'float32')),
    };
  });
  const opt = new GradientOptimizer(scenario.make(), params);
  const record: TailRecord = { steps: [], logs: [], stateNames: [] };
  try {
    for (let step = 0; step < TAIL_STEPS; step++) {
      const grads = new Map<string, tf.Tensor>();
      keys.forEach((key, i) => {
        const shape = TAIL_SHAPES[key]!;
        if (hasGradient(key, step))
          grads.set(key, tf.tensor(seededValues(size(shape), 1000 * step + i + 1), shape));
      });
      opt.applyGradients(grads, { epoch: step >> 1 });
      tf.dispose([...grads.values()]);
      const snapshot: Record<string, Float32Array> = {};
      for (const p of params) snapshot[`param ${p.key}`] = p.variable.dataSync() as Float32Array;
      for (const { name, variable } of opt.stateVariables())
        snapshot[`state ${name}`] = variable.dataSync() as Float32Array;
      record.steps.push(snapshot);
      record.logs.push({ ...opt.lastLogs });
    }
    record.stateNames.push(...opt.stateVariables().map((v) => v.name));
  } finally {
    opt.dispose();
    for (const p of params) p.variable.dispose();
  }
  return record;
}

/** Float32 values as their bit patterns (so -0 differs from +0 and NaN payloads count). */
export function bits(values: Float32Array | ArrayLike<number>): Uint32Array {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return new Uint32Array(f.buffer, f.byteOffset, f.length);
}

/** Asserts two float32 arrays are equal bit for bit, naming the first differing element. */
export function expectSameBits(
  actual: Float32Array | ArrayLike<number>,
  expected: Float32Array | ArrayLike<number>,
  label: string,
): void {
  const a = bits(actual);
  const b = bits(expected);
  expect(a.length, `${label}: length`).toBe(b.length);
  const i = a.findIndex((v, k) => v !== b[k]);
  if (i >= 0) {
    const fa = new Float32Array(a.buffer, a.byteOffset, a.length)[i];
    const fb = new Float32Array(b.buffer, b.byteOffset, b.length)[i];
    expect.fail(
      `${label}: element ${i} is ${fa} (0x${a[i]!.toString(16)}), expected ${fb} (0x${b[i]!.toString(16)})`,
    );
  }
}

/** Asserts two runs of a scenario changed everything identically, bit for bit. */
export function expectSameRecords(actual: TailRecord, expected: TailRecord, label: string): void {
  expect(actual.stateNames, `${label}: state names`).toEqual(expected.stateNames);
  expect(actual.logs, `${label}: logs`).toEqual(expected.logs);
  expected.steps.forEach((snapshot, step) => {
    expect(Object.keys(actual.steps[step]!)).toEqual(Object.keys(snapshot));
    for (const [name, values] of Object.entries(snapshot))
      expectSameBits(actual.steps[step]![name]!, values, `${label}, step ${step}, ${name}`);
  });
}

/** One step of the kernel per case, from tools/reference/core/sgd_momentum_kernel.py. */
export interface KernelReference {
  source: string;
  cases: Array<{
    shape: number[];
    attrs: SgdMomentumUpdateAttrs;
    gradient: number[];
    param: number[];
    buffer: number[];
    nextBuffer: number[];
    update: number[];
  }>;
}

export const kernelReference = loadFixture<KernelReference>(
  new URL('./fixtures/sgd-momentum-kernel.json', import.meta.url),
);

/** Runs IgmSgdMomentumUpdate on the active backend (whatever is registered for it). */
export function runSgdMomentumKernel(
  inputs: Record<string, tf.Tensor>,
  attrs: SgdMomentumUpdateAttrs,
): [tf.Tensor, tf.Tensor] {
  return tf
    .engine()
    .runKernel(IgmSgdMomentumUpdate, inputs, attrs as unknown as tf.NamedAttrMap) as [
    tf.Tensor,
    tf.Tensor,
  ];
}

/** Asserts the active backend's kernel gives the reference's bits in every case. */
export function expectKernelMatchesReference(label: string): void {
  for (const [i, c] of kernelReference.cases.entries()) {
    const where = `${label}, case ${i} [${c.shape}] ${JSON.stringify(c.attrs)}`;
    tf.tidy(() => {
      const inputs = {
        gradient: tf.tensor(c.gradient, c.shape),
        param: tf.tensor(c.param, c.shape),
        buffer: tf.tensor(c.buffer, c.shape),
      };
      const [next, update] = runSgdMomentumKernel(inputs, c.attrs);
      expect(next.shape, where).toEqual(c.shape);
      expectSameBits(next.dataSync(), c.nextBuffer, `${where} nextBuffer`);
      expectSameBits(update.dataSync(), c.update, `${where} update`);
    });
  }
}
