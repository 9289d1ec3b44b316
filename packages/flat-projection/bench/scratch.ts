import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { buildFlatProjection, InputMomentAccumulator } from '../src';

await tf.setBackend('wasm');
await tf.ready();
for (const d of [128, 512, 1024])
  for (const nB of [d + 46, d >> 1]) {
    const acc = new InputMomentAccumulator();
    for (let b = 0; b < nB; b++)
      tf.tidy(() =>
        acc.add('k', tf.relu(tf.add(tf.randomNormal([12, d], 0, 1, 'float32', b), 0.3))),
      );
    const y = acc.get('k');
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const r = buildFlatProjection(y, 0.4, { method: 'expm', ...(nB < d ? { sMin: 0 } : {}) });
      r.matrix.dataSync();
      console.log(
        d,
        nB,
        (performance.now() - t0).toFixed(1),
        'ms',
        r.method,
        r.lanczosSteps,
        r.polynomialDegree,
        r.sMin,
        r.sMax,
      );
      r.matrix.dispose();
    }
    acc.dispose();
  }
