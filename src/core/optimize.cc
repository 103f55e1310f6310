// Cull, Fuse and Inline. Fuse and Inline are one mechanism: pick tasks to
// substitute into their users, then rewrite the users' arguments in
// topological order so substituted chains nest.
#include "skein/core/optimize.h"

#include <functional>

#include "skein/core/config.h"
#include "skein/core/order.h"

namespace skein {

OptimizeOptions OptimizeOptions::FromConfig() {
  OptimizeOptions o;
  o.cull = config::Get<bool>("optimization.cull");
  o.fuse = config::Get<bool>("optimization.fuse.active");
  o.inline_cheap = config::Get<bool>("optimization.inline.active");
  o.fuse_max_height = static_cast<int>(config::Get<int64_t>("optimization.fuse.max-height"));
  o.min_gain = config::Get<double>("optimization.min-gain");
  return o;
}

namespace {

size_t CountRefs(const Task& t, const Key& k) {
  size_t n = 0;
  t.ForEachDependency([&](const Key& d) { n += (d == k); });
  return n;
}

enum class Sub : uint8_t { kKeep, kLiteral, kNested, kDropped };

// Rewritten tasks, only for those that changed.
struct Rewrites {
  const Graph& g;
  std::vector<Task> task;
  std::vector<bool> changed;
  const Task& Get(uint32_t i) const { return changed[i] ? task[i] : g.task(i); }
};

Arg RewriteArg(const Arg& a, const std::vector<Sub>& sub, const Rewrites& rw, bool* changed) {
  if (a.is_ref()) {
    uint32_t d = rw.g.IndexOf(a.ref());
    if (sub[d] == Sub::kLiteral) {
      *changed = true;
      return Arg(rw.Get(d).args()[0].literal());
    }
    if (sub[d] == Sub::kNested) {
      *changed = true;
      return Arg::Nested(rw.Get(d), rw.g.key(d));
    }
    return a;
  }
  if (a.is_list() || a.is_task()) {
    const std::vector<Arg>& items = a.is_list() ? a.list() : a.task().args();
    std::vector<Arg> out;
    out.reserve(items.size());
    bool any = false;
    for (const Arg& x : items) out.push_back(RewriteArg(x, sub, rw, &any));
    if (!any) return a;
    *changed = true;
    return a.is_list() ? Arg::List(std::move(out)) : Arg::Nested(a.task().WithArgs(std::move(out)), a.origin());
  }
  return a;
}

// Substitutes every task marked in `sub` into its users (only users of
// substituted tasks are rewritten); returns a graph of the remaining tasks in
// their original order.
Graph Substitute(const Graph& g, const GraphIndex& ix, std::span<const uint32_t> topo,
                 const std::vector<Sub>& sub) {
  Rewrites rw{g, std::vector<Task>(g.size()), std::vector<bool>(g.size(), false)};
  for (uint32_t i : topo) {
    bool touches = false;
    for (uint32_t d : ix.DepsOf(i)) touches |= (sub[d] == Sub::kLiteral || sub[d] == Sub::kNested);
    if (!touches) continue;
    const Task& t = g.task(i);
    bool changed = false;
    std::vector<Arg> args;
    args.reserve(t.args().size());
    for (const Arg& a : t.args()) args.push_back(RewriteArg(a, sub, rw, &changed));
    if (changed) {
      rw.task[i] = t.WithArgs(std::move(args));
      rw.changed[i] = true;
    }
  }
  Graph out;
  out.Reserve(g.size());
  for (uint32_t i = 0; i < g.size(); ++i) {
    if (sub[i] == Sub::kKeep) out.AddUnchecked(g.key(i), rw.Get(i));
  }
  return out;
}

}  // namespace

std::optional<Graph> OptimizeWithIndex(const Graph& g, const GraphIndex& ix,
                                       std::span<const uint32_t> order,
                                       std::span<const uint32_t> outputs,
                                       const OptimizeOptions& options) {
  const uint32_t n = static_cast<uint32_t>(g.size());
  std::vector<bool> is_output(n, false);
  for (uint32_t i : outputs) is_output[i] = true;
  // Tasks outside `order` are not needed. With culling they are dropped;
  // without it they stay as they are unless the graph is rewritten anyway:
  // then they go too, since they may read a task substituted into its users.
  std::vector<Sub> sub(n, Sub::kDropped);
  for (uint32_t i : order) sub[i] = Sub::kKeep;
  const bool culled = options.cull && order.size() < n;
  size_t substituted = 0;

  // Only users that will run count (culled ones don't).
  std::vector<bool> needed(n, false);
  for (uint32_t i : order) needed[i] = true;
  auto sole_user = [&](uint32_t t) -> uint32_t {
    uint32_t found = Graph::kNotFound;
    for (uint32_t u : ix.UsersOf(t)) {
      if (!needed[u]) continue;
      if (found != Graph::kNotFound) return Graph::kNotFound;  // more than one
      found = u;
    }
    return found;
  };
  auto has_users = [&](uint32_t t) {
    for (uint32_t u : ix.UsersOf(t)) {
      if (needed[u]) return true;
    }
    return false;
  };

  if (options.inline_cheap) {
    for (uint32_t t : order) {
      if (is_output[t] || !has_users(t)) continue;
      const Task& task = g.task(t);
      if (task.is_literal()) {
        if (task.args()[0].literal().nbytes() > options.inline_literal_max_bytes && sole_user(t) == Graph::kNotFound) {
          continue;  // large and shared: stays a key
        }
        sub[t] = Sub::kLiteral;
        ++substituted;
      } else if (task.op() && task.op()->cheap()) {
        uint32_t u = sole_user(t);
        if (u != Graph::kNotFound && CountRefs(g.task(u), g.key(t)) == 1) {
          sub[t] = Sub::kNested;
          ++substituted;
        }
      }
    }
  }
  if (options.fuse && options.fuse_max_height > 1) {
    std::vector<int> height(n, 1);  // tasks in the chain ending here
    for (uint32_t t : order) {
      // t joins its user's chain if it is that user's only input, used once.
      if (sub[t] != Sub::kKeep || is_output[t]) continue;
      uint32_t u = sole_user(t);
      if (u == Graph::kNotFound) continue;
      if (ix.DepsOf(u).size() != 1 || !g.task(u).op() || !g.task(t).op()) continue;
      if (height[t] + 1 > options.fuse_max_height || CountRefs(g.task(u), g.key(t)) != 1) continue;
      sub[t] = Sub::kNested;
      height[u] = height[t] + 1;
      ++substituted;
    }
  }
  if (substituted > 0 && static_cast<double>(substituted) < options.min_gain * static_cast<double>(n)) {
    if (!culled) return std::nullopt;  // not worth a rewrite
    for (uint32_t i : order) sub[i] = Sub::kKeep;
  }
  if (!culled && substituted == 0) return std::nullopt;
  return Substitute(g, ix, order, sub);
}

namespace {
std::optional<Graph> RunPasses(const Graph& g, const std::vector<Key>& outputs,
                               const OptimizeOptions& options) {
  GraphIndex ix = GraphIndex::Build(g);
  std::vector<uint32_t> outs = ResolveOutputs(g, outputs);
  std::vector<uint32_t> order;
  if (options.cull) {
    order = Order(g, ix, outs);
  } else {
    std::vector<uint32_t> all(g.size());
    for (uint32_t i = 0; i < g.size(); ++i) all[i] = i;
    order = Order(g, ix, all);
  }
  return OptimizeWithIndex(g, ix, order, outs, options);
}

Graph Only(const Graph& g, const std::vector<Key>& outputs, OptimizeOptions options) {
  std::optional<Graph> out = RunPasses(g, outputs, options);
  return out ? std::move(*out) : g;
}
}  // namespace

Graph Cull(const Graph& g, const std::vector<Key>& outputs) {
  return Only(g, outputs, {.cull = true, .fuse = false, .inline_cheap = false});
}

Graph Fuse(const Graph& g, const std::vector<Key>& outputs, int max_height) {
  return Only(g, outputs, {.cull = false, .fuse = true, .inline_cheap = false, .fuse_max_height = max_height});
}

Graph Inline(const Graph& g, const std::vector<Key>& outputs) {
  return Only(g, outputs, {.cull = false, .fuse = false, .inline_cheap = true});
}

Graph Optimize(const Graph& g, const std::vector<Key>& outputs, const OptimizeOptions& options) {
  return Only(g, outputs, options);
}

}  // namespace skein
