/**
 * Run storage (records and checkpoints, the RunStorage of runTraining) on IndexedDB, for runs in a browser tab or worker whose checkpoints must
 * survive a reload (tfjs's `indexeddb://` model handler plays the same part for model weights).
 *
 * One database (default `igm-runs`) holds every run; a run is a name (`indexedDbStorage('mla')`).
 * Two object stores, keyed by [run, name]:
 *
 *   records      { text }  config.json, metrics.jsonl, summary.json
 *   checkpoints  { format, version, tensors: [{ name, shape, dtype, offset, length }],
 *                  weights: ArrayBuffer, sha256, state: JSON text, savedAt }
 *
 * Saving a checkpoint is one `put` in one readwrite transaction, so it replaces the previous
 * one as a whole or not at all (IndexedDB transactions are atomic and durable once complete,
 * which `save` waits for). Appending to a record reads and writes it in one transaction. The
 * weights carry a SHA-256 (WebCrypto, where `crypto.subtle` exists: secure contexts and
 * workers) that `load` verifies, so a damaged entry is an error rather than wrong weights.
 */
import { IgmArgumentError } from '@igm/core';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointData,
  type TensorRecord,
} from './checkpoint';

/** Checkpoints of a run by name ('last', 'best'), saved and replaced as one unit each. */
export interface IndexedDbCheckpointStore {
  /** Where checkpoint `name` is kept (its database key), for messages. */
  locate(name: string): string;
  /** Saves checkpoint `name` (named tensors + JSON state) as one unit; returns its location. */
  save(
    name: string,
    contents: { tensors: Iterable<TensorRecord>; state: unknown },
  ): Promise<string>;
  /** Checkpoint `name`, or null when there is none; a corrupt one is an error. */
  load<S = unknown>(name: string): Promise<CheckpointData<S> | null>;
  exists(name: string): Promise<boolean>;
  remove(name: string): Promise<void>;
}

// The slice of the IndexedDB API used here, typed structurally (this package's tsconfig has no
// DOM lib, and Node users pass fake-indexeddb's factory).
interface IdbRequest<T = unknown> {
  result: T;
  error: { message?: string; name?: string } | null;
  onsuccess: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: ((ev: unknown) => void) | null;
  onblocked: ((ev: unknown) => void) | null;
}
interface IdbObjectStore {
  get(key: unknown): IdbRequest<unknown>;
  put(value: unknown, key: unknown): IdbRequest<unknown>;
  delete(key: unknown): IdbRequest<unknown>;
  getAllKeys(range?: unknown): IdbRequest<unknown[]>;
}
interface IdbTransaction {
  objectStore(name: string): IdbObjectStore;
  oncomplete: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onabort: ((ev: unknown) => void) | null;
  error: { message?: string; name?: string } | null;
}
interface IdbDatabase {
  objectStoreNames: { contains(name: string): boolean };
  createObjectStore(name: string): unknown;
  transaction(stores: string | string[], mode: 'readonly' | 'readwrite'): IdbTransaction;
  close(): void;
  onversionchange: ((ev: unknown) => void) | null;
}
/** What `indexedDbStorage` needs of an IndexedDB factory (`globalThis.indexedDB`). */
export interface IndexedDbFactoryLike {
  open(name: string, version?: number): IdbOpenRequest;
}
interface KeyRangeLike {
  bound(lower: unknown, upper: unknown): unknown;
}

export interface IndexedDbStorageOptions {
  /** Database name. Default 'igm-runs'. */
  readonly database?: string;
  /**
   * The IndexedDB factory. Default `globalThis.indexedDB` (browsers and workers); in Node pass
   * one, e.g. fake-indexeddb's `indexedDB`.
   */
  readonly indexedDB?: IndexedDbFactoryLike;
  /** `IDBKeyRange` of the same implementation. Default `globalThis.IDBKeyRange`. */
  readonly keyRange?: KeyRangeLike;
}

/**
 * A run's storage in IndexedDB: its text records (config.json, metrics.jsonl, summary.json), its
 * checkpoints, and the means to delete it.
 */
export interface IndexedDbRunStorage {
  readonly database: string;
  readonly run: string;
  readonly checkpoints: IndexedDbCheckpointStore;
  /** Where record `name` is kept (its database key), for messages. */
  locate(name: string): string;
  /** Replaces record `name` with `text`. */
  writeText(name: string, text: string): Promise<void>;
  /** Adds `text` to the end of record `name`, creating it when it does not exist. */
  appendText(name: string, text: string): Promise<void>;
  /** The text of record `name`, or null when there is none. */
  readText(name: string): Promise<string | null>;
  /** Deletes every record and checkpoint of this run. */
  clear(): Promise<void>;
}

const RECORDS = 'records';
const CHECKPOINTS = 'checkpoints';
const DB_VERSION = 1;

interface StoredCheckpoint {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  tensors: Array<{
    name: string;
    shape: number[];
    dtype: 'float32' | 'int32';
    offset: number;
    length: number;
  }>;
  weights: ArrayBuffer;
  sha256: string | null;
  state: string;
  savedAt: string;
}

function describe(error: { message?: string; name?: string } | null | undefined): string {
  return error ? `${error.name ?? 'Error'}: ${error.message ?? ''}` : 'unknown error';
}

function request<T>(req: IdbRequest<T>, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new Error(`${what}: ${describe(req.error)}`));
  });
}

function completion(tx: IdbTransaction, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(new Error(`${what}: ${describe(tx.error)}`));
    tx.onabort = () =>
      reject(new Error(`${what}: the transaction was aborted (${describe(tx.error)})`));
  });
}

const connections = new WeakMap<object, Map<string, Promise<IdbDatabase>>>();

function openDatabase(factory: IndexedDbFactoryLike, name: string): Promise<IdbDatabase> {
  let byName = connections.get(factory);
  if (!byName) {
    byName = new Map();
    connections.set(factory, byName);
  }
  const cached = byName.get(name);
  if (cached) return cached;
  const opening = new Promise<IdbDatabase>((resolve, reject) => {
    const req = factory.open(name, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(RECORDS)) db.createObjectStore(RECORDS);
      if (!db.objectStoreNames.contains(CHECKPOINTS)) db.createObjectStore(CHECKPOINTS);
    };
    req.onsuccess = () => {
      const db = req.result;
      // Another tab upgrading or deleting the database: let it, and reopen on next use.
      db.onversionchange = () => {
        db.close();
        byName!.delete(name);
      };
      resolve(db);
    };
    req.onerror = () =>
      reject(
        new Error(`indexedDbStorage: cannot open the database "${name}" (${describe(req.error)}).`),
      );
    req.onblocked = () =>
      reject(
        new Error(
          `indexedDbStorage: opening the database "${name}" is blocked by another tab holding an older version; close it and retry.`,
        ),
      );
  });
  byName.set(name, opening);
  opening.catch(() => byName!.delete(name));
  return opening;
}

async function digest(bytes: Uint8Array): Promise<string | null> {
  const subtle = (
    globalThis as {
      crypto?: { subtle?: { digest(a: string, d: Uint8Array): Promise<ArrayBuffer> } };
    }
  ).crypto?.subtle;
  if (!subtle) return null;
  const hash = new Uint8Array(await subtle.digest('SHA-256', bytes));
  return Array.from(hash, (b) => b.toString(16).padStart(2, '0')).join('');
}

function encode(tensors: Iterable<TensorRecord>): Pick<StoredCheckpoint, 'tensors' | 'weights'> {
  const list: TensorRecord[] = [];
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) {
      throw new IgmArgumentError(`checkpoint: the tensor name "${t.name}" appears twice.`);
    }
    if (t.dtype !== 'float32' && t.dtype !== 'int32') {
      throw new IgmArgumentError(
        `checkpoint: tensor "${t.name}" has dtype ${String(t.dtype)}; only float32 and int32 are saved.`,
      );
    }
    seen.add(t.name);
    list.push(t);
  }
  const weights = new ArrayBuffer(list.reduce((n, t) => n + t.values.length * 4, 0));
  const bytes = new Uint8Array(weights);
  let offset = 0;
  const entries = list.map((t) => {
    bytes.set(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength), offset);
    const entry = {
      name: t.name,
      shape: [...t.shape],
      dtype: t.dtype,
      offset,
      length: t.values.length,
    };
    offset += t.values.byteLength;
    return entry;
  });
  return { tensors: entries, weights };
}

/**
 * The storage of run `run` in IndexedDB (module doc). Pass it to `runTraining` as `storage`,
 * with `checkpoint: { every }` for checkpoints and `resume: true` to continue from `last`:
 *
 * ```ts
 * const storage = indexedDbStorage('mla');
 * await runTraining({ ...options, storage, checkpoint: { every: 1 }, resume: true, signal });
 * ```
 */
export function indexedDbStorage(
  run: string,
  options: IndexedDbStorageOptions = {},
): IndexedDbRunStorage {
  if (typeof run !== 'string' || run === '') {
    throw new IgmArgumentError(
      `indexedDbStorage: received run=${JSON.stringify(run)}. Expected a non-empty name for the run.`,
    );
  }
  const database = options.database ?? 'igm-runs';
  const where = `indexeddb:${database}/${run}`;
  const db = (): Promise<IdbDatabase> => {
    const factory =
      options.indexedDB ?? (globalThis as { indexedDB?: IndexedDbFactoryLike }).indexedDB;
    if (!factory) {
      throw new IgmArgumentError(
        'indexedDbStorage: this environment has no IndexedDB (globalThis.indexedDB). In Node, pass { indexedDB } from fake-indexeddb, or use memoryStorage() or fileSystemStorage(dir) from @igm/trainer/node.',
      );
    }
    return openDatabase(factory, database);
  };
  const runRange = () => {
    const range = options.keyRange ?? (globalThis as { IDBKeyRange?: KeyRangeLike }).IDBKeyRange;
    if (!range)
      throw new IgmArgumentError(
        'indexedDbStorage: no IDBKeyRange in this environment; pass keyRange.',
      );
    // Keys [run, name]: every string name sorts between [run] and [run, []] (arrays sort last).
    return range.bound([run], [run, []]);
  };

  const checkpoints: IndexedDbCheckpointStore = {
    locate: (name) => `${where}/checkpoints/${name}`,
    async save(name, contents) {
      const { tensors, weights } = encode(contents.tensors);
      const value: StoredCheckpoint = {
        format: CHECKPOINT_FORMAT,
        version: CHECKPOINT_VERSION,
        tensors,
        weights,
        sha256: await digest(new Uint8Array(weights)),
        state: JSON.stringify(contents.state),
        savedAt: new Date().toISOString(),
      };
      const tx = (await db()).transaction(CHECKPOINTS, 'readwrite');
      const done = completion(tx, `saving ${checkpoints.locate(name)}`);
      tx.objectStore(CHECKPOINTS).put(value, [run, name]);
      await done;
      return checkpoints.locate(name);
    },
    async load<S = unknown>(name: string) {
      const tx = (await db()).transaction(CHECKPOINTS, 'readonly');
      const value = (await request(
        tx.objectStore(CHECKPOINTS).get([run, name]),
        `reading ${checkpoints.locate(name)}`,
      )) as StoredCheckpoint | undefined;
      if (value === undefined) return null;
      const path = checkpoints.locate(name);
      if (value.format !== CHECKPOINT_FORMAT || value.version !== CHECKPOINT_VERSION) {
        throw new IgmArgumentError(
          `${path}: format ${JSON.stringify(value.format)} version ${value.version}; expected ${CHECKPOINT_FORMAT} version ${CHECKPOINT_VERSION}.`,
        );
      }
      const bytes = new Uint8Array(value.weights);
      if (value.sha256 !== null) {
        const actual = await digest(bytes);
        if (actual !== null && actual !== value.sha256) {
          throw new IgmArgumentError(
            `${path}: the weights are corrupt (sha256 ${actual}, saved as ${value.sha256}). Delete the run (clear()) and train again.`,
          );
        }
      }
      const tensors = new Map<string, TensorRecord>();
      for (const e of value.tensors) {
        if (e.offset + e.length * 4 > bytes.length) {
          throw new IgmArgumentError(
            `${path}: tensor "${e.name}" needs bytes ${e.offset}..${e.offset + e.length * 4} of ${bytes.length}; the checkpoint is damaged.`,
          );
        }
        const copy = value.weights.slice(e.offset, e.offset + e.length * 4);
        const values = e.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
        tensors.set(e.name, { name: e.name, shape: e.shape, dtype: e.dtype, values });
      }
      return { tensors, state: JSON.parse(value.state) as S, path };
    },
    async exists(name) {
      const tx = (await db()).transaction(CHECKPOINTS, 'readonly');
      const keys = await request(
        tx.objectStore(CHECKPOINTS).getAllKeys(runRange()),
        `listing ${where}/checkpoints`,
      );
      return keys.some((k) => Array.isArray(k) && k[1] === name);
    },
    async remove(name) {
      const tx = (await db()).transaction(CHECKPOINTS, 'readwrite');
      const done = completion(tx, `removing ${checkpoints.locate(name)}`);
      tx.objectStore(CHECKPOINTS).delete([run, name]);
      await done;
    },
  };

  return {
    database,
    run,
    checkpoints,
    locate: (name) => `${where}/${name}`,
    async writeText(name, text) {
      const tx = (await db()).transaction(RECORDS, 'readwrite');
      const done = completion(tx, `writing ${where}/${name}`);
      tx.objectStore(RECORDS).put({ text }, [run, name]);
      await done;
    },
    async appendText(name, text) {
      const tx = (await db()).transaction(RECORDS, 'readwrite');
      const done = completion(tx, `appending to ${where}/${name}`);
      const store = tx.objectStore(RECORDS);
      // Read and write in one transaction: concurrent appends cannot lose lines.
      const get = store.get([run, name]);
      get.onsuccess = () => {
        const before = (get.result as { text?: string } | undefined)?.text ?? '';
        store.put({ text: before + text }, [run, name]);
      };
      await done;
    },
    async readText(name) {
      const tx = (await db()).transaction(RECORDS, 'readonly');
      const value = (await request(
        tx.objectStore(RECORDS).get([run, name]),
        `reading ${where}/${name}`,
      )) as { text: string } | undefined;
      return value?.text ?? null;
    },
    async clear() {
      const tx = (await db()).transaction([RECORDS, CHECKPOINTS], 'readwrite');
      const done = completion(tx, `clearing ${where}`);
      const range = runRange();
      for (const storeName of [RECORDS, CHECKPOINTS]) {
        const store = tx.objectStore(storeName);
        const keys = store.getAllKeys(range);
        keys.onsuccess = () => {
          for (const key of keys.result) store.delete(key);
        };
      }
      await done;
    },
  };
}

/** The names of the runs stored in an IndexedDB database (records or checkpoints). */
export async function listIndexedDbRuns(options: IndexedDbStorageOptions = {}): Promise<string[]> {
  const factory =
    options.indexedDB ?? (globalThis as { indexedDB?: IndexedDbFactoryLike }).indexedDB;
  if (!factory) throw new IgmArgumentError('listIndexedDbRuns: this environment has no IndexedDB.');
  const db = await openDatabase(factory, options.database ?? 'igm-runs');
  const tx = db.transaction([RECORDS, CHECKPOINTS], 'readonly');
  const [records, checkpoints] = await Promise.all([
    request(tx.objectStore(RECORDS).getAllKeys(), 'listing runs'),
    request(tx.objectStore(CHECKPOINTS).getAllKeys(), 'listing runs'),
  ]);
  const keys = [...records, ...checkpoints];
  return [...new Set(keys.map((k) => (Array.isArray(k) ? String(k[0]) : String(k))))].sort();
}
