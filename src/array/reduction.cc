// Reductions and cumulative operations on arrays, as tree reductions over
// blocks (see array.h, reduce_internal.h).
#include <algorithm>
#include <cmath>
#include <optional>

#include "block_copy_internal.h"

#include "fusion_internal.h"
#include "ops_internal.h"
#include "reduce_internal.h"
#include "skein/array/array.h"
#include "skein/core/config.h"
#include "skein/core/reduction.h"

namespace skein {

using array::internal::ReduceKind;
using array::internal::ShapeFrom;
using array::internal::ShapeValue;

namespace {

// Rows per slab when a chunk task evaluates a fused elementwise program:
// about 256 KiB of float64, so the slab stays in L2 cache.
constexpr int64_t kSlabElements = 32768;

// Puts `part` (a partial of rows [row, ...) of a block) into `whole`, the
// partial of the whole block whose first axis is kept.
void PlaceRows(ValueList* whole, const ValueList& part, const Shape& whole_shape, int64_t row) {
  if (whole->empty()) {
    for (const Value& v : part) {
      whole->push_back(Value::From(NDArray::Empty(v.get<NDArray>().dtype(), whole_shape)));
    }
  }
  for (size_t k = 0; k < part.size(); ++k) {
    const NDArray& src = part[k].get<NDArray>();
    NDArray dst = (*whole)[k].get<NDArray>();  // shares the buffer being filled
    Shape zero(src.ndim(), 0), at(src.ndim(), 0);
    at[0] = row;
    array::internal::CopyRegion(src, zero, src.shape(), &dst, at);
  }
}

// The sum or mean over `reduced` of a signed sum of the inputs
// (MatchSignedSum), as the signed sum of each input's own partial, each
// reduced in its block's layout over the axes its permutation maps to the
// reduced ones. Nothing when it does not apply, or when a total is not
// finite: the caller then evaluates the program, so that an inf - inf or an
// overflow comes out as the program's own arithmetic makes it. (Finite
// totals differ from the program's only in the order of the additions.)
std::optional<ValueList> SignedSumPartial(ReduceKind kind, const array::internal::Program& program,
                                          std::span<const NDArray* const> in, const std::vector<bool>& reduced) {
  if (kind != ReduceKind::kSum && kind != ReduceKind::kMean) return std::nullopt;
  std::vector<array::internal::SignedTerm> terms;
  if (!array::internal::MatchSignedSum(program, &terms)) return std::nullopt;
  Shape result;
  if (!array::internal::ResultShape(program, in, &result) || result.size() != reduced.size()) return std::nullopt;
  const size_t nd = result.size();
  ValueList total;
  for (const array::internal::SignedTerm& term : terms) {
    const NDArray& block = *in[static_cast<size_t>(term.input)];
    std::vector<int> perm(nd);
    for (size_t d = 0; d < nd; ++d) perm[d] = static_cast<int>(d);
    if (!program.input_axes.empty() && !program.input_axes[static_cast<size_t>(term.input)].empty()) {
      const auto& axes = program.input_axes[static_cast<size_t>(term.input)];
      if (axes.size() != nd) return std::nullopt;
      for (size_t d = 0; d < nd; ++d) perm[d] = axes[d];
    }
    if (block.ndim() != static_cast<int>(nd)) return std::nullopt;  // broadcast: not a plain sum of blocks
    std::vector<bool> block_reduced(nd);
    for (size_t d = 0; d < nd; ++d) {
      if (block.shape()[static_cast<size_t>(perm[d])] != result[d]) return std::nullopt;
      block_reduced[static_cast<size_t>(perm[d])] = reduced[d];
    }
    const std::vector<int64_t> no_index(nd, 0);
    ValueList part = array::internal::ReduceBlock(kind, block, block_reduced, 0, no_index);
    const bool in_place = std::is_sorted(perm.begin(), perm.end());  // no permutation: no copy
    NDArray sum = in_place ? part[0].get<NDArray>() : array::internal::Transpose(part[0].get<NDArray>(), perm);
    if (total.empty()) {
      // The first term is the leftmost leaf, reached through left operands
      // only: never negative.
      total.push_back(Value::From(std::move(sum)));
      if (kind == ReduceKind::kMean) total.push_back(part[1]);  // the count: the same for every term
      continue;
    }
    NDArray acc = total[0].get<NDArray>();  // shares the buffer this function made
    VisitDType(acc.dtype(), [&]<class T>(T) {
      T* a = acc.mutable_data<T>();
      const T* b = sum.data<T>();
      for (int64_t j = 0; j < acc.size(); ++j) a[j] = term.negative ? a[j] - b[j] : a[j] + b[j];
    });
  }
  bool finite = true;
  const NDArray& acc = total[0].get<NDArray>();
  VisitDType(acc.dtype(), [&]<class T>(T) {
    const T* a = acc.data<T>();
    for (int64_t j = 0; j < acc.size() && finite; ++j) finite = std::isfinite(static_cast<double>(a[j]));
  });
  if (!finite) return std::nullopt;
  return total;
}

// "array.reduce-chunk" params: [kind, reduced mask, index base, index
// strides, program (optional)]. Without a program, args[0] is the block;
// with one, args are the program's input blocks and the block is evaluated
// slab by slab, never whole.
const OpPtr& ChunkOp() {
  static const OpPtr op = RegisterOp("array.reduce-chunk", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    auto kind = static_cast<ReduceKind>(p.at(0).as<int64_t>());
    std::vector<int64_t> mask = p.at(1).as<std::vector<int64_t>>();
    std::vector<bool> reduced(mask.begin(), mask.end());
    const int64_t base = p.at(2).as<int64_t>();
    std::vector<int64_t> strides = p.at(3).as<std::vector<int64_t>>();
    if (strides.size() != reduced.size()) throw Error("reduction: malformed task " + ctx.key.ToString());
    if (p.size() < 5) return Value(array::internal::ReduceBlock(kind, args[0].get<NDArray>(), reduced, base, strides));
    array::internal::Program program = array::internal::Program::Decode(p.at(4).get<std::string>());
    std::vector<const NDArray*> in;
    for (const Value& v : args) in.push_back(&v.get<NDArray>());
    if (std::optional<ValueList> linear = SignedSumPartial(kind, program, in, reduced)) return Value(std::move(*linear));
    if (std::all_of(reduced.begin(), reduced.end(), [](bool r) { return r; })) {
      // A reduction over every axis folds the program's pieces as they come.
      if (auto all = array::internal::MakeRunReducer(kind, program.nodes.back().dtype)) {
        Shape result;
        if (!array::internal::ResultShape(program, in, &result) || result.size() != reduced.size()) {
          throw Error("reduction: malformed task " + ctx.key.ToString());
        }
        array::internal::ElementMap map;
        if (array::internal::MatchElementMap(program, &map)) {
          all->ConsumeMapped(in[0]->bytes(), in[0]->size(), map);  // one loop, in registers
        } else {
          array::internal::EvaluateInto(program, in, all.get());
        }
        return Value(all->Finish(static_cast<int>(reduced.size())));
      }
    }
    ValueList partial;
    Shape whole_shape;
    array::internal::EvaluateInSlabs(program, in, kSlabElements, [&](const NDArray& slab, int64_t row) {
      if (slab.ndim() != static_cast<int>(reduced.size())) throw Error("reduction: malformed task " + ctx.key.ToString());
      const int64_t slab_base = base + (slab.ndim() ? row * strides[0] : 0);
      ValueList part = array::internal::ReduceBlock(kind, slab, reduced, slab_base, strides);
      if (slab.ndim() == 0 || reduced[0]) {
        if (partial.empty()) {
          partial = std::move(part);
        } else {
          Value both[] = {Value(std::move(partial)), Value(std::move(part))};
          partial = array::internal::CombinePartials(kind, both);
        }
        return;
      }
      if (whole_shape.empty()) {
        whole_shape = part[0].get<NDArray>().shape();
        Shape full;
        array::internal::ResultShape(program, in, &full);
        whole_shape[0] = full[0];
      }
      PlaceRows(&partial, part, whole_shape, row);
    });
    return Value(std::move(partial));
  });
  return op;
}

// "array.reduce-combine" params: [kind, in dtype, out shape, ddof].
const OpPtr& CombineOp() {
  static const OpPtr op = RegisterOp("array.reduce-combine", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    auto kind = static_cast<ReduceKind>(p.at(0).as<int64_t>());
    return Value(array::internal::CombinePartials(kind, args[0].get<ValueList>()));
  });
  return op;
}

const OpPtr& AggregateOp() {
  static const OpPtr op = RegisterOp("array.reduce-aggregate", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    auto kind = static_cast<ReduceKind>(p.at(0).as<int64_t>());
    ValueList combined = array::internal::CombinePartials(kind, args[0].get<ValueList>());
    return Value::From(array::internal::FinishPartial(kind, static_cast<DType>(p.at(1).as<int64_t>()), combined,
                                                      ShapeFrom(p.at(2)), static_cast<int>(p.at(3).as<int64_t>())));
  });
  return op;
}

const char* KindName(ReduceKind k) {
  static const char* kNames[] = {"sum", "prod", "min", "max", "any", "all", "nansum",
                                 "mean", "nanmean", "var", "std", "argmin", "argmax"};
  return kNames[static_cast<int>(k)];
}

// The reduction of `x` over `axes`: per block a partial, then per output
// block a tree over the blocks along the reduced axes.
Array Reduce(const Array& x, ReduceKind kind, const Axes& axes, const ReduceOptions& opt, bool flat_index = false) {
  const char* name = KindName(kind);
  internal::CheckValid(x, name);
  const int nd = x.ndim();
  std::vector<bool> reduced(nd, axes.all());
  for (int a : axes.axes()) {
    int k = internal::NormalizeAxis(a, nd, name);
    if (reduced[k] && !axes.all()) throw Error(std::string(name) + ": duplicate value in axes");
    reduced[k] = true;
  }
  if (opt.ddof < 0) throw Error(std::string(name) + ": ddof must be >= 0");
  int split_every = opt.split_every > 0 ? opt.split_every : static_cast<int>(config::Get<int64_t>("array.split-every"));
  if (split_every < 2) throw Error(std::string(name) + ": split_every must be >= 2, got " + std::to_string(split_every));
  // Output metadata.
  Shape out_shape;
  Chunks out_chunks;
  for (int d = 0; d < nd; ++d) {
    if (!reduced[d]) {
      out_shape.push_back(x.shape()[d]);
      out_chunks.push_back(x.chunks()[d]);
    } else if (opt.keepdims) {
      out_shape.push_back(1);
      out_chunks.push_back({1});
    }
  }
  const DType out_type = array::internal::ReduceResultType(kind, x.dtype());
  // Index bookkeeping for argmin/argmax: global flat index, or the index
  // along the one reduced axis.
  const Shape global_strides = ContiguousStrides(x.shape());
  std::vector<std::vector<int64_t>> offsets;
  for (const auto& c : x.chunks()) offsets.push_back(BlockOffsets(c));

  std::string out_name = internal::NewArrayName(name);
  const std::string chunk_name = out_name + "-chunk";
  Graph g;
  ValueList mask;
  for (bool r : reduced) mask.push_back(int64_t{r});
  const Value mask_value(std::move(mask));
  // Chunk partials. An elementwise input is not computed on its own: its
  // program runs inside the chunk tasks.
  const std::shared_ptr<const internal::Fusable>& fused = x.node()->fusable;
  const Value program = fused ? Value(fused->program.Encode()) : Value();
  for (const auto& block : AllBlocks(x.chunks())) {
    int64_t base = 0;
    Shape strides(nd, 0);
    for (int d = 0; d < nd; ++d) {
      if (flat_index) {
        base += offsets[d][block[d]] * global_strides[d];
        strides[d] = global_strides[d];
      } else if (reduced[d]) {
        base += offsets[d][block[d]];
        strides[d] = 1;
      }
    }
    if (fused) {
      g.AddUnchecked(Key(chunk_name, block),
                     Task::Call(ChunkOp(), array::internal::InputBlockRefs(fused->inputs, fused->program, x.shape(), block),
                                Value(ValueList{int64_t(kind), mask_value, base, ShapeValue(strides), program})));
    } else {
      g.AddUnchecked(Key(chunk_name, block),
                     Task::Call(ChunkOp(), {Arg::Ref(x.key(block))},
                                Value(ValueList{int64_t(kind), mask_value, base, ShapeValue(strides)})));
    }
  }
  // Trees: one per output block, over the blocks along the reduced axes.
  std::vector<int64_t> nb = x.numblocks();
  for (const auto& out_block : AllBlocks(out_chunks)) {
    // Kept axes' block indices, in order.
    std::vector<int64_t> kept;
    {
      size_t k = 0;
      for (int d = 0; d < nd; ++d) {
        if (!reduced[d]) kept.push_back(out_block[k++]);
        else if (opt.keepdims) ++k;
      }
    }
    Chunks sub(nd);  // the grid of blocks feeding this output block
    for (int d = 0; d < nd; ++d) sub[d] = reduced[d] ? std::vector<int64_t>(static_cast<size_t>(nb[d]), 1) : std::vector<int64_t>{1};
    std::vector<Key> inputs;
    for (const auto& r : AllBlocks(sub)) {
      std::vector<int64_t> b(nd);
      size_t k = 0;
      for (int d = 0; d < nd; ++d) b[d] = reduced[d] ? r[d] : kept[k++];
      inputs.push_back(Key(chunk_name, b));
    }
    Shape block_shape = BlockShape(out_chunks, out_block);
    TreeReduction spec{.combine = CombineOp(),
                       .aggregate = AggregateOp(),
                       .params = Value(ValueList{int64_t(kind), int64_t(x.dtype()), ShapeValue(block_shape),
                                                 int64_t{opt.ddof}}),
                       .split_every = split_every,
                       .output = Key(out_name, out_block),
                       .group = out_block};
    AddTreeReduction(&g, inputs, out_name + "-partial", spec);
  }
  return internal::MakeArray(out_name, std::move(out_shape), std::move(out_chunks), out_type, std::move(g),
                             fused ? internal::LayersOf(fused->inputs) : std::vector<LayerPtr>{x.layer()});
}

}  // namespace

Array Array::sum(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kSum, a, o); }
Array Array::prod(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kProd, a, o); }
Array Array::mean(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kMean, a, o); }
Array Array::var(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kVar, a, o); }
Array Array::std(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kStd, a, o); }
Array Array::min(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kMin, a, o); }
Array Array::max(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kMax, a, o); }
Array Array::any(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kAny, a, o); }
Array Array::all(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kAll, a, o); }
Array Array::nansum(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kNanSum, a, o); }
Array Array::nanmean(Axes a, ReduceOptions o) const { return Reduce(*this, ReduceKind::kNanMean, a, o); }

Array Array::argmin(std::optional<int> axis, ReduceOptions o) const {
  if (!axis) return Reduce(*this, ReduceKind::kArgMin, Axes(), o, /*flat_index=*/true);
  return Reduce(*this, ReduceKind::kArgMin, Axes(*axis), o);
}
Array Array::argmax(std::optional<int> axis, ReduceOptions o) const {
  if (!axis) return Reduce(*this, ReduceKind::kArgMax, Axes(), o, /*flat_index=*/true);
  return Reduce(*this, ReduceKind::kArgMax, Axes(*axis), o);
}

// ---- cumulative ---------------------------------------------------------------------

namespace {

// The axis a cumulative task's params name, checked against its block.
int CumulativeAxis(const ValueList& p, const NDArray& block, const OpContext& ctx) {
  const int axis = static_cast<int>(p.at(0).as<int64_t>());
  if (axis < 0 || axis >= block.ndim()) throw Error("cumulative: bad axis in task " + ctx.key.ToString());
  return axis;
}

// "array.cumulative" params: [axis, product, out dtype]; "array.cum-carry":
// [axis, product] over (this block's local result, the previous block's final).
const OpPtr& CumulativeOp() {
  static const OpPtr op = RegisterOp("array.cumulative", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const NDArray& b = args[0].get<NDArray>();
    const int axis = CumulativeAxis(p, b, ctx);
    return Value::From(array::internal::Cumulative(b, axis, p.at(1).as<bool>(), static_cast<DType>(p.at(2).as<int64_t>())));
  });
  return op;
}
const OpPtr& CarryOp() {
  static const OpPtr op = RegisterOp("array.cum-carry", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const NDArray& b = args[0].get<NDArray>();
    const int axis = CumulativeAxis(p, b, ctx);
    return Value::From(array::internal::ApplyCarry(b, args[1].get<NDArray>(), axis, p.at(1).as<bool>()));
  });
  return op;
}

Array Cumulate(const Array& x, std::optional<int> axis_opt, bool product) {
  const char* name = product ? "cumprod" : "cumsum";
  internal::CheckValid(x, name);
  if (!axis_opt) return Cumulate(x.ndim() == 1 ? x : x.flatten(), 0, product);
  const int axis = internal::NormalizeAxis(*axis_opt, x.ndim(), name);
  const DType t = x.dtype() == DType::kBool || IsInteger(x.dtype()) ? DType::kInt64 : x.dtype();
  std::string out = internal::NewArrayName(name);
  const std::string local = out + "-local";
  Graph g;
  for (const auto& block : AllBlocks(x.chunks())) {
    g.AddUnchecked(Key(local, block), Task::Call(CumulativeOp(), {Arg::Ref(x.key(block))},
                                                 Value(ValueList{int64_t{axis}, product, int64_t(t)})));
  }
  for (const auto& block : AllBlocks(x.chunks())) {
    if (block[axis] == 0) {
      g.AddUnchecked(Key(out, block), Task::Alias(Key(local, block)));
      continue;
    }
    std::vector<int64_t> prev = block;
    --prev[axis];
    g.AddUnchecked(Key(out, block), Task::Call(CarryOp(), {Arg::Ref(Key(local, block)), Arg::Ref(Key(out, prev))},
                                               Value(ValueList{int64_t{axis}, product})));
  }
  return internal::MakeArray(out, x.shape(), x.chunks(), t, std::move(g), {x.layer()});
}

}  // namespace

Array Array::cumsum(std::optional<int> axis) const { return Cumulate(*this, axis, false); }
Array Array::cumprod(std::optional<int> axis) const { return Cumulate(*this, axis, true); }

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered =
    (ChunkOp(), CombineOp(), AggregateOp(), CumulativeOp(), CarryOp(), true);

}  // namespace skein
