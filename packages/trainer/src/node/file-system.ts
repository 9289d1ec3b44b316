/**
 * Run storage on the file system (Node): the only module of @igm/trainer that imports Node's
 * built-ins, reached through `@igm/trainer/node` (and through `@igm/trainer` itself in Node, by
 * the package's `node` export condition).
 *
 * Records (config.json, metrics.jsonl, summary.json) are files in one directory; `writeText`
 * replaces a file atomically (temporary file + rename). A checkpoint is a directory:
 *
 *   weights.bin    every tensor's values, concatenated (float32 or int32, little-endian)
 *   manifest.json  { format, version, sha256, tensors: [{ name, shape, dtype, offset, length }] }
 *   state.json     JSON state (position, RNG, callback state, history, resolved config)
 *
 * Writes are atomic: the directory is written under a temporary name and renamed into place;
 * an existing checkpoint of the same name is moved aside first and removed only after the new
 * one is in place, so a kill at any moment leaves one complete checkpoint (`readCheckpoint`
 * falls back to the moved-aside copy).
 *
 * The temporary directory is `.<name>.tmp-<pid>@<host>` (a record's temporary file
 * `.<file>.<n>.tmp-<pid>@<host>`). A kill leaves it behind; the next checkpoint (or the first
 * record) written to the same folder removes such leftovers when their process ran on this host
 * and no longer exists. A live process's temporary files (another run writing into the same
 * folder, or a process on another host sharing it) are never touched.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { IgmArgumentError } from '@igm/core';
import { removeDeadLeftovers, type TempOwner, thisHost } from '@igm/temp-files';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointData,
  type Manifest,
  type ManifestEntry,
  type TensorRecord,
} from '../checkpoint';
import type { CheckpointStore, RecordStore, RunStorage } from '../storage';

function encode(tensors: Iterable<TensorRecord>): { bin: Buffer; entries: ManifestEntry[] } {
  const list = [...tensors];
  const total = list.reduce((n, t) => n + t.values.length * 4, 0);
  const bin = Buffer.alloc(total);
  const entries: ManifestEntry[] = [];
  let offset = 0;
  for (const t of list) {
    const bytes = Buffer.from(t.values.buffer, t.values.byteOffset, t.values.byteLength);
    bytes.copy(bin, offset);
    entries.push({ name: t.name, shape: t.shape, dtype: t.dtype, offset, length: t.values.length });
    offset += bytes.length;
  }
  return { bin, entries };
}

/** `.<name>.tmp-<pid>` (older versions) or `.<name>.tmp-<pid>@<host>`. */
const TEMPORARY = /^\..+\.tmp-(\d+)(?:@([A-Za-z0-9._-]+))?$/;

/** The process that wrote a temporary checkpoint directory or record file. */
function temporaryOwner(name: string): TempOwner | undefined {
  const m = TEMPORARY.exec(name);
  return m ? { pid: Number(m[1]), host: m[2] } : undefined;
}

/**
 * Removes the temporary checkpoint directories (and record files) under `root` left by processes
 * of this host that no longer exist (a kill during a write); returns their names. Never touches
 * those of live processes or of other hosts.
 */
export function removeDeadCheckpointTemps(root: string): Promise<string[]> {
  return removeDeadLeftovers(root, (n) => TEMPORARY.test(n), temporaryOwner);
}

/** Writes checkpoint `name` under `root` atomically (temp directory + rename). */
export async function writeCheckpoint(
  root: string,
  name: string,
  tensors: Iterable<TensorRecord>,
  state: unknown,
): Promise<string> {
  await mkdir(root, { recursive: true });
  await removeDeadCheckpointTemps(root);
  const { bin, entries } = encode(tensors);
  const manifest: Manifest = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    sha256: createHash('sha256').update(bin).digest('hex'),
    tensors: entries,
  };
  const tmp = join(root, `.${name}.tmp-${process.pid}@${thisHost()}`);
  const final = join(root, name);
  const old = join(root, `.${name}.old`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await writeFile(join(tmp, 'weights.bin'), bin);
  await writeFile(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  await writeFile(join(tmp, 'state.json'), `${JSON.stringify(state)}\n`);
  if (existsSync(final)) {
    await rm(old, { recursive: true, force: true });
    await rename(final, old);
  }
  await rename(tmp, final);
  await rm(old, { recursive: true, force: true });
  return final;
}

/** Reads checkpoint `name` under `root` (or its moved-aside copy); null when there is none. */
export async function readCheckpoint<S = unknown>(
  root: string,
  name: string,
): Promise<CheckpointData<S> | null> {
  const final = join(root, name);
  const old = join(root, `.${name}.old`);
  const path = existsSync(join(final, 'state.json'))
    ? final
    : existsSync(join(old, 'state.json'))
      ? old
      : null;
  if (!path) return null;
  const manifest = JSON.parse(await readFile(join(path, 'manifest.json'), 'utf8')) as Manifest;
  if (manifest.format !== CHECKPOINT_FORMAT || manifest.version !== CHECKPOINT_VERSION) {
    throw new IgmArgumentError(
      `readCheckpoint: ${path}/manifest.json has format ${JSON.stringify(manifest.format)} version ${manifest.version}; expected ${CHECKPOINT_FORMAT} version ${CHECKPOINT_VERSION}.`,
    );
  }
  const bin = await readFile(join(path, 'weights.bin'));
  const sha = createHash('sha256').update(bin).digest('hex');
  if (sha !== manifest.sha256) {
    throw new IgmArgumentError(
      `readCheckpoint: ${path}/weights.bin is corrupt (sha256 ${sha}, manifest says ${manifest.sha256}).`,
    );
  }
  const tensors = new Map<string, TensorRecord>();
  for (const e of manifest.tensors) {
    const bytes = bin.subarray(e.offset, e.offset + e.length * 4);
    const copy = new ArrayBuffer(bytes.length);
    new Uint8Array(copy).set(bytes);
    const values = e.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy);
    tensors.set(e.name, { name: e.name, shape: e.shape, dtype: e.dtype, values });
  }
  const state = JSON.parse(await readFile(join(path, 'state.json'), 'utf8')) as S;
  return { tensors, state, path };
}

let temporaryCount = 0;

/**
 * Writes `data` to `path` atomically: a temporary file next to it (`.<file>.<n>.tmp-<pid>@<host>`)
 * renamed over it, so a reader never sees half a file. The folder must exist.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(
    dirname(path),
    `.${basename(path)}.${temporaryCount++}.tmp-${process.pid}@${thisHost()}`,
  );
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Checkpoints as directories under `dir` (see the module doc). */
export function fileSystemCheckpoints(dir: string): CheckpointStore {
  return {
    locate: (name) => join(dir, name),
    save: (name, contents) => writeCheckpoint(dir, name, contents.tensors, contents.state),
    load: (name) => readCheckpoint(dir, name),
    exists: async (name) =>
      existsSync(join(dir, name, 'state.json')) ||
      existsSync(join(dir, `.${name}.old`, 'state.json')),
    async remove(name) {
      await rm(join(dir, name), { recursive: true, force: true });
      await rm(join(dir, `.${name}.old`), { recursive: true, force: true });
    },
  };
}

/** Records as files in `dir`, created on the first write. */
export function fileSystemRecords(dir: string): RecordStore {
  let ready: Promise<void> | undefined;
  const prepare = (): Promise<void> => {
    ready ??= (async () => {
      await mkdir(dir, { recursive: true });
      await removeDeadCheckpointTemps(dir);
    })();
    return ready;
  };
  return {
    locate: (name) => join(dir, name),
    async writeText(name, text) {
      await prepare();
      await writeFileAtomic(join(dir, name), text);
    },
    async appendText(name, text) {
      await prepare();
      await appendFile(join(dir, name), text);
    },
    async readText(name) {
      try {
        return await readFile(join(dir, name), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
  };
}

/**
 * A {@link RunStorage} on the file system: records in `dir`, checkpoints in
 * `options.checkpointDir` (default `dir/checkpoints`). The same files as `outDir` and
 * `checkpoint.dir`.
 */
export function fileSystemStorage(
  dir: string,
  options: { readonly checkpointDir?: string } = {},
): RunStorage {
  return {
    ...fileSystemRecords(dir),
    checkpoints: fileSystemCheckpoints(options.checkpointDir ?? join(dir, 'checkpoints')),
  };
}
