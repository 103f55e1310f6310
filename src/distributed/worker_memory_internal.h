// Private: a worker's memory management, after Dask's worker memory model.
//
// Against the worker's memory limit:
//  - target (60%): results held in memory ("managed" bytes) beyond this are
//    spilled to disk, least recently used first;
//  - spill (70%): when the whole process (RSS) is beyond this, results are
//    spilled until it is back near the target, whatever their count says
//    (leaks, fragmentation and task scratch memory are seen here);
//  - pause (80%): the worker starts no new task until RSS falls back;
//  - terminate (95%): the worker is restarted (its results are recomputed
//    elsewhere by the scheduler).
// DecideMemory is the rule; SpillFiles is where spilled results live:
// serialized, compressed (zstd) and written one file per key.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "skein/core/compression.h"
#include "skein/core/value.h"
#include "skein/distributed/worker.h"

namespace skein::distributed::internal {

using skein::distributed::MemoryThresholds;

struct MemoryDecision {
  int64_t spill_bytes = 0;  ///< managed bytes to move to disk now
  bool pause = false;
  bool terminate = false;
};

/// What to do given the limit (<= 0: no limit, nothing to do), the bytes of
/// results in memory and the process's resident memory.
MemoryDecision DecideMemory(const MemoryThresholds& t, int64_t limit, int64_t managed, int64_t rss);

/// A directory of spilled values. Safe for concurrent use on distinct names.
class SpillFiles {
 public:
  SpillFiles(std::string directory, Codec codec) : directory_(std::move(directory)), codec_(codec) {}

  /// Writes `v` compressed; returns the file's path (SpillError naming the
  /// key if it cannot be serialized or written; nothing is left behind).
  std::string Write(const std::string& key_text, const Value& v);
  /// Reads a value back (SpillError naming the path if missing or corrupt).
  Value Read(const std::string& path) const;
  void Remove(const std::string& path);

  /// Bytes on disk now.
  int64_t disk_bytes() const { return disk_bytes_.load(); }

 private:
  std::string directory_;
  Codec codec_;
  std::atomic<uint64_t> counter_{0};
  std::atomic<int64_t> disk_bytes_{0};
};

}  // namespace skein::distributed::internal
