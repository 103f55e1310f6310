// Lent values (see skein/core/lent_value.h): the bounds checks every kind
// shares, and values of this process lent by their serialized frames.
#include "skein/core/lent_value.h"

#include <cstring>

#include "skein/core/error.h"
#include "skein/core/serialize.h"

namespace skein {

LentValue::LentValue(std::string type, std::string header, std::vector<uint64_t> sizes)
    : type_(std::move(type)), header_(std::move(header)), sizes_(std::move(sizes)) {}

uint64_t LentValue::frame_bytes() const {
  uint64_t n = 0;
  for (uint64_t s : sizes_) n += s;
  return n;
}

void LentValue::CopyOut(std::span<const Copy> copies) const {
  for (const Copy& c : copies) {
    if (c.frame >= sizes_.size() || c.offset > sizes_[c.frame] || c.size > sizes_[c.frame] - c.offset) {
      throw Error("lent " + type_ + ": bytes " + std::to_string(c.offset) + "+" + std::to_string(c.size) +
                  " of frame " + std::to_string(c.frame) + " are outside it (" + std::to_string(sizes_.size()) +
                  " frames" + (c.frame < sizes_.size() ? ", that one " + std::to_string(sizes_[c.frame]) + " bytes" : "") +
                  ")");
    }
  }
  DoCopy(copies);
}

Buffer LentValue::Frame(size_t i) const {
  if (i >= sizes_.size()) throw Error("lent " + type_ + ": no frame " + std::to_string(i));
  if (sizes_[i] == 0) return Buffer();
  std::byte* w = nullptr;
  Buffer b = Buffer::AllocateUninitialized(static_cast<size_t>(sizes_[i]), &w);
  const Copy c{i, 0, sizes_[i], w};
  DoCopy({&c, 1});
  return b;
}

Value LentValue::Materialize() const {
  Serialized s;
  s.type = type_;
  s.header = header_;
  s.frames.reserve(sizes_.size());
  for (size_t i = 0; i < sizes_.size(); ++i) s.frames.push_back(Frame(i));
  return Deserialize(s);
}

namespace {

// A value of this process: its serialized frames share its memory.
class HeldValue final : public LentValue {
 public:
  explicit HeldValue(Serialized s)
      : LentValue(s.type, s.header, Sizes(s.frames)), frames_(std::move(s.frames)) {}

  Buffer Frame(size_t i) const override {
    if (i >= frames_.size()) throw Error("lent " + type() + ": no frame " + std::to_string(i));
    return frames_[i];
  }

 private:
  static std::vector<uint64_t> Sizes(const std::vector<Buffer>& frames) {
    std::vector<uint64_t> out;
    for (const Buffer& f : frames) out.push_back(f.size());
    return out;
  }
  void DoCopy(std::span<const Copy> copies) const override {
    for (const Copy& c : copies) {
      if (c.size) std::memcpy(c.to, frames_[c.frame].data() + c.offset, static_cast<size_t>(c.size));
    }
  }

  std::vector<Buffer> frames_;
};

}  // namespace

LentValuePtr LendHere(const Value& value) { return LendFrames(Serialize(value)); }

LentValuePtr LendFrames(Serialized s) { return std::make_shared<HeldValue>(std::move(s)); }

}  // namespace skein
