// The hash functions of dataframe keys: grouping and hash partitioning
// (groupby_kernels.cc) and the per-label hashes a string column keeps
// (Column::StringHashes) must agree, so they live here once.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace skein::dataframe::internal {

/// A 64-bit finalizer (MurmurHash3's): every input bit moves every output bit.
inline uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

/// A string's bytes, eight at a time, then its length.
inline uint64_t HashBytes(std::string_view s) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ s.size();
  const char* p = s.data();
  size_t n = s.size();
  while (n >= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = Mix(h ^ v);
    p += 8;
    n -= 8;
  }
  uint64_t v = 0;
  if (n) std::memcpy(&v, p, n);
  return Mix(h ^ v ^ (static_cast<uint64_t>(n) << 56));
}

/// What a null (or NaN) key folds in.
constexpr uint64_t kNullHash = 0x5bd1e9955bd1e995ULL;

}  // namespace skein::dataframe::internal
