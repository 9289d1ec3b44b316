/** File helpers: atomic writes and reads whose errors name the file and what was expected. */
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IgmDataError, messageOf } from '../errors';
import { ownerSuffix } from './leftovers';

/** `<path>.tmp-<pid>@<host>-<hex>`: the owner lets removeDeadLeftovers clean it after a kill. */
function tempName(path: string): string {
  return `${path}.tmp${ownerSuffix()}`;
}

/** Writes `data` to a temporary file next to `path`, then renames it over `path`. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw new IgmDataError(`could not write the file (${messageOf(error)}).`, path, {
      cause: error,
    });
  }
}

export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempName(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw new IgmDataError(`could not write the file (${messageOf(error)}).`, path, {
      cause: error,
    });
  }
}

/** Reads a file; a missing or unreadable file is an IgmDataError that says what the file is for. */
export async function readFileOrThrow(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : messageOf(error);
    throw new IgmDataError(`${reason}; expected ${what}.`, path, { cause: error });
  }
}

export function readTextOrThrow(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : messageOf(error);
    throw new IgmDataError(`${reason}; expected ${what}.`, path, { cause: error });
  }
}

/** Throws unless `path` is an existing directory. */
export function requireDir(path: string, what: string): void {
  let ok = false;
  try {
    ok = statSync(path).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new IgmDataError(`folder not found; expected ${what}.`, path);
}

export async function listDir(path: string, what: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (error) {
    throw new IgmDataError(
      `cannot list the folder (${messageOf(error)}); expected ${what}.`,
      path,
      {
        cause: error,
      },
    );
  }
}

/**
 * Creates `dir` if needed and checks that a file can be written in it. A read-only cache folder
 * fails here, before any work, with the fix in the message.
 */
export function ensureWritableDir(dir: string, what: string, fix: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.write-test${ownerSuffix()}`);
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  } catch (error) {
    throw new IgmDataError(`${what} is not writable (${messageOf(error)}). ${fix}`, dir, {
      cause: error,
    });
  }
}

export { dirname, existsSync, join };
