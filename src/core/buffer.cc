// Buffer construction and slicing.
#include "skein/core/buffer.h"

#include <algorithm>

#include "skein/core/error.h"
#include "skein/core/memory_pool.h"

namespace skein {

namespace {
// A Buffer owning a container of bytes, moved in (no copy).
template <class C>
Buffer Adopt(C bytes) {
  auto owned = std::make_shared<C>(std::move(bytes));
  const auto* data = reinterpret_cast<const std::byte*>(owned->data());
  const size_t size = owned->size();
  return Buffer::Wrap(std::move(owned), data, size);
}
}  // namespace

Buffer::Buffer(std::vector<std::byte> bytes) : Buffer(Adopt(std::move(bytes))) {}

Buffer::Buffer(PoolVector<std::byte> bytes) : Buffer(Adopt(std::move(bytes))) {}

Buffer::Buffer(std::string bytes) : Buffer(Adopt(std::move(bytes))) {}

Buffer Buffer::Copy(const void* data, size_t size) {
  std::byte* out = nullptr;
  Buffer b = AllocateUninitialized(size, &out);
  if (size) std::memcpy(out, data, size);
  return b;
}

Buffer Buffer::Wrap(std::shared_ptr<const void> owner, const std::byte* data, size_t size) {
  Buffer b;
  b.owner_ = std::move(owner);
  b.data_ = data;
  b.size_ = size;
  return b;
}

namespace {
// Pool memory of `size` bytes owned by a Buffer: back to the pool with the
// last owner.
Buffer OwnPoolBlock(std::byte* data, size_t size) {
  std::shared_ptr<const void> owner(data, [size](const void* p) {
    MemoryPool::Default().Free(static_cast<std::byte*>(const_cast<void*>(p)), size);
  });
  return Buffer::Wrap(std::move(owner), data, size);
}

Buffer FromPool(size_t size, bool zero, std::byte** writable) {
  *writable = MemoryPool::Default().Allocate(size, zero);
  return OwnPoolBlock(*writable, size);
}
}  // namespace

Buffer Buffer::Allocate(size_t size, std::byte** writable) { return FromPool(size, true, writable); }

Buffer Buffer::AllocateUninitialized(size_t size, std::byte** writable) { return FromPool(size, false, writable); }

Buffer Buffer::Slice(size_t offset, size_t length) const {
  if (offset > size_ || length > size_ - offset) {
    throw Error("Buffer::Slice(" + std::to_string(offset) + ", " + std::to_string(length) +
                ") is out of range for a buffer of " + std::to_string(size_) + " bytes");
  }
  return Wrap(owner_, data_ + offset, length);
}

// ---- BufferBuilder ------------------------------------------------------------

BufferBuilder::~BufferBuilder() { Reset(); }

BufferBuilder::BufferBuilder(BufferBuilder&& o) noexcept : data_(o.data_), size_(o.size_), capacity_(o.capacity_) {
  o.data_ = nullptr;
  o.size_ = o.capacity_ = 0;
}

BufferBuilder& BufferBuilder::operator=(BufferBuilder&& o) noexcept {
  if (this != &o) {
    Reset();
    data_ = o.data_;
    size_ = o.size_;
    capacity_ = o.capacity_;
    o.data_ = nullptr;
    o.size_ = o.capacity_ = 0;
  }
  return *this;
}

void BufferBuilder::Reset() noexcept {
  if (data_) MemoryPool::Default().Free(data_, capacity_);
  data_ = nullptr;
  size_ = capacity_ = 0;
}

void BufferBuilder::Grow(size_t at_least) {
  // Doubling: appends stay amortized O(1); past the pool's large threshold
  // a grow moves page tables, not bytes.
  const size_t want = std::max({at_least, capacity_ * 2, size_t{64}});
  data_ = MemoryPool::Default().Reallocate(data_, capacity_, size_, want);
  capacity_ = want;
}

void BufferBuilder::Resize(size_t n) {
  if (n > size_) std::memset(Append(n - size_), 0, n - size_);
  else size_ = n;
}

Buffer BufferBuilder::Finish() {
  if (!data_) return Buffer();
  // A block doubled past its contents gives the unused pages back.
  std::byte* data = MemoryPool::Default().Reallocate(data_, capacity_, size_, size_);
  Buffer out = OwnPoolBlock(data, size_);
  data_ = nullptr;
  size_ = capacity_ = 0;
  return out;
}

}  // namespace skein
