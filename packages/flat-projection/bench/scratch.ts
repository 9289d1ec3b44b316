import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
import { buildFlatProjection } from '../src/matrix';
const fx = JSON.parse(readFileSync('test/fixtures/flat.json', 'utf8'));
for (const b of ['wasm', 'cpu']) {
  await tf.setBackend(b); await tf.ready();
  for (const c of fx.matrices) {
    for (const sMin of [undefined, c.nB < c.Y.length ? 0 : undefined]) {
      const before = tf.memory().numTensors;
      const r = buildFlatProjection(c.Y, c.tau, { method: 'expm', ...(sMin !== undefined ? { sMin } : {}) });
      const t = r.matrix.arraySync() as number[][];
      let err = 0; for (let i = 0; i < t.length; i++) for (let j = 0; j < t.length; j++) err = Math.max(err, Math.abs(t[i]![j]! - c.T[i][j]));
      r.matrix.dispose();
      console.log(b, c.name, sMin, r.method, r.note ?? '', 'steps', r.lanczosSteps, 'deg', r.polynomialDegree, 'sMin', r.sMin.toExponential(3), c.sMin.toExponential(3), 'sMax', r.sMax.toFixed(4), c.sMax.toFixed(4), 'err', err.toExponential(2), 'leak', tf.memory().numTensors - before);
    }
  }
}
