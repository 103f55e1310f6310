// Materialize / CountTasks (see layer.h).
#include "skein/core/layer.h"

#include <unordered_set>

namespace skein {
namespace {

// Visits each layer reachable from `roots` once, dependencies first. An
// explicit stack: layer chains (a thousand elementwise steps) can be deep.
template <class Fn>
void ForEachLayer(const std::vector<LayerPtr>& roots, Fn&& fn) {
  std::unordered_set<const Layer*> seen;
  std::vector<std::pair<const Layer*, size_t>> stack;
  for (const LayerPtr& root : roots) {
    if (!root || !seen.insert(root.get()).second) continue;
    stack.push_back({root.get(), 0});
    while (!stack.empty()) {
      auto& [layer, next] = stack.back();
      if (next < layer->deps.size()) {
        const Layer* dep = layer->deps[next++].get();
        if (dep && seen.insert(dep).second) stack.push_back({dep, 0});
        continue;
      }
      fn(*layer);
      stack.pop_back();
    }
  }
}

}  // namespace

Graph Materialize(const std::vector<LayerPtr>& roots) {
  Graph out;
  out.Reserve(CountTasks(roots));
  ForEachLayer(roots, [&](const Layer& layer) { out.Merge(layer.graph); });
  return out;
}

size_t CountTasks(const std::vector<LayerPtr>& roots) {
  size_t n = 0;
  ForEachLayer(roots, [&](const Layer& layer) { n += layer.graph.size(); });
  return n;
}

}  // namespace skein
