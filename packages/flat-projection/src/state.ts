/** Non-trainable state Variables with engine-unique names (tfjs rejects duplicate names). */
import * as tf from '@tensorflow/tfjs-core';

let nextId = 0;

/** A non-trainable Variable initialised to `init`; `init` is disposed. */
export function stateVariable<R extends tf.Rank>(
  owner: string,
  slot: string,
  init: tf.Tensor<R>,
): tf.Variable<R> {
  const v = tf.variable(init, false, `igm/${owner}/${slot}#${nextId++}`);
  init.dispose();
  return v;
}
