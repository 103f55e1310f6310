// DType names and promotion (see dtype.h).
#include "skein/array/dtype.h"

#include <array>

namespace skein {

size_t ItemSize(DType t) noexcept {
  switch (t) {
    case DType::kBool:
    case DType::kUInt8: return 1;
    case DType::kInt32:
    case DType::kFloat32: return 4;
    default: return 8;
  }
}

std::string_view DTypeName(DType t) noexcept {
  static constexpr std::array<std::string_view, 6> kNames = {"bool", "uint8", "int32", "int64", "float32", "float64"};
  return kNames[static_cast<size_t>(t)];
}

DType ParseDType(std::string_view name) {
  if (!name.empty() && (name[0] == '<' || name[0] == '|' || name[0] == '=')) name.remove_prefix(1);
  struct Alias { std::string_view name; DType type; };
  static constexpr Alias kAliases[] = {
      {"bool", DType::kBool},       {"?", DType::kBool},      {"b1", DType::kBool},
      {"uint8", DType::kUInt8},     {"u1", DType::kUInt8},    {"int32", DType::kInt32},
      {"i4", DType::kInt32},        {"int64", DType::kInt64}, {"i8", DType::kInt64},
      {"float32", DType::kFloat32}, {"f4", DType::kFloat32},  {"float64", DType::kFloat64},
      {"f8", DType::kFloat64},      {"double", DType::kFloat64}, {"float", DType::kFloat64},
      {"int", DType::kInt64},
  };
  for (const Alias& a : kAliases) {
    if (a.name == name) return a.type;
  }
  throw TypeError("unsupported dtype '" + std::string(name) +
                  "' (supported: bool, uint8, int32, int64, float32, float64)");
}

bool IsFloat(DType t) noexcept { return t == DType::kFloat32 || t == DType::kFloat64; }
bool IsInteger(DType t) noexcept { return t == DType::kUInt8 || t == DType::kInt32 || t == DType::kInt64; }

DType ResultType(DType a, DType b) noexcept {
  if (a == b) return a;
  if (a == DType::kBool) return b;
  if (b == DType::kBool) return a;
  if (IsFloat(a) && IsFloat(b)) return DType::kFloat64;
  if (IsFloat(a) || IsFloat(b)) {
    DType f = IsFloat(a) ? a : b;
    DType i = IsFloat(a) ? b : a;
    // float32 holds uint8 exactly but not int32/int64 (NumPy widens to float64).
    return (f == DType::kFloat32 && i == DType::kUInt8) ? DType::kFloat32 : DType::kFloat64;
  }
  // Integers: the wider one (uint8 fits in both int32 and int64).
  return static_cast<uint8_t>(a) > static_cast<uint8_t>(b) ? a : b;
}

DType ResultTypeWithScalar(DType a, bool is_float) noexcept {
  if (is_float) return IsFloat(a) ? a : DType::kFloat64;
  return a == DType::kBool ? DType::kInt64 : a;
}

DType FloatTypeFor(DType a) noexcept {
  if (IsFloat(a)) return a;
  return (a == DType::kBool || a == DType::kUInt8) ? DType::kFloat32 : DType::kFloat64;
}

}  // namespace skein
