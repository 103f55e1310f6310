// skein/core/serialize.h — values to byte frames and back.
//
// A serialized value is a type name, a small header and a list of frames
// (Buffers). Large payloads travel as frames that share memory with the value,
// so spilling or sending a 1 GiB buffer never copies it just to serialize it.
// Built in: none, bool, int64, float64, string, bytes, list, map, and
// std::vector of int64/int32/double/float/uint8. User types register:
//
//   struct Point { double x, y; };
//   SKEIN_REGISTER_SERIALIZER(Point, "myapp.Point",
//       [](const Point& p, std::string* header) {
//         skein::ByteWriter w(header); w.F64(p.x); w.F64(p.y);
//         return std::vector<skein::Buffer>{};
//       },
//       [](std::string_view header, std::span<const skein::Buffer>) {
//         skein::ByteReader r(header, "myapp.Point"); double x = r.F64();
//         return Point{x, r.F64()};
//       });
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "skein/core/buffer.h"
#include "skein/core/value.h"

namespace skein {

struct Serialized {
  std::string type;            ///< registered type name, e.g. "int64", "list"
  std::string header;          ///< small metadata bytes
  std::vector<Buffer> frames;  ///< payload, sharing memory with the value
  size_t nbytes() const;       ///< header plus frame bytes
};

/// Serializes `v`; SerializationError naming the C++ type if it has no serializer.
Serialized Serialize(const Value& v);
/// Rebuilds a value; SerializationError on an unknown type or malformed bytes.
Value Deserialize(const Serialized& s);
/// True if `v` (and everything inside it) can be serialized.
bool IsSerializable(const Value& v);

/// One contiguous byte string for a serialized value (used by spill files).
/// Layout: "SKV1", type, header, frame count, frames, each length-prefixed.
std::string Pack(const Serialized& s);
/// Inverse of Pack; SerializationError naming `what` on truncated or corrupt bytes.
Serialized Unpack(std::string_view bytes, std::string_view what);

/// Little-endian writer for headers.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I64(int64_t v) { Raw(&v, 8); }
  void F64(double v) { Raw(&v, 8); }
  void Str(std::string_view s) {
    U64(s.size());
    out_->append(s);
  }
  void Raw(const void* p, size_t n) { out_->append(static_cast<const char*>(p), n); }

 private:
  std::string* out_;
};

/// Bounds-checked reader; throws SerializationError naming `what` when the
/// bytes run out or lie about a length.
class ByteReader {
 public:
  ByteReader(std::string_view in, std::string_view what) : in_(in), what_(what) {}
  uint8_t U8() { uint8_t v; Raw(&v, 1); return v; }
  uint32_t U32() { uint32_t v; Raw(&v, 4); return v; }
  uint64_t U64() { uint64_t v; Raw(&v, 8); return v; }
  int64_t I64() { int64_t v; Raw(&v, 8); return v; }
  double F64() { double v; Raw(&v, 8); return v; }
  std::string_view Str() { return Bytes(U64()); }
  std::string_view Bytes(uint64_t n);
  void Raw(void* p, size_t n) { std::memcpy(p, Bytes(n).data(), n); }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }

 private:
  std::string_view in_;
  std::string_view what_;
  size_t pos_ = 0;
};

namespace internal {
using EncodeFn = std::function<Serialized(const Value&)>;
using DecodeFn = std::function<Value(std::string_view header, std::span<const Buffer> frames)>;
void RegisterSerializerImpl(std::type_index type, std::string name, EncodeFn encode, DecodeFn decode);
}  // namespace internal

/// Registers how to serialize a user type T under a stable `name`.
/// `encode(const T&, std::string* header) -> std::vector<Buffer>` and
/// `decode(std::string_view header, std::span<const Buffer> frames) -> T`.
template <class T, class Encode, class Decode>
bool RegisterSerializer(std::string name, Encode encode, Decode decode) {
  std::string type_name = name;
  internal::RegisterSerializerImpl(
      typeid(T), std::move(name),
      [encode, type_name](const Value& v) {
        Serialized s;
        s.type = type_name;
        s.frames = encode(v.get<T>(), &s.header);
        return s;
      },
      [decode](std::string_view header, std::span<const Buffer> frames) {
        return Value::From<T>(decode(header, frames));
      });
  return true;
}

}  // namespace skein

#define SKEIN_SERIALIZER_CONCAT_(a, b) a##b
#define SKEIN_SERIALIZER_NAME_(line) SKEIN_SERIALIZER_CONCAT_(skein_serializer_registered_, line)
/// Registers a serializer at static-initialization time (see RegisterSerializer).
/// (Variadic so that lambdas with commas need no extra parentheses.)
#define SKEIN_REGISTER_SERIALIZER(T, name, ...)                         \
  [[maybe_unused]] static const bool SKEIN_SERIALIZER_NAME_(__LINE__) = \
      ::skein::RegisterSerializer<T>(name, __VA_ARGS__)
