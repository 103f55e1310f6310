// skein/core/lent_value.h — a serialized value whose frames are not copied
// here yet.
//
// Fetching a value from a worker copies its frames into this process; a
// consumer that then copies them again (compute() concatenating a
// dataframe's partitions: 690 MB for a 10M-row join) pays twice. A lent
// value is the value's type, header and frame sizes, and a way to copy any
// range of its frames to memory the consumer chose: the concatenation reads
// each partition's columns straight to their place in the result.
//
// Two kinds: one whose frames are in another process of this host (read
// out of its memory, distributed/session), and one whose frames are already
// here (LendHere: the copy is a memcpy), so a consumer has one code path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "skein/core/buffer.h"
#include "skein/core/serialize.h"
#include "skein/core/value.h"

namespace skein {

class LentValue {
 public:
  /// `size` bytes from `offset` in frame `frame`, to `to`.
  struct Copy {
    size_t frame = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
    std::byte* to = nullptr;
  };

  virtual ~LentValue() = default;
  LentValue(const LentValue&) = delete;
  LentValue& operator=(const LentValue&) = delete;

  const std::string& type() const { return type_; }
  const std::string& header() const { return header_; }
  const std::vector<uint64_t>& frame_sizes() const { return sizes_; }
  /// Bytes of all frames together.
  uint64_t frame_bytes() const;

  /// Performs `copies`. Several threads may copy from one value at once. A
  /// range outside its frame is an Error (nothing is copied); a source that
  /// cannot be read any more (its process died) a CommError.
  void CopyOut(std::span<const Copy> copies) const;
  /// Frame `i` in a buffer of its own (shared with the value when it lives
  /// here).
  virtual Buffer Frame(size_t i) const;
  /// The value itself, every frame brought here.
  Value Materialize() const;

 protected:
  LentValue(std::string type, std::string header, std::vector<uint64_t> sizes);
  /// Copies ranges already checked against the frame sizes.
  virtual void DoCopy(std::span<const Copy> copies) const = 0;

 private:
  std::string type_;
  std::string header_;
  std::vector<uint64_t> sizes_;
};

using LentValuePtr = std::shared_ptr<const LentValue>;

/// `value` (of this process) lent: its frames share the value's memory.
/// SerializationError if it has no serializer.
LentValuePtr LendHere(const Value& value);
/// A serialized value whose frames are here, lent as they are (nothing is
/// checked until it is read: a consumer of lent values checks what it reads).
LentValuePtr LendFrames(Serialized s);

}  // namespace skein
