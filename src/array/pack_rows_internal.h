// Packing a strided view of a block into row-major order: what a fused
// transpose reads through (expr.cc) and what a materialized transpose
// writes (block_copy.cc). Built for this machine's vector width, since
// 8-byte elements go through 8 x 8 register transposes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace skein::array::internal {

/// Copies the elements of the view of `src` with extents `dims` and element
/// `strides` into row-major order at `dst` (`item`: 1, 4 or 8 bytes).
void PackRows(const std::byte* src, const std::vector<int64_t>& dims, const std::vector<int64_t>& strides, size_t item,
              std::byte* dst);

}  // namespace skein::array::internal
