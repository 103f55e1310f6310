// skein/core/task.h — a task: an operation applied to arguments.
//
// An argument is a literal Value, a reference to another key, a (nested) list
// of arguments, or a nested task (what fusion and inlining produce, like
// Dask's `(inc, (inc, 'x'))`). A task without an operation is a literal value
// or an alias of another key.
//
//   using skein::Arg;
//   skein::Task t = skein::Task::Call("add", {Arg::Ref("x"), Arg(1)});
//   skein::Task s = skein::Task::Call("sum", {Arg::List({Arg::Ref(x.At({0})), Arg::Ref(x.At({1}))})});
//   skein::Task v = skein::Task::FromValue(42);
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "skein/core/key.h"
#include "skein/core/op.h"
#include "skein/core/value.h"

namespace skein {

class Task;

/// One argument of a task. Immutable; copies share nested lists and tasks.
class Arg {
 public:
  Arg() = default;                               ///< literal None
  Arg(Value literal) : v_(std::move(literal)) {}  // NOLINT: literals convert implicitly
  template <class T>
    requires std::is_constructible_v<Value, T> && (!std::is_same_v<std::decay_t<T>, Value>)
  Arg(T&& literal) : v_(Value(std::forward<T>(literal))) {}  // NOLINT
  static Arg Ref(Key key);
  static Arg List(std::vector<Arg> items);
  /// A task evaluated in place; `origin` is the key it had in the graph
  /// before the optimizer nested it (errors name it).
  static Arg Nested(Task task, Key origin = Key());

  bool is_literal() const noexcept { return v_.index() == 0; }
  bool is_ref() const noexcept { return v_.index() == 1; }
  bool is_list() const noexcept { return v_.index() == 2; }
  bool is_task() const noexcept { return v_.index() == 3; }
  const Value& literal() const { return std::get<0>(v_); }
  const Key& ref() const { return std::get<1>(v_); }
  const std::vector<Arg>& list() const { return *std::get<2>(v_); }
  const Task& task() const;
  /// Key a nested task had before fusion/inlining ("" if none).
  const Key& origin() const;

  std::string ToString() const;

 private:
  struct NestedTask;
  std::variant<Value, Key, std::shared_ptr<const std::vector<Arg>>, std::shared_ptr<const NestedTask>> v_;
};

/// An operation plus arguments and parameters. Immutable after construction.
class Task {
 public:
  /// The literal None.
  Task();
  /// A task whose result is `v`.
  static Task FromValue(Value v);
  /// A task whose result is the result of `key`.
  static Task Alias(Key key);
  /// `op_name` from the global registry (unresolved if not registered: running
  /// it, or validating it with Graph::CheckOps, is an OpError naming the key).
  static Task Call(std::string_view op_name, std::vector<Arg> args, Value params = {});
  static Task Call(OpPtr op, std::vector<Arg> args, Value params = {});

  /// nullptr for literal and alias tasks.
  const OpPtr& op() const noexcept { return op_; }
  const std::vector<Arg>& args() const noexcept { return *args_; }
  const Value& params() const noexcept { return params_; }
  /// True for FromValue tasks (no op, one literal argument).
  bool is_literal() const noexcept { return !op_ && args_->size() == 1 && (*args_)[0].is_literal(); }

  /// Calls fn(key) for every referenced key, nested lists and tasks included
  /// (a key referenced twice is reported twice).
  template <class Fn>
  void ForEachDependency(Fn&& fn) const {
    for (const Arg& a : *args_) VisitArg(a, fn);
  }
  /// The same operation and parameters with other arguments.
  Task WithArgs(std::vector<Arg> args) const {
    Task t = *this;
    t.args_ = std::make_shared<const std::vector<Arg>>(std::move(args));
    return t;
  }

  /// Unique referenced keys, in first-reference order.
  std::vector<Key> Dependencies() const;

  /// e.g. add(('x', 0), 1); used in error messages and DOT labels.
  std::string ToString() const;

 private:
  template <class Fn>
  static void VisitArg(const Arg& a, Fn& fn) {
    if (a.is_ref()) {
      fn(a.ref());
    } else if (a.is_list()) {
      for (const Arg& x : a.list()) VisitArg(x, fn);
    } else if (a.is_task()) {
      for (const Arg& x : a.task().args()) VisitArg(x, fn);
    }
  }

  OpPtr op_;
  // Shared and immutable: copying a task (the optimizer rewrites graphs of
  // millions) costs two reference counts, not an allocation.
  std::shared_ptr<const std::vector<Arg>> args_;
  Value params_;
};

/// Runs `task` given the values of its references in argument order (as
/// GraphIndex::RefsOf lists them; they are moved from). An error in a nested
/// task is a TaskError naming the key it had before fusion; an error of the
/// task itself propagates as thrown (callers wrap it with their key).
Value RunTask(const Task& task, std::span<Value> refs, const Key& key);

struct Arg::NestedTask {
  Task task;
  Key origin;
};
inline const Task& Arg::task() const { return std::get<3>(v_)->task; }
inline const Key& Arg::origin() const { return std::get<3>(v_)->origin; }

}  // namespace skein
