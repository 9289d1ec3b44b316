/**
 * What a checkpoint holds, independent of where it is stored: named tensors
 * ({@link TensorRecord}: float32 or int32 values with their shape) and a JSON state. The
 * variables of a model, a transform or a callback become tensors with {@link snapshotVariables}
 * and are assigned back with {@link restoreVariables}. Stores (storage.ts) keep checkpoints; the
 * file-system format (weights.bin + manifest.json + state.json) is in `@igm/trainer/node`.
 */
import { IgmArgumentError } from '@igm/core';
import type * as tf from '@tensorflow/tfjs-core';

export const CHECKPOINT_FORMAT = 'igm-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface TensorRecord {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  readonly values: Float32Array | Int32Array;
}

/** One tensor in the file-system format's manifest.json. */
export interface ManifestEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  /** Byte offset into weights.bin. */
  readonly offset: number;
  /** Number of elements. */
  readonly length: number;
}

/** manifest.json of the file-system format (`@igm/trainer/node`). */
export interface Manifest {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: number;
  readonly sha256: string;
  readonly tensors: readonly ManifestEntry[];
}

/** A checkpoint as a store returns it. */
export interface CheckpointData<S = unknown> {
  readonly tensors: Map<string, TensorRecord>;
  readonly state: S;
  /** Where it was read from (a directory, a store key), for messages. */
  readonly path: string;
}

/** Reads the values of named variables (awaits the backend; no tensors are created). */
export async function snapshotVariables(
  named: Iterable<{ name: string; variable: tf.Variable }>,
): Promise<Map<string, TensorRecord>> {
  const out = new Map<string, TensorRecord>();
  for (const { name, variable } of named) {
    if (out.has(name)) {
      throw new IgmArgumentError(`checkpoint: the tensor name "${name}" appears twice.`);
    }
    const dtype = variable.dtype === 'int32' || variable.dtype === 'bool' ? 'int32' : 'float32';
    if (variable.dtype !== 'float32' && variable.dtype !== 'int32') {
      throw new IgmArgumentError(
        `checkpoint: variable "${name}" has dtype ${variable.dtype}; only float32 and int32 are saved.`,
      );
    }
    const data = await variable.data();
    const values =
      dtype === 'int32'
        ? Int32Array.from(data as Int32Array)
        : Float32Array.from(data as Float32Array);
    out.set(name, { name, shape: [...variable.shape], dtype, values });
  }
  return out;
}

/** Assigns saved values to variables by name; shapes must match. Lists what is missing. */
export function restoreVariables(
  tfApi: typeof tf,
  saved: ReadonlyMap<string, TensorRecord>,
  named: Iterable<{ name: string; variable: tf.Variable }>,
  where: string,
): void {
  const missing: string[] = [];
  for (const { name, variable } of named) {
    const rec = saved.get(name);
    if (!rec) {
      missing.push(name);
      continue;
    }
    if (
      rec.shape.length !== variable.shape.length ||
      rec.shape.some((d, i) => d !== variable.shape[i])
    ) {
      throw new IgmArgumentError(
        `${where}: tensor "${name}" has shape [${rec.shape}] in the checkpoint but [${variable.shape}] in the model. The checkpoint belongs to another model or configuration.`,
      );
    }
    tfApi.tidy(() => variable.assign(tfApi.tensor(rec.values, [...rec.shape], rec.dtype)));
  }
  if (missing.length > 0) {
    throw new IgmArgumentError(
      `${where}: the checkpoint has no value for ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ` and ${missing.length - 10} more` : ''}. It was written by another model or configuration.`,
    );
  }
}
