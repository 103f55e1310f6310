// distributed_bench — the distributed scheduler against its targets.
//
//   throughput: N trivial tasks (no-op leaves plus a fan-in-8 tree
//     reduction, the shape of scheduler_bench and bench/dask_distributed.py)
//     through a scheduler with 2 worker processes of 1 thread each.
//   transfer: a value of --mib MiB made on one worker and read by a task on
//     the other (placement forced with resources), over loopback.
//
// Prints one JSON line per measurement (median of --repeat runs after a
// warm-up). The operations come from a library uploaded to the workers.
//
//   distributed_bench --case throughput --tasks 100000 --repeat 3
//   distributed_bench --case transfer --mib 1024 --repeat 3
#include <skein/skein.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"

namespace {

using skein::bench::Clock;
using skein::bench::Seconds;

using skein::bench::Median;

// `run` tags the keys: a repeat submitted while the previous result is
// still held (its release not sent yet) would reuse it, not recompute.
skein::Key BuildGraph(skein::Graph* g, int64_t leaves, int run) {
  skein::Key leaf("leaf-r" + std::to_string(run));
  std::vector<skein::Key> keys;
  keys.reserve(static_cast<size_t>(leaves));
  for (int64_t i = 0; i < leaves; ++i) {
    keys.push_back(leaf.At({i}));
    g->Add(keys.back(), skein::Task::Call("bench.noop", {}));
  }
  return skein::AddTreeReduction(g, keys, skein::OpRegistry::Global().Lookup("bench.count"),
                                 "reduce-r" + std::to_string(run), 8);
}

int Throughput(int64_t leaves, int repeat) {
  skein::LocalCluster cluster({.n_workers = 2, .threads_per_worker = 1, .http_port = -1});
  skein::Client client(cluster);
  client.upload_file(DISTRIBUTED_OPS_LIBRARY);
  // No fusion: every task crosses the scheduler, as in Dask's measurement.
  skein::ComputeOptions opts;
  opts.optimize = skein::OptimizeOptions{.fuse = false, .inline_cheap = false};
  std::vector<double> times;
  double first = 0;
  size_t tasks = 0;
  for (int r = 0; r <= repeat; ++r) {
    skein::Graph g;
    skein::Key root = BuildGraph(&g, leaves, r);
    tasks = g.size();
    auto t = Clock::now();
    int64_t got = client.get(g, {root}, opts)[0].as<int64_t>();
    double s = Seconds(t);
    if (got != leaves) {
      std::fprintf(stderr, "wrong answer %lld, expected %lld\n", static_cast<long long>(got),
                   static_cast<long long>(leaves));
      return 1;
    }
    if (r) times.push_back(s);
    else first = s;
  }
  double secs = Median(times);
  // first_seconds: the warm-up run, on a scheduler that has not seen these
  // kinds of task finish yet.
  std::printf("{\"suite\":\"distributed\",\"case\":\"throughput\",\"engine\":\"skein\",\"tasks\":%zu,"
              "\"seconds\":%.6f,\"tasks_per_second\":%.0f,\"first_seconds\":%.6f,\"answer\":%lld}\n",
              tasks, secs, static_cast<double>(tasks) / secs, first, static_cast<long long>(leaves));
  return 0;
}

int Transfer(int64_t mib, int repeat) {
  skein::LocalCluster cluster({.n_workers = 2, .threads_per_worker = 1, .http_port = -1,
                               .worker_resources = {{{"A", 1}}, {{"B", 1}}}});
  skein::Client client(cluster);
  client.upload_file(DISTRIBUTED_OPS_LIBRARY);
  int64_t n = mib << 20;
  std::vector<double> times;
  for (int r = 0; r <= repeat; ++r) {
    skein::Future made = client.submit(skein::SubmitOptions{.resources = {{"A", 1}}}, "bench.bytes", n);
    made.exception();  // wait until it exists on worker A
    auto t = Clock::now();
    skein::Future len = client.submit(skein::SubmitOptions{.resources = {{"B", 1}}}, "bench.len", made);
    int64_t got = len.result().as<int64_t>();
    double s = Seconds(t);
    if (got != n) {
      std::fprintf(stderr, "wrong length %lld\n", static_cast<long long>(got));
      return 1;
    }
    if (r) times.push_back(s);
  }
  double secs = Median(times);
  std::printf("{\"suite\":\"distributed\",\"case\":\"transfer\",\"engine\":\"skein\",\"n\":%lld,"
              "\"seconds\":%.6f,\"gb_per_s\":%.3f,\"answer\":%lld}\n",
              static_cast<long long>(mib), secs, static_cast<double>(n) / secs / 1e9, static_cast<long long>(n));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "throughput";
  int64_t tasks = 100000, mib = 1024;
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--case")) which = argv[i + 1];
    else if (!std::strcmp(argv[i], "--tasks")) tasks = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--mib")) mib = std::stoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::stoi(argv[i + 1]);
  }
  try {
    if (which == "throughput") return Throughput(tasks, repeat);
    if (which == "transfer") return Transfer(mib, repeat);
    std::fprintf(stderr, "unknown case %s\n", which.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distributed_bench: %s\n", e.what());
    return 1;
  }
}
