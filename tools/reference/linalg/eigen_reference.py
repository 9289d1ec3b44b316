"""Eigenvalue fixtures for symmetricEigen (packages/linalg/src/symmetric-eigen.ts).

Independent reference: numpy.linalg.eigh (LAPACK dsyevd) in float64. Writes
packages/linalg/test/fixtures/eigen.json with the input matrices (row-major) and their ascending
eigenvalues. Eigenvectors are not stored: their signs (and bases of repeated eigenspaces) are not
unique, so the TS tests check them through residuals instead.

Run: /usr/bin/python3 tools/reference/linalg/eigen_reference.py
"""

import json
import pathlib

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[3] / "packages/linalg/test/fixtures/eigen.json"


def random_symmetric(rng, n, scale=1.0):
    a = rng.standard_normal((n, n)) * scale
    return (a + a.T) / 2


def with_spectrum(rng, values):
    n = len(values)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    a = q @ np.diag(values) @ q.T
    return (a + a.T) / 2


def main():
    rng = np.random.default_rng(20250611)
    cases = []

    def add(name, a):
        a = np.asarray(a, dtype=np.float64)
        w = np.linalg.eigh(a)[0]
        cases.append(
            {
                "name": name,
                "n": int(a.shape[0]),
                "matrix": a.reshape(-1).tolist(),
                "values": w.tolist(),
            }
        )

    for n in (1, 2, 3, 5, 16, 48):
        add(f"random n={n}", random_symmetric(rng, n))
    add("random n=20 scaled 1e6", random_symmetric(rng, 20, 1e6))
    add("random n=20 scaled 1e-6", random_symmetric(rng, 20, 1e-6))
    add("repeated eigenvalues n=12", with_spectrum(rng, [2.0] * 5 + [-1.0] * 4 + [0.5, 3.0, 3.0]))
    # Covariance-like: positive semidefinite with a large null space (as in PCA / flat projection).
    x = rng.standard_normal((6, 24))
    add("gram rank 6 n=24", x.T @ x / 6)
    add("tridiagonal n=10", np.diag(np.arange(10.0)) + np.diag(np.ones(9), 1) + np.diag(np.ones(9), -1))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "generator": "tools/reference/linalg/eigen_reference.py",
                "numpy": np.__version__,
                "cases": cases,
            }
        )
    )
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
