/** Pieces shared by the benchmark loaders: option checks, fingerprints, frame folders, features. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { IgmArgumentError } from '@igm/core';
import { IgmDataError, messageOf } from '../errors';
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

/** Whether `path` is an existing file (`kind` 'file') or folder ('dir'). */
export function exists(path: string, kind: 'file' | 'dir'): boolean {
  try {
    const s = statSync(path);
    return kind === 'file' ? s.isFile() : s.isDirectory();
  } catch {
    return false;
  }
}

/** A sample as its list file names it: the file, the 1-based line, the sample id. */
export interface ListedSample {
  readonly id: string;
  readonly file: string;
  readonly line: number;
}

/**
 * The error for listed samples whose media are missing: names the list file, the line, the
 * sample and what is missing for the first one, and up to four more (`missing` reads after
 * "lacks", e.g. "its WAV /data/AudioWAV/1001.wav").
 */
export function missingFilesError(
  problems: ReadonlyArray<{ readonly sample: ListedSample; readonly missing: string }>,
  expected: string,
): IgmDataError {
  const [first, ...rest] = problems;
  const at = (p: ListedSample) =>
    `${p.file === first!.sample.file ? '' : `${p.file} `}line ${p.line}`;
  return new IgmDataError(
    `line ${first!.sample.line}: ${first!.sample.id} lacks ${first!.missing}.${
      rest.length > 0
        ? ` ${rest.length} more listed sample(s) lack files: ${rest
            .slice(0, 4)
            .map((p) => `${at(p.sample)} (${p.sample.id}): ${p.missing}`)
            .join('; ')}${rest.length > 4 ? `; and ${rest.length - 4} more` : ''}.`
        : ''
    } ${expected}`,
    first!.sample.file,
  );
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
