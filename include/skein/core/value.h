// skein/core/value.h — immutable, shared, type-erased values.
//
// Every result that crosses a task boundary is a Value. Scalars (none, bool,
// int64, float64) live inline; everything else is an immutable object shared
// by reference count, so passing a Value between tasks never copies data.
// Each value knows its size estimate (`nbytes`) for memory accounting, and
// built-in and registered types serialize to frames (skein/core/serialize.h).
//
//   skein::Value a = 3;                         // int64
//   skein::Value s = std::string("hi");         // string
//   skein::Value l = skein::ValueList{a, s};    // list
//   int64_t x = a.as<int64_t>();
//   const std::string& str = s.get<std::string>();
//   skein::Value p = skein::Value::From(MyPoint{1, 2});   // any C++ type
//   const MyPoint& pt = p.get<MyPoint>();
#pragma once

#include <concepts>
#include <utility>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <vector>

#include "skein/core/buffer.h"
#include "skein/core/error.h"

namespace skein {

class Value;
using ValueList = std::vector<Value>;
using ValueMap = std::map<std::string, Value>;

/// Size estimate of a C++ object for memory accounting. Specialize it, or give
/// the type a `size_t nbytes() const` member, for types that own heap memory.
template <class T>
struct SizeOf {
  static size_t nbytes(const T& v) {
    if constexpr (requires { { v.nbytes() } -> std::convertible_to<size_t>; }) {
      return v.nbytes();
    } else {
      return sizeof(T);
    }
  }
};

namespace internal {

/// Type-erased immutable object behind a Value.
class Object {
 public:
  virtual ~Object() = default;
  virtual const std::type_info& type() const noexcept = 0;
  virtual size_t nbytes() const noexcept = 0;
  virtual const void* address() const noexcept = 0;
  virtual bool Equals(const Object& other) const = 0;
};

template <class T>
class Holder final : public Object {
 public:
  explicit Holder(T v) : value_(std::move(v)) {}
  const std::type_info& type() const noexcept override { return typeid(T); }
  size_t nbytes() const noexcept override { return SizeOf<T>::nbytes(value_); }
  const void* address() const noexcept override { return &value_; }
  bool Equals(const Object& other) const override {
    if (other.type() != typeid(T)) return false;
    if constexpr (std::equality_comparable<T>) {
      return value_ == *static_cast<const T*>(other.address());
    } else {
      return this == &other;
    }
  }
  const T& value() const noexcept { return value_; }

 private:
  T value_;
};

/// Registered display name of a C++ type ("string", "list", or the name given
/// to RegisterSerializer), else its demangled name.
std::string TypeDisplayName(const std::type_info& type);

}  // namespace internal

/// An immutable shared value. Safe for concurrent use: it is never modified
/// after construction (copies share the same object).
class Value {
 public:
  enum class Kind : uint8_t { kNone, kBool, kInt, kDouble, kObject };

  Value() noexcept : kind_(Kind::kNone), i_(0) {}
  Value(std::nullptr_t) noexcept : Value() {}  // NOLINT
  Value(bool b) noexcept : kind_(Kind::kBool), b_(b) {}  // NOLINT
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  Value(I i) noexcept : kind_(Kind::kInt), i_(static_cast<int64_t>(i)) {}  // NOLINT
  template <std::floating_point F>
  Value(F f) noexcept : kind_(Kind::kDouble), d_(static_cast<double>(f)) {}  // NOLINT
  Value(const char* s) : Value(std::string(s)) {}  // NOLINT
  Value(std::string_view s) : Value(std::string(s)) {}  // NOLINT
  Value(std::string s) : Value(Make(std::move(s))) {}  // NOLINT
  Value(Buffer b) : Value(Make(std::move(b))) {}  // NOLINT
  Value(ValueList l) : Value(Make(std::move(l))) {}  // NOLINT
  Value(ValueMap m) : Value(Make(std::move(m))) {}  // NOLINT

  /// Wraps any C++ object (moved into shared immutable storage).
  template <class T>
  static Value From(T v) {
    using U = std::decay_t<T>;
    if constexpr (std::is_same_v<U, Value>) {
      return v;
    } else if constexpr (std::is_same_v<U, bool> || std::is_arithmetic_v<U> ||
                         std::is_same_v<U, std::string> || std::is_same_v<U, const char*> ||
                         std::is_same_v<U, std::string_view> || std::is_same_v<U, Buffer> ||
                         std::is_same_v<U, ValueList> || std::is_same_v<U, ValueMap>) {
      return Value(std::move(v));
    } else {
      return Make<U>(std::move(v));
    }
  }

  Kind kind() const noexcept { return kind_; }
  bool is_none() const noexcept { return kind_ == Kind::kNone; }
  bool is_bool() const noexcept { return kind_ == Kind::kBool; }
  bool is_int() const noexcept { return kind_ == Kind::kInt; }
  bool is_double() const noexcept { return kind_ == Kind::kDouble; }
  bool is_object() const noexcept { return kind_ == Kind::kObject; }
  /// True if this value holds exactly a T (scalars: bool, int64_t, double).
  template <class T>
  bool is() const noexcept;

  /// Reference to a held object of type T; TypeError naming both types otherwise.
  template <class T>
  const T& get() const;
  /// The value converted to T: exact types, int64 -> double, integer widths
  /// (range-checked), lists to std::vector<U>. TypeError otherwise.
  template <class T>
  T as() const;

  /// "none", "bool", "int64", "float64", "string", "bytes", "list", "map",
  /// or the registered / demangled name of a user type.
  std::string type_name() const;
  const std::type_info& type() const noexcept;
  /// Size estimate in bytes for memory accounting.
  size_t nbytes() const noexcept;
  /// Python-like repr: None, True, 3, 2.5, 'abc', [1, 2], {'a': 1}, <Type>.
  std::string ToString() const;

  friend bool operator==(const Value& a, const Value& b);
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

 private:
  template <class T>
  static Value Make(T v) {
    Value out;
    out.kind_ = Kind::kObject;
    out.obj_ = std::make_shared<const internal::Holder<T>>(std::move(v));
    return out;
  }
  [[noreturn]] void ThrowWrongType(const char* wanted) const;
  [[noreturn]] static void ThrowOutOfRange(const char* wanted, const std::string& shown);

  Kind kind_;
  union {
    bool b_;
    int64_t i_;
    double d_;
  };
  std::shared_ptr<const internal::Object> obj_;
};

std::ostream& operator<<(std::ostream& os, const Value& v);

// Size of built-in object types.
template <>
struct SizeOf<std::string> {
  static size_t nbytes(const std::string& s) { return sizeof(s) + s.size(); }
};
template <>
struct SizeOf<Buffer> {
  static size_t nbytes(const Buffer& b) { return sizeof(b) + b.size(); }
};
template <>
struct SizeOf<ValueList> {
  static size_t nbytes(const ValueList& l) {
    size_t n = sizeof(l);
    for (const Value& v : l) n += v.nbytes();
    return n;
  }
};
template <>
struct SizeOf<ValueMap> {
  static size_t nbytes(const ValueMap& m) {
    size_t n = sizeof(m);
    for (const auto& [k, v] : m) n += 48 + k.size() + v.nbytes();
    return n;
  }
};
template <class U>
  requires std::is_arithmetic_v<U>
struct SizeOf<std::vector<U>> {
  static size_t nbytes(const std::vector<U>& v) { return sizeof(v) + v.size() * sizeof(U); }
};

// ---- template implementation ------------------------------------------------

namespace internal {
template <class T>
struct IsStdVector : std::false_type {};
template <class U, class A>
struct IsStdVector<std::vector<U, A>> : std::true_type {
  using Elem = U;
};
}  // namespace internal

template <class T>
bool Value::is() const noexcept {
  if constexpr (std::is_same_v<T, bool>) {
    return kind_ == Kind::kBool;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return kind_ == Kind::kInt;
  } else if constexpr (std::is_same_v<T, double>) {
    return kind_ == Kind::kDouble;
  } else {
    return kind_ == Kind::kObject && obj_->type() == typeid(T);
  }
}

template <class T>
const T& Value::get() const {
  if (kind_ != Kind::kObject || obj_->type() != typeid(T)) {
    ThrowWrongType(internal::TypeDisplayName(typeid(T)).c_str());
  }
  return *static_cast<const T*>(obj_->address());
}

template <class T>
T Value::as() const {
  using U = std::remove_cvref_t<T>;
  if constexpr (std::is_same_v<U, Value>) {
    return *this;
  } else if constexpr (std::is_same_v<U, bool>) {
    if (kind_ == Kind::kBool) return b_;
    ThrowWrongType("bool");
  } else if constexpr (std::is_integral_v<U>) {
    if (kind_ != Kind::kInt) ThrowWrongType(internal::TypeDisplayName(typeid(U)).c_str());
    if constexpr (!std::is_same_v<U, int64_t>) {
      if (!std::in_range<U>(i_)) {
        ThrowOutOfRange(internal::TypeDisplayName(typeid(U)).c_str(), std::to_string(i_));
      }
    }
    return static_cast<U>(i_);
  } else if constexpr (std::is_floating_point_v<U>) {
    if (kind_ == Kind::kDouble) return static_cast<U>(d_);
    if (kind_ == Kind::kInt) return static_cast<U>(i_);
    ThrowWrongType("float64");
  } else if constexpr (internal::IsStdVector<U>::value && !std::is_same_v<U, ValueList>) {
    if (is<U>()) return get<U>();
    if (!is<ValueList>()) ThrowWrongType(internal::TypeDisplayName(typeid(U)).c_str());
    U out;
    const ValueList& l = get<ValueList>();
    out.reserve(l.size());
    for (const Value& v : l) out.push_back(v.as<typename internal::IsStdVector<U>::Elem>());
    return out;
  } else {
    return get<U>();
  }
}

}  // namespace skein
