// Chunk normalization and block arithmetic (see chunks.h).
#include "skein/array/chunks.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "skein/core/config.h"

namespace skein {
namespace {

std::string SpecError(const Shape& shape, const std::string& what) {
  return "chunks do not fit an array of shape " + ShapeToString(shape) + ": " + what;
}

}  // namespace

std::vector<int64_t> RegularChunks(int64_t extent, int64_t size) {
  if (extent == 0) return {0};
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>((extent + size - 1) / size));
  for (int64_t start = 0; start < extent; start += size) out.push_back(std::min(size, extent - start));
  return out;
}

Chunks ChunkSpec::Normalize(const Shape& shape, DType dtype) const {
  const size_t nd = shape.size();
  if (explicit_) {
    if (explicit_->size() != nd) {
      throw Error(SpecError(shape, std::to_string(explicit_->size()) + " axes of chunks " + ChunksToString(*explicit_)));
    }
    for (size_t d = 0; d < nd; ++d) {
      const auto& c = (*explicit_)[d];
      int64_t total = 0;
      for (int64_t s : c) {
        if (s < 0) throw Error(SpecError(shape, "negative block size in " + ChunksToString(*explicit_)));
        total += s;
      }
      if (total != shape[d] || c.empty()) {
        throw Error(SpecError(shape, "axis " + std::to_string(d) + " blocks of " + ChunksToString(*explicit_) +
                                         " add up to " + std::to_string(total)));
      }
    }
    return *explicit_;
  }
  std::vector<int64_t> want(nd, all_.value_or(0));
  if (!per_axis_.empty() || !all_) {
    if (!all_ && per_axis_.empty()) {
      // default: auto everywhere
    } else if (per_axis_.size() != nd) {
      throw Error(SpecError(shape, std::to_string(per_axis_.size()) + " block sizes given for " + std::to_string(nd) +
                                       " axes"));
    } else {
      want = per_axis_;
    }
  }
  for (size_t d = 0; d < nd; ++d) {
    if (want[d] < -1) throw Error(SpecError(shape, "block size " + std::to_string(want[d]) + " on axis " + std::to_string(d)));
    if (want[d] == -1 || (want[d] > shape[d])) want[d] = std::max<int64_t>(shape[d], 1);
  }
  // "auto" axes share what the fixed ones leave of the target block bytes.
  std::vector<size_t> autos;
  double fixed = static_cast<double>(ItemSize(dtype));
  for (size_t d = 0; d < nd; ++d) {
    if (want[d] == 0) {
      autos.push_back(d);
    } else {
      fixed *= static_cast<double>(want[d]);
    }
  }
  if (!autos.empty()) {
    const double limit = static_cast<double>(config::GetBytes("array.chunk-size"));
    double budget = std::max(1.0, limit / fixed);
    // Axes shorter than the balanced side are taken whole, which leaves more
    // for the others; repeat until every remaining axis is longer.
    std::sort(autos.begin(), autos.end(), [&](size_t a, size_t b) { return shape[a] < shape[b]; });
    for (size_t k = 0; k < autos.size(); ++k) {
      const size_t d = autos[k];
      const double side = std::pow(budget, 1.0 / static_cast<double>(autos.size() - k));
      const int64_t extent = std::max<int64_t>(shape[d], 1);
      if (static_cast<double>(extent) <= side) {
        want[d] = extent;
      } else {
        int64_t blocks = static_cast<int64_t>(std::ceil(static_cast<double>(extent) / std::max(1.0, std::floor(side))));
        want[d] = (extent + blocks - 1) / blocks;
      }
      budget = std::max(1.0, budget / static_cast<double>(want[d]));
    }
  }
  Chunks out(nd);
  for (size_t d = 0; d < nd; ++d) out[d] = RegularChunks(shape[d], want[d]);
  return out;
}

std::string ChunksToString(const Chunks& chunks) {
  std::string s = "(";
  for (size_t d = 0; d < chunks.size(); ++d) {
    if (d) s += ", ";
    s += ShapeToString(chunks[d]);
  }
  if (chunks.size() == 1) s += ",";
  return s + ")";
}

std::vector<int64_t> NumBlocks(const Chunks& chunks) {
  std::vector<int64_t> n;
  n.reserve(chunks.size());
  for (const auto& c : chunks) n.push_back(static_cast<int64_t>(c.size()));
  return n;
}

std::vector<int64_t> BlockOffsets(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> off(sizes.size() + 1, 0);
  for (size_t i = 0; i < sizes.size(); ++i) off[i + 1] = off[i] + sizes[i];
  return off;
}

Shape BlockShape(const Chunks& chunks, std::span<const int64_t> block) {
  Shape s(chunks.size());
  for (size_t d = 0; d < chunks.size(); ++d) s[d] = chunks[d][static_cast<size_t>(block[d])];
  return s;
}

std::vector<std::vector<int64_t>> AllBlocks(const Chunks& chunks) {
  std::vector<int64_t> n = NumBlocks(chunks);
  int64_t total = 1;
  for (int64_t k : n) total *= k;
  std::vector<std::vector<int64_t>> out;
  out.reserve(static_cast<size_t>(total));
  std::vector<int64_t> idx(chunks.size(), 0);
  for (int64_t i = 0; i < total; ++i) {
    out.push_back(idx);
    for (size_t d = chunks.size(); d-- > 0;) {
      if (++idx[d] < n[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

std::vector<int64_t> CommonChunks(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> oa = BlockOffsets(a), ob = BlockOffsets(b);
  if (oa.back() != ob.back()) {
    throw Error("cannot align chunks " + ShapeToString(a) + " and " + ShapeToString(b) + ": they cover " +
                std::to_string(oa.back()) + " and " + std::to_string(ob.back()) + " elements");
  }
  if (a == b) return a;
  std::vector<int64_t> bounds;
  std::merge(oa.begin(), oa.end(), ob.begin(), ob.end(), std::back_inserter(bounds));
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::vector<int64_t> out;
  for (size_t i = 1; i < bounds.size(); ++i) out.push_back(bounds[i] - bounds[i - 1]);
  if (out.empty()) out.push_back(0);
  return out;
}

}  // namespace skein
