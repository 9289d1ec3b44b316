/**
 * Checkpoints on disk (DESIGN.md section 9). A checkpoint is a directory:
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
 * The temporary directory is `.<name>.tmp-<pid>@<host>`. A kill leaves it behind; the next
 * `writeCheckpoint` in the same folder removes such leftovers when their process ran on this host
 * and no longer exists. A live process's temporary directory (another run writing into the same
 * folder, or a process on another host sharing it) is never touched.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
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

export interface ManifestEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
  /** Byte offset into weights.bin. */
  readonly offset: number;
  /** Number of elements. */
  readonly length: number;
}

export interface Manifest {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: number;
  readonly sha256: string;
  readonly tensors: readonly ManifestEntry[];
}

export interface CheckpointData<S = unknown> {
  readonly tensors: Map<string, TensorRecord>;
  readonly state: S;
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

/** This host's name as it appears in temporary names ([A-Za-z0-9.-]). */
function thisHost(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, '_');
}

/** `.<name>.tmp-<pid>` (older versions) or `.<name>.tmp-<pid>@<host>`. */
const TEMPORARY = /^\..+\.tmp-(\d+)(?:@([A-Za-z0-9._-]+))?$/;

/** Whether process `pid` exists on this host (EPERM: it exists but belongs to another user). */
function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the temporary checkpoint directories under `root` left by processes of this host that
 * no longer exist (a kill during a write); returns their names. Never touches those of live
 * processes or of other hosts.
 */
export async function removeDeadCheckpointTemps(root: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const host = thisHost();
  const dead = names.filter((n) => {
    const m = TEMPORARY.exec(n);
    if (!m) return false;
    const pid = Number(m[1]);
    if (m[2] !== undefined && m[2] !== host) return false;
    return pid !== process.pid && !processAlive(pid);
  });
  for (const n of dead) await rm(join(root, n), { recursive: true, force: true });
  return dead;
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
