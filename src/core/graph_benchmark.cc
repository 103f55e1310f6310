// Micro-benchmarks of graph construction, indexing and ordering.
#include <benchmark/benchmark.h>

#include "skein/core/graph.h"
#include "skein/core/order.h"

namespace skein {
namespace {

Graph Tree(int64_t leaves) {
  static const OpPtr noop = RegisterOp("bench.graph.noop", [] {});
  Graph g;
  g.Reserve(static_cast<size_t>(leaves * 2));
  Key leaf("leaf");
  for (int64_t i = 0; i < leaves; ++i) g.Add(leaf.At({i}), Task::Call(noop, {}));
  Key prev = leaf;
  for (int level = 0; leaves > 1; ++level) {
    int64_t groups = (leaves + 7) / 8;
    Key name("r" + std::to_string(level));
    for (int64_t j = 0; j < groups; ++j) {
      std::vector<Arg> refs;
      for (int64_t k = j * 8; k < std::min(leaves, j * 8 + 8); ++k) refs.push_back(Arg::Ref(prev.At({k})));
      g.Add(name.At({j}), Task::Call(noop, {Arg::List(std::move(refs))}));
    }
    prev = name;
    leaves = groups;
  }
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
