"""PyTorch side of bench/eigen.ts: times torch.linalg.eigh on the matrices the TS bench wrote.

Usage: /usr/bin/python3 eigen_torch.py <dir> <n> [<n> ...]
Reads <dir>/a<n>.f64 (row-major float64) and <dir>/w<n>.f64 (the TS eigenvalues), prints one
JSON object: per n and per (dtype, threads) the median and min seconds over the repetitions, and
the median process CPU seconds, and the max |eigenvalue difference| between torch float64 and the TS result.
"""

import json
import os
import pathlib
import sys
import time

import numpy as np
import torch


def time_eigh(a, reps):
    torch.linalg.eigh(a)  # warm-up
    times = []
    cpu = []
    for _ in range(reps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        torch.linalg.eigh(a)
        cpu.append(time.process_time() - c0)
        times.append(time.perf_counter() - t0)
    return {
        "median_s": float(np.median(times)),
        "min_s": float(min(times)),
        # Process CPU time (all threads): robust to other load on a shared machine.
        "cpu_median_s": float(np.median(cpu)),
        "reps": reps,
    }


def main():
    root = pathlib.Path(sys.argv[1])
    sizes = [int(s) for s in sys.argv[2:]]
    default_threads = torch.get_num_threads()
    out = {
        "torch": torch.__version__,
        "default_threads": default_threads,
        "cpu_count": os.cpu_count(),
        "sizes": {},
    }
    for n in sizes:
        a64 = torch.from_numpy(np.fromfile(root / f"a{n}.f64", dtype=np.float64).reshape(n, n))
        w_ts = np.fromfile(root / f"w{n}.f64", dtype=np.float64)
        reps = 5 if n <= 512 else 3
        entry = {}
        for threads in sorted({1, default_threads, os.cpu_count() or 1}):
            torch.set_num_threads(threads)
            entry[f"float64_t{threads}"] = time_eigh(a64, reps)
            entry[f"float32_t{threads}"] = time_eigh(a64.float(), reps)
        torch.set_num_threads(default_threads)
        w_torch = torch.linalg.eigh(a64)[0].numpy()
        entry["max_abs_eigenvalue_diff_vs_ts"] = float(np.max(np.abs(w_torch - w_ts)))
        entry["max_abs_eigenvalue"] = float(np.max(np.abs(w_torch)))
        out["sizes"][str(n)] = entry
    print(json.dumps(out))


if __name__ == "__main__":
    main()
