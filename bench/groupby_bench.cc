// db-benchmark's groupby task for skein: generates the table (the column
// shapes of G1_1e7_1e2_0_0: string keys id1/id2 with K values and id3 with
// N/K, integer keys id4/id5 (K) and id6 (N/K), small-integer values v1
// (1-5) and v2 (1-15), float v3 in [0, 100) with 6 decimals), loads it from
// CSV, and times the questions on the loaded frame. Prints one JSON line per
// measurement; `answer` is a checksum (rows plus the sums of the result's
// numeric columns) that groupby_peers.py computes the same way.
//
//   groupby_bench --generate data.csv --rows 10000000
//   groupby_bench --csv data.csv --threads 2 [--question q1]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "skein/skein.h"

#include "bench_util.h"

namespace {

using skein::bench::Clock;
using skein::bench::Seconds;


void Generate(const std::string& path, int64_t n, int64_t k) {
  std::mt19937_64 rng(108);
  std::string out = "id1,id2,id3,id4,id5,id6,v1,v2,v3\n";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path);
  char line[160];
  const int64_t nk = std::max<int64_t>(1, n / k);
  for (int64_t i = 0; i < n; ++i) {
    auto r = [&](int64_t m) { return static_cast<long long>(rng() % static_cast<uint64_t>(m)) + 1; };
    const long long id1 = r(k), id2 = r(k), id3 = r(nk), id4 = r(k), id5 = r(k), id6 = r(nk), v1 = r(5), v2 = r(15);
    const double v3 = static_cast<double>(rng() % 100000000) / 1e6;
    const int len = std::snprintf(line, sizeof line, "id%03lld,id%03lld,id%010lld,%lld,%lld,%lld,%lld,%lld,%.6f\n", id1,
                                  id2, id3, id4, id5, id6, v1, v2, v3);
    out.append(line, static_cast<size_t>(len));
    if (out.size() > (8 << 20)) {
      std::fwrite(out.data(), 1, out.size(), f);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), f);
  std::fclose(f);
}

double Checksum(const skein::Table& t) {
  double s = static_cast<double>(t.num_rows());
  for (const skein::Column& c : t.columns()) {
    if (!skein::IsNumeric(c.type())) continue;
    for (int64_t i = 0; i < c.length(); ++i) {
      const double v = c.NumberAt(i);
      if (!std::isnan(v)) s += v;
    }
  }
  return s;
}

// One result line; `cpu` (the process's user + system seconds, median per
// repeat) when measured: on these shared VMs it moves less than wall time
// (time stolen by the host is not in it), so A/B comparisons read it too.
void Emit(const char* q, const char* engine, double secs, double answer, int64_t rows, double cpu = -1) {
  char extra[64] = "";
  if (cpu >= 0) std::snprintf(extra, sizeof extra, ",\"cpu_seconds\":%.6f", cpu);
  std::printf("{\"suite\":\"groupby\",\"case\":\"%s\",\"engine\":\"%s\",\"seconds\":%.6f,\"answer\":%.10g,\"n\":%lld%s}\n", q,
              engine, secs, answer, static_cast<long long>(rows), extra);
  std::fflush(stdout);
}

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

using skein::bench::Median;

}  // namespace

int main(int argc, char** argv) {
  std::string csv, generate, only, parquet;
  int64_t rows = 10000000, k = 100;
  int threads = 2, repeat = 3, workers = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--csv")) csv = argv[i + 1];
    else if (!std::strcmp(argv[i], "--generate")) generate = argv[i + 1];
    else if (!std::strcmp(argv[i], "--rows")) rows = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--k")) k = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--question")) only = argv[i + 1];
    else if (!std::strcmp(argv[i], "--parquet")) parquet = argv[i + 1];
    else if (!std::strcmp(argv[i], "--workers")) workers = std::atoi(argv[i + 1]);
  }
  if (!generate.empty()) {
    auto t = Clock::now();
    Generate(generate, rows, k);
    std::fprintf(stderr, "generated %s (%lld rows) in %.1f s\n", generate.c_str(), static_cast<long long>(rows), Seconds(t));
    return 0;
  }
  skein::config::Set("num-workers", static_cast<int64_t>(threads));
  // --workers N: the same program on a LocalCluster of N worker processes
  // sharing `threads` (the Client becomes the default: every compute() and
  // persist() below runs there).
  std::unique_ptr<skein::LocalCluster> cluster;
  std::unique_ptr<skein::Client> client;
  const char* engine = "skein";
  if (workers > 0) {
    skein::LocalClusterOptions co;
    co.n_workers = workers;
    co.threads_per_worker = std::max(1, threads / workers);
    cluster = std::make_unique<skein::LocalCluster>(co);
    client = std::make_unique<skein::Client>(*cluster);
    engine = "skein-cluster";
  }
  using skein::Agg;
  using skein::col;
  using skein::TypeId;
  skein::CsvOptions opt;
  opt.dtype = {{"id1", TypeId::kCategory}, {"id2", TypeId::kCategory}, {"id3", TypeId::kCategory}};
  // Load: CSV to an in-memory frame (db-benchmark times questions on loaded
  // data). Like a question, the median of `repeat` loads after an untimed
  // one (BENCHMARKS.md): a single load measured how warm the VM's memory
  // happened to be (on one VM a load after another engine's process spent
  // 2.5-3 s zeroing fresh huge pages, the next load 0.3 s). Each load
  // drops the last one's partitions first.
  skein::DataFrame x;
  std::vector<double> loads;
  for (int r = -1; r < repeat; ++r) {
    x = skein::DataFrame();
    auto t0 = Clock::now();
    x = skein::read_csv(csv, opt).persist();
    // One set of categories for every partition, as pandas' read_csv gives
    // its one frame (Dask: ddf.categorize()); timed as part of the load.
    x = x.categorize({"id1", "id2", "id3"}).persist();
    // On a cluster, the partitions land where their reading tasks ran, which
    // the faster worker of the moment decides (5:3 of 8 was common): even
    // them out, as a Dask user would with client.rebalance(). Timed as part
    // of the load.
    if (client) client->rebalance();
    if (r >= 0) loads.push_back(Seconds(t0));
  }
  const double load = Median(loads);
  int64_t n = 0;
  {
    skein::Table counts = x.groupby({"v1"}).size().compute();
    for (int64_t i = 0; i < counts.num_rows(); ++i) n += counts.column("size").data<int64_t>()[i];
  }
  Emit("load_csv", engine, load, static_cast<double>(n), n);
  if (!parquet.empty()) {
    // The same table as Parquet (skein writes it once; row groups of 1M
    // rows, snappy), then loaded into memory as from CSV.
    if (FILE* f = std::fopen(parquet.c_str(), "rb")) std::fclose(f);
    else skein::WriteParquet(parquet, x.compute());
    auto tp = Clock::now();
    skein::DataFrame xp = skein::read_parquet(parquet).persist();
    const double secs = Seconds(tp);
    const int64_t np = xp["v1"].count().compute();
    Emit("load_parquet", engine, secs, static_cast<double>(np), np);
  }

  skein::GroupByOptions unsorted;
  unsorted.sort = false;
  skein::GroupByOptions many = unsorted;  // ~N/K or more groups: shuffle the partials
  many.split_out = std::max(2, threads * 2);
  struct Q {
    const char* name;
    std::function<skein::Table()> run;
  };
  std::vector<Q> qs = {
      {"q1_sum_v1_by_id1", [&] { return x.groupby({"id1"}, unsorted).agg({{"v1", "sum"}}).compute(); }},
      {"q2_sum_v1_by_id1_id2", [&] { return x.groupby({"id1", "id2"}, unsorted).agg({{"v1", "sum"}}).compute(); }},
      {"q3_sum_v1_mean_v3_by_id3",
       [&] { return x.groupby({"id3"}, many).agg({{"v1", "sum"}, {"v3", "mean"}}).compute(); }},
      {"q4_mean_v1_v2_v3_by_id4",
       [&] { return x.groupby({"id4"}, unsorted).agg({{"v1", "mean"}, {"v2", "mean"}, {"v3", "mean"}}).compute(); }},
      {"q5_sum_v1_v2_v3_by_id6",
       [&] { return x.groupby({"id6"}, many).agg({{"v1", "sum"}, {"v2", "sum"}, {"v3", "sum"}}).compute(); }},
      {"q6_median_sd_v3_by_id4_id5",
       [&] { return x.groupby({"id4", "id5"}, many).agg({{"v3", "median"}, {"v3", "std"}}).compute(); }},  // shuffled, as Dask needs
      {"q7_max_v1_minus_min_v2_by_id3",
       [&] {
         return x.groupby({"id3"}, many)
             .agg({{"v1", "max", "max_v1"}, {"v2", "min", "min_v2"}})
             .assign("range_v1_v2", col("max_v1") - col("min_v2"))[{"id3", "range_v1_v2"}]
             .compute();
       }},
      {"q8_largest_two_v3_by_id6",
       [&] { return x[{"id6", "v3"}].groupby({"id6"}, unsorted).nlargest(2, "v3").compute(); }},
      {"q9_regression_v1_v2_by_id2_id4",
       [&] {
         return x.groupby({"id2", "id4"}, unsorted)
             .agg({skein::Agg::Corr("v1", "v2", "r2")})
             .assign("r2", col("r2") * col("r2"))
             .compute();
       }},
      {"q10_sum_v3_count_by_id1_id6",
       [&] {
         skein::GroupByOptions o = many;
         o.split_out = std::max(4, threads * 4);
         return x.groupby({"id1", "id2", "id3", "id4", "id5", "id6"}, o)
             .agg({{"v3", "sum"}, {"v1", "count", "count"}})
             .compute();
       }},
  };
  // Join questions (db-benchmark's join task, its small and medium right
  // sides): small = 100 rows keyed by id4, medium = 100,000 rows keyed by
  // id6 (int) and id3 (its string form). Same tables in every engine.
  std::vector<int64_t> sk, mk;
  std::vector<double> sv, mv;
  std::vector<std::optional<std::string>> ms;
  for (int64_t i = 1; i <= k; ++i) sk.push_back(i), sv.push_back(static_cast<double>(i) * 0.5);
  const int64_t nk = std::max<int64_t>(1, rows / k);
  char label[32];
  for (int64_t i = 1; i <= nk; ++i) {
    mk.push_back(i);
    mv.push_back(static_cast<double>(i % 7) + 0.25);
    std::snprintf(label, sizeof label, "id%010lld", static_cast<long long>(i));
    ms.emplace_back(label);
  }
  skein::DataFrame small = skein::from_table(
      skein::Table({{"id4", skein::Column::FromVector<int64_t>(sk)}, {"w", skein::Column::FromVector<double>(sv)}}));
  skein::DataFrame medium = skein::from_table(skein::Table({{"id6", skein::Column::FromVector<int64_t>(mk)},
                                                            {"id3", skein::Column::FromStrings(ms)},
                                                            {"w", skein::Column::FromVector<double>(mv)}}));
  auto on = [](std::string how, std::vector<std::string> keys) {
    skein::MergeOptions o;
    o.how = std::move(how);
    o.on = std::move(keys);
    return o;
  };
  qs.push_back({"j1_small_inner_on_int", [&] { return x.merge(small, on("inner", {"id4"})).compute(); }});
  qs.push_back({"j2_medium_inner_on_int",
                [&] { return x.merge(medium[{"id6", "w"}], on("inner", {"id6"})).compute(); }});
  qs.push_back({"j3_medium_left_on_int",
                [&] { return x.merge(medium[{"id6", "w"}], on("left", {"id6"})).compute(); }});
  qs.push_back({"j4_medium_inner_on_factor",
                [&] { return x.merge(medium[{"id3", "w"}], on("inner", {"id3"})).compute(); }});
  // j5, db-benchmark's big-big join: a right side as long as x. The key
  // k = (id6 - 1) * K + id4 takes the values 1..N on x (about one row
  // each); big holds every k in 1..N but the multiples of 10 (so 9 in 10 of
  // x's rows match), in as many partitions as x, held in memory like x.
  std::vector<int64_t> bk;
  std::vector<double> bv;
  bk.reserve(static_cast<size_t>(rows));
  bv.reserve(static_cast<size_t>(rows));
  for (int64_t i = 1; i <= nk * k; ++i) {
    if (i % 10 == 0) continue;
    bk.push_back(i);
    bv.push_back(static_cast<double>(i % 13) + 0.5);
  }
  skein::DataFrame big = skein::from_table(skein::Table({{"k", skein::Column::FromVector<int64_t>(bk)},
                                                         {"w", skein::Column::FromVector<double>(bv)}}),
                                           x.npartitions())
                             .persist();
  bk = {};
  bv = {};
  qs.push_back({"j5_big_inner_on_int", [&] {
                  return x.assign("k", (col("id6") - 1) * k + col("id4")).merge(big, on("inner", {"k"})).compute();
                }});
  for (const Q& q : qs) {
    if (!only.empty() && only != q.name && std::string(q.name).rfind(only + "_", 0) != 0) continue;
    std::vector<double> times, cpu;
    double answer = 0;
    for (int r = -1; r < repeat; ++r) {  // run -1: the warm-up (BENCHMARKS.md), not timed
      const double c0 = ProcessCpuSeconds();
      auto t = Clock::now();
      skein::Table out = q.run();
      const double secs = Seconds(t), used = ProcessCpuSeconds() - c0;
      answer = Checksum(out);
      if (r < 0) continue;
      times.push_back(secs);
      cpu.push_back(used);
    }
    Emit(q.name, engine, Median(times), answer, n, workers > 0 ? -1 : Median(cpu));
  }
  return 0;
}
