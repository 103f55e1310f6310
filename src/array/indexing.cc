// Indexing and re-blocking: basic slicing, take/compress and rechunk
// (see array.h). Each output block reads the input blocks it overlaps.
#include <algorithm>
#include <variant>

#include "block_copy_internal.h"
#include "ops_internal.h"
#include "skein/array/array.h"

namespace skein {

namespace array::internal {

Value GetItemParams(const Shape& start, const Shape& count, const Shape& step, const Shape& out_shape) {
  return ValueList{ShapeValue(start), ShapeValue(count), ShapeValue(step), ShapeValue(out_shape)};
}

const OpPtr& GetItemOp() {
  static const OpPtr op = RegisterOp("array.getitem", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const NDArray& src = args[0].get<NDArray>();
    Shape start = ShapeFrom(p.at(0)), count = ShapeFrom(p.at(1)), step = ShapeFrom(p.at(2));
    Shape out_shape = p.size() > 3 ? ShapeFrom(p.at(3)) : Shape{};
    if (start.size() != static_cast<size_t>(src.ndim()) || count.size() != start.size() || step.size() != start.size()) {
      throw Error("getitem: index of rank " + std::to_string(start.size()) + " for a block of shape " +
                  ShapeToString(src.shape()));
    }
    for (size_t d = 0; d < start.size(); ++d) {
      const int64_t last = start[d] + (count[d] - 1) * step[d];
      if (count[d] < 0 || (count[d] > 0 && (start[d] < 0 || start[d] >= src.shape()[d] || last < 0 ||
                                            last >= src.shape()[d]))) {
        throw Error("getitem: region out of bounds of a block of shape " + ShapeToString(src.shape()));
      }
    }
    bool whole = true;
    for (size_t d = 0; d < start.size(); ++d) whole = whole && start[d] == 0 && step[d] == 1 && count[d] == src.shape()[d];
    NDArray out = whole ? src : StridedSlice(src, start, count, step);  // whole block: shared, not copied
    if (p.size() > 3 && (out_shape != out.shape())) out = out.Reshape(out_shape);
    return Value::From(std::move(out));
  });
  return op;
}

const OpPtr& AssembleOp() {
  static const OpPtr op = RegisterOp("array.assemble", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    DType t = static_cast<DType>(p.at(0).as<int64_t>());
    NDArray out = NDArray::Empty(t, ShapeFrom(p.at(1)));
    const ValueList& pieces = p.at(2).get<ValueList>();
    if (pieces.size() != args.size()) throw Error("assemble: " + std::to_string(args.size()) + " blocks for " +
                                                  std::to_string(pieces.size()) + " pieces");
    for (size_t k = 0; k < args.size(); ++k) {
      const NDArray& src = args[k].get<NDArray>();
      const ValueList& piece = pieces[k].get<ValueList>();
      Shape s = ShapeFrom(piece.at(0)), c = ShapeFrom(piece.at(1)), d = ShapeFrom(piece.at(2));
      if (src.dtype() != t || s.size() != static_cast<size_t>(src.ndim()) || c.size() != s.size() ||
          d.size() != static_cast<size_t>(out.ndim()) || d.size() != s.size()) {
        throw Error("assemble: piece " + std::to_string(k) + " does not match its block " + ShapeToString(src.shape()));
      }
      for (size_t a = 0; a < s.size(); ++a) {
        if (s[a] < 0 || c[a] < 0 || d[a] < 0 || s[a] + c[a] > src.shape()[a] || d[a] + c[a] > out.shape()[a]) {
          throw Error("assemble: piece " + std::to_string(k) + " out of bounds");
        }
      }
      CopyRegion(src, s, c, &out, d);
    }
    return Value::From(std::move(out));
  });
  return op;
}

}  // namespace array::internal

using array::internal::ShapeValue;

// ---- rechunk -----------------------------------------------------------------

Array Array::rechunk(const ChunkSpec& spec) const {
  internal::CheckValid(*this, "rechunk");
  Chunks out_chunks = spec.Normalize(shape(), dtype());
  if (out_chunks == chunks()) return *this;
  const int nd = ndim();
  // Per axis and output block: the input blocks it overlaps, with the
  // overlap's start in the input block, length, and start in the output block.
  struct Overlap {
    int64_t in_block, in_start, count, out_start;
  };
  std::vector<std::vector<std::vector<Overlap>>> per_axis(nd);
  for (int d = 0; d < nd; ++d) {
    std::vector<int64_t> in_off = BlockOffsets(chunks()[d]), out_off = BlockOffsets(out_chunks[d]);
    per_axis[d].resize(out_chunks[d].size());
    size_t b = 0;
    for (size_t j = 0; j < out_chunks[d].size(); ++j) {
      const int64_t lo = out_off[j], hi = out_off[j + 1];
      while (b + 1 < chunks()[d].size() && in_off[b + 1] <= lo) ++b;
      if (lo == hi) {
        per_axis[d][j].push_back({static_cast<int64_t>(b), 0, 0, 0});
        continue;
      }
      for (size_t k = b; k < chunks()[d].size() && in_off[k] < hi; ++k) {
        const int64_t s = std::max(lo, in_off[k]), e = std::min(hi, in_off[k + 1]);
        if (e > s) per_axis[d][j].push_back({static_cast<int64_t>(k), s - in_off[k], e - s, s - lo});
      }
    }
  }
  std::string n = internal::NewArrayName("rechunk");
  Graph g;
  for (const auto& block : AllBlocks(out_chunks)) {
    // Cartesian product of the per-axis overlaps.
    std::vector<const std::vector<Overlap>*> lists(nd);
    size_t total = 1;
    for (int d = 0; d < nd; ++d) {
      lists[d] = &per_axis[d][block[d]];
      total *= lists[d]->size();
    }
    std::vector<Arg> args;
    ValueList pieces;
    std::vector<size_t> pick(nd, 0);
    bool single_whole = total == 1;
    for (size_t t = 0; t < total; ++t) {
      Shape in_block(nd), s(nd), c(nd), o(nd);
      for (int d = 0; d < nd; ++d) {
        const Overlap& ov = (*lists[d])[pick[d]];
        in_block[d] = ov.in_block;
        s[d] = ov.in_start;
        c[d] = ov.count;
        o[d] = ov.out_start;
        if (ov.in_start != 0 || ov.count != chunks()[d][ov.in_block]) single_whole = false;
      }
      args.push_back(Arg::Ref(key(in_block)));
      pieces.push_back(ValueList{ShapeValue(s), ShapeValue(c), ShapeValue(o)});
      for (int d = nd - 1; d >= 0; --d) {
        if (++pick[d] < lists[d]->size()) break;
        pick[d] = 0;
      }
    }
    if (single_whole) {
      g.AddUnchecked(Key(n, block), Task::Alias(args[0].ref()));
    } else {
      Value params(ValueList{static_cast<int64_t>(dtype()), ShapeValue(BlockShape(out_chunks, block)), std::move(pieces)});
      g.AddUnchecked(Key(n, block), Task::Call(array::internal::AssembleOp(), std::move(args), std::move(params)));
    }
  }
  return internal::MakeArray(n, shape(), std::move(out_chunks), dtype(), std::move(g), {layer()});
}

// ---- basic indexing -------------------------------------------------------------

namespace {

// One output chunk of a sliced axis: where it comes from in the input.
struct AxisPiece {
  int64_t in_block, local_start, count, step;
};

// Python's slice.indices(n) and len(range(...)).
void NormalizeSlice(const Slice& s, int64_t n, int64_t* start, int64_t* step, int64_t* count) {
  int64_t st = s.step.value_or(1);
  if (st == 0) throw Error("slice step cannot be zero");
  int64_t lo, hi;
  if (st > 0) {
    lo = s.start ? (*s.start < 0 ? std::max<int64_t>(*s.start + n, 0) : std::min(*s.start, n)) : 0;
    hi = s.stop ? (*s.stop < 0 ? std::max<int64_t>(*s.stop + n, 0) : std::min(*s.stop, n)) : n;
    *count = hi > lo ? (hi - lo + st - 1) / st : 0;
  } else {
    lo = s.start ? (*s.start < 0 ? std::max<int64_t>(*s.start + n, -1) : std::min(*s.start, n - 1)) : n - 1;
    hi = s.stop ? (*s.stop < 0 ? std::max<int64_t>(*s.stop + n, -1) : std::min(*s.stop, n - 1)) : -1;
    *count = lo > hi ? (lo - hi + (-st) - 1) / (-st) : 0;
  }
  *start = lo;
  *step = st;
}

std::vector<AxisPiece> SliceAxis(const std::vector<int64_t>& chunks, int64_t start, int64_t step, int64_t count) {
  std::vector<int64_t> off = BlockOffsets(chunks);
  std::vector<AxisPiece> out;
  auto visit = [&](size_t b) {
    const int64_t lo = off[b], hi = off[b + 1];
    if (hi <= lo) return;
    int64_t kmin, kmax;
    if (step > 0) {
      kmin = lo > start ? (lo - start + step - 1) / step : 0;
      kmax = hi - 1 >= start ? (hi - 1 - start) / step : -1;
    } else {
      const int64_t s = -step;
      kmin = start > hi - 1 ? (start - (hi - 1) + s - 1) / s : 0;
      kmax = start >= lo ? (start - lo) / s : -1;
    }
    kmax = std::min(kmax, count - 1);
    if (kmin <= kmax) out.push_back({static_cast<int64_t>(b), start + kmin * step - lo, kmax - kmin + 1, step});
  };
  if (step > 0) {
    for (size_t b = 0; b < chunks.size(); ++b) visit(b);
  } else {
    for (size_t b = chunks.size(); b-- > 0;) visit(b);
  }
  if (out.empty()) out.push_back({0, 0, 0, 1});
  return out;
}

}  // namespace

Array Array::Index_(const std::vector<Index>& index) const {
  internal::CheckValid(*this, "getitem");
  const int nd = ndim();
  // Expand the ellipsis (at most one) into full slices.
  int used = 0, ellipses = 0;
  for (const Index& ix : index) {
    if (std::holds_alternative<Ellipsis>(ix.get())) ++ellipses;
    else if (!std::holds_alternative<NewAxis>(ix.get())) ++used;
  }
  if (ellipses > 1) throw Error("getitem: an index can only have a single ellipsis");
  if (used > nd) {
    throw Error("getitem: too many indices for array of shape " + ShapeToString(shape()) + ": " +
                std::to_string(used) + " given");
  }
  std::vector<Index> full;
  for (const Index& ix : index) {
    if (std::holds_alternative<Ellipsis>(ix.get())) {
      for (int k = 0; k < nd - used; ++k) full.push_back(Slice());
    } else {
      full.push_back(ix);
    }
  }
  if (ellipses == 0) {
    for (int k = used; k < nd; ++k) full.push_back(Slice());
  }
  // Per input axis: pieces; per output axis: where it comes from.
  std::vector<std::vector<AxisPiece>> pieces(nd);
  struct OutAxis {
    int in_axis;  // -1: newaxis
  };
  std::vector<OutAxis> out_axes;
  int axis = 0;
  for (const Index& ix : full) {
    const auto& v = ix.get();
    if (std::holds_alternative<NewAxis>(v)) {
      out_axes.push_back({-1});
      continue;
    }
    const int64_t n = shape()[axis];
    if (const int64_t* i = std::get_if<int64_t>(&v)) {
      int64_t k = *i < 0 ? *i + n : *i;
      if (k < 0 || k >= n) {
        throw Error("getitem: index " + std::to_string(*i) + " is out of bounds for axis " + std::to_string(axis) +
                    " with size " + std::to_string(n) + " (array of shape " + ShapeToString(shape()) + ")");
      }
      pieces[axis] = SliceAxis(chunks()[axis], k, 1, 1);
    } else {
      int64_t start, step, count;
      NormalizeSlice(std::get<Slice>(v), n, &start, &step, &count);
      pieces[axis] = SliceAxis(chunks()[axis], start, step, count);
      out_axes.push_back({axis});
    }
    ++axis;
  }
  // Output chunks.
  Chunks out_chunks;
  Shape out_shape;
  for (const OutAxis& o : out_axes) {
    if (o.in_axis < 0) {
      out_chunks.push_back({1});
      out_shape.push_back(1);
      continue;
    }
    std::vector<int64_t> c;
    int64_t total = 0;
    for (const AxisPiece& p : pieces[o.in_axis]) {
      c.push_back(p.count);
      total += p.count;
    }
    out_chunks.push_back(std::move(c));
    out_shape.push_back(total);
  }
  std::string name = internal::NewArrayName("getitem");
  Graph g;
  for (const auto& block : AllBlocks(out_chunks)) {
    // Which piece of each input axis this output block is.
    std::vector<size_t> pick(nd, 0);
    for (size_t k = 0; k < out_axes.size(); ++k) {
      if (out_axes[k].in_axis >= 0) pick[out_axes[k].in_axis] = static_cast<size_t>(block[k]);
    }
    Shape in_block(nd), start(nd), count(nd), step(nd);
    bool whole = true;
    for (int d = 0; d < nd; ++d) {
      const AxisPiece& p = pieces[d][pick[d]];
      in_block[d] = p.in_block;
      start[d] = p.local_start;
      count[d] = p.count;
      step[d] = p.step;
      if (p.local_start != 0 || p.step != 1 || p.count != chunks()[d][p.in_block]) whole = false;
    }
    Shape block_shape = BlockShape(out_chunks, block);
    if (whole && block_shape == count) {
      g.AddUnchecked(Key(name, block), Task::Alias(key(in_block)));
    } else {
      g.AddUnchecked(Key(name, block), Task::Call(array::internal::GetItemOp(), {Arg::Ref(key(in_block))},
                                                  array::internal::GetItemParams(start, count, step, block_shape)));
    }
  }
  return internal::MakeArray(name, std::move(out_shape), std::move(out_chunks), dtype(), std::move(g), {layer()});
}

// ---- take / compress ------------------------------------------------------------

namespace {

// "array.take" args: the input blocks used; params: [axis, out shape,
// [(arg index, local index) per output position]].
const OpPtr& TakeOp() {
  static const OpPtr op = RegisterOp("array.take", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const int axis = static_cast<int>(p.at(0).as<int64_t>());
    Shape out_shape = array::internal::ShapeFrom(p.at(1));
    const std::vector<int64_t> picks = p.at(2).as<std::vector<int64_t>>();
    if (args.empty() || picks.size() != 2 * static_cast<size_t>(out_shape.at(axis))) throw Error("take: malformed task");
    const NDArray& first = args[0].get<NDArray>();
    NDArray out = NDArray::Empty(first.dtype(), out_shape);
    Shape count = out_shape, src(out_shape.size(), 0), dst(out_shape.size(), 0);
    count[axis] = 1;
    for (int64_t j = 0; j < out_shape[axis]; ++j) {
      const auto which = static_cast<size_t>(picks[2 * j]);
      if (which >= args.size()) throw Error("take: malformed task");
      const NDArray& b = args[which].get<NDArray>();
      src[axis] = picks[2 * j + 1];
      dst[axis] = j;
      if (src[axis] < 0 || src[axis] >= b.shape()[axis]) throw Error("take: index out of block bounds");
      array::internal::CopyRegion(b, src, count, &out, dst);
    }
    return Value::From(std::move(out));
  });
  return op;
}

}  // namespace

Array Array::take(const std::vector<int64_t>& indices, int axis) const {
  internal::CheckValid(*this, "take");
  axis = internal::NormalizeAxis(axis, ndim(), "take");
  const int64_t n = shape()[axis];
  std::vector<int64_t> off = BlockOffsets(chunks()[axis]);
  std::vector<int64_t> idx(indices.size());
  for (size_t k = 0; k < indices.size(); ++k) {
    int64_t i = indices[k] < 0 ? indices[k] + n : indices[k];
    if (i < 0 || i >= n) {
      throw Error("take: index " + std::to_string(indices[k]) + " is out of bounds for axis " + std::to_string(axis) +
                  " with size " + std::to_string(n));
    }
    idx[k] = i;
  }
  // Output blocks along the axis hold as many indices as the input's first block.
  const int64_t per = std::max<int64_t>(1, chunks()[axis][0]);
  Chunks out_chunks = chunks();
  out_chunks[axis] = RegularChunks(static_cast<int64_t>(idx.size()), per);
  Shape out_shape = shape();
  out_shape[axis] = static_cast<int64_t>(idx.size());
  std::string name = internal::NewArrayName("take");
  Graph g;
  for (const auto& block : AllBlocks(out_chunks)) {
    const int64_t first = BlockOffsets(out_chunks[axis])[block[axis]];
    const int64_t len = out_chunks[axis][block[axis]];
    std::vector<int64_t> used;  // input blocks along the axis, in first-use order
    std::vector<int64_t> picks;
    for (int64_t j = 0; j < len; ++j) {
      const int64_t i = idx[first + j];
      const int64_t b = std::upper_bound(off.begin(), off.end(), i) - off.begin() - 1;
      auto it = std::find(used.begin(), used.end(), b);
      if (it == used.end()) it = used.insert(used.end(), b);
      picks.push_back(it - used.begin());
      picks.push_back(i - off[b]);
    }
    std::vector<Arg> args;
    std::vector<int64_t> in_block = block;
    if (used.empty()) used.push_back(0);
    for (int64_t b : used) {
      in_block[axis] = b;
      args.push_back(Arg::Ref(key(in_block)));
    }
    ValueList pv;
    for (int64_t v : picks) pv.push_back(v);
    g.AddUnchecked(Key(name, block), Task::Call(TakeOp(), std::move(args),
                                                Value(ValueList{int64_t{axis}, ShapeValue(BlockShape(out_chunks, block)),
                                                                std::move(pv)})));
  }
  return internal::MakeArray(name, std::move(out_shape), std::move(out_chunks), dtype(), std::move(g), {layer()});
}

Array Array::compress(const std::vector<bool>& mask, int axis) const {
  internal::CheckValid(*this, "compress");
  axis = internal::NormalizeAxis(axis, ndim(), "compress");
  if (static_cast<int64_t>(mask.size()) != shape()[axis]) {
    throw Error("boolean index did not match indexed array along axis " + std::to_string(axis) + "; size of axis is " +
                std::to_string(shape()[axis]) + " but size of corresponding boolean axis is " +
                std::to_string(mask.size()));
  }
  std::vector<int64_t> idx;
  for (size_t i = 0; i < mask.size(); ++i) {
    if (mask[i]) idx.push_back(static_cast<int64_t>(i));
  }
  return take(idx, axis);
}

Array Array::compress(const Array& mask, int axis) const {
  internal::CheckValid(mask, "compress");
  if (mask.ndim() != 1 || mask.dtype() != DType::kBool) {
    throw TypeError("compress: the mask must be a 1-d bool array, got a " + std::string(DTypeName(mask.dtype())) +
                    " array of shape " + ShapeToString(mask.shape()));
  }
  return compress(mask.compute().ToVector<bool>(), axis);
}

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered =
    (array::internal::GetItemOp(), array::internal::AssembleOp(), TakeOp(), true);

}  // namespace skein
