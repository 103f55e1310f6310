// Integer +, - and * that wrap around in two's complement, as NumPy's do.
// They compute on the unsigned type of the same width: signed overflow is
// undefined behaviour in C++ (fuzzing with UBSan found it in sums of large
// int64 values). Floats and bool pass through to the plain operators.
#pragma once

#include <type_traits>

namespace skein::array::internal {

template <class T>
constexpr bool kWraps = std::is_integral_v<T> && !std::is_same_v<T, bool>;

template <class T>
constexpr T WrapAdd(T a, T b) {
  if constexpr (kWraps<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}

template <class T>
constexpr T WrapSub(T a, T b) {
  if constexpr (kWraps<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}

template <class T>
constexpr T WrapMul(T a, T b) {
  if constexpr (kWraps<T>) {
    // uint8 promotes to int, where 255 * 255 still fits; wider types stay
    // unsigned.
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
  } else {
    return a * b;
  }
}

}  // namespace skein::array::internal
