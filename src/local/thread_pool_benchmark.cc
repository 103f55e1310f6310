// Micro-benchmarks of the work-stealing pool (Google Benchmark).
#include "skein/local/thread_pool.h"

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>

namespace skein {
namespace {

// A binary tree of trivial items spawned from inside the pool: measures
// push/pop/steal cost per item.
struct Tree : Runnable {
  std::atomic<int64_t> done{0};
  void Run(uint64_t depth, Worker& w) override {
    if (depth > 0) {
      w.Push({this, depth - 1});
      w.Push({this, depth - 1});
    }
    done.fetch_add(1, std::memory_order_relaxed);
  }
};

void BM_SpawnTree(benchmark::State& state) {
  ThreadPool pool(static_cast<int>(state.range(0)));
  const int depth = 16;
  const int64_t items = (int64_t{1} << (depth + 1)) - 1;
  for (auto _ : state) {
    Tree t;
    pool.Push({&t, depth});
    while (t.done.load(std::memory_order_relaxed) < items) std::this_thread::yield();
  }
  state.SetItemsProcessed(state.iterations() * items);
}
BENCHMARK(BM_SpawnTree)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace
}  // namespace skein
