// Delayed: graph collection, compute/persist, DOT output and arithmetic.
#include "skein/api/delayed.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <unordered_set>

namespace skein {

namespace internal {
std::string NewKeyName(std::string_view prefix) {
  // 64 random bits per key, as unique as dask's uuid-based names in practice.
  thread_local std::mt19937_64 rng([] {
    static std::atomic<uint64_t> salt{0};
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ salt.fetch_add(0x9e3779b97f4a7c15ULL);
  }());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  std::string name(prefix.empty() ? "task" : prefix);
  return name + "-" + buf;
}
}  // namespace internal

Delayed Delayed::Of(Value v, std::string_view name) {
  return Delayed(std::make_shared<const Node>(Node{Key(internal::NewKeyName(name)), Task::FromValue(std::move(v)), {}}));
}

const Key& Delayed::key() const {
  if (!node_) throw Error("empty (default-constructed) Delayed has no key");
  return node_->key;
}

Graph MergedGraph(const std::vector<Delayed>& ds) {
  Graph g;
  std::unordered_set<const Delayed::Node*> seen;
  // Iterative post-order: dependencies are added before their users.
  std::vector<std::pair<const Delayed::Node*, size_t>> stack;
  for (const Delayed& d : ds) {
    if (!d.valid()) throw Error("cannot compute an empty (default-constructed) Delayed");
    if (!seen.insert(d.node().get()).second) continue;
    stack.push_back({d.node().get(), 0});
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      if (next < node->deps.size()) {
        const Delayed::Node* dep = node->deps[next++].get();
        if (seen.insert(dep).second) stack.push_back({dep, 0});
        continue;
      }
      if (!g.Contains(node->key)) g.Add(node->key, node->task);
      stack.pop_back();
    }
  }
  return g;
}

Graph Delayed::graph() const { return MergedGraph({*this}); }

std::vector<Value> compute(const std::vector<Delayed>& ds, const ComputeOptions& options) {
  Graph g = MergedGraph(ds);
  std::vector<Key> keys;
  keys.reserve(ds.size());
  for (const Delayed& d : ds) keys.push_back(d.key());
  return Get(g, keys, options);
}

Value Delayed::compute(const ComputeOptions& options) const { return skein::compute({*this}, options)[0]; }

std::vector<Delayed> persist(const std::vector<Delayed>& ds, const ComputeOptions& options) {
  std::vector<Value> values = compute(ds, options);
  std::vector<Delayed> out;
  out.reserve(ds.size());
  for (size_t i = 0; i < ds.size(); ++i) {
    out.emplace_back(std::make_shared<const Delayed::Node>(Delayed::Node{ds[i].key(), Task::FromValue(values[i]), {}}));
  }
  return out;
}

Delayed Delayed::persist(const ComputeOptions& options) const { return skein::persist({*this}, options)[0]; }

std::string Delayed::dot() const {
  Graph g = graph();
  return g.ToDot(std::vector<Key>{key()});
}

void Delayed::visualize(const std::string& filename) const {
  std::string ext = filename.substr(filename.find_last_of('.') + 1);
  std::string source = dot();
  if (ext == "dot" || ext == "gv") {
    std::ofstream out(filename);
    out << source;
    if (!out) throw IOError("writing " + filename + " failed");
    return;
  }
  if (ext != "svg" && ext != "png" && ext != "pdf") {
    throw Error("visualize: unsupported file type '." + ext + "' (use .dot, .svg, .png or .pdf)");
  }
  if (std::system("command -v dot >/dev/null 2>&1") != 0) {
    throw Error("visualize(\"" + filename + "\") needs graphviz's `dot` program: apt-get install graphviz "
                "(or write a .dot file)");
  }
  std::string tmp = filename + ".tmp.dot";
  {
    std::ofstream out(tmp);
    out << source;
    if (!out) throw IOError("writing " + tmp + " failed");
  }
  std::string cmd = "dot -T" + ext + " -o '" + filename + "' '" + tmp + "' 2>&1";
  int rc = std::system(cmd.c_str());
  std::remove(tmp.c_str());
  if (rc != 0) throw Error("graphviz failed to render " + filename + " (exit status " + std::to_string(rc) + ")");
}

DelayedFunction delayed(std::string_view op_name) {
  // An unregistered name is allowed here: a cluster may know it from an
  // uploaded library. Computing it locally is an OpError naming the key.
  if (op_name.empty()) throw OpError("delayed(\"\"): an operation name is needed");
  OpPtr op = OpRegistry::Global().Lookup(op_name);
  std::string prefix(op_name.substr(op_name.find_last_of('.') == std::string_view::npos ? 0 : op_name.find_last_of('.') + 1));
  return DelayedFunction(std::move(op), prefix);
}

namespace {
// Arithmetic on numbers, as Python does it: int op int stays int (except /).
template <class IntOp, class FloatOp>
Value Arith(const Value& a, const Value& b, IntOp iop, FloatOp fop, const char* name) {
  if ((!a.is_int() && !a.is_double()) || (!b.is_int() && !b.is_double())) {
    throw TypeError(std::string("unsupported operand types for ") + name + ": " + a.type_name() + " and " + b.type_name());
  }
  if (a.is_int() && b.is_int()) return iop(a.as<int64_t>(), b.as<int64_t>());
  return Value(fop(a.as<double>(), b.as<double>()));
}

const DelayedFunction& BinaryOp(int which) {
  static const DelayedFunction ops[4] = {
      DelayedFunction(RegisterOp("skein.add", [](const Value& a, const Value& b) {
        return Arith(a, b, [](int64_t x, int64_t y) { return Value(x + y); }, [](double x, double y) { return x + y; }, "+");
      }), "add"),
      DelayedFunction(RegisterOp("skein.sub", [](const Value& a, const Value& b) {
        return Arith(a, b, [](int64_t x, int64_t y) { return Value(x - y); }, [](double x, double y) { return x - y; }, "-");
      }), "sub"),
      DelayedFunction(RegisterOp("skein.mul", [](const Value& a, const Value& b) {
        return Arith(a, b, [](int64_t x, int64_t y) { return Value(x * y); }, [](double x, double y) { return x * y; }, "*");
      }), "mul"),
      DelayedFunction(RegisterOp("skein.truediv", [](const Value& a, const Value& b) {
        return Arith(a, b, [](int64_t x, int64_t y) {
          if (y == 0) throw std::domain_error("division by zero");
          return Value(static_cast<double>(x) / static_cast<double>(y));
        }, [](double x, double y) { return x / y; }, "/");
      }), "truediv")};
  return ops[which];
}
// Registered at load time, so a worker process knows them before any
// client in it builds a delayed expression.
[[maybe_unused]] const bool kArithmeticRegistered = (BinaryOp(0), true);
}  // namespace

Delayed operator+(const Delayed& a, const Delayed& b) { return BinaryOp(0)(a, b); }
Delayed operator-(const Delayed& a, const Delayed& b) { return BinaryOp(1)(a, b); }
Delayed operator*(const Delayed& a, const Delayed& b) { return BinaryOp(2)(a, b); }
Delayed operator/(const Delayed& a, const Delayed& b) { return BinaryOp(3)(a, b); }

}  // namespace skein
