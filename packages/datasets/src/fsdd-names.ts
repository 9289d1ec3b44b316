/**
 * FSDD names and digests that need no file system (part of the browser build): the pinned
 * commit, the file-name pattern `{digit}_{speaker}_{index}.wav`, the full file list and the
 * digest of a file set. The folder listing and the download are in fsdd.ts (Node).
 */
import { sha256 } from './hash';

export const FSDD_COMMIT = '26eb9aaf76e81b692f806f9140c2d2777410d7a1';
export const FSDD_BASE_URL = `https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/${FSDD_COMMIT}/recordings/`;
export const FSDD_SPEAKERS = ['george', 'jackson', 'lucas', 'nicolas', 'theo', 'yweweler'] as const;
/** SHA-256 over "<name> <sha256>\n" lines of the 3,000 recordings at FSDD_COMMIT, sorted by name. */
export const FSDD_SET_SHA256 = 'dbd573d7cafe79c4b49f65718115e1304e24e067fa39eff18a660dc6cb9c360f';

export interface FsddRecording {
  /** File stem, e.g. "3_theo_12"; used as the sample id. */
  readonly id: string;
  readonly file: string;
  readonly digit: number;
  readonly speaker: string;
  readonly index: number;
}

const NAME = /^(\d)_([A-Za-z]+)_(\d+)\.wav$/;

/** Parses a recording file name; returns undefined for names outside the FSDD pattern. */
export function parseFsddName(name: string): Omit<FsddRecording, 'file'> | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  return { id: name.slice(0, -4), digit: Number(m[1]), speaker: m[2]!, index: Number(m[3]) };
}

/** Every file name of the full FSDD set. */
export function fsddFileNames(): string[] {
  const names: string[] = [];
  for (let d = 0; d < 10; d++) {
    for (const s of FSDD_SPEAKERS) for (let i = 0; i < 50; i++) names.push(`${d}_${s}_${i}.wav`);
  }
  return names.sort();
}

/** Digest of a file set: SHA-256 of sorted "<name> <sha256>\n" lines. */
export function fileSetDigest(entries: ReadonlyArray<{ name: string; sha256: string }>): string {
  const lines = [...entries]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e) => `${e.name} ${e.sha256}\n`)
    .join('');
  return sha256(lines);
}
