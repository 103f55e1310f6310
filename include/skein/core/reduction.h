// skein/core/reduction.h — tree reductions, the shape behind every sum, mean
// and groupby of the collections (dask's `split_every`).
//
// Combines `inputs` `split_every` at a time, level by level, until one task
// remains. Each combining task calls `combine` with one argument: the list of
// its inputs' results. Level k's tasks are keys (name + "-" + k, j).
//
//   std::vector<skein::Key> parts = ...;              // e.g. ('chunk-sum', i)
//   skein::Key total = skein::AddTreeReduction(&g, parts, combine_op, "sum", 8);
#pragma once

#include <string_view>
#include <vector>

#include "skein/core/graph.h"

namespace skein {

/// Adds the reduction's tasks to `g` and returns the key of the final one.
/// Error if `inputs` is empty or `split_every` < 2. With one input, one
/// combining task still runs over it (so the result has the combined type).
Key AddTreeReduction(Graph* g, const std::vector<Key>& inputs, const OpPtr& combine,
                     std::string_view name, int split_every = 8);

}  // namespace skein
