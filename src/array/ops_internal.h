// Operations shared by several array files, and helpers for their params.
#pragma once

#include <vector>

#include "skein/array/ndarray.h"
#include "skein/core/op.h"
#include "skein/core/value.h"

namespace skein::array::internal {

/// "array.getitem": one strided region of its argument block.
/// Params: [start per axis, count per axis, step per axis, result shape];
/// the result is reshaped when a shape is given (dropped or new axes).
const OpPtr& GetItemOp();
/// Params of GetItemOp.
Value GetItemParams(const Shape& start, const Shape& count, const Shape& step, const Shape& out_shape);

/// "array.assemble": a block glued from pieces of several blocks.
/// Args: [piece blocks...]; params: [dtype, out shape, [src start, count,
/// dst start] per piece].
const OpPtr& AssembleOp();

inline Value ShapeValue(const Shape& s) {
  ValueList l;
  l.reserve(s.size());
  for (int64_t d : s) l.push_back(d);
  return l;
}
inline Shape ShapeFrom(const Value& v) { return v.as<std::vector<int64_t>>(); }

}  // namespace skein::array::internal
