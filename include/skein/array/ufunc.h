// skein/array/ufunc.h — elementwise operations on arrays (NumPy's ufuncs).
//
// Operators and functions broadcast their operands as NumPy does, promote
// dtypes by NumPy's rules (scalars are weak: x_f32 * 2.0 stays float32), and
// align blocks (rechunking where the operands' chunks differ). Chains fuse:
//
//   skein::Array z = (x + 1) * 2 - y;   // one task per block, not three
//   skein::Array m = skein::where(x > 0, x, 0.0);
//   skein::Array c = skein::clip(skein::sqrt(x), 0.0, 1.0);
//
// C++ spells Python's `**` as pow(), `//` as floor_divide(); `&`, `|`, `^`
// and `~` are bitwise (logical on bool arrays), as in NumPy.
#pragma once

#include <concepts>
#include <type_traits>

#include "skein/array/array.h"

namespace skein {

/// A Python-like scalar operand: bool, an integer or a floating point number.
template <class T>
concept ArrayScalar = std::is_arithmetic_v<T>;

/// One operand of an elementwise operation: an array or a (weak) scalar.
class Operand {
 public:
  Operand(Array a) : array_(std::move(a)) {}  // NOLINT: implicit
  template <ArrayScalar T>
  Operand(T v) {  // NOLINT
    if constexpr (std::is_same_v<T, bool>) {
      kind_ = kBool;
      i_ = v;
    } else if constexpr (std::is_integral_v<T>) {
      kind_ = kInt;
      i_ = static_cast<int64_t>(v);
    } else {
      kind_ = kFloat;
      f_ = static_cast<double>(v);
    }
  }
  bool is_array() const { return array_.valid(); }
  const Array& array() const { return array_; }
  bool is_float() const { return kind_ == kFloat; }
  bool is_bool() const { return kind_ == kBool; }
  double f() const { return kind_ == kFloat ? f_ : static_cast<double>(i_); }
  int64_t i() const { return kind_ == kFloat ? static_cast<int64_t>(f_) : i_; }

 private:
  enum Kind { kBool, kInt, kFloat };
  Array array_;
  Kind kind_ = kInt;
  int64_t i_ = 0;
  double f_ = 0;
};

#define SKEIN_ARRAY_BINARY_OP(OP, FN)                                                          \
  Array FN(const Operand& a, const Operand& b);                                                \
  inline Array operator OP(const Array& a, const Array& b) { return FN(a, b); }                \
  template <ArrayScalar T>                                                                     \
  Array operator OP(const Array& a, T b) { return FN(a, b); }                                  \
  template <ArrayScalar T>                                                                     \
  Array operator OP(T a, const Array& b) { return FN(a, b); }

SKEIN_ARRAY_BINARY_OP(+, add)
SKEIN_ARRAY_BINARY_OP(-, subtract)
SKEIN_ARRAY_BINARY_OP(*, multiply)
SKEIN_ARRAY_BINARY_OP(/, true_divide)
SKEIN_ARRAY_BINARY_OP(%, mod)
SKEIN_ARRAY_BINARY_OP(==, equal)
SKEIN_ARRAY_BINARY_OP(!=, not_equal)
SKEIN_ARRAY_BINARY_OP(<, less)
SKEIN_ARRAY_BINARY_OP(<=, less_equal)
SKEIN_ARRAY_BINARY_OP(>, greater)
SKEIN_ARRAY_BINARY_OP(>=, greater_equal)
SKEIN_ARRAY_BINARY_OP(&, bitwise_and)
SKEIN_ARRAY_BINARY_OP(|, bitwise_or)
SKEIN_ARRAY_BINARY_OP(^, bitwise_xor)
#undef SKEIN_ARRAY_BINARY_OP

/// Python's `a // b` (floor division; integer division by zero gives 0).
Array floor_divide(const Operand& a, const Operand& b);
/// Python's `a ** b`.
Array pow(const Operand& a, const Operand& b);
Array power(const Operand& a, const Operand& b);
/// Elementwise maximum / minimum (NaN propagates, as np.maximum).
Array maximum(const Operand& a, const Operand& b);
Array minimum(const Operand& a, const Operand& b);
Array logical_and(const Operand& a, const Operand& b);
Array logical_or(const Operand& a, const Operand& b);
Array logical_xor(const Operand& a, const Operand& b);
Array logical_not(const Array& a);
/// `~a`: bitwise not (logical not on bool).
Array operator~(const Array& a);

Array negative(const Array& a);
Array abs(const Array& a);
Array sqrt(const Array& a);
Array exp(const Array& a);
Array log(const Array& a);
Array sin(const Array& a);
Array cos(const Array& a);
Array isnan(const Array& a);
/// `cond ? a : b` elementwise, broadcasting all three.
Array where(const Operand& cond, const Operand& a, const Operand& b);
/// Limits values to [lo, hi].
Array clip(const Operand& a, const Operand& lo, const Operand& hi);

}  // namespace skein
