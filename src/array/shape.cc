// Changing an array's shape: transpose, reshape, concatenate, stack (see array.h).
#include <algorithm>
#include <numeric>

#include "block_copy_internal.h"
#include "fusion_internal.h"
#include "ops_internal.h"
#include "skein/array/array.h"
#include "skein/array/ufunc.h"

namespace skein {

using array::internal::ShapeFrom;
using array::internal::ShapeValue;

namespace {

const OpPtr& TransposeOp() {
  static const OpPtr op = RegisterOp("array.transpose", [](std::span<const Value> args, const OpContext& ctx) {
    const NDArray& src = args[0].get<NDArray>();
    std::vector<int64_t> p = ctx.params.as<std::vector<int64_t>>();
    std::vector<int> perm(p.begin(), p.end());
    std::vector<int> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (sorted[i] != static_cast<int>(i) || perm.size() != static_cast<size_t>(src.ndim())) {
        throw Error("transpose: bad axes for a block of shape " + ShapeToString(src.shape()));
      }
    }
    return Value::From(array::internal::Transpose(src, perm));
  });
  return op;
}

// "array.reshape" params: the block's new shape.
const OpPtr& ReshapeOp() {
  static const OpPtr op = RegisterOp("array.reshape", [](std::span<const Value> args, const OpContext& ctx) {
    return Value::From(args[0].get<NDArray>().Reshape(ShapeFrom(ctx.params)));
  });
  return op;
}

}  // namespace

Array Array::transpose(std::vector<int> axes) const {
  internal::CheckValid(*this, "transpose");
  const int nd = ndim();
  if (axes.empty()) {
    for (int d = nd - 1; d >= 0; --d) axes.push_back(d);
  }
  if (static_cast<int>(axes.size()) != nd) {
    throw Error("transpose: axes don't match array: " + std::to_string(axes.size()) + " axes for shape " +
                ShapeToString(shape()));
  }
  std::vector<bool> seen(nd, false);
  for (int& a : axes) {
    a = internal::NormalizeAxis(a, nd, "transpose");
    if (seen[a]) throw Error("transpose: repeated axis " + std::to_string(a));
    seen[a] = true;
  }
  bool identity = true;
  for (int d = 0; d < nd; ++d) identity = identity && axes[d] == d;
  if (identity) return *this;
  Shape out_shape(nd);
  Chunks out_chunks(nd);
  for (int d = 0; d < nd; ++d) {
    out_shape[d] = shape()[axes[d]];
    out_chunks[d] = chunks()[axes[d]];
  }
  ValueList perm;
  for (int a : axes) perm.push_back(int64_t{a});
  Value params(std::move(perm));
  std::string name = internal::NewArrayName("transpose");
  Graph g;
  for (const auto& block : AllBlocks(out_chunks)) {
    std::vector<int64_t> in(nd);
    for (int d = 0; d < nd; ++d) in[axes[d]] = block[d];
    g.AddUnchecked(Key(name, block), Task::Call(TransposeOp(), {Arg::Ref(key(in))}, params));
  }
  // Elementwise operations and reductions that read this transpose read x's
  // blocks in place through the permutation instead (one pass over memory).
  array::internal::Program read;
  read.nodes.push_back(array::internal::ExprNode{array::internal::ExprKind::kInput});
  read.nodes[0].dtype = dtype();
  read.nodes[0].a = 0;
  read.num_inputs = 1;
  read.input_axes.push_back(std::vector<int8_t>(axes.begin(), axes.end()));
  return internal::MakeArray(name, std::move(out_shape), std::move(out_chunks), dtype(), std::move(g), {layer()},
                             std::make_shared<const internal::Fusable>(internal::Fusable{std::move(read), {*this}}));
}

Array Array::reshape(Shape new_shape) const {
  internal::CheckValid(*this, "reshape");
  // One -1 extent is inferred.
  int unknown = -1;
  int64_t known = 1;
  for (size_t d = 0; d < new_shape.size(); ++d) {
    if (new_shape[d] == -1) {
      if (unknown >= 0) throw Error("reshape: can only specify one unknown dimension");
      unknown = static_cast<int>(d);
    } else if (new_shape[d] < 0) {
      throw Error("reshape: negative extent in " + ShapeToString(new_shape));
    } else {
      known *= new_shape[d];
    }
  }
  if (unknown >= 0) new_shape[unknown] = known == 0 ? 0 : size() / known;
  if (ShapeSize(new_shape) != size()) {
    throw Error("cannot reshape array of size " + std::to_string(size()) + " (shape " + ShapeToString(shape()) +
                ") into shape " + ShapeToString(new_shape));
  }
  if (new_shape == shape()) return *this;
  const int nd = ndim();
  const int od = static_cast<int>(new_shape.size());
  // Groups of input and output axes with equal products; within a group the
  // blocks line up once every axis but the group's first is whole.
  Chunks in_chunks = chunks();
  Chunks out_chunks(od);
  bool fallback = size() == 0;
  int i = 0, j = 0;
  while (!fallback && (i < nd || j < od)) {
    const int i0 = i, j0 = j;
    int64_t pi = i < nd ? shape()[i++] : 1, pj = j < od ? new_shape[j++] : 1;
    while (pi != pj) {
      if (pi < pj && i < nd) pi *= shape()[i++];
      else if (pj < pi && j < od) pj *= new_shape[j++];
      else break;
    }
    // Trailing extent-1 axes join the group.
    while (i < nd && shape()[i] == 1 && (j >= od || new_shape[j] != 1)) ++i;
    while (j < od && new_shape[j] == 1 && (i >= nd || shape()[i] != 1)) ++j;
    const int ni = i - i0, nj = j - j0;
    for (int d = i0 + 1; d < i; ++d) in_chunks[d] = {shape()[d]};
    for (int d = j0 + 1; d < j; ++d) out_chunks[d] = {new_shape[d]};
    if (nj == 0) continue;
    if (ni == 0) {
      out_chunks[j0] = {new_shape[j0]};
      continue;
    }
    const int64_t in_rest = ShapeSize(std::span(shape()).subspan(i0 + 1, ni - 1));
    const int64_t out_rest = ShapeSize(std::span(new_shape).subspan(j0 + 1, nj - 1));
    if (ni >= 1 && nj == 1) {
      // Merge (or pass through): out blocks = first axis blocks x the rest.
      out_chunks[j0].clear();
      for (int64_t c : in_chunks[i0]) out_chunks[j0].push_back(c * in_rest);
    } else if (ni == 1) {
      // Split: the first axis' blocks must be multiples of the rest.
      std::vector<int64_t> c;
      for (int64_t s : in_chunks[i0]) c.push_back(std::max<int64_t>(1, s / out_rest) * out_rest);
      int64_t total = 0;
      std::vector<int64_t> fixed;
      for (int64_t s : c) {
        if (total + s > shape()[i0]) s = shape()[i0] - total;
        if (s > 0) fixed.push_back(s);
        total += s;
      }
      if (total < shape()[i0]) fixed.push_back(shape()[i0] - total);
      in_chunks[i0] = fixed;
      out_chunks[j0].clear();
      for (int64_t s : fixed) out_chunks[j0].push_back(s / out_rest);
    } else {
      // Many to many: the whole group in one block.
      in_chunks[i0] = {shape()[i0]};
      out_chunks[j0] = {new_shape[j0]};
    }
  }
  Array src = *this;
  if (fallback) {
    for (int d = 0; d < nd; ++d) in_chunks[d] = {shape()[d]};
    for (int d = 0; d < od; ++d) out_chunks[d] = {new_shape[d]};
  }
  src = src.rechunk(in_chunks);
  // Blocks correspond one to one, in row-major order on both sides.
  std::vector<std::vector<int64_t>> in_blocks = AllBlocks(src.chunks()), out_blocks = AllBlocks(out_chunks);
  if (in_blocks.size() != out_blocks.size()) {
    throw Error("reshape: internal block mismatch from " + ChunksToString(src.chunks()) + " to " +
                ChunksToString(out_chunks));
  }
  std::string name = internal::NewArrayName("reshape");
  Graph g;
  for (size_t k = 0; k < out_blocks.size(); ++k) {
    g.AddUnchecked(Key(name, out_blocks[k]), Task::Call(ReshapeOp(), {Arg::Ref(src.key(in_blocks[k]))},
                                                        ShapeValue(BlockShape(out_chunks, out_blocks[k]))));
  }
  return internal::MakeArray(name, std::move(new_shape), std::move(out_chunks), dtype(), std::move(g), {src.layer()});
}

Array concatenate(const std::vector<Array>& arrays, int axis) {
  if (arrays.empty()) throw Error("concatenate: need at least one array");
  for (const Array& a : arrays) internal::CheckValid(a, "concatenate");
  const int nd = arrays[0].ndim();
  if (nd == 0) throw Error("concatenate: zero-dimensional arrays cannot be concatenated");
  axis = internal::NormalizeAxis(axis, nd, "concatenate");
  DType t = arrays[0].dtype();
  Shape out_shape = arrays[0].shape();
  out_shape[axis] = 0;
  for (const Array& a : arrays) {
    bool ok = a.ndim() == nd;
    for (int d = 0; ok && d < nd; ++d) ok = d == axis || a.shape()[d] == arrays[0].shape()[d];
    if (!ok) {
      throw Error("concatenate: all the input array dimensions except for the concatenation axis must match: " +
                  ShapeToString(arrays[0].shape()) + " and " + ShapeToString(a.shape()) + " along axis " +
                  std::to_string(axis));
    }
    t = ResultType(t, a.dtype());
    out_shape[axis] += a.shape()[axis];
  }
  // Align the other axes' chunks.
  Chunks common = arrays[0].chunks();
  for (const Array& a : arrays) {
    for (int d = 0; d < nd; ++d) {
      if (d != axis) common[d] = CommonChunks(common[d], a.chunks()[d]);
    }
  }
  std::vector<Array> parts;
  Chunks out_chunks = common;
  out_chunks[axis].clear();
  for (const Array& a : arrays) {
    Chunks want = common;
    want[axis] = a.chunks()[axis];
    parts.push_back(a.astype(t).rechunk(want));
    for (int64_t c : a.chunks()[axis]) out_chunks[axis].push_back(c);
  }
  std::string name = internal::NewArrayName("concatenate");
  Graph g;
  for (const auto& block : AllBlocks(out_chunks)) {
    int64_t b = block[axis];
    size_t k = 0;
    while (b >= static_cast<int64_t>(parts[k].chunks()[axis].size())) b -= static_cast<int64_t>(parts[k++].chunks()[axis].size());
    std::vector<int64_t> in = block;
    in[axis] = b;
    g.AddUnchecked(Key(name, block), Task::Alias(parts[k].key(in)));
  }
  return internal::MakeArray(name, std::move(out_shape), std::move(out_chunks), t, std::move(g),
                             internal::LayersOf(parts));
}

Array stack(const std::vector<Array>& arrays, int axis) {
  if (arrays.empty()) throw Error("stack: need at least one array");
  for (const Array& a : arrays) {
    internal::CheckValid(a, "stack");
    if (a.shape() != arrays[0].shape()) {
      throw Error("stack: all input arrays must have the same shape: " + ShapeToString(arrays[0].shape()) + " and " +
                  ShapeToString(a.shape()));
    }
  }
  const int nd = arrays[0].ndim() + 1;
  axis = internal::NormalizeAxis(axis, nd, "stack");
  std::vector<Array> expanded;
  for (const Array& a : arrays) {
    std::vector<Index> ix;
    for (int d = 0; d < axis; ++d) ix.push_back(Slice());
    ix.push_back(newaxis);
    expanded.push_back(a[ix]);
  }
  return concatenate(expanded, axis);
}

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered = (TransposeOp(), ReshapeOp(), true);

}  // namespace skein
