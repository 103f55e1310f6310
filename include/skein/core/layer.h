// skein/core/layer.h — graphs built in layers, as collections build them.
//
// A collection (array, dataframe) adds one layer of tasks per operation: the
// tasks that compute its blocks, plus the layers they read from. Layers are
// immutable and shared, so `y = x + 1` and `z = x * 2` share x's layer, and
// computing y and z together runs x's tasks once (dask's HighLevelGraph).
//
//   auto base = skein::Layer::Make("x-1f2e", std::move(g1));
//   auto next = skein::Layer::Make("add-93ab", std::move(g2), {base});
//   skein::Graph g = skein::Materialize({next});   // both layers' tasks
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "skein/core/graph.h"

namespace skein {

struct Layer;
using LayerPtr = std::shared_ptr<const Layer>;

/// One operation's tasks and the layers they depend on. Immutable; safe for
/// concurrent use.
struct Layer {
  std::string name;
  Graph graph;
  std::vector<LayerPtr> deps;

  static LayerPtr Make(std::string name, Graph graph, std::vector<LayerPtr> deps = {}) {
    return std::make_shared<const Layer>(Layer{std::move(name), std::move(graph), std::move(deps)});
  }
};

/// Every task of `roots` and of the layers they depend on, each layer once.
Graph Materialize(const std::vector<LayerPtr>& roots);

/// Number of tasks in `roots` and their dependencies, each layer once.
size_t CountTasks(const std::vector<LayerPtr>& roots);

}  // namespace skein
