// Large blocks from kept mappings (see skein/core/memory_pool.h).
#include "skein/core/memory_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_map>
#include <vector>

#include "skein/core/config.h"

namespace skein {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kSmallMapping = size_t{64} << 10;
constexpr std::align_val_t kSmallAlign{64};

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

// What a large request of `size` bytes spans: whole huge pages from 2 MiB
// on (so that every page of it can be one), else 64 KiB steps.
size_t Capacity(size_t size) { return size >= kHugePage ? RoundUp(size, kHugePage) : RoundUp(size, kSmallMapping); }

// A fresh anonymous mapping of `capacity` bytes (zero-filled by the
// kernel), 2 MiB aligned and advised as huge pages when that large.
std::byte* MapFresh(size_t capacity) {
  if (capacity < kHugePage) {
    void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return static_cast<std::byte*>(p);
  }
  // Over-map by one huge page and trim both ends to an aligned range: a
  // huge page can only back a 2 MiB-aligned 2 MiB of the address space.
  const size_t span = capacity + kHugePage;
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<std::byte*>(raw);
  const uintptr_t at = RoundUp(reinterpret_cast<uintptr_t>(base), kHugePage);
  auto* aligned = reinterpret_cast<std::byte*>(at);
  const size_t head = static_cast<size_t>(aligned - base), tail = span - head - capacity;
  if (head) munmap(base, head);
  if (tail) munmap(aligned + capacity, tail);
  madvise(aligned, capacity, MADV_HUGEPAGE);  // advice only: refused where THP is off
  return aligned;
}

}  // namespace

struct MemoryPool::Impl {
  explicit Impl(Options o) : options(o) {}

  struct Cached {
    std::byte* data;
    Clock::time_point freed;
  };
  struct Span {
    std::byte* data;
    size_t capacity;
  };

  bool Large(size_t size) const { return size >= options.large_threshold; }

  // Removes cached blocks freed before `before`, then the oldest until
  // `room` more bytes fit the retain limit, into `out`.
  void EvictLocked(std::vector<Span>* out, Clock::time_point before, size_t room) {
    while (!cache.empty()) {
      auto oldest = cache.begin();
      for (auto it = cache.begin(); it != cache.end(); ++it) {
        if (it->second.freed < oldest->second.freed) oldest = it;
      }
      const bool expired = oldest->second.freed < before;
      const bool over = static_cast<size_t>(stats.cached_bytes) + room > options.retain_limit;
      if (!expired && !over) break;
      out->push_back({oldest->second.data, oldest->first});
      stats.cached_bytes -= static_cast<int64_t>(oldest->first);
      cache.erase(oldest);
    }
  }

  // Unmaps `spans` (the caller holds no lock); the bytes given back.
  size_t Unmap(const std::vector<Span>& spans) {
    size_t bytes = 0;
    for (const Span& s : spans) {
      munmap(s.data, s.capacity);
      bytes += s.capacity;
    }
    if (bytes) {
      std::lock_guard lock(mu);
      stats.unmapped_bytes += static_cast<int64_t>(bytes);
    }
    return bytes;
  }

  // The live set's entry for a large block handed out.
  std::unordered_map<std::byte*, size_t>::iterator LiveLocked(std::byte* data) {
    auto it = live.find(data);
    if (it == live.end()) std::abort();  // not a block of this pool: memory corruption follows
    return it;
  }

  // What a live large block spans; removed from the live set.
  size_t TakeLiveLocked(std::byte* data) {
    auto it = LiveLocked(data);
    const size_t capacity = it->second;
    live.erase(it);
    stats.live_bytes -= static_cast<int64_t>(capacity);
    return capacity;
  }

  // Unmaps what waited longer than the decay, once a second while
  // anything is cached; sleeps otherwise.
  void DecayLoop() {
    std::unique_lock lock(mu);
    while (!stopping) {
      if (cache.empty()) {
        cv.wait(lock);
        continue;
      }
      const auto decay = std::chrono::duration<double>(options.decay_seconds);
      cv.wait_for(lock, std::min<std::chrono::duration<double>>(decay, std::chrono::seconds(1)));
      std::vector<Span> expired;
      EvictLocked(&expired, Clock::now() - std::chrono::duration_cast<Clock::duration>(decay), 0);
      if (expired.empty()) continue;
      lock.unlock();
      Unmap(expired);
      lock.lock();
    }
  }

  const Options options;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::multimap<size_t, Cached> cache;        // by capacity
  std::unordered_map<std::byte*, size_t> live;  // large blocks handed out -> capacity
  Stats stats;
  bool stopping = false;
  std::thread decay;  // started when the first block is cached
};

MemoryPool::MemoryPool(Options options) : impl_(std::make_unique<Impl>(options)) {}

MemoryPool::~MemoryPool() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->decay.joinable()) impl_->decay.join();
  Release();
}

MemoryPool& MemoryPool::Default() {
  // Never destroyed: buffers may be freed by static destructors after main.
  static MemoryPool* pool = [] {
    Options o;
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    const size_t eighth = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) / 8 : 0;
    o.retain_limit = std::min(eighth, size_t{4} << 30);
    if (std::optional<Value> v = config::Find("memory.pool.retain"); v && !v->is_none()) {
      o.retain_limit = static_cast<size_t>(std::max<int64_t>(0, config::GetBytes("memory.pool.retain")));
    }
    o.decay_seconds = config::Get<double>("memory.pool.decay", o.decay_seconds);
    return new MemoryPool(o);
  }();
  return *pool;
}

std::byte* MemoryPool::Allocate(size_t size, bool zero) {
  Impl& m = *impl_;
  if (!m.Large(size)) {
    // 64-byte aligned, as Arrow's buffers: any vector load of a column works.
    auto* p = static_cast<std::byte*>(::operator new(std::max<size_t>(size, 1), kSmallAlign));
    if (zero) std::memset(p, 0, size);
    return p;
  }
  const size_t capacity = Capacity(size);
  std::byte* reused = nullptr;
  {
    std::lock_guard lock(m.mu);
    // The smallest cached block that fits, if it wastes at most a quarter.
    auto it = m.cache.lower_bound(capacity);
    if (it != m.cache.end() && it->first <= capacity + capacity / 4) {
      reused = it->second.data;
      m.live.emplace(reused, it->first);
      m.stats.cached_bytes -= static_cast<int64_t>(it->first);
      m.stats.live_bytes += static_cast<int64_t>(it->first);
      ++m.stats.reused;
      m.cache.erase(it);
    } else if (it != m.cache.end() && capacity % kHugePage == 0) {
      // A larger one: its first `capacity` bytes are handed out, the rest
      // stays cached as a block of its own (both whole, aligned huge pages;
      // munmap and mremap work on any part of a mapping). Its pages were
      // written before, so they fault no more: a query whose blocks vary in
      // size (q10's shuffle pieces) faulted fresh pages on every run.
      reused = it->second.data;
      const size_t rest = it->first - capacity;
      const Clock::time_point freed = it->second.freed;
      m.cache.erase(it);
      m.cache.emplace(rest, Impl::Cached{reused + capacity, freed});
      m.live.emplace(reused, capacity);
      m.stats.cached_bytes -= static_cast<int64_t>(capacity);
      m.stats.live_bytes += static_cast<int64_t>(capacity);
      ++m.stats.reused;
    }
  }
  if (reused) {
    // Outside the lock: zeroing hundreds of MB must not stall other threads.
    if (zero) std::memset(reused, 0, size);  // fresh mappings come zeroed; reused ones do not
    return reused;
  }
  std::byte* data = MapFresh(capacity);
  std::lock_guard lock(m.mu);
  m.live.emplace(data, capacity);
  m.stats.live_bytes += static_cast<int64_t>(capacity);
  ++m.stats.mapped;
  return data;
}

void MemoryPool::Free(std::byte* data, size_t size) {
  if (!data) return;
  Impl& m = *impl_;
  if (!m.Large(size)) {
    ::operator delete(data, kSmallAlign);
    return;
  }
  std::vector<Impl::Span> unmap;
  {
    std::lock_guard lock(m.mu);
    const size_t capacity = m.TakeLiveLocked(data);
    if (capacity > m.options.retain_limit || m.stopping) {
      unmap.push_back({data, capacity});
    } else {
      m.EvictLocked(&unmap, Clock::time_point::min(), capacity);
      m.cache.emplace(capacity, Impl::Cached{data, Clock::now()});
      m.stats.cached_bytes += static_cast<int64_t>(capacity);
      if (!m.decay.joinable()) m.decay = std::thread([&m] { m.DecayLoop(); });
      else if (m.cache.size() == 1) m.cv.notify_all();
    }
  }
  m.Unmap(unmap);
}

std::byte* MemoryPool::Reallocate(std::byte* data, size_t old_size, size_t used, size_t size) {
  Impl& m = *impl_;
  if (!data) return Allocate(size, false);
  if (!m.Large(old_size) && size <= old_size) return data;  // operator new memory shrinks in place
  if (m.Large(old_size) && m.Large(size)) {
    const size_t capacity = Capacity(size);
    size_t old_capacity;
    {
      std::lock_guard lock(m.mu);
      old_capacity = m.LiveLocked(data)->second;
    }
    if (capacity == old_capacity) return data;
    // Let the kernel move the page tables instead of copying the bytes
    // (or, shrinking, drop the pages past the new end). The caller owns the
    // block, so no lock is needed around the system call.
    void* p = mremap(data, old_capacity, capacity, MREMAP_MAYMOVE);
    if (p == MAP_FAILED) throw std::bad_alloc();
    if (capacity >= kHugePage) madvise(p, capacity, MADV_HUGEPAGE);
    std::lock_guard lock(m.mu);
    m.TakeLiveLocked(data);
    m.live.emplace(static_cast<std::byte*>(p), capacity);
    m.stats.live_bytes += static_cast<int64_t>(capacity);
    return static_cast<std::byte*>(p);
  }
  std::byte* moved = Allocate(size, false);
  const size_t keep = std::min({used, size, old_size});
  if (keep) std::memcpy(moved, data, keep);
  Free(data, old_size);
  return moved;
}

size_t MemoryPool::Release() {
  std::vector<Impl::Span> all;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [capacity, c] : impl_->cache) all.push_back({c.data, capacity});
    impl_->cache.clear();
    impl_->stats.cached_bytes = 0;
  }
  return impl_->Unmap(all);
}

MemoryPool::Stats MemoryPool::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stats;
}

}  // namespace skein
