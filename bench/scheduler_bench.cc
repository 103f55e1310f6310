// scheduler_bench — per-task overhead of the local scheduler.
//
// The graph: N independent no-op leaves plus a tree reduction of fan-in 8
// (the shape bench/dask_scheduler.py builds for Dask). Prints one JSON line
// per measurement: graph construction, schedule+run (validation, ordering,
// optimization and execution), and the process's peak RSS per task.
//
//   scheduler_bench --tasks 1000000 --repeat 5 [--threads 2]
#include <skein/skein.h>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;

skein::Key BuildGraph(skein::Graph* g, int64_t leaves, const skein::OpPtr& noop, const skein::OpPtr& count) {
  g->Reserve(static_cast<size_t>(leaves + leaves / 7 + 8));
  skein::Key leaf("leaf");
  std::vector<skein::Key> keys;
  keys.reserve(static_cast<size_t>(leaves));
  for (int64_t i = 0; i < leaves; ++i) {
    keys.push_back(leaf.At({i}));
    g->Add(keys.back(), skein::Task::Call(noop, {}));
  }
  return skein::AddTreeReduction(g, keys, count, "reduce", 8);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

long PeakRssKiB() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}
}  // namespace

int main(int argc, char** argv) {
  int64_t leaves = 1'000'000;
  int repeat = 5, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tasks")) leaves = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  // Leaves return 1; each reduction counts its inputs' sum, so the root must
  // equal the number of leaves (the answer check).
  skein::OpPtr noop = skein::RegisterOp("bench.noop", [] { return int64_t{1}; });
  skein::OpPtr count = skein::RegisterOp("bench.count", [](std::span<const skein::Value> args, const skein::OpContext&) {
    int64_t total = 0;
    for (const skein::Value& v : args[0].get<skein::ValueList>()) total += v.as<int64_t>();
    return skein::Value(total);
  });
  skein::LocalScheduler scheduler(threads);

  long rss_before = PeakRssKiB();
  auto t0 = Clock::now();
  skein::Graph g;
  skein::Key root = BuildGraph(&g, leaves, noop, count);
  double build = std::chrono::duration<double>(Clock::now() - t0).count();

  std::vector<double> runs;
  for (int r = 0; r < repeat + 1; ++r) {  // first run is the warm-up
    auto s = Clock::now();
    std::vector<skein::Value> out = scheduler.Get(g, {root});
    double secs = std::chrono::duration<double>(Clock::now() - s).count();
    if (out[0].as<int64_t>() != leaves) {
      std::fprintf(stderr, "wrong answer: %s, expected %lld\n", out[0].ToString().c_str(), static_cast<long long>(leaves));
      return 1;
    }
    if (r > 0) runs.push_back(secs);
  }
  double run = Median(runs);
  long rss = PeakRssKiB() - rss_before;
  size_t n = g.size();
  std::printf("{\"suite\":\"scheduler\",\"case\":\"noop_tree\",\"engine\":\"skein\",\"tasks\":%zu,\"threads\":%d,"
              "\"seconds\":%.6f,\"us_per_task\":%.4f,\"build_seconds\":%.6f,\"build_us_per_task\":%.4f,"
              "\"peak_rss_bytes_per_task\":%.1f}\n",
              n, scheduler.num_threads(), run, run / n * 1e6, build, build / n * 1e6, rss * 1024.0 / n);
  return 0;
}
