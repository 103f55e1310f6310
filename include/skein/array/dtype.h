// skein/array/dtype.h — element types of arrays and NumPy's promotion rules.
//
//   skein::DType t = skein::ResultType(skein::DType::kInt32, skein::DType::kFloat32);  // float64
//   skein::VisitDType(t, [&]<class T>(T) { ... T is double here ... });
//
// Supported: bool, uint8, int32, int64, float32, float64. Promotion follows
// NumPy 1.24 (`np.result_type`): int32 + float32 -> float64, uint8 + int32 ->
// int32, bool + anything -> the other type. Python-style scalars are "weak":
// `x_float32 * 2.5` stays float32, `x_int32 + 1` stays int32.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "skein/core/error.h"

namespace skein {

enum class DType : uint8_t { kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64 };

/// Bytes per element.
size_t ItemSize(DType t) noexcept;
/// "bool", "uint8", "int32", "int64", "float32", "float64" (NumPy's names).
std::string_view DTypeName(DType t) noexcept;
/// Inverse of DTypeName (NumPy aliases "f8", "<f8", "i4", "u1", "?" accepted);
/// TypeError naming the string otherwise.
DType ParseDType(std::string_view name);

bool IsFloat(DType t) noexcept;
bool IsInteger(DType t) noexcept;  ///< uint8, int32, int64 (not bool)

/// np.result_type(a, b) for two arrays.
DType ResultType(DType a, DType b) noexcept;
/// Result type of an array of type `a` with a Python int (`is_float` false)
/// or float scalar: the array's type, widened only across kinds.
DType ResultTypeWithScalar(DType a, bool is_float) noexcept;
/// The float type that sqrt, exp, ... compute in (NumPy has float16 for
/// bool/uint8; skein has no float16 and uses float32).
DType FloatTypeFor(DType a) noexcept;

/// The C++ element type of each dtype.
template <class T>
constexpr DType DTypeOf();
template <> constexpr DType DTypeOf<bool>() { return DType::kBool; }
template <> constexpr DType DTypeOf<uint8_t>() { return DType::kUInt8; }
template <> constexpr DType DTypeOf<int32_t>() { return DType::kInt32; }
template <> constexpr DType DTypeOf<int64_t>() { return DType::kInt64; }
template <> constexpr DType DTypeOf<float>() { return DType::kFloat32; }
template <> constexpr DType DTypeOf<double>() { return DType::kFloat64; }

template <class T>
concept ArrayElement = std::is_same_v<T, bool> || std::is_same_v<T, uint8_t> || std::is_same_v<T, int32_t> ||
                       std::is_same_v<T, int64_t> || std::is_same_v<T, float> || std::is_same_v<T, double>;

/// Calls f(T{}) with T the element type of `t`.
template <class F>
decltype(auto) VisitDType(DType t, F&& f) {
  switch (t) {
    case DType::kBool: return f(bool{});
    case DType::kUInt8: return f(uint8_t{});
    case DType::kInt32: return f(int32_t{});
    case DType::kInt64: return f(int64_t{});
    case DType::kFloat32: return f(float{});
    case DType::kFloat64: break;
  }
  return f(double{});
}

}  // namespace skein
