/**
 * Conv-encoder gradients on wasm with @igm/wasm-training's kernels (stock tfjs-backend-wasm 4.22
 * has no Conv2DBackpropFilter): the ResNet-18 and per-modality parity gradients of
 * parity.test.ts, on the wasm backend. Tolerances as there.
 */
import { expectAllClose, loadFixture, testBackends, tf, useBackend } from '@igm/test-utils';
import { registerWasmTrainingKernels, unregisterWasmTrainingKernels } from '@igm/wasm-training';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { MultimodalModel, resnet18 } from '../src/index';
import { gradsByKey, loadWeights } from './helpers';

type Nested = number | number[] | number[][] | number[][][] | number[][][][];

interface ResNetFixture {
  params: Record<string, Nested>;
  nonTrainable: Record<string, Nested>;
  x: Nested;
  r: Nested;
  grads: Record<string, Nested>;
}

const resFx = loadFixture<ResNetFixture>(new URL('./fixtures/resnet.json', import.meta.url));

describe.runIf(testBackends().includes('wasm'))(
  'ResNet-18 gradients with @igm/wasm-training kernels [wasm]',
  () => {
    beforeAll(async () => {
      await useBackend('wasm');
      registerWasmTrainingKernels();
    });
    afterAll(() => {
      unregisterWasmTrainingKernels();
    });

    it('gradients of sum(features * r) match torch', () => {
      const model = new MultimodalModel({
        encoders: { x: resnet18({ inChannels: 1, widths: [4, 4, 8, 8] }) },
        numClasses: 2,
      });
      const prefixed = (rec: Record<string, Nested>) =>
        Object.fromEntries(Object.entries(rec).map(([k, v]) => [`encoder/x/${k}`, v]));
      loadWeights(
        model,
        { ...prefixed(resFx.params), ...prefixed(resFx.nonTrainable) },
        { strict: false },
      );
      const x = tf.tensor(resFx.x as number[][][][]);
      const r = tf.tensor(resFx.r as number[][]);
      const { value, grads } = gradsByKey(
        model,
        () =>
          tf.sum(tf.mul(model.forward({ x }, { training: true })['features/x']!, r)) as tf.Scalar,
      );
      for (const [k, g] of Object.entries(resFx.grads)) {
        const flat = [g].flat(Number.POSITIVE_INFINITY as 1) as number[];
        const scale = Math.max(1, ...flat.map(Math.abs));
        expectAllClose(grads[`encoder/x/${k}`]!, g, {
          atol: 1e-5 * scale,
          rtol: 1e-5,
          label: `grad ${k}`,
        });
      }
      tf.dispose([value, ...Object.values(grads), x, r]);
      model.dispose();
    });
  },
);
