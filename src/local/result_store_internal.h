// Private: where a computation keeps finished results, and spills them.
//
// Without a memory limit this is a plain array indexed by task position and
// needs no lock (the scheduler's dependency counters order writes before
// reads). With a limit, results beyond it are serialized, compressed and
// written to a per-computation directory, oldest first, and read back on
// demand; that path takes a mutex. Disk I/O happens under the lock, which
// serializes spilling workers; acceptable while spilling is disk bound.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "skein/core/compression.h"
#include "skein/core/env.h"
#include "skein/core/graph.h"
#include "skein/core/value.h"

namespace skein::internal {

struct SpillSettings {
  int64_t limit;          ///< bytes of results kept in memory
  std::string directory;  ///< created on first spill, removed with the store
  Codec codec;
  Env* env;
};

/// Not thread-safe for the same id from two writers; distinct ids and
/// Get-after-Put (ordered by the scheduler) are safe.
class ResultStore {
 public:
  ResultStore(const Graph* graph, std::optional<SpillSettings> spill);
  ~ResultStore();

  /// Stores a task's result; may spill older results (SpillError naming the
  /// key if one cannot be serialized or written; the value then stays in memory).
  void Put(uint32_t id, Value v);
  /// A stored result, read back from disk if spilled (SpillError if that fails).
  Value Get(uint32_t id);
  /// Drops a result nobody needs anymore (and its spill file).
  void Release(uint32_t id);

  int64_t spilled() const { return spilled_; }
  int64_t spilled_bytes() const { return spilled_bytes_; }
  int64_t unspilled() const { return unspilled_; }
  int64_t peak_memory() const { return peak_; }

 private:
  enum State : uint8_t { kEmpty, kMemory, kDisk };
  void SpillOne(uint32_t id);  // requires mu_
  std::string PathOf(uint32_t id) const;

  const Graph* graph_;
  std::vector<Value> values_;
  std::optional<SpillSettings> spill_;

  std::mutex mu_;  // guards everything below (spill mode only)
  std::vector<State> state_;
  std::vector<int64_t> sizes_;
  std::deque<uint32_t> fifo_;  // spill candidates, oldest first (may hold stale ids)
  int64_t in_memory_ = 0;
  bool dir_created_ = false;
  int64_t spilled_ = 0, spilled_bytes_ = 0, unspilled_ = 0, peak_ = 0;
};

}  // namespace skein::internal
