/** Pieces shared by the benchmark loaders: option checks, fingerprints, frame folders, features. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IgmArgumentError } from '@igm/core';
import { IgmDataError, messageOf } from '../errors';
import { sha256 } from '../hash';
import { readFileOrThrow } from '../io/fs';
import { decodeJpeg } from '../io/jpeg';

/** Throws unless `root` is an existing folder; names what the loader expected inside. */
export function requireRoot(where: string, root: unknown, layout: string): string {
  if (typeof root !== 'string' || root.length === 0) {
    throw new IgmArgumentError(
      `${where}: received root=${JSON.stringify(root)}. Expected the dataset folder (${layout}).`,
    );
  }
  let ok = false;
  try {
    ok = statSync(root).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new IgmDataError(`dataset folder not found; expected ${layout}.`, root);
  return root;
}

/** Size and modification time of files, hashed: a cheap key that changes when inputs change. */
export function fileFingerprint(files: readonly string[]): string {
  const parts = files.map((f) => {
    try {
      const s = statSync(f);
      return `${f} ${s.size} ${Math.floor(s.mtimeMs)}`;
    } catch {
      return `${f} missing`;
    }
  });
  return sha256(parts.join('\n'));
}

const IMAGE = /\.(jpe?g)$/i;

/**
 * The JPEG frames of one clip folder, in directory order (what os.listdir returns, as the
 * references use) or sorted by name.
 */
export function listFrames(dir: string, order: 'directory' | 'sorted'): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new IgmDataError(
      `cannot list the frames folder (${messageOf(error)}); expected JPEG frames of this clip.`,
      dir,
      {
        cause: error,
      },
    );
  }
  const frames = names.filter((n) => IMAGE.test(n));
  if (order === 'sorted') frames.sort();
  return frames.map((n) => join(dir, n));
}

export async function readJpeg(path: string) {
  return decodeJpeg(await readFileOrThrow(path, 'a JPEG frame'), path);
}
