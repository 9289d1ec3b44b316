"""Which BLAS library a PyTorch process runs its products on, for the benchmark scripts that set
PyTorch beside the project's kernels (demo/torch_demo_grid.py, demo/torch_products.py,
wasm-training/torch_step.py). Debian's python3-torch calls the system libblas.so.3: with only the
reference BLAS installed its products are ~30x slower than with OpenBLAS, so every result records
which library was loaded.
"""
import os

import torch


def blas_library():
    """{'kind': openblas | mkl | reference | unknown, 'files': [...]}: the BLAS shared libraries
    mapped into this process after one product has run."""
    torch.randn(8, 8) @ torch.randn(8, 8)
    names = set()
    with open('/proc/self/maps') as maps:
        for line in maps:
            path = line.split()[-1]
            base = os.path.basename(path)
            if 'blas' in base or 'mkl_' in base:
                names.add(os.path.realpath(path))
    kind = 'unknown'
    if any('openblas' in n for n in names):
        kind = 'openblas'
    elif any('mkl' in n for n in names):
        kind = 'mkl'
    elif any(os.path.basename(n).startswith('libblas.so') for n in names):
        kind = 'reference'
    return {'kind': kind, 'files': sorted(names)}
