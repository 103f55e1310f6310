// ResultStore: results by task position, with optional spilling to disk.
#include "local/result_store_internal.h"

#include "skein/core/serialize.h"

namespace skein::internal {

ResultStore::ResultStore(const Graph* graph, std::optional<SpillSettings> spill)
    : graph_(graph), values_(graph->size()), spill_(std::move(spill)) {
  if (spill_) {
    state_.assign(graph->size(), kEmpty);
    sizes_.assign(graph->size(), 0);
  }
}

ResultStore::~ResultStore() {
  if (spill_ && dir_created_) {
    try {
      spill_->env->RemoveDirAll(spill_->directory);
    } catch (const std::exception&) {
      // Best effort: a leftover spill folder under the temp dir is harmless.
    }
  }
}

std::string ResultStore::PathOf(uint32_t id) const {
  return spill_->directory + "/" + std::to_string(id) + ".spill";
}

void ResultStore::Put(uint32_t id, Value v) {
  if (!spill_) {
    values_[id] = std::move(v);
    return;
  }
  std::lock_guard lock(mu_);
  sizes_[id] = static_cast<int64_t>(v.nbytes());
  values_[id] = std::move(v);
  state_[id] = kMemory;
  in_memory_ += sizes_[id];
  peak_ = std::max(peak_, in_memory_);
  fifo_.push_back(id);
  while (in_memory_ > spill_->limit && !fifo_.empty()) {
    uint32_t victim = fifo_.front();
    if (state_[victim] != kMemory) {  // released or already spilled
      fifo_.pop_front();
      continue;
    }
    SpillOne(victim);  // throws on failure, leaving the victim in memory
    fifo_.pop_front();
  }
}

void ResultStore::SpillOne(uint32_t id) {
  const Key& key = graph_->key(id);
  const Value& v = values_[id];
  std::string block;
  try {
    block = Compress(spill_->codec, Pack(Serialize(v)));
  } catch (const SerializationError& e) {
    throw SpillError("cannot spill the result of task " + key.ToString() + " (" + v.type_name() + ", " +
                     std::to_string(sizes_[id]) + " bytes) to " + spill_->directory + ": " + e.what());
  }
  std::string path = PathOf(id);
  try {
    if (!dir_created_) {
      spill_->env->CreateDirs(spill_->directory);
      dir_created_ = true;
    }
    spill_->env->WriteFile(path, block);
  } catch (const IOError& e) {
    spill_->env->RemoveFile(path);
    throw SpillError("spilling the result of task " + key.ToString() + " failed: " + e.what() +
                     " (the result was kept in memory)");
  }
  values_[id] = Value();
  state_[id] = kDisk;
  in_memory_ -= sizes_[id];
  ++spilled_;
  spilled_bytes_ += static_cast<int64_t>(block.size());
}

Value ResultStore::Get(uint32_t id) {
  if (!spill_) return values_[id];
  std::lock_guard lock(mu_);
  if (state_[id] != kDisk) return values_[id];
  std::string path = PathOf(id);
  const Key& key = graph_->key(id);
  Value v;
  try {
    std::string block = spill_->env->ReadFile(path);
    std::string packed = Decompress(block, "spill file " + path);
    v = Deserialize(Unpack(packed, "spill file " + path));
  } catch (const Error& e) {
    throw SpillError("reading back the spilled result of task " + key.ToString() + " failed: " + e.what());
  }
  spill_->env->RemoveFile(path);
  values_[id] = v;
  state_[id] = kMemory;
  in_memory_ += sizes_[id];
  peak_ = std::max(peak_, in_memory_);
  fifo_.push_back(id);
  ++unspilled_;
  return v;
}

void ResultStore::Release(uint32_t id) {
  if (!spill_) {
    values_[id] = Value();
    return;
  }
  Value dropped;  // freed after the lock is released
  std::lock_guard lock(mu_);
  if (state_[id] == kMemory) {
    in_memory_ -= sizes_[id];
    dropped = std::move(values_[id]);
    values_[id] = Value();
  } else if (state_[id] == kDisk) {
    try {
      spill_->env->RemoveFile(PathOf(id));
    } catch (const std::exception&) {
      // The directory is removed with the store anyway.
    }
  }
  state_[id] = kEmpty;
}

}  // namespace skein::internal
