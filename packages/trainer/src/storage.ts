/**
 * Where a run keeps what it writes, behind a small interface (in the spirit of tfjs's `tf.io`
 * handlers), so that the same loop runs in Node and in a browser:
 *
 *   RecordStore      text records by name: config.json, metrics.jsonl (appended each epoch),
 *                    summary.json
 *   CheckpointStore  checkpoints by name (`last`, `best`): named tensors plus JSON state,
 *                    saved and replaced as one unit
 *   RunStorage       a RecordStore with a CheckpointStore (`storage.checkpoints`)
 *
 * Implementations: {@link memoryStorage} here (browser and Node), `fileSystemStorage(dir)` in
 * `@igm/trainer/node` (the directories and atomic renames `outDir` and `checkpoint.dir` have
 * always used). Every method is async, so a store may sit on IndexedDB or a remote service.
 *
 * The contract a store must keep, which resume relies on:
 * - `save` replaces a checkpoint as a whole: after a crash at any moment, `load` returns either
 *   the previous checkpoint or the new one, complete, never a mix of both;
 * - `load` returns what `save` was given: the same tensor names, shapes, dtypes and values, and
 *   the state as JSON would carry it (`JSON.parse(JSON.stringify(state))`: NaN becomes null);
 * - records are text; `appendText` adds to the end of a record (creating it), `writeText`
 *   replaces it.
 */
import { IgmArgumentError } from '@igm/core';
import type { CheckpointData, TensorRecord } from './checkpoint';

/** Text records of a run, by name ('config.json', 'metrics.jsonl', 'summary.json'). */
export interface RecordStore {
  /** Where record `name` is kept (a file path, a database key), for messages. */
  locate(name: string): string;
  /** Replaces record `name` with `text`. */
  writeText(name: string, text: string): Promise<void>;
  /** Adds `text` to the end of record `name`, creating it when it does not exist. */
  appendText(name: string, text: string): Promise<void>;
  /** The text of record `name`, or null when there is none. */
  readText(name: string): Promise<string | null>;
}

/** What a checkpoint holds: named tensors and a JSON-serialisable state. */
export interface CheckpointContents {
  readonly tensors: Iterable<TensorRecord>;
  readonly state: unknown;
}

/** Checkpoints by name ('last', 'best'); see the module doc for the contract. */
export interface CheckpointStore {
  /** Where checkpoint `name` is kept (a directory, a database key), for messages. */
  locate(name: string): string;
  /** Saves checkpoint `name` as one unit, replacing an earlier one; returns its location. */
  save(name: string, contents: CheckpointContents): Promise<string>;
  /** Checkpoint `name`, or null when there is none; a corrupt one is an error. */
  load<S = unknown>(name: string): Promise<CheckpointData<S> | null>;
  exists(name: string): Promise<boolean>;
  /** Deletes checkpoint `name` (nothing happens when there is none). */
  remove(name: string): Promise<void>;
}

/** Everything a run writes: its records, and its checkpoints in `checkpoints`. */
export interface RunStorage extends RecordStore {
  readonly checkpoints: CheckpointStore;
}

function copyTensor(t: TensorRecord): TensorRecord {
  if (t.dtype !== 'float32' && t.dtype !== 'int32') {
    throw new IgmArgumentError(
      `checkpoint: tensor "${t.name}" has dtype ${String(t.dtype)}; only float32 and int32 are saved.`,
    );
  }
  const values = t.dtype === 'int32' ? Int32Array.from(t.values) : Float32Array.from(t.values);
  return { name: t.name, shape: [...t.shape], dtype: t.dtype, values };
}

/**
 * A {@link RunStorage} in memory (browser tabs, tests, runs whose files nobody needs). Saved
 * checkpoints are copies: tensors copied value by value, the state passed through JSON, so a
 * run resumed from memory continues exactly like one resumed from disk. `label` names it in
 * messages (default 'memory').
 */
export function memoryStorage(label = 'memory'): RunStorage {
  const records = new Map<string, string>();
  const checkpoints = new Map<string, { tensors: TensorRecord[]; state: string }>();
  const checkpointStore: CheckpointStore = {
    locate: (name) => `${label}:checkpoints/${name}`,
    async save(name, contents) {
      const tensors: TensorRecord[] = [];
      const seen = new Set<string>();
      for (const t of contents.tensors) {
        if (seen.has(t.name)) {
          throw new IgmArgumentError(`checkpoint: the tensor name "${t.name}" appears twice.`);
        }
        seen.add(t.name);
        tensors.push(copyTensor(t));
      }
      checkpoints.set(name, { tensors, state: JSON.stringify(contents.state) });
      return checkpointStore.locate(name);
    },
    async load<S>(name: string) {
      const saved = checkpoints.get(name);
      if (!saved) return null;
      return {
        tensors: new Map(saved.tensors.map((t) => [t.name, copyTensor(t)])),
        state: JSON.parse(saved.state) as S,
        path: checkpointStore.locate(name),
      };
    },
    exists: async (name) => checkpoints.has(name),
    async remove(name) {
      checkpoints.delete(name);
    },
  };
  return {
    checkpoints: checkpointStore,
    locate: (name) => `${label}:${name}`,
    async writeText(name, text) {
      records.set(name, text);
    },
    async appendText(name, text) {
      records.set(name, (records.get(name) ?? '') + text);
    },
    readText: async (name) => records.get(name) ?? null,
  };
}
