// map_blocks and map_overlap (see blockwise.h).
#include "skein/array/blockwise.h"

#include <algorithm>

#include "block_copy_internal.h"

namespace skein {
namespace {

BlockInfo InfoFor(const Chunks& chunks, const Shape& shape, DType dtype, std::span<const int64_t> block) {
  BlockInfo info;
  info.index.assign(block.begin(), block.end());
  info.shape = BlockShape(chunks, block);
  info.array_shape = shape;
  info.dtype = dtype;
  for (size_t d = 0; d < chunks.size(); ++d) {
    int64_t s = BlockOffsets(chunks[d])[block[d]];
    info.location.emplace_back(s, s + info.shape[d]);
  }
  return info;
}

void CheckResult(const NDArray& out, const Shape& want, DType dtype, const Key& key, std::string_view what) {
  if (out.shape() != want || out.dtype() != dtype) {
    throw Error(std::string(what) + ": block " + key.ToString() + " came back with shape " + ShapeToString(out.shape()) +
                " and dtype " + std::string(DTypeName(out.dtype())) + ", expected " + ShapeToString(want) + " and " +
                std::string(DTypeName(dtype)));
  }
}

}  // namespace

Array map_blocks(BlockFunction fn, const std::vector<Array>& arrays, std::optional<DType> dtype,
                 std::optional<Chunks> chunks, std::string name) {
  if (!fn) throw Error("map_blocks: the function is empty");
  if (arrays.empty()) throw Error("map_blocks: needs at least one array");
  for (const Array& a : arrays) {
    internal::CheckValid(a, "map_blocks");
    if (a.shape() != arrays[0].shape()) {
      throw Error("map_blocks: arrays must have the same shape: " + ShapeToString(arrays[0].shape()) + " and " +
                  ShapeToString(a.shape()));
    }
  }
  Chunks common = arrays[0].chunks();
  for (const Array& a : arrays)
    for (size_t d = 0; d < common.size(); ++d) common[d] = CommonChunks(common[d], a.chunks()[d]);
  std::vector<Array> in;
  for (const Array& a : arrays) in.push_back(a.rechunk(common));
  const DType t = dtype.value_or(arrays[0].dtype());
  Chunks out_chunks = chunks.value_or(common);
  if (NumBlocks(out_chunks) != NumBlocks(common)) {
    throw Error("map_blocks: chunks " + ChunksToString(out_chunks) + " do not have one block per input block " +
                ChunksToString(common));
  }
  Shape out_shape;
  for (const auto& c : out_chunks) out_shape.push_back(BlockOffsets(c).back());
  auto op = LocalOp(
      [fn, out_chunks, out_shape, t, common, in_shape = arrays[0].shape()](std::span<const Value> args, const OpContext& ctx) {
        std::vector<NDArray> blocks;
        for (const Value& v : args) blocks.push_back(v.get<NDArray>());
        BlockInfo info = InfoFor(common, in_shape, t, ctx.key.index());
        NDArray out = fn(blocks, info);
        CheckResult(out, BlockShape(out_chunks, ctx.key.index()), t, ctx.key, "map_blocks");
        return Value::From(std::move(out));
      },
      name);
  std::string n = internal::NewArrayName(name);
  Graph g;
  for (const auto& block : AllBlocks(common)) {
    std::vector<Arg> args;
    for (const Array& a : in) args.push_back(Arg::Ref(a.key(block)));
    g.AddUnchecked(Key(n, block), Task::Call(op, std::move(args)));
  }
  return internal::MakeArray(n, std::move(out_shape), std::move(out_chunks), t, std::move(g), internal::LayersOf(in));
}

namespace {

// Per axis: the neighbouring blocks a block reads, and for each position of
// the extended block, which of them and where (or -1: the constant).
struct AxisHalo {
  std::vector<int64_t> blocks;       // neighbour block indices along the axis
  std::vector<int64_t> which, local; // per extended position
  int64_t before = 0;                // halo elements added before the block
};

AxisHalo PlanAxis(const std::vector<int64_t>& sizes, int64_t b, int64_t depth, Boundary::Kind kind) {
  const std::vector<int64_t> off = BlockOffsets(sizes);
  const int64_t n = off.back();
  const int64_t lo = off[b], hi = off[b + 1];
  AxisHalo h;
  int64_t start = lo - depth, stop = hi + depth;
  if (kind == Boundary::kNone) {
    start = std::max<int64_t>(start, 0);
    stop = std::min(stop, n);
  }
  h.before = lo - start;
  for (int64_t g = start; g < stop; ++g) {
    int64_t src = g;
    if (g < 0 || g >= n) {
      switch (kind) {
        case Boundary::kReflect: src = g < 0 ? -g - 1 : 2 * n - g - 1; break;
        case Boundary::kPeriodic: src = ((g % n) + n) % n; break;
        case Boundary::kNearest: src = g < 0 ? 0 : n - 1; break;
        default: src = -1; break;
      }
    }
    if (src < 0 || src >= n) {
      h.which.push_back(-1);
      h.local.push_back(0);
      continue;
    }
    const int64_t blk = std::upper_bound(off.begin(), off.end(), src) - off.begin() - 1;
    auto it = std::find(h.blocks.begin(), h.blocks.end(), blk);
    if (it == h.blocks.end()) it = h.blocks.insert(h.blocks.end(), blk);
    h.which.push_back(it - h.blocks.begin());
    h.local.push_back(src - off[blk]);
  }
  return h;
}

}  // namespace

Array map_overlap(BlockFunction fn, const Array& x, std::vector<int64_t> depth, Boundary boundary, bool trim,
                  std::optional<DType> dtype, std::string name) {
  if (!fn) throw Error("map_overlap: the function is empty");
  internal::CheckValid(x, "map_overlap");
  const int nd = x.ndim();
  if (depth.size() == 1 && nd > 1) depth.assign(nd, depth[0]);
  if (static_cast<int>(depth.size()) != nd) {
    throw Error("map_overlap: " + std::to_string(depth.size()) + " depths for an array of rank " + std::to_string(nd));
  }
  for (int d = 0; d < nd; ++d) {
    if (depth[d] < 0) throw Error("map_overlap: negative depth on axis " + std::to_string(d));
    for (int64_t c : x.chunks()[d]) {
      if (depth[d] > c && x.chunks()[d].size() > 1) {
        throw Error("map_overlap: depth " + std::to_string(depth[d]) + " on axis " + std::to_string(d) +
                    " is larger than a block (" + ShapeToString(x.chunks()[d]) + "); rechunk first");
      }
    }
    if (depth[d] > x.shape()[d] && boundary.kind != Boundary::kNone && boundary.kind != Boundary::kConstant) {
      throw Error("map_overlap: depth " + std::to_string(depth[d]) + " exceeds the extent of axis " + std::to_string(d));
    }
  }
  const DType t = dtype.value_or(x.dtype());
  const Chunks chunks = x.chunks();
  const Shape shape = x.shape();
  std::string n = internal::NewArrayName(name);
  Graph g;
  for (const auto& block : AllBlocks(chunks)) {
    std::vector<AxisHalo> halo;
    for (int d = 0; d < nd; ++d) halo.push_back(PlanAxis(chunks[d], block[d], depth[d], boundary.kind));
    // The neighbourhood: every combination of the per-axis neighbour blocks.
    Chunks grid;
    for (const AxisHalo& h : halo) grid.push_back(std::vector<int64_t>(h.blocks.size(), 1));
    std::vector<Arg> args;
    for (const auto& pick : AllBlocks(grid)) {
      std::vector<int64_t> b(nd);
      for (int d = 0; d < nd; ++d) b[d] = halo[d].blocks[pick[d]];
      args.push_back(Arg::Ref(x.key(b)));
    }
    auto op = LocalOp(
        [fn, halo, boundary, trim, t, chunks, shape, nd](std::span<const Value> in, const OpContext& ctx) {
          // Assemble the extended block element by element through the plans.
          Shape ext(nd);
          std::vector<int64_t> counts(nd);
          for (int d = 0; d < nd; ++d) {
            ext[d] = static_cast<int64_t>(halo[d].which.size());
            counts[d] = static_cast<int64_t>(halo[d].blocks.size());
          }
          const DType src_type = in.empty() ? t : in[0].get<NDArray>().dtype();
          NDArray e = NDArray::Empty(src_type, ext);
          VisitDType(src_type, [&]<class T>(T) {
            T* o = e.mutable_data<T>();
            std::vector<int64_t> idx(nd, 0);
            for (int64_t flat = 0; flat < e.size(); ++flat) {
              int64_t arg = 0, off = 0;
              bool constant = false;
              const NDArray* src = nullptr;
              for (int d = 0; d < nd; ++d) {
                const int64_t w = halo[d].which[idx[d]];
                if (w < 0) constant = true;
                arg = arg * counts[d] + std::max<int64_t>(w, 0);
              }
              if (constant) {
                o[flat] = static_cast<T>(boundary.value);
              } else {
                src = &in[static_cast<size_t>(arg)].get<NDArray>();
                const Shape& s = src->shape();
                for (int d = 0; d < nd; ++d) off = off * s[d] + halo[d].local[idx[d]];
                o[flat] = src->data<T>()[off];
              }
              for (int d = nd - 1; d >= 0; --d) {
                if (++idx[d] < ext[d]) break;
                idx[d] = 0;
              }
            }
          });
          BlockInfo info = InfoFor(chunks, shape, t, ctx.key.index());
          info.shape = ext;
          std::vector<NDArray> blocks{e};
          NDArray out = fn(blocks, info);
          if (!trim) return Value::From(std::move(out));
          Shape own = BlockShape(chunks, ctx.key.index());
          if (out.shape() != ext || out.dtype() != t) {
            CheckResult(out, ext, t, ctx.key, "map_overlap");
          }
          Shape start(nd), step(nd, 1);
          for (int d = 0; d < nd; ++d) start[d] = halo[d].before;
          return Value::From(array::internal::StridedSlice(out, start, own, step));
        },
        name);
    g.AddUnchecked(Key(n, block), Task::Call(op, std::move(args)));
  }
  Chunks out_chunks = chunks;
  Shape out_shape = shape;
  if (!trim) {
    // Untrimmed blocks keep their halos: sizes grow by what each block got.
    for (int d = 0; d < nd; ++d) {
      out_shape[d] = 0;
      for (size_t b = 0; b < chunks[d].size(); ++b) {
        AxisHalo h = PlanAxis(chunks[d], static_cast<int64_t>(b), depth[d], boundary.kind);
        out_chunks[d][b] = static_cast<int64_t>(h.which.size());
        out_shape[d] += out_chunks[d][b];
      }
    }
  }
  return internal::MakeArray(n, std::move(out_shape), std::move(out_chunks), t, std::move(g), {x.layer()});
}

}  // namespace skein
