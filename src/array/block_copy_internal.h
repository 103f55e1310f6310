// Copying rectangular regions between dense blocks: the inner loop of
// assembling results, rechunking, concatenating, slicing and overlaps.
#pragma once

#include <cstdint>
#include <span>

#include "skein/array/ndarray.h"

namespace skein::array::internal {

/// Copies the region of `src` starting at `src_start` with extents `count`
/// into `dst` at `dst_start`. Same dtype and rank; the caller checks bounds.
void CopyRegion(const NDArray& src, std::span<const int64_t> src_start, std::span<const int64_t> count, NDArray* dst,
                std::span<const int64_t> dst_start);

/// A new block holding src[start : start + count * step : step] on each axis
/// (steps may be negative: start is then the first element taken).
NDArray StridedSlice(const NDArray& src, std::span<const int64_t> start, std::span<const int64_t> count,
                     std::span<const int64_t> step);

/// Axes of `src` permuted: out.shape[i] = src.shape[perm[i]].
NDArray Transpose(const NDArray& src, std::span<const int> perm);

}  // namespace skein::array::internal
