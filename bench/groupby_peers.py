#!/usr/bin/env python3
"""db-benchmark groupby questions in pandas and dask.dataframe (Debian's
packages), on the CSV that groupby_bench generated. Prints JSON lines like
groupby_bench; `answer` is the same checksum (rows plus the sums of the
result's numeric columns)."""
import argparse
import json
import time

import numpy as np
import pandas as pd


def checksum(df):
    s = float(len(df))
    for c in df.columns:
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            s += float(np.nansum(df[c].to_numpy(dtype="float64")))
    return s


def emit(case, engine, secs, answer, n):
    print(json.dumps({"suite": "groupby", "case": case, "engine": engine, "seconds": secs, "answer": answer, "n": n}),
          flush=True)


# q8: db-benchmark's forms (pandas sorts then takes heads; dask applies nlargest).
def TOP2(x):
    if isinstance(x, pd.DataFrame):
        return x[["id6", "v3"]].sort_values("v3", ascending=False).groupby("id6", sort=False).head(2)
    return x[["id6", "v3"]].groupby("id6").apply(lambda d: d.nlargest(2, "v3"), meta={"id6": "int64", "v3": "float64"})


# groupby.apply's output description, which dask needs (pandas ignores it).
APPLY_META = {}

# q7 keeps the key and the range (dask holds the key in the index).
KEEP7 = lambda x: ["id3", "range_v1_v2"] if isinstance(x, pd.DataFrame) else ["range_v1_v2"]

DTYPES = {"id1": "category", "id2": "category", "id3": "category"}


def questions(x, gb, finish, holistic=None):
    """The questions over frame x; gb(x, keys) groups as the engine wants;
    holistic: extra agg() arguments for median (dask needs a shuffle)."""
    holistic = holistic or {}
    return [
        ("q1_sum_v1_by_id1", lambda: finish(gb(x, ["id1"]).agg({"v1": "sum"}))),
        ("q2_sum_v1_by_id1_id2", lambda: finish(gb(x, ["id1", "id2"]).agg({"v1": "sum"}))),
        ("q3_sum_v1_mean_v3_by_id3", lambda: finish(gb(x, ["id3"]).agg({"v1": "sum", "v3": "mean"}))),
        ("q4_mean_v1_v2_v3_by_id4", lambda: finish(gb(x, ["id4"]).agg({"v1": "mean", "v2": "mean", "v3": "mean"}))),
        ("q5_sum_v1_v2_v3_by_id6", lambda: finish(gb(x, ["id6"]).agg({"v1": "sum", "v2": "sum", "v3": "sum"}))),
        ("q6_median_sd_v3_by_id4_id5",
         lambda: finish(gb(x, ["id4", "id5"]).agg({"v3": ["median", "std"]}, **holistic))),
        ("q7_max_v1_minus_min_v2_by_id3",
         lambda: finish(gb(x, ["id3"]).agg({"v1": "max", "v2": "min"}).assign(
             range_v1_v2=lambda d: d["v1"] - d["v2"])[KEEP7(x)])),
        ("q8_largest_two_v3_by_id6", lambda: finish(TOP2(x))),
        ("q9_regression_v1_v2_by_id2_id4",
         lambda: finish(gb(x[["id2", "id4", "v1", "v2"]], ["id2", "id4"]).apply(
             lambda d: pd.Series({"r2": d["v1"].corr(d["v2"]) ** 2}), **APPLY_META))),
        ("q10_sum_v3_count_by_id1_id6",
         lambda: finish(gb(x, ["id1", "id2", "id3", "id4", "id5", "id6"]).agg({"v3": "sum", "v1": "count"}))),
    ]


K = 100


def join_tables(n, k=K):
    """db-benchmark's small, medium and big right sides, as groupby_bench
    makes them (big: every key k in 1..N but the multiples of 10)."""
    small = pd.DataFrame({"id4": np.arange(1, k + 1, dtype="int64"), "w": np.arange(1, k + 1) * 0.5})
    ids = np.arange(1, max(1, n // k) + 1, dtype="int64")
    medium = pd.DataFrame({"id6": ids, "id3": ["id%010d" % i for i in ids], "w": (ids % 7) + 0.25})
    keys = np.arange(1, max(1, n // k) * k + 1, dtype="int64")
    keys = keys[keys % 10 != 0]
    big = pd.DataFrame({"k": keys, "w": (keys % 13) + 0.5})
    return small, medium, big


def join_questions(x, small, medium, big, merge, finish):
    return [
        ("j1_small_inner_on_int", lambda: finish(merge(x, small, "inner", "id4"))),
        ("j2_medium_inner_on_int", lambda: finish(merge(x, medium[["id6", "w"]], "inner", "id6"))),
        ("j3_medium_left_on_int", lambda: finish(merge(x, medium[["id6", "w"]], "left", "id6"))),
        ("j4_medium_inner_on_factor", lambda: finish(merge(x, medium[["id3", "w"]], "inner", "id3"))),
        ("j5_big_inner_on_int",
         lambda: finish(merge(x.assign(k=(x["id6"] - 1) * K + x["id4"]), big, "inner", "k"))),
    ]


# Not run for dask: groupby.apply over 100,000 groups runs for minutes there.
SKIP = {"dask": {"q8_largest_two_v3_by_id6"}}


def run(engine, qs, n, repeat, only):
    for name, q in qs:
        if only and not name.startswith(only + "_") and name != only:
            continue
        if name in SKIP.get(engine, ()):
            continue
        times, ans = [], None
        for r in range(repeat + 1):  # the first run is the warm-up, not timed
            t = time.perf_counter()
            out = q()
            secs = time.perf_counter() - t
            ans = checksum(out)
            if r:
                times.append(secs)
        emit(name, engine, sorted(times)[len(times) // 2], ans, n)


def timed_load(load, repeat):
    """The load, as every question: the median of `repeat` runs after an
    untimed one, each dropping the last run's frame first. Returns the
    median and the last frame."""
    x, times = None, []
    for r in range(-1, repeat):
        x = None
        t = time.perf_counter()
        x = load()
        if r >= 0:
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], x


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--csv", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--engines", default="pandas,dask")
    p.add_argument("--question", default="")
    a = p.parse_args()
    engines = a.engines.split(",")
    if "pandas" in engines:
        secs, x = timed_load(lambda: pd.read_csv(a.csv, dtype=DTYPES), a.repeat)
        emit("load_csv", "pandas", secs, float(len(x)), len(x))
        gb = lambda d, keys: d.groupby(keys, as_index=False, sort=False, observed=True)
        run("pandas", questions(x, gb, lambda r: r), len(x), a.repeat, a.question)
        small, medium, big = join_tables(len(x))
        pmerge = lambda l, r, how, on: l.merge(r, how=how, on=on)
        run("pandas", join_questions(x, small, medium, big, pmerge, lambda r: r), len(x), a.repeat, a.question)
        del big
        del x
    if "dask" in engines:
        import dask
        import dask.dataframe as dd
        dask.config.set(scheduler="threads", num_workers=a.threads)
        def load():
            d = dd.read_csv(a.csv, dtype=DTYPES, blocksize=64 << 20).persist()
            return d, int(d.shape[0].compute())
        secs, (x, n) = timed_load(load, a.repeat)
        emit("load_csv", "dask", secs, float(n), n)
        gb = lambda d, keys: d.groupby(keys, sort=False, observed=True)
        APPLY_META["meta"] = {"r2": "float64"}
        run("dask", questions(x, gb, _dask_finish, {"shuffle": "tasks"}), n, a.repeat, a.question)
        small, medium, big = join_tables(n)
        dsmall, dmedium = dd.from_pandas(small, npartitions=1), dd.from_pandas(medium, npartitions=1)
        dbig = dd.from_pandas(big, npartitions=x.npartitions).persist()
        dmerge = lambda l, r, how, on: l.merge(r, how=how, on=on)
        run("dask", join_questions(x, dsmall, dmedium, dbig, dmerge, lambda r: r.compute()), n, a.repeat, a.question)


def _dask_finish(r):
    out = r.compute()
    if list(out.columns) == ["id6", "v3"]:  # q8: the rows themselves; drop the (group, row) index
        return out.reset_index(drop=True)
    # Keys come back as the index: make them columns, as the others have.
    if not isinstance(out.index, pd.RangeIndex):
        out = out.reset_index()
    return out


if __name__ == "__main__":
    main()
