// bigframe_bench — the dataframe larger-than-memory case at full scale: a
// Parquet dataset of --gib GiB (in memory) is grouped by a key with ~2M
// values (a hash shuffle) and joined with a 2M-row table, with the memory
// limit at a third of the data. Each phase runs in its own process
// (--phase) so its peak resident memory (getrusage) is its own. Prints
// JSON lines with seconds, peak_rss_mib, the limit, spilled bytes, and the
// answer checked against totals the generator recorded.
//
//   bigframe_bench --phase generate|groupby|join --gib 3 --dir /var/tmp/skein-bigframe
#include <skein/skein.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "bench_util.h"

namespace {

using skein::bench::Clock;
using skein::bench::PeakRssMiB;
using skein::bench::Seconds;



constexpr int64_t kKeys = 2000000;
constexpr int64_t kRowsPerFile = 4000000;

std::string KeyName(int64_t k) {
  char b[16];
  std::snprintf(b, sizeof b, "key%07lld", static_cast<long long>(k));
  return b;
}

// Data files under dir/data, the keys' table in dir/right.parquet, and the
// totals a correct run must reproduce in dir/expected.
void Generate(const std::string& dir, double gib) {
  namespace fs = std::filesystem;
  fs::remove_all(dir);
  fs::create_directories(dir + "/data");
  std::mt19937_64 rng(42);
  // ~38 bytes per row in memory: k (10 bytes + offset), g, v, x.
  const auto rows = static_cast<int64_t>(gib * 1073741824.0 / 38);
  int64_t sum_v = 0, sum_w = 0;
  for (int64_t at = 0, f = 0; at < rows; at += kRowsPerFile, ++f) {
    const int64_t n = std::min(kRowsPerFile, rows - at);
    skein::ColumnBuilder k(skein::TypeId::kString, n), g(skein::TypeId::kInt64, n), v(skein::TypeId::kInt64, n),
        x(skein::TypeId::kFloat64, n);
    for (int64_t i = 0; i < n; ++i) {
      const auto key = static_cast<int64_t>(rng() % kKeys);
      const auto val = static_cast<int64_t>(rng() % 1000);
      k.AppendString(KeyName(key));
      g.Append<int64_t>(key % 50);
      v.Append<int64_t>(val);
      x.Append<double>(static_cast<double>(rng() % 100000) / 100);
      sum_v += val;
      sum_w += key % 100;
    }
    skein::WriteParquet(dir + "/data/part." + std::to_string(f) + ".parquet",
                        skein::Table({{"k", k.Finish()}, {"g", g.Finish()}, {"v", v.Finish()}, {"x", x.Finish()}}));
  }
  skein::ColumnBuilder k(skein::TypeId::kString, kKeys), w(skein::TypeId::kInt64, kKeys);
  for (int64_t key = 0; key < kKeys; ++key) {
    k.AppendString(KeyName(key));
    w.Append<int64_t>(key % 100);
  }
  skein::WriteParquet(dir + "/right.parquet", skein::Table({{"k", k.Finish()}, {"w", w.Finish()}}));
  std::ofstream(dir + "/expected") << rows << " " << sum_v << " " << sum_w << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  double gib = 3;
  int threads = 2;
  std::string phase = "generate", dir = "/var/tmp/skein-bigframe";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--gib")) gib = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--phase")) phase = argv[i + 1];
    else if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
  }
  skein::config::Set("num-workers", static_cast<int64_t>(threads));
  auto t0 = Clock::now();
  if (phase == "generate") {
    Generate(dir, gib);
    std::printf("{\"suite\":\"bigframe\",\"case\":\"generate\",\"engine\":\"skein\",\"gib\":%g,\"seconds\":%.3f,\"peak_rss_mib\":%.0f}\n",
                gib, Seconds(t0), PeakRssMiB());
    return 0;
  }
  int64_t rows = 0, sum_v = 0, sum_w = 0;
  std::ifstream(dir + "/expected") >> rows >> sum_v >> sum_w;
  if (rows == 0) {
    std::fprintf(stderr, "bigframe_bench: run --phase generate first\n");
    return 2;
  }
  skein::DataFrame data = skein::read_parquet(dir + "/data");
  skein::ComputeOptions opt;
  // A third of the data's size in memory (38 bytes per row).
  opt.memory_limit = static_cast<int64_t>(static_cast<double>(rows) * 38 / 3);
  opt.spill_directory = dir + "/spill";
  std::filesystem::create_directories(opt.spill_directory);
  skein::GroupByOptions go;
  go.sort = false;
  go.split_out = 16;
  skein::DataFrame q;
  double want = 0;
  if (phase == "groupby") {
    q = data.groupby({"k"}, go).agg({{"v", "sum"}, {"x", "mean"}, {"g", "max"}})[{"v"}].agg({{"v", "sum"}});
    want = static_cast<double>(sum_v);
  } else {
    skein::MergeOptions mo;
    mo.on = {"k"};
    mo.npartitions = 16;
    q = data[{"k", "v"}].merge(skein::read_parquet(dir + "/right.parquet"), mo).agg({{"w", "sum"}});
    want = static_cast<double>(sum_w);
  }
  auto graph = std::make_shared<const skein::Graph>(q.graph());
  auto c = skein::LocalScheduler::Default().Submit(graph, q.keys(), opt);
  const skein::Table r = c->Results()[0].get<skein::Table>();
  const double got = r.column(0).NumberAt(0);
  const auto stats = c->stats();
  std::printf("{\"suite\":\"bigframe\",\"case\":\"%s\",\"engine\":\"skein\",\"gib\":%g,\"seconds\":%.3f,\"peak_rss_mib\":%.0f,"
              "\"limit_mib\":%.0f,\"data_mib\":%.0f,\"spilled_mib\":%.0f,\"peak_held_mib\":%.0f,\"answer\":%.0f,\"ok\":%s}\n",
              phase.c_str(), gib, Seconds(t0), PeakRssMiB(), static_cast<double>(opt.memory_limit) / 1048576.0,
              static_cast<double>(rows) * 38 / 1048576.0, static_cast<double>(stats.spilled_bytes) / 1048576.0,
              static_cast<double>(stats.peak_memory) / 1048576.0, got, got == want ? "true" : "false");
  return got == want ? 0 : 1;
}
