// skein/core/graph.h — task graphs: key -> task, validated before running.
//
//   skein::Graph g;
//   g.Add("x", skein::Task::FromValue(1));
//   g.Add("y", skein::Task::Call("inc", {skein::Arg::Ref("x")}));
//   g.Validate({"y"});          // GraphError on cycles / missing dependencies
//   std::cout << g.ToDot();     // Graphviz source
//
// Tasks are kept in insertion order; lookups go through a compact open-
// addressing index (8 bytes per task), so a graph of a million tasks stays
// small. GraphIndex is the dependency structure in index space that the
// optimizer, the ordering and the schedulers share.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "skein/core/key.h"
#include "skein/core/task.h"

namespace skein {

/// Mapping key -> task. Not thread-safe for mutation; const use is safe from
/// many threads.
class Graph {
 public:
  static constexpr uint32_t kNotFound = UINT32_MAX;

  Graph() = default;

  /// Adds a task; GraphError naming the key if it is already present.
  void Add(Key key, Task task);
  /// Adds every task of `other` whose key is not present yet (graphs built
  /// from shared pieces, like delayed objects, overlap by construction).
  void Merge(const Graph& other);
  void Reserve(size_t n);
  /// Adds a task whose key the caller guarantees is not present yet (the
  /// optimizer, copying from a valid graph). Skips the duplicate check.
  void AddUnchecked(Key key, Task task);

  size_t size() const noexcept { return keys_.size(); }
  bool empty() const noexcept { return keys_.empty(); }
  bool Contains(const Key& key) const { return IndexOf(key) != kNotFound; }
  /// Position of `key` in insertion order, or kNotFound.
  uint32_t IndexOf(const Key& key) const;
  /// KeyError naming the key if absent.
  const Task& at(const Key& key) const;
  const Task* Find(const Key& key) const;

  const std::vector<Key>& keys() const noexcept { return keys_; }
  const std::vector<Task>& tasks() const noexcept { return tasks_; }
  const Key& key(uint32_t i) const { return keys_[i]; }
  const Task& task(uint32_t i) const { return tasks_[i]; }

  /// Checks that the outputs exist (KeyError), every dependency exists and
  /// there is no cycle among the tasks the outputs need (GraphError naming the
  /// keys), and every op is registered (OpError). Empty `outputs` checks all.
  void Validate(const std::vector<Key>& outputs = {}) const;

  /// Graphviz DOT source: one node per task (labelled with its key and op),
  /// one edge per dependency; `outputs` are drawn bold.
  std::string ToDot(const std::vector<Key>& outputs = {}) const;

 private:
  /// Rebuilds the index with `capacity` slots (a power of two).
  void Rehash(size_t capacity);
  void InsertIndex(uint32_t pos, size_t hash);

  std::vector<Key> keys_;
  std::vector<Task> tasks_;
  std::vector<uint32_t> slots_;  // open addressing: position + 1, 0 = empty
};

/// Dependencies and dependents of every task, by position in a Graph, in CSR
/// form. Built once per computation and shared by ordering and scheduling.
struct GraphIndex {
  std::vector<uint32_t> dep_offsets;   // size n + 1
  std::vector<uint32_t> deps;          // unique dependencies of each task
  std::vector<uint32_t> user_offsets;  // size n + 1
  std::vector<uint32_t> users;         // tasks that depend on each task
  std::vector<uint32_t> ref_offsets;   // size n + 1
  std::vector<uint32_t> refs;          // every reference, in argument order (for execution)

  /// GraphError "task B depends on A, which is not in the graph" if a
  /// reference is dangling.
  static GraphIndex Build(const Graph& g);

  size_t size() const { return dep_offsets.empty() ? 0 : dep_offsets.size() - 1; }
  std::span<const uint32_t> DepsOf(uint32_t i) const {
    return {deps.data() + dep_offsets[i], dep_offsets[i + 1] - dep_offsets[i]};
  }
  std::span<const uint32_t> RefsOf(uint32_t i) const {
    return {refs.data() + ref_offsets[i], ref_offsets[i + 1] - ref_offsets[i]};
  }
  std::span<const uint32_t> UsersOf(uint32_t i) const {
    return {users.data() + user_offsets[i], user_offsets[i + 1] - user_offsets[i]};
  }
};

/// Positions of `outputs` in `g`; KeyError naming the first missing key.
std::vector<uint32_t> ResolveOutputs(const Graph& g, const std::vector<Key>& outputs);

/// Throws OpError for the first task (nested tasks included) among `which`
/// whose op is unresolved, or, if `allow_local_only` is false, local-only.
void CheckOps(const Graph& g, std::span<const uint32_t> which, bool allow_local_only);

}  // namespace skein
