// skein/core/reduction.h — tree reductions, the shape behind every sum, mean
// and groupby of the collections (dask's `split_every`).
//
// Combines `inputs` `split_every` at a time, level by level, until one task
// remains. Each combining task calls its op with one argument: the list of
// its inputs' results (and the spec's `params`). Level k's tasks are keys
// (name + "-" + k, group..., j); the last one may be given its own key and
// op (dask's chunk / combine / aggregate).
//
//   std::vector<skein::Key> parts = ...;              // e.g. ('chunk-sum', i)
//   skein::Key total = skein::AddTreeReduction(&g, parts, combine_op, "sum", 8);
//
//   skein::TreeReduction spec{.combine = partial, .aggregate = finish,
//                             .split_every = 4, .output = Key("mean").At({0, 2})};
//   skein::AddTreeReduction(&g, parts, "mean-partial", spec);
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "skein/core/graph.h"

namespace skein {

/// How a tree reduction combines its inputs.
struct TreeReduction {
  OpPtr combine;                 ///< the intermediate levels' op
  OpPtr aggregate;               ///< the final task's op (null: `combine`)
  Value params;                  ///< parameters of every combining task
  int split_every = 8;           ///< fan-in of each combining task (>= 2)
  Key output;                    ///< key of the final task (empty: a level key)
  std::vector<int64_t> group;    ///< leading indices of the level keys, so that
                                 ///< several reductions can share one name
};

/// Adds the reduction's tasks to `g` and returns the key of the final one.
/// Error if `inputs` is empty or `split_every` < 2. With one input, one
/// combining task still runs over it (so the result has the combined type).
Key AddTreeReduction(Graph* g, const std::vector<Key>& inputs, std::string_view name, const TreeReduction& spec);

/// The common case: one op for every level, level keys only.
inline Key AddTreeReduction(Graph* g, const std::vector<Key>& inputs, const OpPtr& combine,
                            std::string_view name, int split_every = 8) {
  TreeReduction spec;
  spec.combine = combine;
  spec.split_every = split_every;
  return AddTreeReduction(g, inputs, name, spec);
}

}  // namespace skein
