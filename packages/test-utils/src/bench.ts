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

/** What {@link countKernelWork} saw between its start and `stop()`. */
export interface KernelWork {
  /** Floating-point operations of the matrix products and convolutions (multiply and add = 2). */
  productFlops: number;
  /** Every kernel call (tfjs dispatches), the products included. */
  kernelCalls: number;
  /** Calls and product FLOPs per kernel name. */
  byKernel: Record<string, { calls: number; flops: number }>;
  /**
   * The matrix products (BatchMatMul, _FusedMatMul) by shape, in the order first seen: enough to
   * replay the same products elsewhere (another library, another build) and time them alone.
   */
  matrixProducts: MatrixProductShape[];
}

/** One shape of matrix product and how often it ran: C[batch, m, n] = op(A) · op(B). */
export interface MatrixProductShape {
  /** The kernel (BatchMatMul, or _FusedMatMul with its bias/activation epilogue). */
  kernel: string;
  /** Product of the leading (batch) dimensions; 1 for a plain 2-D product. */
  batch: number;
  m: number;
  k: number;
  n: number;
  /** A is stored [k, m] (transposed), else [m, k]. */
  transposeA: boolean;
  /** B is stored [n, k] (transposed), else [k, n]. */
  transposeB: boolean;
  calls: number;
}

/** The shape of one matrix-product call, or undefined for any other kernel. */
export function matrixProductShapeOf(
  name: string,
  inputs: Record<string, ShapeOf>,
  attrs: Record<string, unknown> = {},
): Omit<MatrixProductShape, 'calls'> | undefined {
  if (name !== 'BatchMatMul' && name !== '_FusedMatMul') return undefined;
  const a = inputs['a']!.shape;
  const b = inputs['b']!.shape;
  const transposeA = Boolean(attrs['transposeA']);
  const transposeB = Boolean(attrs['transposeB']);
  return {
    kernel: name,
    batch: Math.max(size(a.slice(0, -2)), size(b.slice(0, -2))),
    m: transposeA ? a[a.length - 1]! : a[a.length - 2]!,
    k: transposeA ? a[a.length - 2]! : a[a.length - 1]!,
    n: transposeB ? b[b.length - 2]! : b[b.length - 1]!,
    transposeA,
    transposeB,
  };
}

interface ShapeOf {
  shape: readonly number[];
}
type KernelRunner = (name: string, inputs: Record<string, ShapeOf>, attrs?: object) => unknown;

const size = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/**
 * The FLOPs of one kernel call, counted as a direct (textbook) product: 2·m·n·k per matrix
 * product (times the batch), 2·N·OH·OW·OC·KH·KW·IC/groups per convolution and its two
 * gradients. Fast algorithms (Winograd) do fewer multiplications; this is the work the model
 * defines, the same for every library. Kernels that are not products count 0.
 */
export function productFlopsOf(
  name: string,
  inputs: Record<string, ShapeOf>,
  attrs: Record<string, unknown> = {},
): number {
  const product = matrixProductShapeOf(name, inputs, attrs);
  if (product) return 2 * product.batch * product.m * product.n * product.k;
  // Convolutions: the filter is [KH, KW, IC, OC]; the output (or dy) is [N, OH, OW, OC].
  if (name === 'Conv2D' || name === 'FusedConv2D') {
    const x = inputs['x']!.shape;
    const f = inputs['filter']!.shape;
    const strides = (attrs['strides'] as number | [number, number] | undefined) ?? 1;
    const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
    const pad = attrs['pad'];
    const [oh, ow] =
      pad === 'same'
        ? [Math.ceil(x[1]! / sh), Math.ceil(x[2]! / sw)]
        : [
            Math.floor((x[1]! + 2 * (typeof pad === 'number' ? pad : 0) - f[0]!) / sh) + 1,
            Math.floor((x[2]! + 2 * (typeof pad === 'number' ? pad : 0) - f[1]!) / sw) + 1,
          ];
    return 2 * x[0]! * oh * ow * size(f);
  }
  if (name === 'Conv2DBackpropInput') {
    const dy = inputs['dy']!.shape;
    const f = inputs['filter']!.shape;
    return 2 * dy[0]! * dy[1]! * dy[2]! * size(f);
  }
  if (name === 'Conv2DBackpropFilter') {
    const dy = inputs['dy']!.shape;
    const shape = attrs['filterShape'] as readonly number[];
    return 2 * dy[0]! * dy[1]! * dy[2]! * size(shape);
  }
  return 0;
}

/**
 * Counts the kernel calls (and the products' FLOPs and shapes) that tfjs runs from now until
 * `stop()`, by wrapping the engine's `runKernel`, through which every op reaches its backend. Pass
 * `tf.engine()` of the tfjs instance the work runs on. For benchmarks only: the wrapper adds a
 * map update per call.
 */
export function countKernelWork(engine: { runKernel: KernelRunner }): { stop(): KernelWork } {
  const work: KernelWork = { productFlops: 0, kernelCalls: 0, byKernel: {}, matrixProducts: [] };
  const products = new Map<string, MatrixProductShape>();
  const original = engine.runKernel;
  engine.runKernel = function (this: unknown, name, inputs, attrs) {
    const flops = productFlopsOf(name, inputs, (attrs ?? {}) as Record<string, unknown>);
    const shape = matrixProductShapeOf(name, inputs, (attrs ?? {}) as Record<string, unknown>);
    if (shape) {
      const key = `${shape.kernel} ${shape.batch} ${shape.m} ${shape.k} ${shape.n} ${shape.transposeA} ${shape.transposeB}`;
      const seen = products.get(key);
      if (seen) seen.calls++;
      else {
        const entry = { ...shape, calls: 1 };
        products.set(key, entry);
        work.matrixProducts.push(entry);
      }
    }
    work.byKernel[name] ??= { calls: 0, flops: 0 };
    const entry = work.byKernel[name];
    entry.calls++;
    entry.flops += flops;
    work.kernelCalls++;
    work.productFlops += flops;
    return original.call(this, name, inputs, attrs);
  };
  return {
    stop() {
      engine.runKernel = original;
      return work;
    },
  };
}
