// Private: the results a worker holds — in memory, on disk, or both — and
// the spilling that moves them between the two.
//
// A result read back after a spill keeps its file, so dropping the memory
// copy again costs no write. Memory is ordered least recently used first;
// Spill writes the oldest results out (compressed, SpillFiles) with the
// worker's lock released, and a version number per store tells a spill in
// flight that its entry was freed or replaced meanwhile.
//
// Not thread-safe on its own: the worker's mutex guards every call. Calls
// taking a `std::unique_lock` release that lock around disk I/O and hold it
// again when they return.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <semaphore>
#include <string>
#include <unordered_map>
#include <vector>

#include "distributed/worker_memory_internal.h"

namespace skein::distributed::internal {

class WorkerStore {
 public:
  struct Entry {
    Value value;              // none while only on disk
    bool in_memory = false;
    std::string spill_file;   // "" if not on disk
    int64_t nbytes = 0;
    uint64_t version = 0;     // which store this is (a spill in flight checks it)
    bool unspillable = false; // a spill failed (no serializer): kept in memory
    bool spilling = false;    // a thread is writing it to disk now
    // The worker's bookkeeping: computed or scattered here (freed by the
    // scheduler), else a fetched copy; pending tasks reading it.
    bool owned = false;
    int users = 0;
    std::list<std::string>::iterator lru;  // valid while in_memory
  };

  /// `memory_limit` <= 0: nothing is ever spilled.
  WorkerStore(std::string spill_directory, int64_t memory_limit, MemoryThresholds thresholds);

  /// Null if `key` is not held.
  Entry* Find(const std::string& key);
  /// Stores a new value for `key` in memory (replacing any older copy).
  Entry& Store(const std::string& key, Value v, bool owned);
  void Erase(const std::string& key);
  void Clear();
  size_t size() const { return entries_.size(); }

  /// The values of `keys` in order; spilled ones are read back (kept in
  /// memory again). KeyError if one is not held, SpillError if unreadable.
  std::vector<Value> Collect(std::unique_lock<std::mutex>& lock, const std::vector<std::string>& keys);
  /// The value of `key` for a reader elsewhere: a spilled one is read
  /// without taking memory back, a few at a time (or many readers of
  /// spilled data would bring it all back at once).
  Value Serve(std::unique_lock<std::mutex>& lock, const std::string& key);

  /// Results over the target are spilled by the thread that stored them,
  /// before it takes more work (as Dask does): memory cannot outrun the
  /// disk by more than one result per thread.
  void SpillExcess(std::unique_lock<std::mutex>& lock);
  /// Spills least recently used results until `need` bytes left memory;
  /// true if any did.
  bool Spill(std::unique_lock<std::mutex>& lock, int64_t need);

  /// The memory rule for this store and a process RSS.
  MemoryDecision Decide(int64_t rss) const { return DecideMemory(thresholds_, memory_limit_, stored_bytes_, rss); }
  int64_t stored_bytes() const { return stored_bytes_; }    // in memory
  int64_t spilled_bytes() const { return spilled_bytes_; }  // only on disk

 private:
  void MemoryIn(const std::string& key, Entry* e, Value v);
  void MemoryOut(Entry* e);
  void Touch(Entry* e);
  void EraseAt(std::unordered_map<std::string, Entry>::iterator it);

  SpillFiles files_;
  int64_t memory_limit_;
  MemoryThresholds thresholds_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // keys in memory, least recently used first
  int64_t stored_bytes_ = 0;
  int64_t spilled_bytes_ = 0;
  uint64_t version_ = 0;
  std::counting_semaphore<> disk_serves_{2};
};

}  // namespace skein::distributed::internal
