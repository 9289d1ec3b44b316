/**
 * The Free Spoken Digit Dataset (FSDD; Zohar Jackson et al., CC BY-SA 4.0): 3,000 mono 8 kHz
 * PCM16 recordings `{digit}_{speaker}_{index}.wav`, 6 speakers x 10 digits x 50 repetitions.
 * Official split: index 0-4 test, 5-49 train.
 *
 * Where the recordings come from, in order: the `fsddDir` option, the FSDD_DIR environment
 * variable, or (with `download: true`) a copy fetched from the public repository at a pinned
 * commit into `<cacheDir>/fsdd/<commit>/recordings`. The download is checked with SHA-256: the
 * digest of the sorted lines "<file name> <sha256 of file>\n" over all 3,000 files must equal
 * FSDD_SET_SHA256, and the folder is renamed into place only after the check passes.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveCacheDir } from './cache';
import { IgmDataError, messageOf } from './errors';
import {
  FSDD_BASE_URL,
  FSDD_COMMIT,
  FSDD_SET_SHA256,
  type FsddRecording,
  fileSetDigest,
  fsddFileNames,
  parseFsddName,
} from './fsdd-names';
import { ensureWritableDir, listDir } from './io/fs';
import { ownerSuffix, removeDeadLeftovers } from './io/leftovers';
import { sha256 } from './node-hash';
import { createProgress, type ProgressOption } from './progress';

export {
  FSDD_BASE_URL,
  FSDD_COMMIT,
  FSDD_SET_SHA256,
  FSDD_SPEAKERS,
  type FsddRecording,
  fileSetDigest,
  fsddFileNames,
  parseFsddName,
} from './fsdd-names';

/** Lists the recordings of a folder, sorted by name. Other .wav names are an error. */
export async function listFsdd(dir: string): Promise<FsddRecording[]> {
  const names = await listDir(
    dir,
    'the FSDD recordings folder ({digit}_{speaker}_{index}.wav files); set fsddDir or FSDD_DIR',
  );
  const out: FsddRecording[] = [];
  for (const name of names) {
    if (!name.toLowerCase().endsWith('.wav')) continue;
    const parsed = parseFsddName(name);
    if (!parsed) {
      throw new IgmDataError(
        'file name does not follow the FSDD pattern {digit}_{speaker}_{index}.wav.',
        join(dir, name),
      );
    }
    out.push({ ...parsed, file: join(dir, name) });
  }
  if (out.length === 0) {
    throw new IgmDataError(
      'no FSDD recordings ({digit}_{speaker}_{index}.wav) in this folder.',
      dir,
    );
  }
  return out;
}

export interface FsddDownloadOptions {
  readonly cacheDir?: string;
  /** Default FSDD_BASE_URL (the pinned commit). Tests point it at a local server. */
  readonly baseUrl?: string;
  /** Default fsddFileNames(). */
  readonly files?: readonly string[];
  /** Default FSDD_SET_SHA256. */
  readonly expectedSha256?: string;
  /** Parallel requests. Default 8. */
  readonly concurrency?: number;
  readonly progress?: ProgressOption;
  /** Injected for tests; default global fetch. */
  readonly fetch?: typeof fetch;
}

/**
 * Downloads FSDD into the cache (once) and returns the recordings folder. Files go to a staging
 * folder; the set digest is checked; only then is the folder renamed into place.
 */
export async function downloadFsdd(options: FsddDownloadOptions = {}): Promise<string> {
  const root = join(resolveCacheDir(options.cacheDir), 'fsdd', FSDD_COMMIT);
  const final = join(root, 'recordings');
  const expected = options.expectedSha256 ?? FSDD_SET_SHA256;
  const files = options.files ?? fsddFileNames();
  if (existsSync(final)) {
    // Verify what is there; a damaged copy is deleted and fetched again.
    const names = (await readdir(final)).filter((n) => n.endsWith('.wav'));
    const entries = await Promise.all(
      names.map(async (name) => ({ name, sha256: sha256(await readFile(join(final, name))) })),
    );
    if (fileSetDigest(entries) === expected) return final;
    await rm(final, { recursive: true, force: true });
  }
  ensureWritableDir(
    root,
    'The cache folder',
    'Pass a writable `cacheDir` option or set IGM_CACHE_DIR to a writable folder.',
  );
  const baseUrl = options.baseUrl ?? FSDD_BASE_URL;
  const doFetch = options.fetch ?? fetch;
  // Staging folders of killed downloads are removed; those of live ones are left alone.
  await removeDeadLeftovers(root);
  const staging = join(root, `.staging${ownerSuffix()}`);
  await mkdir(staging, { recursive: true });
  const progress = createProgress('Downloading FSDD', files.length, options.progress ?? true);
  const entries: Array<{ name: string; sha256: string }> = [];
  try {
    let next = 0;
    const worker = async () => {
      for (;;) {
        const i = next++;
        if (i >= files.length) return;
        const name = files[i]!;
        const url = new URL(name, baseUrl).toString();
        let bytes: Uint8Array | undefined;
        let lastError = '';
        for (let attempt = 0; attempt < 3 && !bytes; attempt++) {
          try {
            const response = await doFetch(url);
            if (!response.ok) {
              lastError = `HTTP ${response.status}`;
              if (response.status === 404) break;
              continue;
            }
            bytes = new Uint8Array(await response.arrayBuffer());
          } catch (error) {
            lastError = messageOf(error);
          }
        }
        if (!bytes) throw new IgmDataError(`download failed (${lastError}).`, url);
        await writeFile(join(staging, name), bytes);
        entries.push({ name, sha256: sha256(bytes) });
        progress.tick();
      }
    };
    await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
    progress.done();
    const digest = fileSetDigest(entries);
    if (digest !== expected) {
      throw new IgmDataError(
        `downloaded FSDD files fail the SHA-256 check (set digest ${digest}, expected ${expected}); nothing was kept. Check the base URL or use a local copy via fsddDir / FSDD_DIR.`,
        baseUrl,
      );
    }
    await rm(final, { recursive: true, force: true });
    await rename(staging, final);
    return final;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

export interface FsddLocation {
  readonly fsddDir?: string;
  readonly download?: boolean;
}

/** The folder to read: option, FSDD_DIR, or the downloaded copy. */
export async function resolveFsddDir(options: FsddLocation & FsddDownloadOptions): Promise<string> {
  const dir = options.fsddDir ?? process.env['FSDD_DIR'];
  if (dir) return dir;
  const cached = join(resolveCacheDir(options.cacheDir), 'fsdd', FSDD_COMMIT, 'recordings');
  if (options.download) return downloadFsdd(options);
  if (existsSync(cached)) return cached;
  throw new IgmDataError(
    `no FSDD recordings: pass fsddDir, set FSDD_DIR to the recordings folder, or pass download: true to fetch them from github.com/Jakobovski/free-spoken-digit-dataset at commit ${FSDD_COMMIT} into ${cached}.`,
  );
}
