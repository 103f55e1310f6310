// skein/core/memory_pool.h — where skein's large buffers come from.
//
// Fresh memory from the OS costs a page fault per 4 KiB page the first time
// it is written (on the 2-core VMs we measure on, about 2.7 us each: 1.8 s
// to first touch 680 MB, more than a whole join takes), and glibc hands
// every block above its mmap threshold (at most 32 MiB) straight back to the
// OS when it is freed, so a query that builds a 680 MB result paid for those
// faults again on every run. The pool serves large blocks (256 KiB and up)
// from mappings it keeps, as Arrow's memory pools and DuckDB's buffer
// manager do:
//  - blocks of 2 MiB and more are 2 MiB aligned and advised as transparent
//    huge pages: one fault per 2 MiB where the kernel allows it;
//  - a freed block stays cached, up to a retain limit, and a later request
//    of about its size takes it back without faulting again;
//  - cached blocks unused for `decay` seconds go back to the OS (a
//    background thread looks once a second while any are cached), and
//    Release() gives them all back at once (a worker does before it decides
//    to spill, so process memory shows only what it holds).
// Smaller requests go to operator new. (The line was 1 MiB: a partial's
// 800 KiB columns then came from glibc's own mappings, fresh pages on
// every query: 2-3 ms of q5's 30 ms went to faults in the final concat.)
//
//   skein::MemoryPool& pool = skein::MemoryPool::Default();
//   std::byte* b = pool.Allocate(64 << 20, /*zero=*/false);
//   std::memset(b, 1, 64 << 20);
//   pool.Free(b, 64 << 20);             // cached: the next 64 MiB is b again
//   skein::PoolVector<int64_t> rows;    // a std::vector on the pool
//
// Safe for concurrent use: one mutex, taken once per large block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace skein {

class MemoryPool {
 public:
  struct Options {
    /// Most bytes kept cached (freed but mapped) at once.
    size_t retain_limit = size_t{1} << 30;
    /// Seconds a cached block may wait for reuse before it is unmapped.
    double decay_seconds = 10;
    /// Requests from this size on are served from mappings (smaller: operator new).
    size_t large_threshold = size_t{1} << 18;
  };
  struct Stats {
    int64_t live_bytes = 0;      // large blocks handed out (what they span)
    int64_t cached_bytes = 0;    // freed large blocks kept for reuse
    int64_t reused = 0;          // large requests served from the cache
    int64_t mapped = 0;          // large requests that mapped fresh memory
    int64_t unmapped_bytes = 0;  // given back to the OS so far
  };

  explicit MemoryPool(Options options);
  /// Every block must have been freed.
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  /// The process-wide pool behind Buffer::Allocate, BufferBuilder and
  /// PoolVector. Its retain limit is config "memory.pool.retain" (default:
  /// an eighth of the machine's memory, at most 4 GiB; 0 keeps nothing) and
  /// its decay "memory.pool.decay" (seconds, default 10), read on first use.
  static MemoryPool& Default();

  /// At least `size` bytes (never null, 64-byte aligned), zero-filled if
  /// `zero`. Throws std::bad_alloc when the OS refuses.
  std::byte* Allocate(size_t size, bool zero);
  /// Gives back a block, with the size it was last allocated or
  /// reallocated to.
  void Free(std::byte* data, size_t size);
  /// The block grown or shrunk to `size` bytes, its first min(used, size)
  /// bytes kept: a large block is resized by the kernel (in place or by
  /// moving its page tables, never copying its bytes, and shrinking gives
  /// the pages past the new end back). `data` is consumed.
  std::byte* Reallocate(std::byte* data, size_t old_size, size_t used, size_t size);
  /// Unmaps every cached block; the bytes given back.
  size_t Release();
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A std::allocator that takes its memory from MemoryPool::Default(): a
/// vector of millions of rows grows and is refilled without page faults.
template <class T>
struct PoolAllocator {
  using value_type = T;
  PoolAllocator() = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return reinterpret_cast<T*>(MemoryPool::Default().Allocate(n * sizeof(T), false)); }
  void deallocate(T* p, size_t n) noexcept { MemoryPool::Default().Free(reinterpret_cast<std::byte*>(p), n * sizeof(T)); }
  template <class U>
  bool operator==(const PoolAllocator<U>&) const noexcept {
    return true;
  }
};

/// A vector in pool memory (for large scratch: row indices, hash tables).
template <class T>
using PoolVector = std::vector<T, PoolAllocator<T>>;

/// PoolAllocator whose construct without arguments default-initializes:
/// `resize(n)` leaves trivial values unset instead of zeroing them. For
/// row-sized arrays that are written in full right after (zeroing q2's
/// group ids and packed keys, 15 MB per partition, was 13% of its time).
template <class T>
struct PoolScratchAllocator : PoolAllocator<T> {
  PoolScratchAllocator() = default;
  template <class U>
  PoolScratchAllocator(const PoolScratchAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible_v<U>) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

/// A PoolVector whose resize() does not zero (see PoolScratchAllocator);
/// value-initialized elements only where a value is given.
template <class T>
using PoolScratch = std::vector<T, PoolScratchAllocator<T>>;

}  // namespace skein
