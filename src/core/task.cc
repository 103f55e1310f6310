// Task and Arg construction and printing.
#include "skein/core/task.h"

#include <algorithm>

namespace skein {

Arg Arg::Ref(Key key) {
  Arg a;
  a.v_ = std::move(key);
  return a;
}

Arg Arg::List(std::vector<Arg> items) {
  Arg a;
  a.v_ = std::make_shared<const std::vector<Arg>>(std::move(items));
  return a;
}

Arg Arg::Nested(Task task, Key origin) {
  Arg a;
  a.v_ = std::make_shared<const NestedTask>(NestedTask{std::move(task), std::move(origin)});
  return a;
}

std::string Arg::ToString() const {
  if (is_literal()) return literal().ToString();
  if (is_ref()) return ref().ToString();
  if (is_task()) return task().ToString();
  std::string s = "[";
  for (size_t i = 0; i < list().size(); ++i) {
    if (i) s += ", ";
    if (i == 8 && list().size() > 9) {
      s += "... (" + std::to_string(list().size()) + " items)";
      break;
    }
    s += list()[i].ToString();
  }
  return s + "]";
}

namespace {
std::shared_ptr<const std::vector<Arg>> Share(std::vector<Arg> args) {
  static const auto* empty = new std::shared_ptr<const std::vector<Arg>>(std::make_shared<const std::vector<Arg>>());
  if (args.empty()) return *empty;
  return std::make_shared<const std::vector<Arg>>(std::move(args));
}
}  // namespace

Task::Task() {
  static const auto* none = new std::shared_ptr<const std::vector<Arg>>(
      std::make_shared<const std::vector<Arg>>(std::vector<Arg>{Arg()}));
  args_ = *none;
}

Task Task::FromValue(Value v) {
  Task t;
  t.args_ = Share({Arg(std::move(v))});
  return t;
}

Task Task::Alias(Key key) {
  Task t;
  t.args_ = Share({Arg::Ref(std::move(key))});
  return t;
}

Task Task::Call(std::string_view op_name, std::vector<Arg> args, Value params) {
  return Call(OpRegistry::Global().Lookup(op_name), std::move(args), std::move(params));
}

Task Task::Call(OpPtr op, std::vector<Arg> args, Value params) {
  if (!op) throw OpError("Task::Call needs an operation, got null");
  Task t;
  t.op_ = std::move(op);
  t.args_ = Share(std::move(args));
  t.params_ = std::move(params);
  return t;
}

namespace {
// Builds the value of one argument; `next_ref` walks the task's resolved
// references in argument order (a scratch array: values are moved out).
Value BuildArg(const Arg& a, Value*& next_ref, const Key& key);

Value CallTask(const Task& t, Value*& next_ref, const Key& key) {
  if (!t.op()) return BuildArg(t.args()[0], next_ref, key);  // literal or alias
  std::vector<Value> args;
  args.reserve(t.args().size());
  for (const Arg& a : t.args()) args.push_back(BuildArg(a, next_ref, key));
  return (*t.op())(args, OpContext{key, t.params()});
}

Value BuildArg(const Arg& a, Value*& next_ref, const Key& key) {
  if (a.is_literal()) return a.literal();
  if (a.is_ref()) return std::move(*next_ref++);
  if (a.is_task()) {
    // A task fused or inlined here: its errors name the key it came from.
    const Key& origin = a.origin().name().empty() ? key : a.origin();
    try {
      return CallTask(a.task(), next_ref, origin);
    } catch (const TaskError&) {
      throw;
    } catch (...) {
      throw TaskError(origin.ToString(), std::current_exception());
    }
  }
  ValueList items;
  items.reserve(a.list().size());
  for (const Arg& x : a.list()) items.push_back(BuildArg(x, next_ref, key));
  return Value(std::move(items));
}

}  // namespace

Value RunTask(const Task& task, std::span<Value> refs, const Key& key) {
  Value* next_ref = refs.data();
  return CallTask(task, next_ref, key);
}

std::vector<Key> Task::Dependencies() const {
  std::vector<Key> out;
  ForEachDependency([&](const Key& k) {
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  });
  return out;
}

std::string Task::ToString() const {
  const std::vector<Arg>& args = *args_;
  if (!op_) return args.empty() ? "None" : args[0].ToString();
  std::string s = op_->name() + "(";
  for (size_t i = 0; i < args.size(); ++i) {
    if (i) s += ", ";
    s += args[i].ToString();
  }
  if (!params_.is_none()) s += std::string(args.empty() ? "" : ", ") + "params=" + params_.ToString();
  return s + ")";
}

}  // namespace skein
