// skein/core/optimize.h — graph-to-graph optimizations, on by default.
//
//   Cull    keep only the tasks the requested keys need.
//   Fuse    collapse linear chains a -> b -> c into one task c(b(a)) with
//           nested tasks, so the scheduler handles one task instead of three.
//   Inline  substitute literal tasks into their users, and nest cheap
//           operations (OpOptions::cheap) into their single user.
//
// Requested keys always survive with the same key. Each pass returns the
// input unchanged (no copy) when it has nothing to do. Switch passes with
// config keys optimization.cull / optimization.fuse.active /
// optimization.inline.active / optimization.fuse.max-height /
// optimization.min-gain, or per call:
//
//   skein::OptimizeOptions opt = skein::OptimizeOptions::FromConfig();
//   opt.fuse = false;
//   skein::Graph small = skein::Optimize(g, {"total"}, opt);
#pragma once

#include <optional>
#include <span>

#include "skein/core/graph.h"

namespace skein {

struct OptimizeOptions {
  bool cull = true;
  bool fuse = true;
  bool inline_cheap = true;
  /// A literal larger than this is inlined only into a sole user: one used
  /// by many tasks stays a key of its own, so a cluster ships it to each
  /// worker once and the tasks there share one copy (a categorize's
  /// categories, 1.6 MB, had travelled and been decoded once per partition).
  size_t inline_literal_max_bytes = 64 << 10;
  /// Longest chain fused into one task (bounds nesting depth).
  int fuse_max_height = 64;
  /// Rewrite only if fusing and inlining remove at least this fraction of the
  /// tasks. A rewrite copies the graph (~0.3 s per million tasks here), so the
  /// local scheduler skips rewrites that would cost more than they save.
  double min_gain = 0.0;

  /// Defaults overridden by the optimization.* configuration keys.
  static OptimizeOptions FromConfig();
};

Graph Cull(const Graph& g, const std::vector<Key>& outputs);
Graph Fuse(const Graph& g, const std::vector<Key>& outputs, int max_height = 64);
Graph Inline(const Graph& g, const std::vector<Key>& outputs);
/// Runs the enabled passes (cull, inline, fuse) as one rewrite.
Graph Optimize(const Graph& g, const std::vector<Key>& outputs, const OptimizeOptions& options);

/// For schedulers, which already hold the index and order: the optimized
/// graph, or nullopt when no enabled pass changes anything (no copy made).
/// `order` is Order(g, ix, outputs); `outputs` are positions in `g`. Tasks
/// outside `order` are not needed: with `cull` they are dropped; without it
/// they are left alone, unless the graph is rewritten anyway, in which case
/// they are dropped too (they may read tasks that were substituted away).
std::optional<Graph> OptimizeWithIndex(const Graph& g, const GraphIndex& ix,
                                       std::span<const uint32_t> order,
                                       std::span<const uint32_t> outputs,
                                       const OptimizeOptions& options);

}  // namespace skein
