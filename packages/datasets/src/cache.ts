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
 * Cache folder: the `cacheDir` option, else `$IGM_CACHE_DIR`, else `~/.cache/igm`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, statSync, writeSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { IgmDataError, messageOf } from './errors';
import { sha256, stableStringify } from './hash';
import { ensureWritableDir, writeFileAtomic } from './io/fs';

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

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve())
      .on('error', reject);
  });
  return hash.digest('hex');
}

/** Checks an entry; returns undefined when valid, else the reason it is not. */
export async function verifyEntry(dir: string, key: string): Promise<string | undefined> {
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
  let rebuiltBecause: string | undefined;
  if (existsSync(dir)) {
    const problem = await verifyEntry(dir, key);
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
  const staging = join(parent, `.staging-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  const files: Record<string, { bytes: number; sha256: string }> = {};
  try {
    const checkName = (name: string) => {
      if (name === 'manifest.json' || name.includes('/') || name.includes('\\')) {
        throw new Error(`cache file name "${name}" is reserved or not a plain name`);
      }
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
        await writeFileAtomic(join(staging, name), data);
        const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
        files[name] = { bytes, sha256: sha256(data) };
      },
    };
    const meta = await options.build(writer);
    const manifest: CacheManifest<M> = {
      format: 1,
      dataset: options.dataset,
      version: options.version,
      key,
      params: options.params,
      files,
      meta,
      created: new Date().toISOString(),
    };
    await writeFileAtomic(join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
    await rm(dir, { recursive: true, force: true });
    try {
      await rename(staging, dir);
    } catch (error) {
      // Another process finished the same entry first: use theirs if it verifies.
      if (existsSync(dir) && (await verifyEntry(dir, key)) === undefined) {
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
