"""ROAD's imputation: SciPy's sparse LU (SuperLU, pytorch-grad-cam's solver) against the banded
Cholesky that :mod:`xaitools.road` uses, on the systems a study solves (160 x 160 image, MoRF and
LeRF at 20, 50 and 80 %), one core, in one run.

    python benchmarks/road_solvers.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    from scipy.ndimage import gaussian_filter
    from scipy.sparse.linalg import spsolve
    from threadpoolctl import threadpool_limits

    from xaitools import road

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    image = rng.random((160, 160, 3)).astype(np.float32)
    maps = {"random": rng.random((160, 160)), "smooth (sigma 4)": gaussian_filter(rng.random((160, 160)), 4),
            "smooth (sigma 15)": gaussian_filter(rng.random((160, 160)), 15)}
    systems = {}
    solve = road._solve
    for name, m in maps.items():
        seen = []
        road._solve = lambda A, rhs: seen.append((A, rhs)) or solve(A, rhs)
        try:
            road.perturbed(image, m, (20, 50, 80))
        finally:
            road._solve = solve
        systems[name] = seen
    solvers = {"SuperLU (spsolve)": lambda A, rhs: spsolve(A.tocsc(), rhs), "banded Cholesky": solve}
    print(f"seconds for the 6 systems of one map (best of {args.repeats}), one core")
    with threadpool_limits(limits=1):
        for name, seen in systems.items():
            t = {}
            for label, fn in solvers.items():
                best = np.inf
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    got = [np.asarray(fn(A, rhs)).reshape(rhs.shape) for A, rhs in seen]
                    best = min(best, time.perf_counter() - t0)
                t[label] = best
                if label == "SuperLU (spsolve)":
                    ref = got
            err = max(float(np.abs(a - b).max()) for a, b in zip(ref, got))
            sizes = ",".join(str(A.shape[0]) for A, _ in seen)
            print(f"{name:18s} unknowns {sizes}: SuperLU {t['SuperLU (spsolve)']:.3f} s, banded {t['banded Cholesky']:.3f} s,"
                  f" ratio {t['SuperLU (spsolve)'] / t['banded Cholesky']:.2f}x, max difference {err:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
