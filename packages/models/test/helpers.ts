import { tf } from '@igm/test-utils';
import type { MultimodalModel } from '../src/index';

type Nested = number | number[] | number[][] | number[][][] | number[][][][];

/** Writes fixture values into the model's variables by key (params and non-trainable). */
export function loadWeights(
  model: MultimodalModel,
  values: Record<string, Nested>,
  { strict = true }: { strict?: boolean } = {},
): void {
  const vars = new Map<string, tf.Variable>();
  for (const p of model.params()) vars.set(p.key, p.variable);
  for (const v of model.nonTrainable()) vars.set(v.key, v.variable);
  for (const [key, value] of Object.entries(values)) {
    const v = vars.get(key);
    if (!v)
      throw new Error(
        `fixture key ${key} has no variable; model keys: ${[...vars.keys()].join(', ')}`,
      );
    tf.tidy(() => v.assign(tf.tensor(value as number[], v.shape)));
    vars.delete(key);
  }
  if (strict) {
    const left = [...vars.keys()].filter((k) => k in values === false);
    if (left.length > 0 && Object.keys(values).length > 0) {
      // Every variable of the parity models must come from the fixture.
      const missing = left.filter((k) => !k.includes('moving'));
      if (missing.length > 0)
        throw new Error(`variables not in the fixture: ${missing.join(', ')}`);
    }
  }
}

export function variableMap(model: MultimodalModel): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  for (const p of model.params()) vars.set(p.key, p.variable);
  for (const v of model.nonTrainable()) vars.set(v.key, v.variable);
  return vars;
}

/** Gradients keyed by parameter key. */
export function gradsByKey(
  model: MultimodalModel,
  loss: () => tf.Scalar,
): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const params = model.params();
  const { value, grads } = tf.variableGrads(
    loss,
    params.map((p) => p.variable),
  );
  const out: Record<string, tf.Tensor> = {};
  for (const p of params) out[p.key] = grads[p.variable.name]!;
  return { value, grads: out };
}

/** Mean cross-entropy with integer labels. */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, logits.shape[1]!);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
}
