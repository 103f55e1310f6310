// Packing strided views into row order (see pack_rows_internal.h).
#include "pack_rows_internal.h"

#include <algorithm>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace skein::array::internal {

namespace {

// GCC 12's AVX-512 intrinsics start from a self-initialised "undefined"
// vector, which -Wmaybe-uninitialized reports wherever they are inlined.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// Transposes an 8 x 8 tile of 8-byte elements: row r of the tile is read
// from `src + r * src_row` (8 contiguous elements) and written as column r
// of the 8 rows at `dst + c * dst_row`. Registers do the shuffling, so each
// of the 16 cache lines is touched once, not once per element.
inline void Transpose8x8(const uint64_t* src, int64_t src_row, uint64_t* dst, int64_t dst_row) {
#if defined(__AVX512F__)
  __m512d r[8], t[8];
  for (int k = 0; k < 8; ++k) r[k] = _mm512_loadu_pd(src + k * src_row);
  for (int k = 0; k < 8; k += 2) {
    t[k] = _mm512_unpacklo_pd(r[k], r[k + 1]);      // (r_k[0], r_k+1[0], r_k[2], r_k+1[2], ...)
    t[k + 1] = _mm512_unpackhi_pd(r[k], r[k + 1]);  // (r_k[1], r_k+1[1], ...)
  }
  for (int odd = 0; odd < 2; ++odd) {
    // 128-bit lanes: lane L of t[odd], t[odd+2], t[odd+4], t[odd+6] is
    // output row 2L + odd.
    const __m512d a = _mm512_shuffle_f64x2(t[odd], t[odd + 2], 0x88), b = _mm512_shuffle_f64x2(t[odd], t[odd + 2], 0xDD);
    const __m512d c = _mm512_shuffle_f64x2(t[odd + 4], t[odd + 6], 0x88), d = _mm512_shuffle_f64x2(t[odd + 4], t[odd + 6], 0xDD);
    _mm512_storeu_pd(dst + (0 + odd) * dst_row, _mm512_shuffle_f64x2(a, c, 0x88));
    _mm512_storeu_pd(dst + (4 + odd) * dst_row, _mm512_shuffle_f64x2(a, c, 0xDD));
    _mm512_storeu_pd(dst + (2 + odd) * dst_row, _mm512_shuffle_f64x2(b, d, 0x88));
    _mm512_storeu_pd(dst + (6 + odd) * dst_row, _mm512_shuffle_f64x2(b, d, 0xDD));
  }
#elif defined(__AVX2__)
  // Four 4 x 4 transposes.
  for (int bi = 0; bi < 8; bi += 4) {
    for (int bj = 0; bj < 8; bj += 4) {
      __m256d r[4];
      for (int k = 0; k < 4; ++k) r[k] = _mm256_loadu_pd(reinterpret_cast<const double*>(src + (bi + k) * src_row + bj));
      const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
      const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
      double* o = reinterpret_cast<double*>(dst + bj * dst_row + bi);
      _mm256_storeu_pd(o, _mm256_permute2f128_pd(t0, t2, 0x20));
      _mm256_storeu_pd(o + dst_row, _mm256_permute2f128_pd(t1, t3, 0x20));
      _mm256_storeu_pd(o + 2 * dst_row, _mm256_permute2f128_pd(t0, t2, 0x31));
      _mm256_storeu_pd(o + 3 * dst_row, _mm256_permute2f128_pd(t1, t3, 0x31));
    }
  }
#else
  for (int r = 0; r < 8; ++r)
    for (int c = 0; c < 8; ++c) dst[c * dst_row + r] = src[r * src_row + c];
#endif
}

}  // namespace

// Copies the elements of a strided view (`dims`, element `strides`) into
// row-major order at `dst`, transposing the last two axes in 32 x 32 tiles
// so that reads and writes both stay within a few cache lines (one axis:
// a single row). 8-byte elements read down columns (a fused transpose) go
// through 8 x 8 register transposes.
void PackRows(const std::byte* src, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides, size_t item,
              std::byte* dst) {
  const size_t md = dims.size();
  const int64_t rows = md >= 2 ? dims[md - 2] : 1, sr = md >= 2 ? strides[md - 2] : 0;
  const int64_t cols = dims[md - 1], sc = strides[md - 1];
  int64_t outer = 1;
  for (size_t d = 0; d + 2 < md; ++d) outer *= dims[d];
  auto run = [&]<class T>(T) {
    constexpr int64_t kTile = 32, kAhead = 64;
    const T* in = reinterpret_cast<const T*>(src);
    T* out = reinterpret_cast<T*>(dst);
    std::vector<int64_t> idx(md, 0);
    for (int64_t o = 0; o < outer; ++o) {
      int64_t off = 0;
      for (size_t d = 0; d + 2 < md; ++d) off += idx[d] * strides[d];
      const T* s = in + off;
      T* t = out + o * rows * cols;
      for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
        const int64_t i1 = std::min(rows, i0 + kTile);
        // The hardware prefetchers do not follow reads that jump a page per
        // column: ask for column j + kAhead (its lines in rows i0..i1).
        auto prefetch = [&](int64_t j) {
          if (sr == 1 && j + kAhead < cols) {
            const T* next = s + i0 + (j + kAhead) * sc;
            for (int64_t b = 0; b < (i1 - i0) * static_cast<int64_t>(sizeof(T)); b += 64) {
              __builtin_prefetch(reinterpret_cast<const char*>(next) + b);
            }
          }
        };
        int64_t j = 0;
        if constexpr (sizeof(T) == 8) {
          if (sr == 1) {
            const int64_t i8 = i0 + (i1 - i0) / 8 * 8;
            for (; j + 8 <= cols; j += 8) {
              for (int64_t u = 0; u < 8; ++u) prefetch(j + u);
              for (int64_t i = i0; i < i8; i += 8) Transpose8x8(s + i + j * sc, sc, t + i * cols + j, cols);
              for (int64_t u = j; u < j + 8; ++u)
                for (int64_t i = i8; i < i1; ++i) t[i * cols + u] = s[i + u * sc];
            }
          }
        }
        for (; j < cols; j += kTile) {
          const int64_t j1 = std::min(cols, j + kTile);
          for (int64_t u = j; u < j1; ++u) {
            prefetch(u);
            for (int64_t i = i0; i < i1; ++i) t[i * cols + u] = s[i * sr + u * sc];
          }
        }
      }
      for (size_t d = md > 2 ? md - 2 : 0; d-- > 0;) {
        if (++idx[d] < dims[d]) break;
        idx[d] = 0;
      }
    }
  };
  switch (item) {
    case 1: run(uint8_t{}); break;
    case 4: run(uint32_t{}); break;
    default: run(uint64_t{}); break;
  }
}

#pragma GCC diagnostic pop

}  // namespace skein::array::internal
