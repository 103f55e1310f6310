// NDArray: allocation, conversion, printing and its serializer (see ndarray.h).
#include "skein/array/ndarray.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <ostream>
#include <sstream>

#include "skein/core/serialize.h"

namespace skein {
namespace {

std::atomic<int64_t> g_live_bytes{0};
std::atomic<int64_t> g_peak_bytes{0};

// Freed element buffers of 1 MiB or more are kept (up to kCacheBytes) and
// handed out again for the same size: blocks of one array are mostly the
// same size, and fresh memory costs a page fault per 4 KiB on first touch,
// which would cost more than the arithmetic on it.
class BlockCache {
 public:
  static constexpr int64_t kMinBytes = 1 << 20;
  static constexpr int64_t kCacheBytes = int64_t{256} << 20;

  std::byte* Take(int64_t n) {
    if (n >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(n);
      if (it != free_.end()) {
        std::byte* p = it->second;
        free_.erase(it);
        cached_ -= n;
        return p;
      }
    }
    return static_cast<std::byte*>(::operator new(std::max<int64_t>(n, 1), std::align_val_t(64)));
  }
  void Give(std::byte* p, int64_t n) {
    if (n >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mu_);
      if (cached_ + n <= kCacheBytes) {
        free_.emplace(n, p);
        cached_ += n;
        return;
      }
    }
    ::operator delete(p, std::align_val_t(64));
  }

 private:
  std::mutex mu_;
  std::multimap<int64_t, std::byte*> free_;
  int64_t cached_ = 0;
};

BlockCache& Cache() {
  static BlockCache* cache = new BlockCache();  // never destroyed: blocks may die at exit
  return *cache;
}

// Element memory: 64-byte aligned (whole cache lines, aligned SIMD loads) and
// not zero-filled (most kernels overwrite every element anyway).
struct Allocation {
  std::byte* data;
  int64_t size;
  explicit Allocation(int64_t n) : data(Cache().Take(n)), size(n) {
    int64_t live = g_live_bytes.fetch_add(n, std::memory_order_relaxed) + n;
    int64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
    while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
    }
  }
  ~Allocation() {
    Cache().Give(data, size);
    g_live_bytes.fetch_sub(size, std::memory_order_relaxed);
  }
};

}  // namespace

namespace internal {
int64_t TEST_LiveArrayBytes() { return g_live_bytes.load(); }
int64_t TEST_PeakArrayBytes() { return g_peak_bytes.load(); }
void TEST_ResetPeakArrayBytes() { g_peak_bytes.store(g_live_bytes.load()); }
}  // namespace internal

int64_t ShapeSize(std::span<const int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > INT64_MAX / d)) {
      throw Error("invalid shape " + ShapeToString(shape) + ": extents must be >= 0 and their product fit in int64");
    }
    n *= d;
  }
  return n;
}

std::string ShapeToString(std::span<const int64_t> shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

Shape ContiguousStrides(std::span<const int64_t> shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

NDArray::NDArray() : shape_{0} { data_ = Buffer(); }

NDArray NDArray::Empty(DType dtype, Shape shape) {
  NDArray out;
  out.dtype_ = dtype;
  out.size_ = ShapeSize(shape);
  out.shape_ = std::move(shape);
  const int64_t n = out.size_ * static_cast<int64_t>(ItemSize(dtype));
  auto alloc = std::make_shared<Allocation>(n);
  out.writable_ = alloc->data;
  out.data_ = Buffer::Wrap(std::shared_ptr<const void>(alloc, alloc->data), alloc->data, static_cast<size_t>(n));
  return out;
}

NDArray NDArray::Zeros(DType dtype, Shape shape) {
  NDArray out = Empty(dtype, std::move(shape));
  if (out.data_.size() > 0) std::memset(out.writable_, 0, out.data_.size());
  return out;
}

NDArray NDArray::FromBuffer(DType dtype, Shape shape, Buffer data) {
  NDArray out;
  out.dtype_ = dtype;
  out.size_ = ShapeSize(shape);
  out.shape_ = std::move(shape);
  if (static_cast<uint64_t>(out.size_) * ItemSize(dtype) != data.size()) {
    throw Error("NDArray::FromBuffer: " + std::to_string(data.size()) + " bytes do not hold a " +
                std::string(DTypeName(dtype)) + " array of shape " + ShapeToString(out.shape_) + " (" +
                std::to_string(out.size_ * ItemSize(dtype)) + " bytes)");
  }
  if (reinterpret_cast<uintptr_t>(data.data()) % ItemSize(dtype) != 0) {
    // Frames read from a packed byte string may be misaligned for the type.
    NDArray copy = Empty(dtype, out.shape_);
    std::memcpy(copy.writable_, data.data(), data.size());
    return copy;
  }
  out.data_ = std::move(data);
  return out;
}

void NDArray::CheckType(DType want) const {
  if (want != dtype_) {
    throw TypeError("array has dtype " + std::string(DTypeName(dtype_)) + ", not " + std::string(DTypeName(want)));
  }
}

NDArray NDArray::Reshape(Shape shape) const {
  if (ShapeSize(shape) != size_) {
    throw Error("cannot reshape array of shape " + ShapeToString(shape_) + " into shape " + ShapeToString(shape));
  }
  NDArray out = *this;
  out.shape_ = std::move(shape);
  return out;
}

NDArray NDArray::AsType(DType dtype) const {
  if (dtype == dtype_) return *this;
  NDArray out = Empty(dtype, shape_);
  ConvertElements(dtype_, data_.data(), dtype, out.writable_, size_);
  return out;
}

void ConvertElements(DType from, const void* src, DType to, void* dst, int64_t n) {
  VisitDType(from, [&]<class S>(S) {
    VisitDType(to, [&]<class D>(D) {
      const S* s = static_cast<const S*>(src);
      D* d = static_cast<D*>(dst);
      if constexpr (std::is_same_v<S, D>) {
        std::memcpy(d, s, n * sizeof(S));
      } else if constexpr (std::is_same_v<D, bool>) {
        for (int64_t i = 0; i < n; ++i) d[i] = s[i] != S(0);
      } else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) {
        // NumPy's float -> int cast is undefined outside the range; skein
        // clamps (and maps NaN to 0) so that it never traps.
        for (int64_t i = 0; i < n; ++i) {
          S v = s[i];
          d[i] = std::isnan(v) ? D(0)
                 : v <= static_cast<S>(std::numeric_limits<D>::min()) ? std::numeric_limits<D>::min()
                 : v >= static_cast<S>(std::numeric_limits<D>::max()) ? std::numeric_limits<D>::max()
                                                                       : static_cast<D>(v);
        }
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = static_cast<D>(s[i]);
      }
    });
  });
}

bool operator==(const NDArray& a, const NDArray& b) {
  if (a.dtype_ != b.dtype_ || a.shape_ != b.shape_) return false;
  return VisitDType(a.dtype_, [&]<class T>(T) {
    const T* x = reinterpret_cast<const T*>(a.bytes());
    const T* y = reinterpret_cast<const T*>(b.bytes());
    for (int64_t i = 0; i < a.size_; ++i) {
      if (!(x[i] == y[i])) return false;
    }
    return true;
  });
}

// ---- printing ---------------------------------------------------------------

namespace {

template <class T>
std::string FormatElement(T v, bool all_integral_floats) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? "True" : "False";
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(static_cast<int64_t>(v));
  } else {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    std::ostringstream os;
    if (all_integral_floats) {
      os << static_cast<double>(v);
      return os.str() + ".";
    }
    os.precision(8);
    os << static_cast<double>(v);
    return os.str();
  }
}

constexpr int64_t kSummarizeAbove = 1000;
constexpr int64_t kEdgeItems = 3;

struct Printer {
  const NDArray& a;
  std::vector<std::string> cells;  // formatted elements (flat, summarized positions only)
  size_t width = 0;
  bool summarize;

  // Indices of axis d that are printed (-1 stands for "...").
  std::vector<int64_t> Printed(int64_t n) const {
    std::vector<int64_t> idx;
    if (!summarize || n <= 2 * kEdgeItems) {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(-1);
      for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
    }
    return idx;
  }

  void Print(std::string* out, int d, int64_t offset, int indent) const {
    const Shape& s = a.shape();
    const Shape strides = ContiguousStrides(s);
    if (d == a.ndim()) {
      std::string c = Cell(offset);
      out->append(width - c.size(), ' ');
      out->append(c);
      return;
    }
    out->push_back('[');
    std::vector<int64_t> idx = Printed(s[d]);
    for (size_t k = 0; k < idx.size(); ++k) {
      if (k) {
        if (d + 1 == a.ndim()) {
          out->append(", ");
        } else {
          out->push_back(',');
          out->append(static_cast<size_t>(a.ndim() - d - 1), '\n');
          out->append(static_cast<size_t>(indent + 1), ' ');
        }
      }
      if (idx[k] < 0) {
        out->append("...");
        continue;
      }
      Print(out, d + 1, offset + idx[k] * strides[d], indent + 1);
    }
    out->push_back(']');
  }

  std::string Cell(int64_t flat) const {
    return VisitDType(a.dtype(), [&]<class T>(T) {
      return FormatElement<T>(reinterpret_cast<const T*>(a.bytes())[flat], integral_floats);
    });
  }
  bool integral_floats = true;
};

}  // namespace

std::string NDArray::ToString() const {
  Printer p{*this, {}, 0, size_ > kSummarizeAbove};
  if (IsFloat(dtype_)) {
    VisitDType(dtype_, [&]<class T>(T) {
      if constexpr (std::is_floating_point_v<T>) {
        const T* x = reinterpret_cast<const T*>(bytes());
        for (int64_t i = 0; i < size_ && p.integral_floats; ++i) {
          if (std::isfinite(x[i]) && (x[i] != std::floor(x[i]) || std::fabs(x[i]) >= 1e16)) p.integral_floats = false;
        }
      }
    });
  }
  // Column width: the widest printed element (all of them; cheap enough for
  // arrays small enough to print, and summarized ones print a bounded number).
  for (int64_t i = 0; i < size_ && (!p.summarize || i < 100000); ++i) p.width = std::max(p.width, p.Cell(i).size());
  std::string body;
  if (size_ == 0) {
    body = "[]";
  } else {
    p.Print(&body, 0, 0, 6);
  }
  std::string out = "array(" + body;
  if (dtype_ != DType::kFloat64 && dtype_ != DType::kInt64 && dtype_ != DType::kBool) {
    out += ", dtype=" + std::string(DTypeName(dtype_));
  }
  if (size_ == 0 && ndim() != 1) out += ", shape=" + ShapeToString(shape_);
  return out + ")";
}

std::ostream& operator<<(std::ostream& os, const NDArray& a) { return os << a.ToString(); }

// ---- serializer -------------------------------------------------------------

SKEIN_REGISTER_SERIALIZER(
    NDArray, "skein.NDArray",
    [](const NDArray& a, std::string* header) {
      ByteWriter w(header);
      w.U8(static_cast<uint8_t>(a.dtype()));
      w.U32(static_cast<uint32_t>(a.ndim()));
      for (int64_t d : a.shape()) w.I64(d);
      return std::vector<Buffer>{a.buffer()};
    },
    [](std::string_view header, std::span<const Buffer> frames) {
      ByteReader r(header, "skein.NDArray header");
      uint8_t t = r.U8();
      if (t > static_cast<uint8_t>(DType::kFloat64)) throw SerializationError("skein.NDArray: unknown dtype code " + std::to_string(t));
      uint32_t ndim = r.U32();
      if (ndim > 64) throw SerializationError("skein.NDArray: implausible rank " + std::to_string(ndim));
      Shape shape(ndim);
      for (int64_t& d : shape) d = r.I64();
      if (frames.size() != 1) throw SerializationError("skein.NDArray: expected 1 frame, got " + std::to_string(frames.size()));
      try {
        return NDArray::FromBuffer(static_cast<DType>(t), std::move(shape), frames[0]);
      } catch (const Error& e) {
        throw SerializationError(std::string("skein.NDArray: ") + e.what());
      }
    });

}  // namespace skein
