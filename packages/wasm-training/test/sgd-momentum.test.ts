/**
 * IgmSgdMomentumUpdate on wasm: the SIMD kernel (relaxed and plain builds) and its JS fallback
 * against the NumPy float32 reference, and chains with the fused tail against the op chain, bit
 * for bit (no tolerance: the kernel rounds every operation to float32 in the op chain's order).
 */
import {
  GradientOptimizer,
  IgmSgdMomentumUpdate,
  registerCpuSgdMomentumKernel,
  sgd,
  unregisterCpuSgdMomentumKernel,
} from '@igm/core';
import { expectNoTensorLeak, tf, useBackend } from '@igm/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectKernelMatchesReference,
  expectSameRecords,
  kernelReference,
  runTailScenario,
  seededValues,
  TAIL_SCENARIOS,
  type TailRecord,
} from '../../core/test/sgd-tail-scenario';
import {
  nativeKernels,
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
} from '../src/index';
import { NATIVE_MODES, restoreNativeDefaults, setNativeMode } from './native-modes';

/** Our wasm kernels without (false) or with (true) the fused SGD update. */
function registerOnWasm(fused: boolean): void {
  unregisterWasmTrainingKernels();
  registerWasmTrainingKernels({
    kernels: fused
      ? WASM_TRAINING_KERNELS
      : WASM_TRAINING_KERNELS.filter((k) => k !== IgmSgdMomentumUpdate),
  });
}

describe('IgmSgdMomentumUpdate on wasm', () => {
  /** Every scenario through the op chain on cpu: the reference of every run below. */
  const reference = new Map<string, TailRecord>();

  beforeAll(async () => {
    await useBackend('cpu');
    unregisterCpuSgdMomentumKernel();
    for (const s of TAIL_SCENARIOS) reference.set(s.name, runTailScenario(s));
    await useBackend('wasm');
    registerOnWasm(true);
  });
  afterAll(() => {
    restoreNativeDefaults();
    registerOnWasm(true);
  });

  it('is registered as an added kernel, and the SIMD module exports it', () => {
    expect(tf.getKernel(IgmSgdMomentumUpdate, 'wasm')).toBeDefined();
    const native = nativeKernels(tf.backend() as never);
    expect(typeof native?.sgd_momentum_f32).toBe('function');
  });

  for (const mode of NATIVE_MODES) {
    describe(mode.name, () => {
      beforeAll(() => setNativeMode(mode));
      afterAll(restoreNativeDefaults);

      it(`equals the NumPy float32 reference bit for bit (${kernelReference.cases.length} cases)`, () => {
        expect(nativeKernels(tf.backend() as never) !== null).toBe(mode.native);
        expectKernelMatchesReference(mode.name);
      });

      for (const scenario of TAIL_SCENARIOS) {
        it(`fused chain equals the cpu op chain bit for bit: ${scenario.name}`, () => {
          expectSameRecords(runTailScenario(scenario), reference.get(scenario.name)!, mode.name);
        });
      }

      it('leaks no tensors and no heap buffers over fused steps', async () => {
        const w = tf.variable(tf.tensor(seededValues(3 * 37, 5), [3, 37]));
        const b = tf.variable(tf.tensor(seededValues(37, 6), [37]));
        const opt = new GradientOptimizer(
          sgd({ learningRate: 0.01, momentum: 0.9, weightDecay: 1e-3, nesterov: true }),
          [
            { key: 'w', variable: w, group: 'w' },
            { key: 'b', variable: b, group: 'b' },
          ],
        );
        const grads = new Map([
          ['w', tf.tensor(seededValues(3 * 37, 7), [3, 37])],
          ['b', tf.tensor(seededValues(37, 8), [37])],
        ]);
        const backend = tf.backend() as never as { numDataIds(): number };
        opt.applyGradients(grads);
        const ids = backend.numDataIds();
        await expectNoTensorLeak(() => opt.applyGradients(grads), { steps: 50 });
        expect(backend.numDataIds()).toBe(ids);
        const info = await tf.profile(() => opt.applyGradients(grads));
        expect(info.kernels.filter((k) => k.name === IgmSgdMomentumUpdate)).toHaveLength(2);
        tf.dispose([...grads.values(), w, b]);
        opt.dispose();
      });
    });
  }

  it('the op chain on wasm (fused kernel not registered) equals the cpu op chain too', () => {
    registerOnWasm(false);
    try {
      for (const scenario of TAIL_SCENARIOS) {
        expectSameRecords(
          runTailScenario(scenario),
          reference.get(scenario.name)!,
          `wasm op chain, ${scenario.name}`,
        );
      }
    } finally {
      registerOnWasm(true);
    }
  });

  it('on cpu with registerCpuSgdMomentumKernel, fused equals the op chain as well', async () => {
    await useBackend('cpu');
    registerCpuSgdMomentumKernel();
    try {
      for (const scenario of TAIL_SCENARIOS) {
        expectSameRecords(
          runTailScenario(scenario),
          reference.get(scenario.name)!,
          `cpu fused, ${scenario.name}`,
        );
      }
    } finally {
      unregisterCpuSgdMomentumKernel();
      await useBackend('wasm');
    }
  });
});
