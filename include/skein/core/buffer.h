// skein/core/buffer.h — an immutable, shared, sliceable byte buffer.
//
// Buffers are how large data crosses task boundaries, spill files and (later)
// the network without being copied: slicing and copying a Buffer only bumps a
// reference count.
//
//   skein::Buffer b = skein::Buffer::Copy("hello", 5);
//   skein::Buffer tail = b.Slice(1, 4);   // "ello", no copy
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "skein/core/memory_pool.h"

namespace skein {

/// Immutable view of shared bytes. Safe for concurrent use (it is immutable).
class Buffer {
 public:
  Buffer() = default;
  /// Takes ownership of `bytes`.
  explicit Buffer(std::vector<std::byte> bytes);
  explicit Buffer(std::string bytes);
  explicit Buffer(PoolVector<std::byte> bytes);
  static Buffer Copy(const void* data, size_t size);
  /// Wraps memory kept alive by `owner`.
  static Buffer Wrap(std::shared_ptr<const void> owner, const std::byte* data, size_t size);
  /// Fresh zero-filled buffer whose bytes the caller fills before sharing
  /// it. Large ones come from MemoryPool::Default() (memory_pool.h).
  static Buffer Allocate(size_t size, std::byte** writable);
  /// Like Allocate, without the zero fill: for callers that overwrite every
  /// byte (a second pass over a large buffer costs as much as the copy).
  static Buffer AllocateUninitialized(size_t size, std::byte** writable);

  const std::byte* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  /// Bytes [offset, offset + length), sharing this buffer's memory.
  Buffer Slice(size_t offset, size_t length) const;

  friend bool operator==(const Buffer& a, const Buffer& b) {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }

 private:
  std::shared_ptr<const void> owner_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

/// Bytes appended at the end, in memory from MemoryPool::Default() that
/// grows without copying once large, then finished into a Buffer without
/// copying either (Arrow's BufferBuilder). Not thread-safe.
///
///   skein::BufferBuilder b;
///   std::memcpy(b.Append(5), "hello", 5);
///   skein::Buffer done = b.Finish();   // b is empty again
class BufferBuilder {
 public:
  BufferBuilder() = default;
  ~BufferBuilder();
  BufferBuilder(BufferBuilder&& other) noexcept;
  BufferBuilder& operator=(BufferBuilder&& other) noexcept;
  BufferBuilder(const BufferBuilder&) = delete;
  BufferBuilder& operator=(const BufferBuilder&) = delete;

  std::byte* data() noexcept { return data_; }
  const std::byte* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }

  /// Room for `n` bytes in all without growing again.
  void Reserve(size_t n) {
    if (n > capacity_) Grow(n);
  }
  /// `n` more bytes at the end (not initialized); where they start.
  std::byte* Append(size_t n) {
    if (size_ + n > capacity_) Grow(size_ + n);
    std::byte* at = data_ + size_;
    size_ += n;
    return at;
  }
  /// Size `n`: bytes past the old end are zero-filled.
  void Resize(size_t n);
  /// The bytes so far as a Buffer; the builder starts over empty.
  Buffer Finish();

 private:
  void Grow(size_t at_least);
  void Reset() noexcept;

  std::byte* data_ = nullptr;
  size_t size_ = 0, capacity_ = 0;
};

}  // namespace skein
