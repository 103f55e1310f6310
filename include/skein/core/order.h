// skein/core/order.h — static task priorities, in the spirit of dask.order.
//
// Order() walks the graph depth first from each requested output and numbers
// tasks in post-order: a task comes right after the dependencies it needs, so
// a subtree is finished (and its intermediates released) before the next one
// starts. Schedulers run ready tasks lowest number first, which keeps peak
// memory low for reductions. The result is also a topological order, and only
// tasks the outputs need appear in it (ordering culls).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "skein/core/graph.h"

namespace skein {

/// Positions of the tasks needed by `outputs` (positions in `g`), in priority
/// order. GraphError naming the keys of a cycle if there is one.
std::vector<uint32_t> Order(const Graph& g, const GraphIndex& ix, std::span<const uint32_t> outputs);

}  // namespace skein
