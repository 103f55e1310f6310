#!/usr/bin/python3
"""NumPy and dask.array on the cases of array_bench, same data, same answers.

x[i, j] = ((i * 7919 + j * 104729) % 1000) / 1000 - 0.5, n x n float64;
dask.array holds it in c x c blocks (from the NumPy array, persisted), on the
threaded scheduler with --threads workers. Prints JSON lines like array_bench
(median of --repeat runs after a warm-up). Run with Debian's python3.
"""
import argparse
import json
import os
import statistics
import time


def pattern(np, rows, cols, transpose=False, shift=0):
    i = np.arange(rows, dtype=np.int64)[:, None]
    j = np.arange(cols, dtype=np.int64)[None, :]
    if transpose:
        i, j = j, i + shift
    return ((i * 7919 + j * 104729) % 1000) / 1000.0 - 0.5


def timed(fn, repeat):
    times, answer = [], None
    for r in range(repeat + 1):
        t = time.perf_counter()
        out = fn()
        secs = time.perf_counter() - t
        answer = float(out.sum())
        if r:
            times.append(secs)
    return statistics.median(times), answer


def emit(case, engine, secs, answer, n):
    print(json.dumps({"suite": "array", "case": case, "engine": engine, "seconds": round(secs, 6),
                      "answer": answer, "n": n}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--chunk", type=int, default=1000)
    p.add_argument("--m", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--engines", default="numpy,dask")
    a = p.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(a.threads))
    import numpy as np
    import dask
    import dask.array as da

    engines = a.engines.split(",")
    x = pattern(np, a.n, a.n)
    cases = {
        "sum_x_plus_xT_axis0": lambda m: (m + m.T).sum(axis=0),
        "mean": lambda m: m.mean(),
        "std": lambda m: m.std(),
        "sqrt_max": lambda m: m.__mul__(2).__add__(1).__pow__(0.5).max(),
    }
    if "numpy" in engines:
        for name, fn in cases.items():
            secs, ans = timed(lambda: np.asarray(fn(x)), a.repeat)
            emit(name, "numpy", secs, ans, a.n)
    if "dask" in engines:
        with dask.config.set(scheduler="threads", num_workers=a.threads):
            dx = da.from_array(x, chunks=(a.chunk, a.chunk)).persist()
            for name, fn in cases.items():
                secs, ans = timed(lambda: np.asarray(fn(dx).compute()), a.repeat)
                emit(name, "dask", secs, ans, a.n)
    if a.m > 0:
        A = pattern(np, a.m, a.m)
        B = pattern(np, a.m, a.m, transpose=True, shift=1)
        if "numpy" in engines:
            secs, ans = timed(lambda: A @ B, a.repeat)
            emit("matmul", "numpy", secs, ans, a.m)
        if "dask" in engines:
            with dask.config.set(scheduler="threads", num_workers=a.threads):
                dA = da.from_array(A, chunks=(a.chunk, a.chunk)).persist()
                dB = da.from_array(B, chunks=(a.chunk, a.chunk)).persist()
                secs, ans = timed(lambda: (dA @ dB).compute(), a.repeat)
                emit("matmul", "dask", secs, ans, a.m)


if __name__ == "__main__":
    main()
