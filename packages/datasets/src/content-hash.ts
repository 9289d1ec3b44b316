/**
 * Content hashes (SHA-256) of a cache entry's input files, memoised so a warm open does not
 * re-read every input. A file is hashed again only when its size, mtime, ctime or inode differ
 * from the memo (ctime cannot be set back by tools that preserve mtime, so an overwrite is
 * always seen). A file modified less than {@link RACY_SECONDS} before it was hashed is not
 * memoised (its timestamp could repeat with new content within the filesystem's clock
 * resolution), so it is hashed on every open until it settles.
 *
 * The memo is a JSON file (`<cacheDir>/<dataset>/.content-hashes.json`); losing or failing to
 * write it only costs time.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { IgmDataError, messageOf } from './errors';
import { writeFileAtomic } from './io/fs';

/** Files changed this recently (seconds) when hashed are re-hashed on the next open. */
export const RACY_SECONDS = 2;

interface MemoEntry {
  readonly size: string;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  readonly ino: string;
  readonly sha256: string;
}

interface Memo {
  readonly format: 1;
  readonly files: Record<string, MemoEntry>;
}

/** Files up to this size are read whole (faster for the many small clips); larger ones streamed. */
const READ_WHOLE_BYTES = 8 << 20;

/** SHA-256 of a file's bytes (streamed when large). */
export async function fileSha256(path: string, size?: number): Promise<string> {
  if (size !== undefined && size <= READ_WHOLE_BYTES) {
    return createHash('sha256')
      .update(await readFile(path))
      .digest('hex');
  }
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve())
      .on('error', reject);
  });
  return hash.digest('hex');
}

async function readMemo(memoFile: string): Promise<Record<string, MemoEntry>> {
  try {
    const memo = JSON.parse(await readFile(memoFile, 'utf8')) as Memo;
    return memo.format === 1 && memo.files && typeof memo.files === 'object' ? memo.files : {};
  } catch {
    return {};
  }
}

export interface ContentHashResult {
  /** SHA-256 of each input, in input order. */
  readonly hashes: readonly string[];
  /** Inputs read and hashed by this call (the rest came from the memo). */
  readonly hashed: number;
}

/**
 * SHA-256 of every file of `files` (module comment), using and updating the memo `memoFile`.
 * A missing or unreadable file is an IgmDataError naming it and `what` it is.
 */
export async function contentHashes(
  files: readonly string[],
  memoFile: string,
  what: string,
): Promise<ContentHashResult> {
  const memo = await readMemo(memoFile);
  const hashes = new Array<string>(files.length);
  const stats = files.map((file) => {
    try {
      return statSync(file, { bigint: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new IgmDataError(
        `${code === 'ENOENT' ? 'file not found' : messageOf(error)}; expected ${what}.`,
        file,
        { cause: error },
      );
    }
  });
  const todo: number[] = [];
  files.forEach((file, i) => {
    const s = stats[i]!;
    const m = memo[file];
    if (
      m &&
      m.size === String(s.size) &&
      m.mtimeNs === String(s.mtimeNs) &&
      m.ctimeNs === String(s.ctimeNs) &&
      m.ino === String(s.ino)
    ) {
      hashes[i] = m.sha256;
    } else {
      todo.push(i);
    }
  });
  let changed = false;
  let next = 0;
  const worker = async () => {
    for (;;) {
      const k = next++;
      if (k >= todo.length) return;
      const i = todo[k]!;
      const file = files[i]!;
      const started = Date.now();
      let digest: string;
      try {
        digest = await fileSha256(file, Number(stats[i]!.size));
      } catch (error) {
        throw new IgmDataError(
          `cannot read the file (${messageOf(error)}); expected ${what}.`,
          file,
          {
            cause: error,
          },
        );
      }
      hashes[i] = digest;
      // The stat taken before reading still describes the bytes read if it is unchanged after.
      const after = statSync(file, { bigint: true });
      const s = stats[i]!;
      const settled =
        after.mtimeNs === s.mtimeNs &&
        after.ctimeNs === s.ctimeNs &&
        after.size === s.size &&
        started - Number(s.mtimeNs / 1_000_000n) > RACY_SECONDS * 1000 &&
        started - Number(s.ctimeNs / 1_000_000n) > RACY_SECONDS * 1000;
      if (settled) {
        memo[file] = {
          size: String(s.size),
          mtimeNs: String(s.mtimeNs),
          ctimeNs: String(s.ctimeNs),
          ino: String(s.ino),
          sha256: digest,
        };
        changed = true;
      } else if (memo[file]) {
        delete memo[file];
        changed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, todo.length) }, worker));
  if (changed) {
    try {
      await writeFileAtomic(memoFile, `${JSON.stringify({ format: 1, files: memo })}\n`);
    } catch {
      // A read-only cache folder: the memo is an optimisation only.
    }
  }
  return { hashes, hashed: todo.length };
}
