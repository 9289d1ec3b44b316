/**
 * Helpers of the packages' benchmark scripts (bench/*.ts, run with tsx). No vitest import, so a
 * script can load this outside a test run: `import { fsddDirFromArgs } from '@igm/test-utils/bench'`.
 */

/**
 * The FSDD recordings folder a benchmark reads: `--fsdd-dir <path>` (or `--fsdd-dir=<path>`) in
 * `argv`, else the FSDD_DIR environment variable. With neither, or a flag without a path, prints
 * what to set (naming `script`) and exits with code 2, before the script does any work.
 */
export function fsddDirFromArgs(
  script: string,
  argv: readonly string[] = process.argv.slice(2),
): string {
  const i = argv.indexOf('--fsdd-dir');
  const fromFlag =
    i >= 0
      ? argv[i + 1]
      : argv.find((a) => a.startsWith('--fsdd-dir='))?.slice('--fsdd-dir='.length);
  if (i >= 0 && (fromFlag === undefined || fromFlag.startsWith('--'))) {
    console.error(`${script}: --fsdd-dir needs a path, e.g. --fsdd-dir ./recordings.`);
    process.exit(2);
  }
  const dir = fromFlag || process.env['FSDD_DIR'];
  if (!dir) {
    console.error(
      `${script}: no FSDD recordings folder. Set FSDD_DIR to the recordings folder of the Free Spoken Digit Dataset (e.g. FSDD_DIR=/path/to/free-spoken-digit-dataset/recordings) or pass --fsdd-dir <path>.`,
    );
    process.exit(2);
  }
  return dir;
}
