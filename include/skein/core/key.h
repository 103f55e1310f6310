// skein/core/key.h — names of tasks and their results.
//
// A key is a string ("total") or a tuple of a name and integer indices
// (('x', 0, 3)) exactly as in Dask. Keys are cheap to copy (the name is shared
// and reference counted, up to three indices live inline), hash and compare.
//
//   skein::Key total("total");
//   skein::Key x("x");
//   skein::Key chunk = x.At({0, 3});          // ('x', 0, 3)
//   std::cout << chunk;                       // prints ('x', 0, 3)
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>

namespace skein {

namespace internal {
struct KeyName;  // reference-counted, immutable name with a cached hash
}

/// Identifies a task and its result. Immutable; safe for concurrent use.
class Key {
 public:
  /// The empty string key "".
  Key();
  Key(std::string_view name);  // NOLINT: implicit, a string is a key
  Key(const char* name) : Key(std::string_view(name)) {}  // NOLINT
  Key(const std::string& name) : Key(std::string_view(name)) {}  // NOLINT
  /// Tuple key (name, index...).
  Key(std::string_view name, std::initializer_list<int64_t> index);
  Key(std::string_view name, std::span<const int64_t> index);

  Key(const Key& other);
  Key(Key&& other) noexcept;
  Key& operator=(const Key& other);
  Key& operator=(Key&& other) noexcept;
  ~Key();

  /// A tuple key with this key's name and the given indices, sharing the name.
  Key At(std::initializer_list<int64_t> index) const { return At(std::span(index.begin(), index.size())); }
  Key At(std::span<const int64_t> index) const;

  std::string_view name() const noexcept;
  /// True for ('x', ...) keys, false for plain string keys.
  bool is_tuple() const noexcept { return tuple_; }
  size_t rank() const noexcept { return rank_; }
  std::span<const int64_t> index() const noexcept {
    return {rank_ <= kInline ? inline_ : heap_, rank_};
  }
  size_t hash() const noexcept;

  /// "total" or ('x', 0, 3), as Dask prints keys.
  std::string ToString() const;

  friend bool operator==(const Key& a, const Key& b) noexcept;
  friend bool operator!=(const Key& a, const Key& b) noexcept { return !(a == b); }
  /// Total order: by name, then string keys before tuples, then indices.
  friend bool operator<(const Key& a, const Key& b) noexcept;

 private:
  static constexpr uint32_t kInline = 3;
  void SetIndex(std::span<const int64_t> index);
  void ReleaseIndex() noexcept;

  internal::KeyName* name_;
  uint32_t rank_ = 0;
  bool tuple_ = false;
  union {
    int64_t inline_[kInline];
    int64_t* heap_;
  };
};

std::ostream& operator<<(std::ostream& os, const Key& key);

struct KeyHash {
  size_t operator()(const Key& k) const noexcept { return k.hash(); }
};

}  // namespace skein

template <>
struct std::hash<skein::Key> {
  size_t operator()(const skein::Key& k) const noexcept { return k.hash(); }
};
