// Region copies between blocks (see block_copy_internal.h).
#include "block_copy_internal.h"

#include "pack_rows_internal.h"

#include <cstring>
#include <vector>

namespace skein::array::internal {
namespace {

// Walks every row (all axes but the last) of a region, calling
// fn(src_offset, dst_offset) in elements.
template <class Fn>
void ForEachRow(std::span<const int64_t> count, std::span<const int64_t> src_strides,
                std::span<const int64_t> dst_strides, int64_t src_base, int64_t dst_base, Fn&& fn) {
  const size_t nd = count.size();
  if (nd == 0) {
    fn(src_base, dst_base);
    return;
  }
  for (int64_t c : count) {
    if (c == 0) return;
  }
  std::vector<int64_t> idx(nd, 0);
  int64_t so = src_base, dof = dst_base;
  while (true) {
    fn(so, dof);
    size_t d = nd - 1;
    while (d-- > 0) {
      ++idx[d];
      so += src_strides[d];
      dof += dst_strides[d];
      if (idx[d] < count[d]) break;
      so -= src_strides[d] * count[d];
      dof -= dst_strides[d] * count[d];
      idx[d] = 0;
      if (d == 0) return;
    }
    if (nd == 1) return;
  }
}

}  // namespace

void CopyRegion(const NDArray& src, std::span<const int64_t> src_start, std::span<const int64_t> count, NDArray* dst,
                std::span<const int64_t> dst_start) {
  const size_t nd = count.size();
  const int64_t item = static_cast<int64_t>(src.itemsize());
  Shape ss = ContiguousStrides(src.shape()), ds = ContiguousStrides(dst->shape());
  int64_t sb = 0, db = 0;
  for (size_t d = 0; d < nd; ++d) {
    sb += src_start[d] * ss[d];
    db += dst_start[d] * ds[d];
  }
  const int64_t row = nd == 0 ? 1 : count[nd - 1];
  const std::byte* s = src.bytes();
  std::byte* o = static_cast<std::byte*>(dst->mutable_bytes());
  ForEachRow(count, ss, ds, sb, db, [&](int64_t so, int64_t dof) {
    std::memcpy(o + dof * item, s + so * item, static_cast<size_t>(row * item));
  });
}

NDArray StridedSlice(const NDArray& src, std::span<const int64_t> start, std::span<const int64_t> count,
                     std::span<const int64_t> step) {
  const size_t nd = count.size();
  NDArray out = NDArray::Empty(src.dtype(), Shape(count.begin(), count.end()));
  if (out.size() == 0) return out;
  Shape ss = ContiguousStrides(src.shape()), step_strides(nd), ds = ContiguousStrides(out.shape());
  int64_t sb = 0;
  bool unit = nd == 0 || step[nd - 1] == 1;
  for (size_t d = 0; d < nd; ++d) {
    sb += start[d] * ss[d];
    step_strides[d] = ss[d] * step[d];
  }
  const int64_t row = nd == 0 ? 1 : count[nd - 1];
  VisitDType(src.dtype(), [&]<class T>(T) {
    const T* s = reinterpret_cast<const T*>(src.bytes());
    T* o = out.mutable_data<T>();
    const int64_t inner = nd == 0 ? 0 : step_strides[nd - 1];
    ForEachRow(count, step_strides, ds, sb, 0, [&](int64_t so, int64_t dof) {
      if (unit) {
        std::memcpy(o + dof, s + so, static_cast<size_t>(row) * sizeof(T));
      } else {
        for (int64_t i = 0; i < row; ++i) o[dof + i] = s[so + i * inner];
      }
    });
  });
  return out;
}

NDArray Transpose(const NDArray& src, std::span<const int> perm) {
  const size_t nd = perm.size();
  Shape shape(nd);
  Shape ss = ContiguousStrides(src.shape());
  Shape in_strides(nd);  // source stride of each output axis
  for (size_t i = 0; i < nd; ++i) {
    shape[i] = src.shape()[static_cast<size_t>(perm[i])];
    in_strides[i] = ss[static_cast<size_t>(perm[i])];
  }
  NDArray out = NDArray::Empty(src.dtype(), shape);
  if (out.size() == 0) return out;
  VisitDType(src.dtype(), [&]<class T>(T) {
    const T* s = reinterpret_cast<const T*>(src.bytes());
    T* o = out.mutable_data<T>();
    if (nd == 2 && perm[0] == 1) {
      // The tiled (register) transpose that fused transposes read through.
      PackRows(src.bytes(), {shape[0], shape[1]}, {1, shape[0]}, sizeof(T), static_cast<std::byte*>(out.mutable_bytes()));
      return;
    }
    Shape ds = ContiguousStrides(shape);
    const int64_t row = nd == 0 ? 1 : shape[nd - 1];
    const int64_t inner = nd == 0 ? 0 : in_strides[nd - 1];
    ForEachRow(shape, in_strides, ds, 0, 0, [&](int64_t so, int64_t dof) {
      for (int64_t i = 0; i < row; ++i) o[dof + i] = s[so + i * inner];
    });
  });
  return out;
}

}  // namespace skein::array::internal
