// skein/api/delayed.h — lazy function calls that compose into a graph.
//
// Like dask.delayed: wrap a function, call it with values or other delayed
// results, and compute when ready. Several results computed together share
// their common work.
//
//   auto inc = skein::delayed([](int64_t x) { return x + 1; }, "inc");
//   auto add = skein::delayed("myapp.add");            // a registered op
//   skein::Delayed a = inc(1), b = inc(a), c = add(a, b);
//   auto [x, y] = skein::compute(b, c);                 // a runs once
//   c.visualize("graph.svg");                           // needs graphviz
//   skein::Delayed d = c.persist();                     // keeps c's result
//
// Arguments may be Delayed, std::vector<Delayed> (a list of references), or
// anything convertible to a Value (a literal). Arithmetic works on delayed
// numbers: (a + b) * 2.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "skein/core/graph.h"
#include "skein/local/scheduler.h"

namespace skein {

/// A lazy result: a key plus the tasks needed to compute it. Immutable;
/// copies share structure; safe for concurrent use.
class Delayed {
 public:
  Delayed() = default;
  /// Wraps a literal value (dask.delayed(value)).
  static Delayed Of(Value v, std::string_view name = "literal");

  bool valid() const noexcept { return node_ != nullptr; }
  const Key& key() const;
  /// Every task this result needs, dependencies before users.
  Graph graph() const;

  /// Computes on the local scheduler (options as for skein::Get).
  Value compute(const ComputeOptions& options = {}) const;
  /// Computes now and returns a Delayed holding the result under the same key.
  Delayed persist(const ComputeOptions& options = {}) const;
  /// Graphviz source of graph().
  std::string dot() const;
  /// Writes the graph: ".dot" as source; ".svg", ".png", ".pdf" through
  /// graphviz's `dot` (Error saying to install graphviz if it is missing).
  void visualize(const std::string& filename) const;

  struct Node;
  explicit Delayed(std::shared_ptr<const Node> node) : node_(std::move(node)) {}
  const std::shared_ptr<const Node>& node() const { return node_; }

 private:
  std::shared_ptr<const Node> node_;
};

struct Delayed::Node {
  Key key;
  Task task;
  std::vector<std::shared_ptr<const Node>> deps;
};

namespace internal {
/// Unique key name "prefix-0123abcd..." as dask's tokenized names.
std::string NewKeyName(std::string_view prefix);

inline Arg ToArg(const Delayed& d, std::vector<std::shared_ptr<const Delayed::Node>>* deps) {
  if (!d.valid()) throw Error("an empty (default-constructed) Delayed was passed as an argument");
  deps->push_back(d.node());
  return Arg::Ref(d.key());
}
inline Arg ToArg(const std::vector<Delayed>& ds, std::vector<std::shared_ptr<const Delayed::Node>>* deps) {
  std::vector<Arg> items;
  items.reserve(ds.size());
  for (const Delayed& d : ds) items.push_back(ToArg(d, deps));
  return Arg::List(std::move(items));
}
template <class T>
  requires(!std::is_same_v<std::decay_t<T>, Delayed> && !std::is_same_v<std::decay_t<T>, std::vector<Delayed>>)
Arg ToArg(T&& v, std::vector<std::shared_ptr<const Delayed::Node>>*) {
  return Arg(Value::From(std::forward<T>(v)));
}
}  // namespace internal

/// A function whose calls are lazy. Calling it builds a Delayed.
class DelayedFunction {
 public:
  DelayedFunction(OpPtr op, std::string prefix) : op_(std::move(op)), prefix_(std::move(prefix)) {}

  template <class... Args>
  Delayed operator()(Args&&... args) const {
    std::vector<std::shared_ptr<const Delayed::Node>> deps;
    std::vector<Arg> task_args;
    task_args.reserve(sizeof...(Args));
    (task_args.push_back(internal::ToArg(std::forward<Args>(args), &deps)), ...);
    return Delayed(std::make_shared<const Delayed::Node>(
        Delayed::Node{Key(internal::NewKeyName(prefix_)), Task::Call(op_, std::move(task_args)), std::move(deps)}));
  }

  const OpPtr& op() const { return op_; }

 private:
  OpPtr op_;
  std::string prefix_;
};

/// An operation by name (registered here, or on a cluster through upload_file).
DelayedFunction delayed(std::string_view op_name);
inline DelayedFunction delayed(const char* op_name) { return delayed(std::string_view(op_name)); }
/// A plain callable: local mode only. `name` prefixes the keys ("lambda").
template <class F>
  requires(!std::is_convertible_v<F, std::string_view>)
DelayedFunction delayed(F fn, std::string name = "lambda") {
  return DelayedFunction(LocalOp(std::move(fn), name), name);
}

/// Computes several results in one graph, sharing common work.
std::vector<Value> compute(const std::vector<Delayed>& ds, const ComputeOptions& options = {});
template <class... Ds>
  requires(std::is_same_v<std::decay_t<Ds>, Delayed> && ...)
std::array<Value, sizeof...(Ds)> compute(const Ds&... ds) {
  std::vector<Value> v = compute(std::vector<Delayed>{ds...});
  std::array<Value, sizeof...(Ds)> out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = std::move(v[i]);
  return out;
}
/// Persists several results in one computation.
std::vector<Delayed> persist(const std::vector<Delayed>& ds, const ComputeOptions& options = {});
/// The merged graph of several delayed results.
Graph MergedGraph(const std::vector<Delayed>& ds);

Delayed operator+(const Delayed& a, const Delayed& b);
Delayed operator-(const Delayed& a, const Delayed& b);
Delayed operator*(const Delayed& a, const Delayed& b);
Delayed operator/(const Delayed& a, const Delayed& b);
template <class T>
  requires std::is_arithmetic_v<T>
Delayed operator+(const Delayed& a, T b) { return a + Delayed::Of(b); }
template <class T>
  requires std::is_arithmetic_v<T>
Delayed operator-(const Delayed& a, T b) { return a - Delayed::Of(b); }
template <class T>
  requires std::is_arithmetic_v<T>
Delayed operator*(const Delayed& a, T b) { return a * Delayed::Of(b); }
template <class T>
  requires std::is_arithmetic_v<T>
Delayed operator/(const Delayed& a, T b) { return a / Delayed::Of(b); }

}  // namespace skein
