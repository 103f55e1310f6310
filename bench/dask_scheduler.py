#!/usr/bin/python3
"""Dask's threaded scheduler on the same graph shape as scheduler_bench.

N no-op leaves plus a fan-in-8 tree reduction; prints one JSON line like
scheduler_bench. Run with Debian's python3 (python3-dask).
"""
import argparse
import json
import statistics
import time

import dask
import dask.threaded


def noop():
    return 1


def count(parts):
    return sum(parts)


def build(leaves):
    dsk = {("leaf", i): (noop,) for i in range(leaves)}
    prev, width, level = "leaf", leaves, 0
    while width > 1:
        groups = (width + 7) // 8
        name = f"reduce-{level}"
        for j in range(groups):
            dsk[(name, j)] = (count, [(prev, k) for k in range(j * 8, min(width, j * 8 + 8))])
        prev, width, level = name, groups, level + 1
    return dsk, (prev, 0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=200_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    dsk, root = build(a.tasks)
    times = []
    for r in range(a.repeat + 1):
        t = time.perf_counter()
        out = dask.threaded.get(dsk, root, num_workers=a.threads)
        secs = time.perf_counter() - t
        if out != a.tasks:
            raise SystemExit(f"wrong answer {out}, expected {a.tasks}")
        if r:
            times.append(secs)
    run = statistics.median(times)
    print(json.dumps({"suite": "scheduler", "case": "noop_tree", "engine": "dask", "tasks": len(dsk),
                      "threads": a.threads, "seconds": run, "us_per_task": run / len(dsk) * 1e6,
                      "version": dask.__version__}))


if __name__ == "__main__":
    main()
