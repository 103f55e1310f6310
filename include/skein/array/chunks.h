// skein/array/chunks.h — how an array is cut into blocks.
//
// Chunks are given per axis as explicit block sizes, as in dask.array:
// ((1000, 1000, 500), (700,)) cuts a 2500 x 700 array into 3 x 1 blocks.
// A ChunkSpec is what users write and normalizes against a shape:
//
//   skein::ChunkSpec(1000)                 // every axis in blocks of 1000
//   skein::ChunkSpec({1000, -1})           // rows by 1000, columns whole
//   skein::ChunkSpec(skein::Chunks{{2, 3}, {5}})   // explicit sizes
//   skein::ChunkSpec::Auto()               // toward config "array.chunk-size" (128 MiB)
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "skein/array/dtype.h"
#include "skein/array/ndarray.h"

namespace skein {

/// Block sizes per axis.
using Chunks = std::vector<std::vector<int64_t>>;

/// A user's chunking request. Per axis: a block size, -1 (the whole axis),
/// 0 ("auto"), or explicit sizes.
class ChunkSpec {
 public:
  /// "auto" on every axis.
  ChunkSpec() = default;
  static ChunkSpec Auto() { return ChunkSpec(); }
  /// The same block size on every axis (-1: whole axis, 0: auto).
  ChunkSpec(int64_t size) : all_(size) {}  // NOLINT: a number is a spec
  ChunkSpec(int size) : all_(size) {}  // NOLINT
  /// One block size per axis (-1: whole axis, 0: auto).
  ChunkSpec(std::initializer_list<int64_t> per_axis) : per_axis_(per_axis) {}  // NOLINT
  ChunkSpec(std::vector<int64_t> per_axis) : per_axis_(std::move(per_axis)) {}  // NOLINT
  /// Explicit block sizes.
  ChunkSpec(Chunks explicit_chunks) : explicit_(std::move(explicit_chunks)) {}  // NOLINT

  /// Block sizes for an array of `shape` and `dtype`; Error naming the shape
  /// and the spec if they do not fit (wrong rank, sizes that do not add up).
  Chunks Normalize(const Shape& shape, DType dtype) const;
  /// True when every axis is "auto" (what readers use to align blocks with
  /// a file's own chunks).
  bool IsAuto() const { return !explicit_ && per_axis_.empty() && all_.value_or(0) == 0; }

 private:
  std::optional<int64_t> all_;
  std::vector<int64_t> per_axis_;
  std::optional<Chunks> explicit_;
};

/// "((1000, 1000), (500,))".
std::string ChunksToString(const Chunks& chunks);
/// Blocks per axis.
std::vector<int64_t> NumBlocks(const Chunks& chunks);
/// Start offset of every block along one axis, plus the total at the end.
std::vector<int64_t> BlockOffsets(const std::vector<int64_t>& sizes);
/// The shape of the block at `block` (an index per axis).
Shape BlockShape(const Chunks& chunks, std::span<const int64_t> block);
/// Every block index in row-major order.
std::vector<std::vector<int64_t>> AllBlocks(const Chunks& chunks);
/// Blocks of `size` (the last one smaller) covering `extent`; one empty
/// block for extent 0 (as dask keeps one).
std::vector<int64_t> RegularChunks(int64_t extent, int64_t size);
/// The coarsest chunking whose boundaries include both `a`'s and `b`'s (the
/// common refinement). Both must cover the same extent.
std::vector<int64_t> CommonChunks(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

}  // namespace skein
