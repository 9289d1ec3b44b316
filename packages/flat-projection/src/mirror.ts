/**
 * A host-side copy of a small state Variable (flags, counters) that a transform branches on,
 * so `update` never reads back from the device. The copy is refreshed only when the Variable's
 * data changed identity (`assign` always installs new data), which also covers a checkpoint
 * restore that assigns the Variable from outside.
 */
import type * as tf from '@tensorflow/tfjs-core';

export class HostMirror {
  private dataId: object | undefined;
  private values: Float32Array | Int32Array | Uint8Array = new Float32Array(0);

  constructor(private readonly variable: tf.Variable) {}

  /** The Variable's values (read back only after an outside `assign`). */
  read(): ArrayLike<number> {
    if (this.dataId !== this.variable.dataId) {
      this.values = this.variable.dataSync() as Float32Array;
      this.dataId = this.variable.dataId;
    }
    return this.values;
  }

  /** Assigns `value` to the Variable and records the values written, without a read-back. */
  write(value: tf.Tensor, values: ArrayLike<number>): void {
    this.variable.assign(value);
    this.values = Float32Array.from(values);
    this.dataId = this.variable.dataId;
  }
}
