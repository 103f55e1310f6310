// Micro-benchmarks of graph construction, indexing and ordering.
#include <benchmark/benchmark.h>

#include "skein/core/graph.h"
#include "skein/core/order.h"
#include "skein/core/reduction.h"

namespace skein {
namespace {

Graph Tree(int64_t leaves) {
  static const OpPtr noop = RegisterOp("bench.graph.noop", [] {});
  Graph g;
  g.Reserve(static_cast<size_t>(leaves * 2));
  Key leaf("leaf");
  std::vector<Key> keys;
  for (int64_t i = 0; i < leaves; ++i) {
    keys.push_back(leaf.At({i}));
    g.Add(keys.back(), Task::Call(noop, {}));
  }
  AddTreeReduction(&g, keys, noop, "r", 8);
  return g;
}

void BM_GraphBuild(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(Tree(state.range(0)));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GraphBuild)->Arg(100000);

void BM_IndexAndOrder(benchmark::State& state) {
  Graph g = Tree(state.range(0));
  std::vector<uint32_t> outs = {static_cast<uint32_t>(g.size() - 1)};
  for (auto _ : state) {
    GraphIndex ix = GraphIndex::Build(g);
    benchmark::DoNotOptimize(Order(g, ix, outs));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(g.size()));
}
BENCHMARK(BM_IndexAndOrder)->Arg(100000);

}  // namespace
}  // namespace skein
