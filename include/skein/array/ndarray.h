// skein/array/ndarray.h — a dense, in-memory N-dimensional array.
//
// NDArray is one chunk of a chunked Array and the result of computing one: a
// dtype, a shape, and C-contiguous (row-major) elements in a shared Buffer.
// Copies share the elements; an NDArray is immutable once it has been handed
// to anyone else (a task result, a Value).
//
//   skein::NDArray a = skein::NDArray::FromVector<double>({1, 2, 3, 4}, {2, 2});
//   double x = a.at<double>({1, 0});            // 3
//   std::vector<int64_t> v = a.ToVector<int64_t>();
//   std::cout << a;                             // array([[1., 2.], [3., 4.]])
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <span>
#include <string>
#include <vector>

#include "skein/array/dtype.h"
#include "skein/core/buffer.h"
#include "skein/core/error.h"

namespace skein {

using Shape = std::vector<int64_t>;

/// Number of elements of `shape` (1 for a 0-d shape); Error on overflow or
/// negative extents, naming the shape.
int64_t ShapeSize(std::span<const int64_t> shape);
/// "(3, 4)" / "(5,)" / "()" as NumPy prints shapes.
std::string ShapeToString(std::span<const int64_t> shape);
/// Row-major element strides of `shape`.
Shape ContiguousStrides(std::span<const int64_t> shape);

/// A dense array. Safe for concurrent reads; `mutable_data` is for the
/// creator only, before the array is shared.
class NDArray {
 public:
  /// An empty float64 array of shape (0,).
  NDArray();
  /// Uninitialized elements (fill them through mutable_data before sharing).
  static NDArray Empty(DType dtype, Shape shape);
  static NDArray Zeros(DType dtype, Shape shape);
  /// Shares `data`; Error unless it holds exactly size * itemsize bytes.
  static NDArray FromBuffer(DType dtype, Shape shape, Buffer data);
  /// Copies `values`; `shape` defaults to 1-d. Error if the sizes differ.
  template <ArrayElement T>
  static NDArray FromVector(const std::vector<T>& values, Shape shape = {});
  /// A 0-d array holding `v`.
  template <ArrayElement T>
  static NDArray Scalar(T v) {
    NDArray out = Empty(DTypeOf<T>(), {});
    out.mutable_data<T>()[0] = v;
    return out;
  }

  DType dtype() const noexcept { return dtype_; }
  const Shape& shape() const noexcept { return shape_; }
  int ndim() const noexcept { return static_cast<int>(shape_.size()); }
  int64_t size() const noexcept { return size_; }
  size_t itemsize() const noexcept { return ItemSize(dtype_); }
  /// Element bytes plus the object (memory accounting).
  size_t nbytes() const noexcept { return data_.size() + sizeof(*this) + shape_.size() * 8; }
  const Buffer& buffer() const noexcept { return data_; }
  const std::byte* bytes() const noexcept { return data_.data(); }

  /// Typed elements; TypeError naming both types if T is not the dtype.
  template <ArrayElement T>
  const T* data() const {
    CheckType(DTypeOf<T>());
    return reinterpret_cast<const T*>(data_.data());
  }
  template <ArrayElement T>
  T* mutable_data() {
    CheckType(DTypeOf<T>());
    return reinterpret_cast<T*>(writable_);
  }
  void* mutable_bytes() { return writable_; }

  /// Element at `index` converted to T; IndexError-style Error naming the
  /// index and shape when out of bounds (negative indices count from the end).
  template <ArrayElement T>
  T at(std::initializer_list<int64_t> index) const { return at<T>(std::span(index.begin(), index.size())); }
  template <ArrayElement T>
  T at(std::span<const int64_t> index) const;
  /// Flat (row-major) element converted to T.
  template <ArrayElement T>
  T item(int64_t flat) const;
  /// All elements, row-major, converted to T.
  template <ArrayElement T>
  std::vector<T> ToVector() const;

  /// Same elements with another shape of the same size (no copy).
  NDArray Reshape(Shape shape) const;
  /// Elements converted to `dtype` (a copy; shares when already `dtype`).
  NDArray AsType(DType dtype) const;

  /// NumPy-like repr: array([[1., 2.],\n       [3., 4.]]), summarized with
  /// "..." beyond 1000 elements.
  std::string ToString() const;

  /// Same dtype, shape and elements (NaN != NaN, as in NumPy).
  friend bool operator==(const NDArray& a, const NDArray& b);

 private:
  void CheckType(DType want) const;
  DType dtype_ = DType::kFloat64;
  Shape shape_;
  int64_t size_ = 0;
  Buffer data_;
  std::byte* writable_ = nullptr;
};

std::ostream& operator<<(std::ostream& os, const NDArray& a);

/// Copies the element type conversion: dst[i] = static_cast<To>(src[i]).
void ConvertElements(DType from, const void* src, DType to, void* dst, int64_t n);

namespace internal {
/// Bytes of array elements alive now and at most since the last reset, in
/// this process (tests of larger-than-memory runs).
int64_t TEST_LiveArrayBytes();
int64_t TEST_PeakArrayBytes();
void TEST_ResetPeakArrayBytes();
}  // namespace internal

// ---- template implementation ------------------------------------------------

template <ArrayElement T>
NDArray NDArray::FromVector(const std::vector<T>& values, Shape shape) {
  if (shape.empty() && values.size() != 1) shape = {static_cast<int64_t>(values.size())};
  NDArray out = Empty(DTypeOf<T>(), std::move(shape));
  if (out.size() != static_cast<int64_t>(values.size())) {
    throw Error("NDArray::FromVector: " + std::to_string(values.size()) + " values do not fill shape " +
                ShapeToString(out.shape()));
  }
  std::copy(values.begin(), values.end(), out.mutable_data<T>());
  return out;
}

template <ArrayElement T>
T NDArray::item(int64_t flat) const {
  if (flat < 0 || flat >= size_) {
    throw Error("index " + std::to_string(flat) + " is out of bounds for an array of size " + std::to_string(size_));
  }
  T out;
  ConvertElements(dtype_, data_.data() + flat * itemsize(), DTypeOf<T>(), &out, 1);
  return out;
}

template <ArrayElement T>
T NDArray::at(std::span<const int64_t> index) const {
  if (index.size() != shape_.size()) {
    throw Error("NDArray::at: " + std::to_string(index.size()) + " indices for an array of shape " +
                ShapeToString(shape_));
  }
  int64_t flat = 0;
  for (size_t d = 0; d < index.size(); ++d) {
    int64_t i = index[d] < 0 ? index[d] + shape_[d] : index[d];
    if (i < 0 || i >= shape_[d]) {
      throw Error("index " + std::to_string(index[d]) + " is out of bounds for axis " + std::to_string(d) +
                  " with size " + std::to_string(shape_[d]) + " (shape " + ShapeToString(shape_) + ")");
    }
    flat = flat * shape_[d] + i;
  }
  return item<T>(flat);
}

template <ArrayElement T>
std::vector<T> NDArray::ToVector() const {
  std::vector<T> out(static_cast<size_t>(size_));
  if constexpr (std::is_same_v<T, bool>) {
    for (int64_t i = 0; i < size_; ++i) out[i] = item<bool>(i);
  } else {
    ConvertElements(dtype_, data_.data(), DTypeOf<T>(), out.data(), size_);
  }
  return out;
}

}  // namespace skein
