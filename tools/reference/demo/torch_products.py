"""Times a list of matrix-product shapes in PyTorch, one thread: the products of the demo grid
replayed alone, to set beside the same replay in the project's wasm kernels
(packages/cli/bench/demo-grid/count-work.ts) and the whole-grid times of the demo-grid bench.

Usage (torch 1.13 CPU, /usr/bin/python3; put an OpenBLAS folder first on LD_LIBRARY_PATH, as for
torch_demo_grid.py, or the products run on the reference BLAS):

    /usr/bin/python3 torch_products.py --products PRODUCTS.json [--json OUT.json]
        [--min-seconds 0.15]

PRODUCTS.json: {"matrixProducts": [{"batch", "m", "k", "n", "transposeA", "transposeB",
"calls"}, ...]} as the counting run writes it (A stored [k, m] when transposeA, B stored [n, k]
when transposeB; the product is op(A) op(B) of shape [batch, m, n]).

Each shape: random float32 operands in the stored layout (a transposed view when the flag is
set, so BLAS sees the same transpose), two warm-up products, then rounds of 1, 2, 4, ...
products until --min-seconds of CPU time have passed or the shape's call count is reached (the
same rule as the wasm replay); the CPU time per product times the call count is the shape's
share. Prints one line per shape and the total;
writes {"torch", "blas", "threads": 1, "seconds", "shapes": [...]} with --json.
"""
import argparse
import json
import os
import sys
import time

for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[var] = '1'

import torch  # noqa: E402  (after the thread variables)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_blas import blas_library  # noqa: E402  (tools/reference/torch_blas.py)


def operand(batch, rows, cols, transposed, gen):
    """A [batch?, rows, cols] operand; stored [cols, rows] and viewed transposed when asked."""
    lead = [batch] if batch > 1 else []
    if transposed:
        return torch.rand(*lead, cols, rows, generator=gen).transpose(-1, -2)
    return torch.rand(*lead, rows, cols, generator=gen)


def time_shape(shape, min_seconds, gen):
    batch, m, k, n = shape['batch'], shape['m'], shape['k'], shape['n']
    calls = int(shape['calls'])
    a = operand(batch, m, k, bool(shape['transposeA']), gen)
    b = operand(batch, k, n, bool(shape['transposeB']), gen)
    with torch.no_grad():
        for _ in range(2):
            torch.matmul(a, b)
        reps = 0
        chunk = 1
        start = time.process_time()
        spent = 0.0
        while reps < calls and spent < min_seconds:
            todo = min(chunk, calls - reps)
            for _ in range(todo):
                torch.matmul(a, b)
            reps += todo
            spent = time.process_time() - start
            chunk *= 2
    per_call = spent / reps
    return {**shape, 'timedCalls': reps, 'secondsPerCall': per_call, 'seconds': per_call * calls}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--products', required=True)
    p.add_argument('--json')
    p.add_argument('--min-seconds', type=float, default=0.15)
    args = p.parse_args()
    torch.set_num_threads(1)
    with open(args.products) as f:
        shapes = json.load(f)['matrixProducts']
    for i, s in enumerate(shapes):
        for key in ('batch', 'm', 'k', 'n', 'calls'):
            if not isinstance(s.get(key), int) or s[key] < 1:
                sys.exit(f'{args.products}: matrixProducts[{i}].{key} is {s.get(key)!r}; expected a positive integer')
    gen = torch.Generator().manual_seed(0)
    timed = []
    for s in shapes:
        t = time_shape(s, args.min_seconds, gen)
        timed.append(t)
        print(f"{t['batch']}x{t['m']}x{t['k']}x{t['n']} tA={int(t['transposeA'])} tB={int(t['transposeB'])}: "
              f"{t['calls']} calls, {1e6 * t['secondsPerCall']:.1f} us each, {t['seconds']:.2f} s", flush=True)
    total = sum(t['seconds'] for t in timed)
    print(f'{len(timed)} shapes: {total:.2f} s of CPU', flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'torch': torch.__version__, 'blas': blas_library(), 'threads': 1,
                       'seconds': total, 'shapes': timed}, f, indent=1)


if __name__ == '__main__':
    main()
