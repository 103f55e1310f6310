// skein/array/array.h — chunked N-dimensional arrays with a NumPy-like API.
//
// An Array is a grid of blocks (NDArrays) computed lazily by a task graph, as
// in dask.array: every operation adds one layer of tasks, and nothing runs
// until compute(). Chains of elementwise operations fuse into one task per
// block; reductions run as trees (`split_every`); anything runs on the local
// scheduler, within a memory limit, spilling when needed.
//
//   auto x = skein::random::default_rng(42).normal(0, 1, {10000, 10000}, 1000);
//   skein::Array y = (x + x.T()).sum(0);          // lazy: a graph of tasks
//   std::cout << y;                               // skein.array<sum, shape=(10000,), ...>
//   skein::NDArray r = y.compute();               // runs it
//   double first = r.at<double>({0});
//
// Creation functions are in creation.h, elementwise operators and math in
// ufunc.h, matmul/tensordot/tsqr in linalg.h, map_blocks/map_overlap in
// blockwise.h; skein/skein.h includes them all.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "skein/array/chunks.h"
#include "skein/array/dtype.h"
#include "skein/array/ndarray.h"
#include "skein/core/layer.h"
#include "skein/local/scheduler.h"

namespace skein {

/// Python's slice: start, stop and step, each optional (`Slice()` is `:`).
struct Slice {
  std::optional<int64_t> start, stop, step;
  Slice() = default;
  Slice(std::optional<int64_t> start_, std::optional<int64_t> stop_, std::optional<int64_t> step_ = std::nullopt)
      : start(start_), stop(stop_), step(step_) {}
};
struct NewAxis {};
struct Ellipsis {};
inline constexpr NewAxis newaxis{};
inline constexpr Ellipsis ellipsis{};

/// One entry of `x[{...}]`: an integer (drops the axis), a Slice, newaxis or
/// ellipsis.
class Index {
 public:
  Index(int64_t i) : v_(i) {}  // NOLINT: implicit, as in x[{3, Slice()}]
  Index(int i) : v_(static_cast<int64_t>(i)) {}  // NOLINT
  Index(Slice s) : v_(s) {}  // NOLINT
  Index(NewAxis n) : v_(n) {}  // NOLINT
  Index(Ellipsis e) : v_(e) {}  // NOLINT
  const std::variant<int64_t, Slice, NewAxis, Ellipsis>& get() const { return v_; }

 private:
  std::variant<int64_t, Slice, NewAxis, Ellipsis> v_;
};

/// Axes of a reduction: all of them (default), one, or several. Negative
/// axes count from the end.
class Axes {
 public:
  Axes() = default;
  Axes(int axis) : axes_{axis}, all_(false) {}  // NOLINT
  Axes(std::initializer_list<int> axes) : axes_(axes), all_(false) {}  // NOLINT
  Axes(std::vector<int> axes) : axes_(std::move(axes)), all_(false) {}  // NOLINT
  bool all() const { return all_; }
  const std::vector<int>& axes() const { return axes_; }

 private:
  std::vector<int> axes_;
  bool all_ = true;
};

/// Options of reductions.
struct ReduceOptions {
  bool keepdims = false;
  /// Fan-in of the tree reduction; 0: config "array.split-every" (8).
  int split_every = 0;
  /// Delta degrees of freedom of var and std.
  int ddof = 0;
};

class Array;
namespace internal {
struct ArrayNode;
struct Fusable;
}  // namespace internal

/// A lazy chunked array. Immutable; copies share the graph; safe for
/// concurrent use.
class Array {
 public:
  /// An empty (invalid) array; most calls on it are an Error.
  Array() = default;

  const std::string& name() const;
  const Shape& shape() const;
  const Chunks& chunks() const;
  DType dtype() const;
  int ndim() const { return static_cast<int>(shape().size()); }
  int64_t size() const { return ShapeSize(shape()); }
  int64_t itemsize() const { return static_cast<int64_t>(ItemSize(dtype())); }
  int64_t nbytes() const { return size() * itemsize(); }
  /// Blocks per axis.
  std::vector<int64_t> numblocks() const { return NumBlocks(chunks()); }
  /// The largest block size on each axis.
  Shape chunksize() const;
  bool valid() const { return node_ != nullptr; }

  /// Key of one block: (name, i, j, ...).
  Key key(std::span<const int64_t> block) const;
  Key key(std::initializer_list<int64_t> block) const { return key(std::span(block.begin(), block.size())); }
  /// Keys of all blocks, row-major.
  std::vector<Key> keys() const;
  /// The layer computing this array's blocks (and, through it, its inputs).
  const LayerPtr& layer() const;
  /// Every task this array needs.
  Graph graph() const;
  /// Number of tasks in graph() (without building it).
  size_t num_tasks() const;

  /// Computes the blocks and assembles them into one dense array.
  NDArray compute(const ComputeOptions& options = {}) const;
  /// Computes now; the result is an array whose blocks are held in memory.
  Array persist(const ComputeOptions& options = {}) const;

  /// skein.array<add, shape=(100, 100), dtype=float64, chunksize=(50, 50),
  /// chunks=4, tasks=12, nbytes=78.12 KiB>
  std::string ToString() const;

  // ---- elementwise (more in ufunc.h) ----
  Array astype(DType dtype) const;
  Array operator-() const;

  // ---- reductions ----
  Array sum(Axes axes = {}, ReduceOptions options = {}) const;
  Array prod(Axes axes = {}, ReduceOptions options = {}) const;
  Array mean(Axes axes = {}, ReduceOptions options = {}) const;
  Array var(Axes axes = {}, ReduceOptions options = {}) const;
  Array std(Axes axes = {}, ReduceOptions options = {}) const;
  Array min(Axes axes = {}, ReduceOptions options = {}) const;
  Array max(Axes axes = {}, ReduceOptions options = {}) const;
  Array any(Axes axes = {}, ReduceOptions options = {}) const;
  Array all(Axes axes = {}, ReduceOptions options = {}) const;
  Array nansum(Axes axes = {}, ReduceOptions options = {}) const;
  Array nanmean(Axes axes = {}, ReduceOptions options = {}) const;
  /// Index of the smallest / largest element along `axis`, or in the
  /// flattened array (nullopt), as NumPy's argmin/argmax.
  Array argmin(std::optional<int> axis = std::nullopt, ReduceOptions options = {}) const;
  Array argmax(std::optional<int> axis = std::nullopt, ReduceOptions options = {}) const;
  /// Running sum / product along `axis` (flattened when nullopt).
  Array cumsum(std::optional<int> axis = std::nullopt) const;
  Array cumprod(std::optional<int> axis = std::nullopt) const;

  // ---- indexing and shape ----
  /// Basic indexing: x[{Slice(0, 10, 2), 3, newaxis, ellipsis}].
  Array operator[](std::initializer_list<Index> index) const { return Index_(std::vector<Index>(index)); }
  Array operator[](const std::vector<Index>& index) const { return Index_(index); }
  /// Elements at `indices` along `axis` (negative indices count from the end).
  Array take(const std::vector<int64_t>& indices, int axis = 0) const;
  /// Elements where `mask` is true along `axis` (mask length = axis extent).
  Array compress(const std::vector<bool>& mask, int axis = 0) const;
  /// Boolean-mask indexing with a lazy 1-d bool array along `axis`; the mask
  /// is computed first (its length decides the result's shape).
  Array compress(const Array& mask, int axis = 0) const;
  /// Reverses (or permutes) the axes.
  Array T() const { return transpose(); }
  Array transpose(std::vector<int> axes = {}) const;
  /// A new shape with the same size (one extent may be -1), rechunking as needed.
  Array reshape(Shape shape) const;
  Array flatten() const { return reshape({-1}); }
  /// The same array cut into other blocks.
  Array rechunk(const ChunkSpec& chunks) const;

  /// For the implementation: the node behind this array.
  explicit Array(std::shared_ptr<const internal::ArrayNode> node) : node_(std::move(node)) {}
  const std::shared_ptr<const internal::ArrayNode>& node() const { return node_; }

 private:
  Array Index_(const std::vector<Index>& index) const;
  const internal::ArrayNode& n() const;
  std::shared_ptr<const internal::ArrayNode> node_;
};

std::ostream& operator<<(std::ostream& os, const Array& a);

/// Computes several arrays in one graph, sharing common work.
std::vector<NDArray> compute(const std::vector<Array>& arrays, const ComputeOptions& options = {});

/// Joins arrays along an existing axis; chunks on the other axes are aligned.
Array concatenate(const std::vector<Array>& arrays, int axis = 0);
/// Joins arrays along a new axis; they must have the same shape.
Array stack(const std::vector<Array>& arrays, int axis = 0);

namespace internal {

/// Everything behind an Array.
struct ArrayNode {
  std::string name;
  Shape shape;
  Chunks chunks;
  DType dtype;
  LayerPtr layer;
  /// Set for elementwise results whose expression later elementwise
  /// operations may absorb (fusion); see ufunc.cc.
  std::shared_ptr<const Fusable> fusable;
};

/// An array over a new layer whose tasks compute blocks (name, i, j, ...);
/// `fusable` for elementwise results (see ufunc.cc).
Array MakeArray(std::string name, Shape shape, Chunks chunks, DType dtype, Graph tasks, std::vector<LayerPtr> deps,
                std::shared_ptr<const Fusable> fusable = nullptr);
/// The distinct layers of `arrays` (a new layer's dependencies).
std::vector<LayerPtr> LayersOf(const std::vector<Array>& arrays);
/// "op-<16 hex>".
std::string NewArrayName(std::string_view op);
/// Normalizes a possibly negative axis; Error naming `op` and the rank.
int NormalizeAxis(int axis, int ndim, std::string_view op);
/// Checks `a` is valid (Error naming `op` otherwise).
void CheckValid(const Array& a, std::string_view op);

}  // namespace internal

}  // namespace skein
