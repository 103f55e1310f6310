// skein/array/blockwise.h — user functions on blocks: map_blocks and
// map_overlap (halo exchange), what image-processing and climate code needs.
//
//   auto y = skein::map_blocks([](std::span<const skein::NDArray> b, const skein::BlockInfo& info) {
//     return smooth(b[0]); }, {x});
//   auto z = skein::map_overlap(laplacian, x, {1, 1}, skein::Boundary::Reflect());
//
// The function gets the blocks and where they sit (BlockInfo); it must
// return a block of the promised shape and dtype, or computing fails naming
// the block. Functions are plain callables, so these run in local mode.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "skein/array/creation.h"

namespace skein {

using BlockFunction = std::function<NDArray(std::span<const NDArray> blocks, const BlockInfo& info)>;

/// fn on corresponding blocks of `arrays` (same rank and shape; chunks are
/// aligned by rechunking). The result has the first array's chunks and
/// dtype unless given.
Array map_blocks(BlockFunction fn, const std::vector<Array>& arrays, std::optional<DType> dtype = std::nullopt,
                 std::optional<Chunks> chunks = std::nullopt, std::string name = "map-blocks");

/// What lies beyond the array's edges in map_overlap (dask's boundary=).
struct Boundary {
  enum Kind { kReflect, kPeriodic, kNearest, kConstant, kNone };
  Kind kind = kReflect;
  double value = 0;
  static Boundary Reflect() { return {kReflect}; }    ///< mirror, edge included: [1 0 | 0 1 2]
  static Boundary Periodic() { return {kPeriodic}; }  ///< wrap around
  static Boundary Nearest() { return {kNearest}; }    ///< repeat the edge value
  static Boundary Constant(double v) { return {kConstant, v}; }
  static Boundary None() { return {kNone}; }          ///< no halo at the array's edges
};

/// fn on each block extended by `depth` elements of its neighbours on each
/// axis (one depth per axis), then trimmed back to the block (if `trim`).
/// Depth must not exceed the neighbouring blocks' extents.
Array map_overlap(BlockFunction fn, const Array& x, std::vector<int64_t> depth, Boundary boundary = Boundary::Reflect(),
                  bool trim = true, std::optional<DType> dtype = std::nullopt, std::string name = "map-overlap");

}  // namespace skein
