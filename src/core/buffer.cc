// Buffer construction and slicing.
#include "skein/core/buffer.h"

#include "skein/core/error.h"

namespace skein {

Buffer::Buffer(std::vector<std::byte> bytes) {
  auto owned = std::make_shared<std::vector<std::byte>>(std::move(bytes));
  data_ = owned->data();
  size_ = owned->size();
  owner_ = std::move(owned);
}

Buffer::Buffer(std::string bytes) {
  auto owned = std::make_shared<std::string>(std::move(bytes));
  data_ = reinterpret_cast<const std::byte*>(owned->data());
  size_ = owned->size();
  owner_ = std::move(owned);
}

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

Buffer Buffer::Allocate(size_t size, std::byte** writable) {
  std::shared_ptr<std::byte[]> mem(new std::byte[size == 0 ? 1 : size]());
  *writable = mem.get();
  return Wrap(std::shared_ptr<const void>(mem, mem.get()), mem.get(), size);
}

Buffer Buffer::AllocateUninitialized(size_t size, std::byte** writable) {
  std::shared_ptr<std::byte[]> mem(new std::byte[size == 0 ? 1 : size]);
  *writable = mem.get();
  return Wrap(std::shared_ptr<const void>(mem, mem.get()), mem.get(), size);
}

Buffer Buffer::Slice(size_t offset, size_t length) const {
  if (offset > size_ || length > size_ - offset) {
    throw Error("Buffer::Slice(" + std::to_string(offset) + ", " + std::to_string(length) +
                ") is out of range for a buffer of " + std::to_string(size_) + " bytes");
  }
  return Wrap(owner_, data_ + offset, length);
}

}  // namespace skein
