// Reduction kernels: one block to a partial result, partials combined, and
// the final partial turned into the answer (dask's chunk / combine /
// aggregate), for sum, prod, min, max, any, all, nansum, mean, nanmean, var,
// argmin and argmax.
//
// A partial is a list of NDArrays shaped like the block with the reduced axes
// kept at extent 1: [total] for sum-like kinds, [sum, count] for means,
// [count, mean, M2] for var/std (combined with Chan's formulas), [value,
// flat index] for argmin/argmax.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "expr_internal.h"
#include "skein/array/ndarray.h"
#include "skein/core/value.h"

namespace skein::array::internal {

enum class ReduceKind : uint8_t {
  kSum, kProd, kMin, kMax, kAny, kAll, kNanSum, kMean, kNanMean, kVar, kStd, kArgMin, kArgMax
};

/// dtype of the final result of `kind` over elements of `in`.
DType ReduceResultType(ReduceKind kind, DType in);

/// A reduction over every axis of elements that arrive as contiguous runs of
/// one dtype, in order: the pieces a fused elementwise program produces,
/// taken while they are still in L1 cache (no slab of the program's result
/// is written and read back).
class RunReducer : public PieceSink {
 public:
  virtual ~RunReducer() = default;
  /// Consumes map(x[k]) for the `n` elements at `x` (of the dtype the
  /// reducer was made for, float32 or float64).
  virtual void ConsumeMapped(const void* x, int64_t n, const ElementMap& map) = 0;
  /// The partial of everything consumed, with `ndim` axes of extent 1.
  virtual ValueList Finish(int ndim) = 0;
};

/// A RunReducer for `kind` over elements of `dtype`; nullptr for argmin and
/// argmax (their partials need each element's position).
std::unique_ptr<RunReducer> MakeRunReducer(ReduceKind kind, DType dtype);

/// Partial of one block over the axes marked in `reduced`. For argmin/argmax,
/// `index_base` / `index_strides` map a position in the block to the index
/// reported (the global flat index, or the global index along one axis).
ValueList ReduceBlock(ReduceKind kind, const NDArray& block, const std::vector<bool>& reduced, int64_t index_base,
                      std::span<const int64_t> index_strides);
/// Partials combined into one (all the same shape).
ValueList CombinePartials(ReduceKind kind, std::span<const Value> partials);
/// The answer from a combined partial, in ReduceResultType(kind, in), with
/// shape `out_shape` (the partial's shape with reduced axes dropped or kept).
NDArray FinishPartial(ReduceKind kind, DType in, const ValueList& partial, const Shape& out_shape, int ddof);

/// Running sum (`product` false) or product along `axis` of a block, in
/// `out` dtype.
NDArray Cumulative(const NDArray& block, int axis, bool product, DType out);
/// `block` with the last slice along `axis` of `previous` added (or
/// multiplied) to every slice: the carry between blocks of a cumsum.
NDArray ApplyCarry(const NDArray& block, const NDArray& previous, int axis, bool product);

}  // namespace skein::array::internal
