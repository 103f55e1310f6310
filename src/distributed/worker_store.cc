// A worker's held results and their spilling (see worker_store_internal.h).
#include "distributed/worker_store_internal.h"

#include <cstdio>
#include <map>

#include "distributed/protocol_internal.h"

namespace skein::distributed::internal {

WorkerStore::WorkerStore(std::string spill_directory, int64_t memory_limit, MemoryThresholds thresholds)
    : files_(std::move(spill_directory), Codec::kZstd), memory_limit_(memory_limit), thresholds_(thresholds) {}

WorkerStore::Entry* WorkerStore::Find(const std::string& key) {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

WorkerStore::Entry& WorkerStore::Store(const std::string& key, Value v, bool owned) {
  Entry& e = entries_[key];
  if (e.in_memory) MemoryOut(&e);
  if (!e.spill_file.empty()) {
    spilled_bytes_ -= e.nbytes;
    files_.Remove(e.spill_file);
    e.spill_file.clear();
  }
  e.nbytes = static_cast<int64_t>(v.nbytes());
  e.version = ++version_;
  if (owned) e.owned = true;
  MemoryIn(key, &e, std::move(v));
  return e;
}

void WorkerStore::Erase(const std::string& key) {
  auto it = entries_.find(key);
  if (it != entries_.end()) EraseAt(it);
}

void WorkerStore::Clear() {
  while (!entries_.empty()) EraseAt(entries_.begin());
}

void WorkerStore::EraseAt(std::unordered_map<std::string, Entry>::iterator it) {
  Entry& e = it->second;
  if (e.in_memory) MemoryOut(&e);
  if (!e.spill_file.empty()) {
    spilled_bytes_ -= e.nbytes;
    files_.Remove(e.spill_file);
  }
  entries_.erase(it);
}

void WorkerStore::MemoryIn(const std::string& key, Entry* e, Value v) {
  e->value = std::move(v);
  e->in_memory = true;
  stored_bytes_ += e->nbytes;
  if (!e->spill_file.empty()) spilled_bytes_ -= e->nbytes;
  e->lru = lru_.insert(lru_.end(), key);
}

void WorkerStore::MemoryOut(Entry* e) {
  e->value = Value();
  e->in_memory = false;
  stored_bytes_ -= e->nbytes;
  if (!e->spill_file.empty()) spilled_bytes_ += e->nbytes;
  lru_.erase(e->lru);
}

void WorkerStore::Touch(Entry* e) {
  if (e->in_memory) lru_.splice(lru_.end(), lru_, e->lru);
}

std::vector<Value> WorkerStore::Collect(std::unique_lock<std::mutex>& lock, const std::vector<std::string>& keys) {
  std::map<std::string, std::string> to_load;  // key -> file
  for (const std::string& k : keys) {
    Entry* e = Find(k);
    if (!e) throw KeyError("not held here: " + KeyText(k));
    if (!e->in_memory) to_load[k] = e->spill_file;
  }
  std::map<std::string, Value> loaded;
  if (!to_load.empty()) {
    lock.unlock();
    try {
      for (const auto& [k, file] : to_load) loaded[k] = files_.Read(file);
    } catch (...) {
      lock.lock();
      throw;
    }
    lock.lock();
    for (auto& [k, v] : loaded) {
      Entry* e = Find(k);
      if (e && !e->in_memory && e->spill_file == to_load[k]) MemoryIn(k, e, v);
    }
  }
  std::vector<Value> out;
  out.reserve(keys.size());
  for (const std::string& k : keys) {
    Entry* e = Find(k);
    if (e && e->in_memory) {
      Touch(e);
      out.push_back(e->value);
    } else if (auto l = loaded.find(k); l != loaded.end()) {
      out.push_back(l->second);
    } else {
      throw KeyError("not held here: " + KeyText(k));
    }
  }
  // What came back from disk counts against the target like a new result.
  if (!loaded.empty()) SpillExcess(lock);
  return out;
}

namespace {
struct SemaphoreGuard {
  explicit SemaphoreGuard(std::counting_semaphore<>& s) : s_(s) { s_.acquire(); }
  ~SemaphoreGuard() { s_.release(); }
  std::counting_semaphore<>& s_;
};
}  // namespace

Value WorkerStore::Serve(std::unique_lock<std::mutex>& lock, const std::string& key) {
  Entry* e = Find(key);
  if (!e) throw KeyError("does not hold " + KeyText(key));
  if (e->in_memory) {
    Touch(e);
    return e->value;
  }
  std::string file = e->spill_file;
  lock.unlock();
  Value v;
  try {
    SemaphoreGuard slot(disk_serves_);
    v = files_.Read(file);
  } catch (...) {
    lock.lock();
    throw;
  }
  lock.lock();
  return v;
}

void WorkerStore::SpillExcess(std::unique_lock<std::mutex>& lock) {
  // RSS 0: only the managed-bytes part of the rule (process memory is the
  // monitor's).
  int64_t over = Decide(0).spill_bytes;
  if (over > 0) Spill(lock, over);
}

bool WorkerStore::Spill(std::unique_lock<std::mutex>& lock, int64_t need) {
  struct Victim {
    std::string key;
    Value value;
    uint64_t version;
    std::string file;  // already on disk: nothing to write
  };
  std::vector<Victim> victims;
  int64_t chosen = 0;
  for (const std::string& k : lru_) {
    if (chosen >= need) break;
    Entry& e = entries_.at(k);
    if (e.unspillable || e.spilling) continue;  // another thread is writing it
    e.spilling = true;
    victims.push_back({k, e.value, e.version, e.spill_file});
    chosen += e.nbytes;
  }
  if (victims.empty()) return false;
  lock.unlock();
  for (Victim& v : victims) {
    if (v.file.empty()) {
      try {
        v.file = files_.Write(KeyText(v.key), v.value);
      } catch (const Error& e) {
        std::fprintf(stderr, "skein worker: %s (kept in memory)\n", e.what());
      }
    }
    v.value = Value();
  }
  lock.lock();
  bool any = false;
  for (Victim& v : victims) {
    auto it = entries_.find(v.key);
    Entry* e = it != entries_.end() && it->second.version == v.version ? &it->second : nullptr;
    if (e) e->spilling = false;
    if (v.file.empty()) {
      if (e) e->unspillable = true;
      continue;
    }
    if (!e) {
      // Freed or replaced meanwhile: the file is nobody's.
      if (it == entries_.end() || it->second.spill_file != v.file) files_.Remove(v.file);
      continue;
    }
    if (e->spill_file.empty()) e->spill_file = v.file;
    if (!e->in_memory) continue;
    MemoryOut(e);
    any = true;
  }
  return any;
}

}  // namespace skein::distributed::internal
