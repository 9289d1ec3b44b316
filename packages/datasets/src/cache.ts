/**
 * The on-disk preprocessing cache.
 *
 * An entry lives in `<cacheDir>/<dataset>/<key>/`, where `key` is a SHA-256 of the dataset
 * version and the preprocessing parameters (stable JSON), so changing any parameter gives a new
 * entry and never reuses a stale one. An entry is built in a staging folder and renamed into
 * place once complete; its `manifest.json` (written last) records the parameters, the size and
 * SHA-256 of every file, and free-form metadata (pairings, splits, statistics). Opening an entry
 * verifies every checksum; a corrupt or incomplete entry is deleted and rebuilt.
 *
 * Inputs: an entry built from files (WAVs, images) lists them in `inputs`; the manifest records
 * the SHA-256 of their contents (memoised by size, mtime, ctime and inode, see content-hash.ts),
 * and an entry whose inputs no longer have that content is stale: it is rebuilt in place, and the
 * reason names the changed files. A WAV overwritten with same-size content is therefore noticed.
 *
 * Leftovers: staging folders and temporary files carry their owner (`<pid>@<host>`); opening the
 * cache removes those of processes of this host that no longer exist, never those of live ones.
 *
 * Cache folder: the `cacheDir` option, else `$IGM_CACHE_DIR`, else `~/.cache/igm`.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { contentHashes, fileSha256 } from './content-hash';
import { IgmDataError, messageOf } from './errors';
import { stableStringify } from './hash';
import { ensureWritableDir, writeFileAtomic } from './io/fs';
import { ownerSuffix, removeDeadLeftovers } from './io/leftovers';
import { sha256 } from './node-hash';

export function resolveCacheDir(option?: string): string {
  return option ?? process.env['IGM_CACHE_DIR'] ?? join(homedir(), '.cache', 'igm');
}

export interface CacheManifest<M = unknown> {
  readonly format: 1;
  readonly dataset: string;
  readonly version: string;
  readonly key: string;
  readonly params: unknown;
  readonly files: Record<string, { readonly bytes: number; readonly sha256: string }>;
  /** SHA-256 over the input files' content hashes (in input order), when the entry has inputs. */
  readonly inputs?: { readonly count: number; readonly sha256: string };
  readonly meta: M;
  readonly created: string;
}

/** Writes the files of an entry being built (into the staging folder). */
export interface CacheWriter {
  readonly dir: string;
  /** Writes a whole file and records its checksum. */
  write(name: string, data: Uint8Array | string): Promise<void>;
  /** Opens a file to be written in pieces (large outputs are never held whole). */
  stream(name: string): CacheStream;
}

export interface CacheStream {
  append(data: Uint8Array): void;
  close(): void;
}

export interface CacheEntry<M = unknown> {
  readonly dir: string;
  readonly manifest: CacheManifest<M>;
  /** True when this call built the entry (cold), false when it was reused (warm). */
  readonly built: boolean;
  /** Why an existing entry was rebuilt, if it was. */
  readonly rebuiltBecause?: string;
  path(name: string): string;
}

export function cacheKey(dataset: string, version: string, params: unknown): string {
  return sha256(stableStringify({ dataset, version, params })).slice(0, 24);
}

/** The entry file listing every input and its content hash: `[[path, sha256], ...]`. */
export const INPUTS_FILE = 'inputs.json';

/** The input files' contents as recorded in (or compared with) a manifest. */
export interface CacheInputs {
  readonly files: readonly string[];
  readonly hashes: readonly string[];
  readonly sha256: string;
}

async function describeInputChange(dir: string, expected: CacheInputs): Promise<string> {
  let recorded: Array<[string, string]> = [];
  try {
    recorded = JSON.parse(await readFile(join(dir, INPUTS_FILE), 'utf8')) as Array<
      [string, string]
    >;
  } catch {
    return 'its input files changed';
  }
  const before = new Map(recorded);
  const changed = expected.files.filter((f, i) => before.get(f) !== expected.hashes[i]);
  const now = new Set(expected.files);
  const gone = recorded.filter(([f]) => !now.has(f)).length;
  if (changed.length === 0 && gone === 0) return 'its input files changed order';
  const parts = [];
  if (changed.length > 0) {
    parts.push(
      `${changed.length} of ${expected.files.length} input files differ from the ones it was built from (e.g. ${changed
        .slice(0, 3)
        .join(', ')})`,
    );
  }
  if (gone > 0) parts.push(`${gone} input file(s) it was built from are no longer inputs`);
  return parts.join('; ');
}

/**
 * Checks an entry; returns undefined when valid, else the reason it is not. With `inputs`, the
 * entry must also have been built from files with exactly these contents.
 */
export async function verifyEntry(
  dir: string,
  key: string,
  inputs?: CacheInputs,
): Promise<string | undefined> {
  const manifestPath = join(dir, 'manifest.json');
  let manifest: CacheManifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as CacheManifest;
  } catch (error) {
    return `unreadable manifest (${messageOf(error)})`;
  }
  if (manifest.format !== 1 || manifest.key !== key || typeof manifest.files !== 'object') {
    return 'manifest does not match the requested parameters';
  }
  // Inputs first: a stale entry is found without reading its (possibly large) files.
  if (inputs && manifest.inputs?.sha256 !== inputs.sha256) {
    return describeInputChange(dir, inputs);
  }
  for (const [name, info] of Object.entries(manifest.files)) {
    const path = join(dir, name);
    let bytes: number;
    try {
      bytes = statSync(path).size;
    } catch {
      return `${name} is missing`;
    }
    if (bytes !== info.bytes) return `${name} has ${bytes} bytes, expected ${info.bytes}`;
    if ((await fileSha256(path)) !== info.sha256) return `${name} fails its SHA-256 checksum`;
  }
  return undefined;
}

export interface OpenCacheOptions<M> {
  readonly cacheDir?: string;
  readonly dataset: string;
  readonly version: string;
  readonly params: unknown;
  /**
   * Files the entry is computed from (module comment). Their paths are not part of the key
   * (put what identifies the inputs in `params`); their contents decide whether the entry is
   * still valid.
   */
  readonly inputs?: readonly string[];
  /** What an input file is, for the error when one is missing (e.g. 'a CREMA-D clip (WAV)'). */
  readonly inputsDescription?: string;
  /** Builds the entry's files; returns the metadata stored in the manifest. */
  readonly build: (writer: CacheWriter) => Promise<M>;
  /** Called with the reason when an existing entry is rebuilt (default: a warning on stderr). */
  readonly onRebuild?: (reason: string, dir: string) => void;
}

/** Opens a verified cache entry, building (or rebuilding) it when needed. */
export async function openCache<M>(options: OpenCacheOptions<M>): Promise<CacheEntry<M>> {
  const root = resolveCacheDir(options.cacheDir);
  const key = cacheKey(options.dataset, options.version, options.params);
  const parent = join(root, options.dataset);
  const dir = join(parent, key);
  try {
    mkdirSync(parent, { recursive: true });
  } catch {
    // A read-only cache can still serve a valid entry; building reports the folder below.
  }
  await removeDeadLeftovers(parent);
  let inputs: CacheInputs | undefined;
  if (options.inputs) {
    const files = [...options.inputs];
    const { hashes } = await contentHashes(
      files,
      join(parent, '.content-hashes.json'),
      options.inputsDescription ?? `an input file of the ${options.dataset} dataset`,
    );
    inputs = { files, hashes, sha256: sha256(hashes.join('\n')) };
  }
  let rebuiltBecause: string | undefined;
  if (existsSync(dir)) {
    const problem = await verifyEntry(dir, key, inputs);
    if (problem === undefined) {
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
      return { dir, manifest, built: false, path: (name) => join(dir, name) };
    }
    rebuiltBecause = problem;
    (
      options.onRebuild ??
      ((reason, d) => process.stderr.write(`igm cache: rebuilding ${d} (${reason})\n`))
    )(problem, dir);
  }
  ensureWritableDir(
    parent,
    'The cache folder',
    'Pass a writable `cacheDir` option or set IGM_CACHE_DIR to a writable folder.',
  );
  const staging = join(parent, `.staging-${key}${ownerSuffix()}`);
  await mkdir(staging, { recursive: true });
  const files: Record<string, { bytes: number; sha256: string }> = {};
  try {
    const checkName = (name: string) => {
      if (
        name === 'manifest.json' ||
        (inputs && name === INPUTS_FILE) ||
        name.includes('/') ||
        name.includes('\\')
      ) {
        throw new Error(`cache file name "${name}" is reserved or not a plain name`);
      }
    };
    const writeWhole = async (name: string, data: Uint8Array | string) => {
      await writeFileAtomic(join(staging, name), data);
      const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
      files[name] = { bytes, sha256: sha256(data) };
    };
    const writer: CacheWriter = {
      dir: staging,
      stream(name) {
        checkName(name);
        const path = join(staging, name);
        const fd = openSync(path, 'w');
        const hash = createHash('sha256');
        let bytes = 0;
        return {
          append(data) {
            let off = 0;
            while (off < data.byteLength) off += writeSync(fd, data, off, data.byteLength - off);
            hash.update(data);
            bytes += data.byteLength;
          },
          close() {
            closeSync(fd);
            files[name] = { bytes, sha256: hash.digest('hex') };
          },
        };
      },
      async write(name, data) {
        checkName(name);
        await writeWhole(name, data);
      },
    };
    const meta = await options.build(writer);
    if (inputs) {
      await writeWhole(
        INPUTS_FILE,
        `${JSON.stringify(inputs.files.map((f, i) => [f, inputs.hashes[i]]))}\n`,
      );
    }
    const manifest: CacheManifest<M> = {
      format: 1,
      dataset: options.dataset,
      version: options.version,
      key,
      params: options.params,
      files,
      ...(inputs ? { inputs: { count: inputs.files.length, sha256: inputs.sha256 } } : {}),
      meta,
      created: new Date().toISOString(),
    };
    await writeFileAtomic(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(staging, dir);
    } catch (error) {
      // Another process finished the same entry first: use theirs if it verifies.
      if (existsSync(dir) && (await verifyEntry(dir, key, inputs)) === undefined) {
        await rm(staging, { recursive: true, force: true });
      } else {
        throw error;
      }
    }
    const entry: CacheEntry<M> = { dir, manifest, built: true, path: (name) => join(dir, name) };
    return rebuiltBecause ? { ...entry, rebuiltBecause } : entry;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (error instanceof IgmDataError) throw error;
    throw new IgmDataError(
      `building the ${options.dataset} cache entry failed: ${messageOf(error)}`,
      dir,
      { cause: error },
    );
  }
}
