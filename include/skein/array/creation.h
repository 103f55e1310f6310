// skein/array/creation.h — making arrays: constants, ranges, random numbers,
// in-memory data and functions of the block index.
//
//   auto a = skein::zeros({1000, 1000}, 100);                // float64, 100x100 blocks
//   auto r = skein::arange(0, 10, 1, 5);                     // [0..9] in blocks of 5
//   auto n = skein::random::default_rng(7).normal(0, 1, {4000, 4000}, 1000);
//   auto v = skein::from_vector<double>({1, 2, 3, 4}, {2, 2}, 1);
//   auto f = skein::from_function([](const skein::BlockInfo& b) {
//     return skein::NDArray::Zeros(skein::DType::kInt64, b.shape); }, {10}, 5, skein::DType::kInt64);
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "skein/array/array.h"

namespace skein {

/// Where a block sits: what functions of the block index are told.
struct BlockInfo {
  std::vector<int64_t> index;                          ///< block index per axis
  std::vector<std::pair<int64_t, int64_t>> location;   ///< [start, stop) per axis in the array
  Shape shape;                                         ///< the block's shape
  Shape array_shape;                                   ///< the whole array's shape
  DType dtype;                                         ///< the array's dtype
};

Array empty(const Shape& shape, const ChunkSpec& chunks = {}, DType dtype = DType::kFloat64);
Array zeros(const Shape& shape, const ChunkSpec& chunks = {}, DType dtype = DType::kFloat64);
Array ones(const Shape& shape, const ChunkSpec& chunks = {}, DType dtype = DType::kFloat64);
/// Every element `value` (converted to `dtype`).
Array full(const Shape& shape, double value, const ChunkSpec& chunks = {}, DType dtype = DType::kFloat64);
/// start, start + step, ... below stop (above it for negative steps). The
/// dtype defaults to int64 for integral arguments, else float64.
Array arange(double start, double stop, double step = 1, const ChunkSpec& chunks = {},
             std::optional<DType> dtype = std::nullopt);
/// `num` evenly spaced values from start to stop (inclusive if endpoint).
Array linspace(double start, double stop, int64_t num = 50, const ChunkSpec& chunks = {}, bool endpoint = true,
               DType dtype = DType::kFloat64);
/// Ones on the k-th diagonal of an n x m (m defaults to n) matrix.
Array eye(int64_t n, const ChunkSpec& chunks = {}, std::optional<int64_t> m = std::nullopt, int64_t k = 0,
          DType dtype = DType::kFloat64);

/// Splits an in-memory array into blocks (the data is shared, not copied,
/// until a block is cut out of it).
Array from_array(const NDArray& data, const ChunkSpec& chunks = {});
/// Copies `values` into an array of `shape` (1-d by default).
template <ArrayElement T>
Array from_vector(const std::vector<T>& values, Shape shape = {}, const ChunkSpec& chunks = {}) {
  return from_array(NDArray::FromVector<T>(values, std::move(shape)), chunks);
}
/// Copies a row-major view of `shape` over `data` (what std::mdspan or a
/// C buffer describe). Error if the sizes differ.
template <ArrayElement T>
Array from_buffer(std::span<const T> data, Shape shape, const ChunkSpec& chunks = {}) {
  if (static_cast<int64_t>(data.size()) != ShapeSize(shape)) {
    throw Error("from_buffer: " + std::to_string(data.size()) + " elements do not fill shape " + ShapeToString(shape));
  }
  return from_vector<T>(std::vector<T>(data.begin(), data.end()), std::move(shape), chunks);
}

/// An array whose blocks are `fn(info)` (local mode: `fn` is a plain
/// callable). Each block must come back with the promised shape and dtype;
/// otherwise computing fails naming the block.
Array from_function(std::function<NDArray(const BlockInfo&)> fn, const Shape& shape, const ChunkSpec& chunks,
                    DType dtype, std::string name = "from-function");

namespace random {

/// Reproducible random arrays: the same seed gives the same numbers for the
/// same shape and chunks, whatever the thread count. Each block draws from
/// its own stream (xoshiro256** seeded from the seed, the call and the
/// block), so blocks are generated in parallel.
class Generator {
 public:
  explicit Generator(uint64_t seed) : seed_(seed) {}
  /// Uniform in [0, 1).
  Array random(const Shape& shape, const ChunkSpec& chunks = {}, DType dtype = DType::kFloat64);
  /// Uniform in [low, high).
  Array uniform(double low, double high, const Shape& shape, const ChunkSpec& chunks = {},
                DType dtype = DType::kFloat64);
  /// Normal with mean `loc` and standard deviation `scale`.
  Array normal(double loc, double scale, const Shape& shape, const ChunkSpec& chunks = {},
               DType dtype = DType::kFloat64);
  /// Integers in [low, high).
  Array integers(int64_t low, int64_t high, const Shape& shape, const ChunkSpec& chunks = {},
                 DType dtype = DType::kInt64);

 private:
  Array Make(int kind, double a, double b, const Shape& shape, const ChunkSpec& chunks, DType dtype);
  uint64_t seed_;
  uint64_t calls_ = 0;
};

inline Generator default_rng(uint64_t seed) { return Generator(seed); }

}  // namespace random
}  // namespace skein
