#!/usr/bin/python3
"""Dask's distributed scheduler on the cases of distributed_bench.

throughput: N no-op leaves plus a fan-in-8 tree reduction through a
LocalCluster of 2 worker processes with 1 thread each.
transfer: a bytes value of --mib MiB made on one worker and read by a task
on the other (placement forced with workers=).
Prints one JSON line per case, like distributed_bench. Debian's python3
(python3-distributed).
"""
import argparse
import json
import statistics
import time

from dask.distributed import Client, LocalCluster, wait

from dask_scheduler import build  # the same graph as the threaded-scheduler case


def make(n):
    return b"\x01" * n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--case", default="throughput")
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--mib", type=int, default=1024)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        times = []
        if a.case == "throughput":
            dsk, root = build(a.tasks)
            for r in range(a.repeat + 1):
                t = time.perf_counter()
                out = client.get(dsk, root)
                secs = time.perf_counter() - t
                assert out == a.tasks, out
                if r:
                    times.append(secs)
            s = statistics.median(times)
            print(json.dumps({"suite": "distributed", "case": "throughput", "engine": "dask", "tasks": len(dsk),
                              "seconds": s, "tasks_per_second": len(dsk) / s, "answer": a.tasks}), flush=True)
        else:
            w = sorted(client.scheduler_info()["workers"])
            n = a.mib << 20
            for r in range(a.repeat + 1):
                made = client.submit(make, n, workers=[w[0]], pure=False)
                wait(made)  # it exists on the first worker
                t = time.perf_counter()
                got = client.submit(len, made, workers=[w[1]], pure=False).result()
                secs = time.perf_counter() - t
                assert got == n, got
                if r:
                    times.append(secs)
                del made
            s = statistics.median(times)
            print(json.dumps({"suite": "distributed", "case": "transfer", "engine": "dask", "n": a.mib,
                              "seconds": s, "gb_per_s": n / s / 1e9, "answer": n}), flush=True)


if __name__ == "__main__":
    main()
