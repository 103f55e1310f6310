#!/usr/bin/python3
"""dask.array on bigarray_bench's phases: the sum of a --gib GiB float64 array
generated chunk by chunk ('auto' chunks, 128 MiB), stored into a .npy file
(np.lib.format.open_memmap + da.store, the usual way) and summed again from
the file (np.load(mmap_mode='r') + da.from_array). One phase per process, so
the peak resident memory is the phase's own. Run with Debian's python3.
"""
import argparse
import json
import resource
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--gib", type=float, default=10)
    p.add_argument("--phase", default="generate")
    p.add_argument("--file", default="/var/tmp/dask-bigarray.npy")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    import numpy as np
    import dask
    import dask.array as da

    cols = 32768
    rows = int(a.gib * 1024 ** 3 / (cols * 8))
    answer = 0.0
    with dask.config.set(scheduler="threads", num_workers=a.threads):
        x = da.random.RandomState(2026).random_sample((rows, cols), chunks="auto")
        t = time.perf_counter()
        if a.phase == "generate":
            answer = float(x.sum().compute())
        elif a.phase == "store":
            out = np.lib.format.open_memmap(a.file, mode="w+", dtype="f8", shape=(rows, cols))
            da.store(x, out)
            out.flush()
            del out
        elif a.phase == "read":
            x = da.from_array(np.load(a.file, mmap_mode="r"), chunks="auto")
            answer = float(x.sum().compute())
        secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"suite": "bigarray", "case": a.phase, "engine": "dask", "seconds": round(secs, 3),
                      "gib": a.gib, "peak_rss_mib": round(peak), "chunk_mib": round(x.chunksize[0] * x.chunksize[1] * 8 / 2 ** 20, 1),
                      "chunks": x.npartitions, "sum": answer}), flush=True)


if __name__ == "__main__":
    main()
