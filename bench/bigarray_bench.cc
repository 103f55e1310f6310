// bigarray_bench — the larger-than-memory case at full scale: the sum of a
// --gib GiB float64 array, generated chunk by chunk (uniform random, "auto"
// chunks of config array.chunk-size), then written to a .npy file block by
// block and summed again reading the file block by block. Each phase runs in
// its own process (--phase) so that its peak resident memory (getrusage) is
// its own. Prints JSON lines with seconds, peak_rss_mib, the chunk size and
// the answer; bench/bigarray_peers.py does the same with dask.array.
//
//   bigarray_bench --gib 10 --phase generate|store|read --file /var/tmp/x.npy
#include <skein/skein.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "bench_util.h"

namespace {

using skein::bench::PeakRssMiB;


}  // namespace

int main(int argc, char** argv) {
  double gib = 10;
  int threads = 2;
  std::string phase = "generate", file = "/var/tmp/skein-bigarray.npy";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--gib")) gib = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--phase")) phase = argv[i + 1];
    else if (!std::strcmp(argv[i], "--file")) file = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  // Rows of 32768 float64 (256 KiB), as many as make `gib`.
  const int64_t cols = 32768;
  const auto rows = static_cast<int64_t>(gib * 1024 * 1024 * 1024 / (cols * 8.0));
  skein::config::ScopedSet sched({{"num-workers", skein::Value(int64_t{threads})}});
  skein::Array x = skein::random::default_rng(2026).random({rows, cols});
  auto t = skein::bench::Clock::now();
  double answer = 0;
  if (phase == "generate") {
    answer = x.sum().compute().item<double>(0);
  } else if (phase == "store") {
    skein::store({x}, {skein::NpyTarget(file)});
  } else if (phase == "read") {
    x = skein::from_npy(file);
    answer = x.sum().compute().item<double>(0);
  } else {
    std::fprintf(stderr, "unknown --phase %s (generate, store, read)\n", phase.c_str());
    return 2;
  }
  const double secs = skein::bench::Seconds(t);
  const double chunk_mib = static_cast<double>(x.chunks()[0][0] * x.chunks()[1][0] * 8) / (1024.0 * 1024.0);
  std::printf("{\"suite\":\"bigarray\",\"case\":\"%s\",\"engine\":\"skein\",\"seconds\":%.3f,\"gib\":%.2f,"
              "\"peak_rss_mib\":%.0f,\"chunk_mib\":%.1f,\"chunks\":%lld,\"sum\":%.6g}\n",
              phase.c_str(), secs, gib, PeakRssMiB(), chunk_mib,
              static_cast<long long>(x.chunks()[0].size() * x.chunks()[1].size()), answer);
  return 0;
}
