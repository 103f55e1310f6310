// array_bench — skein arrays on the cases, with the machine's memory
// bandwidth and OpenBLAS measured in the same run.
//
// x is an n x n float64 array in c x c blocks, x[i, j] = ((i * 7919 + j *
// 104729) % 1000) / 1000 - 0.5, held in memory (persisted) before timing;
// bench/array_peers.py builds the same x for NumPy and dask.array, so the
// answers can be compared. Cases: (x + x.T).sum(axis=0), x.mean(), x.std(),
// sqrt(x*2+1).max(), and a @ b for two m x m matrices. Prints one JSON line
// per measurement (median of --repeat runs after a warm-up).
//
//   array_bench --n 10000 --chunk 1000 --m 5000 --repeat 5 --threads 2
#include <skein/skein.h>
#include <skein/core/memory_pool.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace {

using skein::bench::Clock;
using skein::bench::Seconds;


using skein::bench::Median;

double Element(int64_t i, int64_t j) { return static_cast<double>((i * 7919 + j * 104729) % 1000) / 1000.0 - 0.5; }

skein::Array Pattern(int64_t n, int64_t chunk) {
  return skein::from_function(
      [](const skein::BlockInfo& b) {
        skein::NDArray out = skein::NDArray::Empty(skein::DType::kFloat64, b.shape);
        double* o = out.mutable_data<double>();
        for (int64_t i = 0; i < b.shape[0]; ++i)
          for (int64_t j = 0; j < b.shape[1]; ++j) o[i * b.shape[1] + j] = Element(b.location[0].first + i, b.location[1].first + j);
        return out;
      },
      {n, n}, chunk, skein::DType::kFloat64, "pattern");
}

// Read bandwidth (bytes/s): `threads` threads each summing their share of
// a buffer, best of several passes (a STREAM-like "sum" kernel). The buffer
// comes from the memory pool, as arrays' blocks do: on huge pages, where a
// VM's nested page walks do not slow the read (on 4 KiB pages this machine
// read 38 GB/s, on huge pages up to 60). Measured again before every case,
// and each case is held to the best of all of them: one measurement taken
// while a neighbour on the host was busy read as little as 28 GB/s.
class ReadBandwidth {
 public:
  ReadBandwidth(size_t bytes, int threads) : data_(bytes / sizeof(double)), threads_(threads) {
    for (size_t i = 0; i < data_.size(); ++i) data_[i] = static_cast<double>(i % 1000);
  }
  size_t bytes() const { return data_.size() * sizeof(double); }
  /// Measures once more; the best bytes/s so far.
  double Measure() {
    const size_t n = data_.size();
    std::vector<double> partial(static_cast<size_t>(threads_));
    for (int rep = 0; rep < 5; ++rep) {
      auto t = Clock::now();
      std::vector<std::thread> ts;
      for (int k = 0; k < threads_; ++k) {
        ts.emplace_back([&, k] {
          const size_t lo = n * k / threads_, hi = n * (k + 1) / threads_;
          double acc[8] = {};
          size_t i = lo;
          for (; i + 8 <= hi; i += 8)
            for (int u = 0; u < 8; ++u) acc[u] += data_[i + u];
          for (; i < hi; ++i) acc[0] += data_[i];
          partial[k] = acc[0] + acc[1] + acc[2] + acc[3] + acc[4] + acc[5] + acc[6] + acc[7];
        });
      }
      for (auto& th : ts) th.join();
      best_ = std::min(best_, Seconds(t));
    }
    return static_cast<double>(bytes()) / best_;
  }

 private:
  skein::PoolVector<double> data_;
  int threads_;
  double best_ = 1e30;
};

void Emit(const char* c, const char* engine, double secs, double answer, int64_t n, double bound) {
  std::printf("{\"suite\":\"array\",\"case\":\"%s\",\"engine\":\"%s\",\"seconds\":%.6f,\"answer\":%.12g,\"n\":%lld",
              c, engine, secs, answer, answer == answer ? static_cast<long long>(n) : 0LL);
  if (bound > 0) std::printf(",\"bound_seconds\":%.6f", bound);
  std::printf("}\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  int64_t n = 10000, chunk = 1000, m = 5000;
  int repeat = 5, threads = 2;
  std::string only;  // --case NAME: run one case (for profiling)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--n")) n = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--chunk")) chunk = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--m")) m = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--repeat")) repeat = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--case")) only = argv[i + 1];
  }
  const double bytes = static_cast<double>(n) * static_cast<double>(n) * 8;
  ReadBandwidth stream(static_cast<size_t>(bytes), threads);
  stream.Measure();

  skein::LocalScheduler sched(threads);
  skein::ComputeOptions opts;
  auto run = [&](const skein::Array& a) {
    std::vector<skein::Value> v = sched.Get(a.graph(), a.keys(), opts);
    return v;
  };
  skein::Array x = Pattern(n, chunk);
  {
    std::vector<skein::Value> blocks = run(x);
    skein::Graph g;
    std::vector<skein::Key> keys = x.keys();
    for (size_t i = 0; i < keys.size(); ++i) g.Add(keys[i], skein::Task::FromValue(blocks[i]));
    x = skein::internal::MakeArray(x.name(), x.shape(), x.chunks(), x.dtype(), std::move(g), {});
  }
  struct Case {
    const char* name;
    std::function<skein::Array()> build;
    double bytes_read;  // what any engine must read from memory at least
  };
  std::vector<Case> cases = {
      {"sum_x_plus_xT_axis0", [&] { return (x + x.T()).sum(0); }, 2 * bytes},
      {"mean", [&] { return x.mean(); }, bytes},
      {"std", [&] { return x.std(); }, bytes},
      {"sqrt_max", [&] { return skein::sqrt(x * 2 + 1).max(); }, bytes},
  };
  struct Result {
    const Case* c;
    double seconds, answer;
  };
  std::vector<Result> results;
  for (const Case& c : cases) {
    if (!only.empty() && only != c.name) continue;
    stream.Measure();
    std::vector<double> times;
    double answer = 0;
    for (int r = 0; r <= repeat; ++r) {
      auto t = Clock::now();
      skein::Array a = c.build();
      std::vector<skein::Value> out = sched.Get(a.graph(), a.keys(), opts);
      double secs = Seconds(t);
      answer = 0;
      for (const skein::Value& v : out) {
        const skein::NDArray& b = v.get<skein::NDArray>();
        for (int64_t i = 0; i < b.size(); ++i) answer += b.item<double>(i);
      }
      if (r) times.push_back(secs);
    }
    results.push_back({&c, Median(times), answer});
  }
  const double bw = stream.Measure();
  std::printf("{\"suite\":\"array\",\"case\":\"read_bandwidth\",\"engine\":\"stream\",\"seconds\":%.6f,\"gb_per_s\":%.3f,\"n\":%lld}\n",
              bytes / bw, bw / 1e9, static_cast<long long>(n));
  for (const Result& r : results) Emit(r.c->name, "skein", r.seconds, r.answer, n, r.c->bytes_read / bw);

  // matmul: OpenBLAS on the whole matrices (all threads), then skein blockwise.
  if (m > 0 && (only.empty() || only == "matmul")) {
    std::vector<double> a(static_cast<size_t>(m * m)), b(static_cast<size_t>(m * m)), c(static_cast<size_t>(m * m));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < m; ++j) {
        a[i * m + j] = Element(i, j);
        b[i * m + j] = Element(j, i + 1);
      }
    openblas_set_num_threads(threads);
    std::vector<double> times;
    double answer = 0;
    for (int r = 0; r <= repeat; ++r) {
      auto t = Clock::now();
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1.0, a.data(), m, b.data(), m, 0.0, c.data(), m);
      double secs = Seconds(t);
      if (r) times.push_back(secs);
    }
    answer = 0;
    for (double v : c) answer += v;
    Emit("matmul", "openblas", Median(times), answer, m, 0);
    skein::Array A = skein::from_array(skein::NDArray::FromVector<double>(a, {m, m}), chunk).persist();
    skein::Array B = skein::from_array(skein::NDArray::FromVector<double>(b, {m, m}), chunk).persist();
    times.clear();
    for (int r = 0; r <= repeat; ++r) {
      auto t = Clock::now();
      skein::Array C = skein::matmul(A, B);
      std::vector<skein::Value> out = sched.Get(C.graph(), C.keys(), opts);
      double secs = Seconds(t);
      answer = 0;
      for (const skein::Value& v : out) {
        const skein::NDArray& blk = v.get<skein::NDArray>();
        for (int64_t i = 0; i < blk.size(); ++i) answer += blk.data<double>()[i];
      }
      if (r) times.push_back(secs);
    }
    Emit("matmul", "skein", Median(times), answer, m, 0);
  }
  return 0;
}
