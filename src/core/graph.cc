// Graph storage, its key index, GraphIndex and validation.
#include "skein/core/graph.h"

#include <algorithm>
#include <unordered_map>

#include "skein/core/order.h"

namespace skein {

void Graph::Reserve(size_t n) {
  keys_.reserve(n);
  tasks_.reserve(n);
  size_t cap = 16;
  while (cap < 2 * n) cap <<= 1;
  if (cap > slots_.size()) Rehash(cap);
}

void Graph::Rehash(size_t capacity) {
  std::vector<uint32_t>(capacity, 0).swap(slots_);
  for (uint32_t i = 0; i < keys_.size(); ++i) InsertIndex(i, keys_[i].hash());
}

void Graph::InsertIndex(uint32_t pos, size_t hash) {
  size_t mask = slots_.size() - 1;
  for (size_t s = hash & mask;; s = (s + 1) & mask) {
    if (slots_[s] == 0) {
      slots_[s] = pos + 1;
      return;
    }
  }
}

uint32_t Graph::IndexOf(const Key& key) const {
  if (slots_.empty()) return kNotFound;
  size_t mask = slots_.size() - 1;
  for (size_t s = key.hash() & mask;; s = (s + 1) & mask) {
    uint32_t v = slots_[s];
    if (v == 0) return kNotFound;
    if (keys_[v - 1] == key) return v - 1;
  }
}

void Graph::Add(Key key, Task task) {
  if (IndexOf(key) != kNotFound) {
    throw GraphError("duplicate key " + key.ToString() + " in graph");
  }
  AddUnchecked(std::move(key), std::move(task));
}

void Graph::AddUnchecked(Key key, Task task) {
  // Load factor <= 1/2 keeps linear probing short.
  if ((keys_.size() + 1) * 2 > slots_.size()) Rehash(slots_.empty() ? 16 : slots_.size() * 2);
  size_t h = key.hash();
  keys_.push_back(std::move(key));
  tasks_.push_back(std::move(task));
  InsertIndex(static_cast<uint32_t>(keys_.size() - 1), h);
}

void Graph::Merge(const Graph& other) {
  for (size_t i = 0; i < other.size(); ++i) {
    if (!Contains(other.keys_[i])) Add(other.keys_[i], other.tasks_[i]);
  }
}

const Task* Graph::Find(const Key& key) const {
  uint32_t i = IndexOf(key);
  return i == kNotFound ? nullptr : &tasks_[i];
}

const Task& Graph::at(const Key& key) const {
  const Task* t = Find(key);
  if (!t) throw KeyError("key " + key.ToString() + " is not in the graph");
  return *t;
}

GraphIndex GraphIndex::Build(const Graph& g) {
  const uint32_t n = static_cast<uint32_t>(g.size());
  GraphIndex ix;
  ix.dep_offsets.resize(n + 1);
  ix.ref_offsets.resize(n + 1);
  ix.deps.reserve(n);
  ix.refs.reserve(n);
  std::vector<uint32_t> user_count(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    ix.dep_offsets[i] = static_cast<uint32_t>(ix.deps.size());
    ix.ref_offsets[i] = static_cast<uint32_t>(ix.refs.size());
    size_t begin = ix.refs.size();
    g.task(i).ForEachDependency([&](const Key& k) {
      uint32_t d = g.IndexOf(k);
      if (d == Graph::kNotFound) {
        throw GraphError("task " + g.key(i).ToString() + " depends on " + k.ToString() +
                         ", which is not in the graph");
      }
      ix.refs.push_back(d);
    });
    size_t dbegin = ix.deps.size();
    ix.deps.insert(ix.deps.end(), ix.refs.begin() + begin, ix.refs.end());
    if (ix.deps.size() - dbegin > 1) {  // dedupe: a key referenced twice is one dependency
      std::sort(ix.deps.begin() + dbegin, ix.deps.end());
      ix.deps.erase(std::unique(ix.deps.begin() + dbegin, ix.deps.end()), ix.deps.end());
    }
    for (size_t j = dbegin; j < ix.deps.size(); ++j) ++user_count[ix.deps[j]];
  }
  ix.ref_offsets[n] = static_cast<uint32_t>(ix.refs.size());
  ix.dep_offsets[n] = static_cast<uint32_t>(ix.deps.size());
  ix.user_offsets.resize(n + 1);
  uint32_t total = 0;
  for (uint32_t i = 0; i < n; ++i) {
    ix.user_offsets[i] = total;
    total += user_count[i];
  }
  ix.user_offsets[n] = total;
  ix.users.resize(total);
  std::vector<uint32_t> fill(ix.user_offsets.begin(), ix.user_offsets.end() - 1);
  for (uint32_t i = 0; i < n; ++i) {
    for (uint32_t d : ix.DepsOf(i)) ix.users[fill[d]++] = i;
  }
  return ix;
}

std::vector<uint32_t> ResolveOutputs(const Graph& g, const std::vector<Key>& outputs) {
  std::vector<uint32_t> out;
  out.reserve(outputs.size());
  for (const Key& k : outputs) {
    uint32_t i = g.IndexOf(k);
    if (i == Graph::kNotFound) throw KeyError("requested key " + k.ToString() + " is not in the graph");
    out.push_back(i);
  }
  return out;
}

namespace {
void CheckTaskOps(const Graph& g, uint32_t i, const Task& t, bool allow_local_only) {
  if (const OpPtr& op = t.op()) {
    if (!op->resolved()) {
      throw OpError("task " + g.key(i).ToString() + " uses operation '" + op->name() +
                    "', which is not registered (register it with SKEIN_REGISTER(\"" +
                    op->name() + "\", fn))");
    }
    if (op->local_only() && !allow_local_only) {
      throw OpError("task " + g.key(i).ToString() + " uses a plain C++ callable ('" + op->name() +
                    "'), which cannot leave this process; register it by name with "
                    "SKEIN_REGISTER(\"myapp." + op->name() + "\", fn) and use that name");
    }
  }
  std::vector<const Arg*> stack;
  for (const Arg& a : t.args()) stack.push_back(&a);
  while (!stack.empty()) {
    const Arg* a = stack.back();
    stack.pop_back();
    if (a->is_task()) {
      CheckTaskOps(g, i, a->task(), allow_local_only);
    } else if (a->is_list()) {
      for (const Arg& x : a->list()) stack.push_back(&x);
    }
  }
}
}  // namespace

void CheckOps(const Graph& g, std::span<const uint32_t> which, bool allow_local_only) {
  for (uint32_t i : which) CheckTaskOps(g, i, g.task(i), allow_local_only);
}

void Graph::Validate(const std::vector<Key>& outputs) const {
  std::vector<uint32_t> outs;
  if (outputs.empty()) {
    outs.resize(size());
    for (uint32_t i = 0; i < size(); ++i) outs[i] = i;
  } else {
    outs = ResolveOutputs(*this, outputs);
  }
  GraphIndex ix = GraphIndex::Build(*this);
  std::vector<uint32_t> sequence = Order(*this, ix, outs);  // GraphError on a cycle
  CheckOps(*this, sequence, /*allow_local_only=*/true);
}

namespace {
std::string DotEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

std::string Graph::ToDot(const std::vector<Key>& outputs) const {
  GraphIndex ix = GraphIndex::Build(*this);
  std::vector<bool> is_output(size(), false);
  for (uint32_t i : ResolveOutputs(*this, outputs)) is_output[i] = true;
  std::string s = "digraph skein {\n  rankdir=BT;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  for (uint32_t i = 0; i < size(); ++i) {
    const Task& t = tasks_[i];
    std::string label = DotEscape(keys_[i].ToString());
    if (t.op()) {
      label += "\\n" + DotEscape(t.op()->name());
    } else if (t.is_literal()) {
      label += "\\n= " + DotEscape(t.args()[0].literal().ToString().substr(0, 32));
    }
    s += "  n" + std::to_string(i) + " [label=\"" + label + "\"" +
         (is_output[i] ? ", style=bold, peripheries=2" : "") + "];\n";
  }
  for (uint32_t i = 0; i < size(); ++i) {
    for (uint32_t d : ix.DepsOf(i)) s += "  n" + std::to_string(d) + " -> n" + std::to_string(i) + ";\n";
  }
  return s + "}\n";
}

}  // namespace skein
