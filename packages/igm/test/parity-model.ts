/**
 * Test double: per modality an encoder Dense(d, h) + ReLU and a head Dense(h, h2) -> ReLU ->
 * Dense(h2, C), fused by the mean of softmaxes; weights from a record in TF.js layout.
 * Parameter keys `<m>/enc|head0|head1/kernel|bias`, groups `encoder/<m>` and `head/<m>`.
 */
import type { ForwardOptions, HeadLayerInfo, MultimodalModelLike, Param } from '@igm/core';
import { createRng } from '@igm/core';
import * as tf from '@tensorflow/tfjs-core';

let counter = 0;

export class ParityModel implements MultimodalModelLike {
  readonly modalities: string[];
  readonly numClasses: number;
  private readonly ps: Param[] = [];
  private readonly v = new Map<string, tf.Variable>();

  constructor(
    readonly dims: Record<string, number>,
    readonly hidden: [number, number],
    numClasses: number,
    weights?: Record<string, number[] | number[][]>,
    seed = 0,
  ) {
    const id = counter++;
    this.modalities = Object.keys(dims);
    this.numClasses = numClasses;
    const rng = createRng(seed);
    const [h, h2] = hidden;
    const shapes: Array<[string, string, number[]]> = [];
    for (const m of this.modalities) {
      shapes.push(
        [`${m}/enc/kernel`, `encoder/${m}`, [dims[m]!, h]],
        [`${m}/enc/bias`, `encoder/${m}`, [h]],
      );
      shapes.push(
        [`${m}/head0/kernel`, `head/${m}`, [h, h2]],
        [`${m}/head0/bias`, `head/${m}`, [h2]],
      );
      shapes.push(
        [`${m}/head1/kernel`, `head/${m}`, [h2, numClasses]],
        [`${m}/head1/bias`, `head/${m}`, [numClasses]],
      );
    }
    for (const [key, group, shape] of shapes) {
      const fanIn = shape[0]!;
      const value = weights?.[key]
        ? tf.tensor(weights[key]!.flat() as number[], shape)
        : tf.tensor(
            Array.from(
              { length: shape.reduce((a, b) => a * b, 1) },
              () => (2 * rng.uniform() - 1) / Math.sqrt(shape.length === 2 ? fanIn : h),
            ),
            shape,
          );
      const variable = tf.variable(value, true, `parity${id}/${key}`);
      value.dispose();
      this.v.set(key, variable);
      this.ps.push({ key, variable, group });
    }
  }

  params(): Param[] {
    return [...this.ps];
  }

  nonTrainable(): Array<{ key: string; variable: tf.Variable }> {
    return [];
  }

  variable(key: string): tf.Variable {
    return this.v.get(key)!;
  }

  forward(
    inputs: Readonly<Record<string, tf.Tensor>>,
    options: ForwardOptions,
  ): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = {};
    const mods = options.modalities ?? this.modalities;
    const probs: tf.Tensor[] = [];
    const dense = (x: tf.Tensor, name: string) =>
      tf.add(
        tf.matMul(x as tf.Tensor2D, this.v.get(`${name}/kernel`)!),
        this.v.get(`${name}/bias`)!,
      );
    for (const m of mods) {
      const f = tf.relu(dense(inputs[m]!, `${m}/enc`));
      const z = tf.relu(dense(f, `${m}/head0`));
      const logits = dense(z, `${m}/head1`);
      out[`features/${m}`] = f;
      out[`input/head/${m}/0`] = f;
      out[`input/head/${m}/1`] = z;
      out[`logits/${m}`] = logits;
      probs.push(tf.softmax(logits));
    }
    out['probs/fused'] = probs.length === 1 ? probs[0]! : tf.div(tf.addN(probs), probs.length);
    return out;
  }

  headLayers(m: string): HeadLayerInfo[] {
    const [h, h2] = this.hidden;
    return [
      {
        modality: m,
        index: 0,
        kernelKey: `${m}/head0/kernel`,
        biasKey: `${m}/head0/bias`,
        inputName: `input/head/${m}/0`,
        inputDim: h,
        outputDim: h2,
      },
      {
        modality: m,
        index: 1,
        kernelKey: `${m}/head1/kernel`,
        biasKey: `${m}/head1/bias`,
        inputName: `input/head/${m}/1`,
        inputDim: h2,
        outputDim: this.numClasses,
      },
    ];
  }

  dispose(): void {
    for (const p of this.ps) p.variable.dispose();
  }
}
