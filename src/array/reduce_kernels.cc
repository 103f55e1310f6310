// Reduction kernels (see reduce_internal.h).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "reduce_internal.h"
#include "wrap_internal.h"

namespace skein::array::internal {
namespace {

// The block seen as merged axes: extent-1 axes dropped, neighbours with the
// same reduced/kept status merged. Runs of the innermost axis are contiguous.
struct Layout {
  std::vector<int64_t> dims, in_strides, out_strides;
  std::vector<bool> red;
};

Layout MakeLayout(const Shape& shape, const std::vector<bool>& reduced) {
  Layout l;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!l.dims.empty() && l.red.back() == reduced[d]) {
      l.dims.back() *= shape[d];
    } else {
      l.dims.push_back(shape[d]);
      l.red.push_back(reduced[d]);
    }
  }
  if (l.dims.empty()) {
    l.dims.push_back(1);
    l.red.push_back(true);
  }
  const size_t n = l.dims.size();
  l.in_strides.assign(n, 0);
  l.out_strides.assign(n, 0);
  int64_t si = 1, so = 1;
  for (size_t d = n; d-- > 0;) {
    l.in_strides[d] = si;
    si *= l.dims[d];
    if (!l.red[d]) {
      l.out_strides[d] = so;
      so *= l.dims[d];
    }
  }
  return l;
}

// Calls fn(in_offset, out_offset, n, reduced_run) for every innermost run.
// `first_only` visits only index 0 of every reduced axis.
template <class Fn>
void Traverse(const Layout& l, bool first_only, Fn&& fn) {
  const size_t nd = l.dims.size();
  const int64_t inner = (first_only && l.red[nd - 1]) ? 1 : l.dims[nd - 1];
  std::vector<int64_t> idx(nd, 0);
  int64_t in = 0, out = 0;
  while (true) {
    fn(in, out, inner, static_cast<bool>(l.red[nd - 1]));
    size_t d = nd - 1;
    while (true) {
      if (d == 0) return;
      --d;
      const int64_t extent = (first_only && l.red[d]) ? 1 : l.dims[d];
      if (++idx[d] < extent) {
        in += l.in_strides[d];
        out += l.out_strides[d];
        break;
      }
      in -= l.in_strides[d] * (extent - 1);
      out -= l.out_strides[d] * (extent - 1);
      idx[d] = 0;
    }
  }
}

Shape KeepDimsShape(const Shape& shape, const std::vector<bool>& reduced) {
  Shape s = shape;
  for (size_t d = 0; d < s.size(); ++d) {
    if (reduced[d]) s[d] = 1;
  }
  return s;
}

template <class T>
using SumType = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <class T>
bool IsNan(T v) {
  if constexpr (std::is_floating_point_v<T>) return v != v;
  else return false;
}

// The element map of a fused program (ElementMap), on one value of T or on
// a GCC vector of them; kOp is the unary function (kCount: none).
template <class T, UnaryOp kOp>
struct Mapped {
  T add_before, mul, add_after;

  explicit Mapped(const ElementMap& m)
      : add_before(static_cast<T>(m.add_before)), mul(static_cast<T>(m.mul)), add_after(static_cast<T>(m.add_after)) {}
  template <class X>
  X operator()(X v) const {
    v = v + add_before;  // separate statements, and this file is built without
    v = v * mul;         // contraction: no fused multiply-add
    v = v + add_after;
    if constexpr (kOp == UnaryOp::kSqrt || kOp == UnaryOp::kAbs) {
      auto f = [](T e) { return kOp == UnaryOp::kSqrt ? std::sqrt(e) : std::abs(e); };
      if constexpr (std::is_same_v<X, T>) {
        v = f(v);
      } else {
        for (size_t k = 0; k < sizeof(X) / sizeof(T); ++k) v[k] = f(v[k]);
      }
    }
    return v;
  }
};

struct Identity {
  template <class X>
  X operator()(X v) const { return v; }
};

// Sum of contiguous runs fed in order, with 8 independent accumulators (the
// compiler may not reorder float additions itself; this lets it vectorize).
template <class A, class T, bool kSkipNan>
struct SumLanes {
  A lanes[8] = {};

  template <class F = Identity>
  void Add(const T* x, int64_t n, F f = {}) {
    A acc[8];
    std::copy_n(lanes, 8, acc);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      for (int k = 0; k < 8; ++k) {
        A v = static_cast<A>(f(x[i + k]));
        if constexpr (kSkipNan) v = IsNan(v) ? A(0) : v;
        acc[k] = WrapAdd(acc[k], v);
      }
    }
    for (int k = 0; i < n; ++i, ++k) {
      A v = static_cast<A>(f(x[i]));
      if constexpr (kSkipNan) v = IsNan(v) ? A(0) : v;
      acc[k] = WrapAdd(acc[k], v);
    }
    std::copy_n(acc, 8, lanes);
  }
  A Total() const {
    return WrapAdd(WrapAdd(WrapAdd(lanes[0], lanes[1]), WrapAdd(lanes[2], lanes[3])),
                   WrapAdd(WrapAdd(lanes[4], lanes[5]), WrapAdd(lanes[6], lanes[7])));
  }
};

template <class A, class T, bool kSkipNan>
A SumRun(const T* x, int64_t n) {
  SumLanes<A, T, kSkipNan> s;
  s.Add(x, n);
  return s.Total();
}

template <class T>
T MinOf(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return (a != a) ? a : (b != b) ? b : (b < a ? b : a);
  else return b < a ? b : a;
}
template <class T>
T MaxOf(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return (a != a) ? a : (b != b) ? b : (a < b ? b : a);
  else return a < b ? b : a;
}

// Min or max of contiguous runs fed in order, NaN if any element is NaN.
// Lanes of compare-and-blend in GCC vector types (one SIMD register's worth:
// the plain loop is not vectorized because of the NaN test); a NaN, once
// taken into a lane, stays there, since no comparison with it is true. The
// lanes carry from run to run: folding them for every short run is a chain
// of 32 compares.
template <class T, bool kMin>
struct ExtremeLanes {
  using L = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;
  static constexpr int64_t kLanes = 64 / sizeof(L);
  static constexpr int64_t kStep = 4 * kLanes;  // four vectors in flight
  using V [[gnu::vector_size(64)]] = L;

  V lane[4];
  bool vectors = false;  // lane[] holds elements
  bool seen = false;     // m holds an element
  T m{};

  static auto Take(auto v, auto cur) {
    auto better = kMin ? v < cur : v > cur;
    if constexpr (std::is_floating_point_v<T>) return (better | (v != v)) ? v : cur;
    else return better ? v : cur;
  }
  template <class F = Identity>
  void Add(const T* x, int64_t n, F f = {}) {
    if (n <= 0) return;
    int64_t i = 0;
    if (!seen) {
      m = f(x[0]);
      seen = true;
    }
    if constexpr (!std::is_same_v<T, bool>) {
      if (!vectors && n >= 2 * kStep) {
        std::memcpy(lane, x, sizeof(lane));
        for (int u = 0; u < 4; ++u) lane[u] = f(lane[u]);
        i = kStep;
        vectors = true;
      }
      if (vectors) {
        // Four independent lanes: one would wait on its own compare-and-blend
        // every step (a chain of latencies, not of throughput).
        // Named vectors, loaded one by one: GCC keeps them in registers (an
        // array filled by one memcpy lived on the stack, every lane stored
        // and reloaded each step).
        V l0 = lane[0], l1 = lane[1], l2 = lane[2], l3 = lane[3];
        for (; i + kStep <= n; i += kStep) {
          V v0, v1, v2, v3;
          std::memcpy(&v0, x + i, sizeof(V));
          std::memcpy(&v1, x + i + kLanes, sizeof(V));
          std::memcpy(&v2, x + i + 2 * kLanes, sizeof(V));
          std::memcpy(&v3, x + i + 3 * kLanes, sizeof(V));
          l0 = Take(f(v0), l0);
          l1 = Take(f(v1), l1);
          l2 = Take(f(v2), l2);
          l3 = Take(f(v3), l3);
        }
        lane[0] = l0;
        lane[1] = l1;
        lane[2] = l2;
        lane[3] = l3;
      }
    }
    for (; i < n; ++i) m = Take(f(x[i]), m);
  }
  T Result() const {
    T r = m;
    if constexpr (!std::is_same_v<T, bool>) {
      if (vectors) {
        for (int u = 0; u < 4; ++u)
          for (int64_t k = 0; k < kLanes; ++k) r = Take(lane[u][k], r);
      }
    }
    return r;
  }
};

template <class T, bool kMin>
T ExtremeRun(const T* x, int64_t n) {
  ExtremeLanes<T, kMin> e;
  e.Add(x, n);
  return e.Result();
}

// Sums of (x - k0) and (x - k0)^2 over contiguous runs fed in order, in
// vector lanes for float64 (four vectors of each sum in flight, so the adds'
// latency does not bound the loop: four scalar lanes took x.std() to 1.8x
// the read bound, and two vectors, once the square was no longer a fused
// multiply-add, 1.1x).
template <class T>
struct ShiftedLanes {
  using V [[gnu::vector_size(64)]] = double;
  static constexpr int64_t kLanes = 8;
  double k0 = 0;
  static constexpr int kInFlight = 4;  // vectors of each sum
  V p[kInFlight] = {}, q[kInFlight] = {};
  double ps = 0, qs = 0;  // what did not fill a vector

  template <class F = Identity>
  void Add(const T* x, int64_t n, F f = {}) {
    int64_t k = 0;
    if constexpr (std::is_same_v<T, double>) {
      // Named vectors, loaded one by one, so that they stay in registers
      // (see ExtremeLanes).
      V p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3], q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
      const V shift = V{} + k0;
      auto step = [&](const double* at, V& ps_, V& qs_) {
        V v;
        std::memcpy(&v, at, sizeof(V));
        const V d = f(v) - shift;
        ps_ += d;
        qs_ += d * d;
      };
      for (; k + kInFlight * kLanes <= n; k += kInFlight * kLanes) {
        step(x + k, p0, q0);
        step(x + k + kLanes, p1, q1);
        step(x + k + 2 * kLanes, p2, q2);
        step(x + k + 3 * kLanes, p3, q3);
      }
      p[0] = p0, p[1] = p1, p[2] = p2, p[3] = p3;
      q[0] = q0, q[1] = q1, q[2] = q2, q[3] = q3;
    } else {
      double pl[4] = {}, ql[4] = {};
      for (; k + 4 <= n; k += 4) {
        for (int u = 0; u < 4; ++u) {
          const double d = static_cast<double>(f(x[k + u])) - k0;
          pl[u] += d;
          ql[u] += d * d;
        }
      }
      ps += (pl[0] + pl[1]) + (pl[2] + pl[3]);
      qs += (ql[0] + ql[1]) + (ql[2] + ql[3]);
    }
    for (; k < n; ++k) {
      const double d = static_cast<double>(f(x[k])) - k0;
      ps += d;
      qs += d * d;
    }
  }
  double P() const {
    const V t = (p[0] + p[1]) + (p[2] + p[3]);
    double s = ps;
    for (int64_t u = 0; u < kLanes; ++u) s += t[u];
    return s;
  }
  double Q() const {
    const V t = (q[0] + q[1]) + (q[2] + q[3]);
    double s = qs;
    for (int64_t u = 0; u < kLanes; ++u) s += t[u];
    return s;
  }
};

// [count, mean, M2] of elements summed around k0 (sums p and q).
void VarianceParts(double n, double k0, double p, double q, double* mean, double* m2) {
  const double mean_shift = n > 0 ? p / n : 0;
  *m2 = n > 0 ? std::max(0.0, q - p * mean_shift) : 0;
  *mean = k0 + mean_shift;
}

template <class V>
NDArray Single(DType dtype, int ndim, V v) {
  NDArray a = NDArray::Empty(dtype, Shape(static_cast<size_t>(ndim), 1));
  VisitDType(dtype, [&]<class S>(S) { a.mutable_data<S>()[0] = static_cast<S>(v); });
  return a;
}

std::string EmptyMessage(ReduceKind kind) {
  switch (kind) {
    case ReduceKind::kMin: return "zero-size array to reduction operation minimum which has no identity";
    case ReduceKind::kMax: return "zero-size array to reduction operation maximum which has no identity";
    case ReduceKind::kArgMin: return "attempt to get argmin of an empty sequence";
    default: return "attempt to get argmax of an empty sequence";
  }
}

// A full reduction of one dtype's elements, fed as contiguous runs.
template <class T>
class RunReducerT final : public RunReducer {
 public:
  explicit RunReducerT(ReduceKind kind) : kind_(kind) {}

  void Consume(const void* data, int64_t n) override { ConsumeWith(static_cast<const T*>(data), n, Identity{}); }

  void ConsumeMapped(const void* data, int64_t n, const ElementMap& map) override {
    const T* x = static_cast<const T*>(data);
    if constexpr (std::is_floating_point_v<T>) {
      switch (map.unary) {
        case UnaryOp::kSqrt: return ConsumeWith(x, n, Mapped<T, UnaryOp::kSqrt>(map));
        case UnaryOp::kAbs: return ConsumeWith(x, n, Mapped<T, UnaryOp::kAbs>(map));
        case UnaryOp::kCount: return ConsumeWith(x, n, Mapped<T, UnaryOp::kCount>(map));
        default: break;
      }
    }
    throw Error("reduction: no fused form of this element map for dtype " + std::string(DTypeName(DTypeOf<T>())));
  }

  ValueList Finish(int ndim) override {
    const DType acc = DTypeOf<A>();
    switch (kind_) {
      case ReduceKind::kSum: return {Value::From(Single(acc, ndim, sum_.Total()))};
      case ReduceKind::kNanSum: return {Value::From(Single(acc, ndim, nansum_.Total()))};
      case ReduceKind::kMean:
        return {Value::From(Single(DType::kFloat64, ndim, static_cast<double>(sum_.Total()))),
                Value::From(Single(DType::kFloat64, ndim, static_cast<double>(count_)))};
      case ReduceKind::kNanMean:
        return {Value::From(Single(DType::kFloat64, ndim, static_cast<double>(nansum_.Total()))),
                Value::From(Single(DType::kFloat64, ndim, static_cast<double>(valid_)))};
      case ReduceKind::kProd: return {Value::From(Single(acc, ndim, prod_))};
      case ReduceKind::kMin:
      case ReduceKind::kMax:
        if (count_ == 0) throw Error(EmptyMessage(kind_));
        return {Value::From(Single(DTypeOf<T>(), ndim, kind_ == ReduceKind::kMin ? min_.Result() : max_.Result()))};
      case ReduceKind::kAny: return {Value::From(Single(DType::kBool, ndim, flag_))};
      case ReduceKind::kAll: return {Value::From(Single(DType::kBool, ndim, !flag_))};
      case ReduceKind::kVar:
      case ReduceKind::kStd: {
        double mean = 0, m2 = 0;
        VarianceParts(static_cast<double>(count_), shifted_.k0, shifted_.P(), shifted_.Q(), &mean, &m2);
        return {Value::From(Single(DType::kFloat64, ndim, static_cast<double>(count_))),
                Value::From(Single(DType::kFloat64, ndim, mean)), Value::From(Single(DType::kFloat64, ndim, m2))};
      }
      default: throw Error("reduction: no streaming form for this reduction");
    }
  }

 private:
  // Folds f(x[0..n)). Sums, extremes and variances apply f in their own
  // loops; the other kinds get mapped values from a small buffer, so below
  // the switch they only ever see Identity.
  template <class F>
  void ConsumeWith(const T* x, int64_t n, F f) {
    if (n <= 0) return;
    if constexpr (!std::is_same_v<F, Identity>) {
      const bool in_lanes = kind_ == ReduceKind::kSum || kind_ == ReduceKind::kMean || kind_ == ReduceKind::kMin ||
                            kind_ == ReduceKind::kMax || kind_ == ReduceKind::kVar || kind_ == ReduceKind::kStd;
      if (!in_lanes) {
        T buffer[256];
        for (int64_t at = 0; at < n; at += 256) {
          const int64_t m = std::min<int64_t>(256, n - at);
          for (int64_t k = 0; k < m; ++k) buffer[k] = f(x[at + k]);
          ConsumeWith(buffer, m, Identity{});
        }
        return;
      }
    }
    switch (kind_) {
      case ReduceKind::kSum:
      case ReduceKind::kMean: sum_.Add(x, n, f); break;
      case ReduceKind::kNanSum:
      case ReduceKind::kNanMean:
        nansum_.Add(x, n);
        if (kind_ == ReduceKind::kNanMean) {
          int64_t valid = 0;
          for (int64_t k = 0; k < n; ++k) valid += !IsNan(x[k]);
          valid_ += valid;
        }
        break;
      case ReduceKind::kProd:
        for (int64_t k = 0; k < n; ++k) prod_ = WrapMul(prod_, static_cast<A>(x[k]));
        break;
      case ReduceKind::kMin: min_.Add(x, n, f); break;
      case ReduceKind::kMax: max_.Add(x, n, f); break;
      case ReduceKind::kAny:
        for (int64_t k = 0; k < n && !flag_; ++k) flag_ = x[k] != T(0);
        break;
      case ReduceKind::kAll:
        for (int64_t k = 0; k < n && !flag_; ++k) flag_ = x[k] == T(0);  // flag_: some element is false
        break;
      case ReduceKind::kVar:
      case ReduceKind::kStd:
        if (count_ == 0) shifted_.k0 = static_cast<double>(f(x[0]));
        shifted_.Add(x, n, f);
        break;
      default: throw Error("reduction: no streaming form for this reduction");
    }
    count_ += n;
  }

  using A = SumType<T>;
  ReduceKind kind_;
  int64_t count_ = 0, valid_ = 0;
  SumLanes<A, T, false> sum_;
  SumLanes<A, T, true> nansum_;
  A prod_ = 1;
  ExtremeLanes<T, true> min_;
  ExtremeLanes<T, false> max_;
  bool flag_ = false;
  ShiftedLanes<T> shifted_;
};

// Is a strictly better than b for argmin (kMin) / argmax? NaN wins, first one kept.
template <class T>
bool Better(T a, T b, bool min) {
  if (IsNan(b)) return false;
  if (IsNan(a)) return true;
  return min ? a < b : a > b;
}

template <class T>
ValueList ReduceTyped(ReduceKind kind, const NDArray& block, const std::vector<bool>& reduced, int64_t index_base,
                      std::span<const int64_t> index_strides) {
  const T* x = block.data<T>();
  if (kind != ReduceKind::kArgMin && kind != ReduceKind::kArgMax &&
      std::all_of(reduced.begin(), reduced.end(), [](bool r) { return r; })) {
    RunReducerT<T> all(kind);
    all.Consume(x, block.size());
    return all.Finish(block.ndim());
  }
  const Shape out_shape = KeepDimsShape(block.shape(), reduced);
  const Layout l = MakeLayout(block.shape(), reduced);
  const bool empty = block.size() == 0;
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kNanSum:
    case ReduceKind::kMean:
    case ReduceKind::kNanMean: {
      using A = SumType<T>;
      const bool skip = kind == ReduceKind::kNanSum || kind == ReduceKind::kNanMean;
      const bool mean = kind == ReduceKind::kMean || kind == ReduceKind::kNanMean;
      DType at = mean ? DType::kFloat64 : DTypeOf<A>();
      NDArray sum = NDArray::Zeros(at, out_shape);
      NDArray count = NDArray::Zeros(DType::kFloat64, out_shape);
      double* c = count.mutable_data<double>();
      auto run = [&]<class S>(S* o) {
        if (empty) return;
        Traverse(l, false, [&](int64_t i, int64_t j, int64_t n, bool red) {
          if (red) {
            o[j] = WrapAdd(o[j], static_cast<S>(skip ? SumRun<A, T, true>(x + i, n) : SumRun<A, T, false>(x + i, n)));
            if (mean) {
              if (skip) {
                int64_t valid = 0;
                for (int64_t k = 0; k < n; ++k) valid += !IsNan(x[i + k]);
                c[j] += static_cast<double>(valid);
              } else {
                c[j] += static_cast<double>(n);
              }
            }
          } else if (!skip) {
            // Separate loops without branches vectorize.
            S* __restrict dst = o + j;
            for (int64_t k = 0; k < n; ++k) dst[k] = WrapAdd(dst[k], static_cast<S>(x[i + k]));
            if (mean) {
              double* __restrict cnt = c + j;
              for (int64_t k = 0; k < n; ++k) cnt[k] += 1;
            }
          } else {
            for (int64_t k = 0; k < n; ++k) {
              S v = static_cast<S>(x[i + k]);
              if (IsNan(v)) continue;
              o[j + k] = WrapAdd(o[j + k], v);
              if (mean) c[j + k] += 1;
            }
          }
        });
      };
      if (mean) {
        run(sum.mutable_data<double>());
        return {Value::From(std::move(sum)), Value::From(std::move(count))};
      }
      run(sum.mutable_data<A>());
      return {Value::From(std::move(sum))};
    }
    case ReduceKind::kProd: {
      using A = SumType<T>;
      NDArray acc = NDArray::Empty(DTypeOf<A>(), out_shape);
      A* o = acc.mutable_data<A>();
      std::fill_n(o, acc.size(), A(1));
      if (!empty) {
        Traverse(l, false, [&](int64_t i, int64_t j, int64_t n, bool red) {
          if (red) {
            A p = 1;
            for (int64_t k = 0; k < n; ++k) p = WrapMul(p, static_cast<A>(x[i + k]));
            o[j] = WrapMul(o[j], p);
          } else {
            for (int64_t k = 0; k < n; ++k) o[j + k] = WrapMul(o[j + k], static_cast<A>(x[i + k]));
          }
        });
      }
      return {Value::From(std::move(acc))};
    }
    case ReduceKind::kMin:
    case ReduceKind::kMax: {
      if (empty) throw Error(EmptyMessage(kind));
      const bool mn = kind == ReduceKind::kMin;
      NDArray acc = NDArray::Empty(block.dtype(), out_shape);
      T* o = acc.mutable_data<T>();
      Traverse(l, true, [&](int64_t i, int64_t j, int64_t n, bool red) {
        if (red) o[j] = x[i];
        else std::copy_n(x + i, n, o + j);
      });
      Traverse(l, false, [&](int64_t i, int64_t j, int64_t n, bool red) {
        if (red) {
          o[j] = mn ? MinOf(o[j], ExtremeRun<T, true>(x + i, n)) : MaxOf(o[j], ExtremeRun<T, false>(x + i, n));
        } else {
          for (int64_t k = 0; k < n; ++k) o[j + k] = mn ? MinOf(o[j + k], x[i + k]) : MaxOf(o[j + k], x[i + k]);
        }
      });
      return {Value::From(std::move(acc))};
    }
    case ReduceKind::kAny:
    case ReduceKind::kAll: {
      const bool any = kind == ReduceKind::kAny;
      NDArray acc = NDArray::Empty(DType::kBool, out_shape);
      bool* o = acc.mutable_data<bool>();
      std::fill_n(o, acc.size(), !any);
      if (!empty) {
        Traverse(l, false, [&](int64_t i, int64_t j, int64_t n, bool red) {
          for (int64_t k = 0; k < n; ++k) {
            bool v = x[i + k] != T(0);
            bool& dst = o[red ? j : j + k];
            dst = any ? (dst || v) : (dst && v);
          }
        });
      }
      return {Value::From(std::move(acc))};
    }
    case ReduceKind::kVar:
    case ReduceKind::kStd: {
      // Shifted sums around K, the first value of each output (one pass, no
      // division per element, stable when K is near the mean).
      NDArray shift = NDArray::Zeros(DType::kFloat64, out_shape);
      NDArray s1 = NDArray::Zeros(DType::kFloat64, out_shape);
      NDArray s2 = NDArray::Zeros(DType::kFloat64, out_shape);
      double* K = shift.mutable_data<double>();
      double* a = s1.mutable_data<double>();
      double* b = s2.mutable_data<double>();
      if (!empty) {
        Traverse(l, true, [&](int64_t i, int64_t j, int64_t n, bool red) {
          if (red) K[j] = static_cast<double>(x[i]);
          else for (int64_t k = 0; k < n; ++k) K[j + k] = static_cast<double>(x[i + k]);
        });
        Traverse(l, false, [&](int64_t i, int64_t j, int64_t n, bool red) {
          if (red) {
            ShiftedLanes<T> sums;
            sums.k0 = K[j];
            sums.Add(x + i, n);
            a[j] += sums.P();
            b[j] += sums.Q();
          } else {
            for (int64_t k = 0; k < n; ++k) {
              double d = static_cast<double>(x[i + k]) - K[j + k];
              a[j + k] += d;
              b[j + k] += d * d;
            }
          }
        });
      }
      const double n = static_cast<double>(block.size() / std::max<int64_t>(1, shift.size()));
      NDArray count = NDArray::Empty(DType::kFloat64, out_shape);
      double* c = count.mutable_data<double>();
      for (int64_t j = 0; j < shift.size(); ++j) {
        c[j] = n;
        VarianceParts(n, K[j], a[j], b[j], &a[j], &b[j]);  // a: mean, b: M2
      }
      return {Value::From(std::move(count)), Value::From(std::move(s1)), Value::From(std::move(s2))};
    }
    case ReduceKind::kArgMin:
    case ReduceKind::kArgMax: {
      if (empty) throw Error(EmptyMessage(kind));
      const bool mn = kind == ReduceKind::kArgMin;
      NDArray best = NDArray::Empty(block.dtype(), out_shape);
      NDArray where = NDArray::Empty(DType::kInt64, out_shape);
      T* v = best.mutable_data<T>();
      int64_t* w = where.mutable_data<int64_t>();
      Traverse(l, true, [&](int64_t i, int64_t j, int64_t n, bool red) {
        if (red) {
          v[j] = x[i];
          w[j] = i;
        } else {
          for (int64_t k = 0; k < n; ++k) {
            v[j + k] = x[i + k];
            w[j + k] = i + k;
          }
        }
      });
      Traverse(l, false, [&](int64_t i, int64_t j, int64_t n, bool red) {
        for (int64_t k = 0; k < n; ++k) {
          const int64_t o = red ? j : j + k;
          if (Better(x[i + k], v[o], mn)) {
            v[o] = x[i + k];
            w[o] = i + k;
          }
        }
      });
      // Block offsets -> the reported index.
      const Shape bs = ContiguousStrides(block.shape());
      for (int64_t j = 0; j < where.size(); ++j) {
        int64_t rem = w[j], idx = index_base;
        for (size_t d = 0; d < bs.size(); ++d) {
          idx += (rem / bs[d]) * index_strides[d];
          rem %= bs[d];
        }
        w[j] = idx;
      }
      return {Value::From(std::move(best)), Value::From(std::move(where))};
    }
  }
  throw Error("unknown reduction");
}

}  // namespace

std::unique_ptr<RunReducer> MakeRunReducer(ReduceKind kind, DType dtype) {
  if (kind == ReduceKind::kArgMin || kind == ReduceKind::kArgMax) return nullptr;
  return VisitDType(dtype, [&]<class T>(T) -> std::unique_ptr<RunReducer> { return std::make_unique<RunReducerT<T>>(kind); });
}

DType ReduceResultType(ReduceKind kind, DType in) {
  switch (kind) {
    case ReduceKind::kSum:
    case ReduceKind::kProd:
    case ReduceKind::kNanSum: return IsFloat(in) ? in : DType::kInt64;
    case ReduceKind::kMin:
    case ReduceKind::kMax: return in;
    case ReduceKind::kAny:
    case ReduceKind::kAll: return DType::kBool;
    case ReduceKind::kArgMin:
    case ReduceKind::kArgMax: return DType::kInt64;
    default: return IsFloat(in) ? in : DType::kFloat64;
  }
}

ValueList ReduceBlock(ReduceKind kind, const NDArray& block, const std::vector<bool>& reduced, int64_t index_base,
                      std::span<const int64_t> index_strides) {
  if (reduced.size() != static_cast<size_t>(block.ndim())) {
    throw Error("reduction: axes of rank " + std::to_string(reduced.size()) + " for a block of shape " +
                ShapeToString(block.shape()));
  }
  return VisitDType(block.dtype(), [&]<class T>(T) { return ReduceTyped<T>(kind, block, reduced, index_base, index_strides); });
}

namespace {

const NDArray& Part(const Value& partial, size_t k) {
  const ValueList& l = partial.get<ValueList>();
  if (k >= l.size()) throw Error("reduction: malformed partial result");
  return l[k].get<NDArray>();
}

NDArray Copy(const NDArray& a) {
  NDArray out = NDArray::Empty(a.dtype(), a.shape());
  if (a.size()) std::memcpy(out.mutable_bytes(), a.bytes(), a.buffer().size());
  return out;
}

}  // namespace

ValueList CombinePartials(ReduceKind kind, std::span<const Value> partials) {
  if (partials.empty()) throw Error("reduction: nothing to combine");
  if (partials.size() == 1) return partials[0].get<ValueList>();
  const size_t parts = partials[0].get<ValueList>().size();
  std::vector<NDArray> acc;
  for (size_t k = 0; k < parts; ++k) acc.push_back(Copy(Part(partials[0], k)));
  const int64_t n = acc[0].size();
  for (size_t p = 1; p < partials.size(); ++p) {
    for (size_t k = 0; k < parts; ++k) {
      const NDArray& b = Part(partials[p], k);
      if (b.shape() != acc[k].shape() || b.dtype() != acc[k].dtype()) throw Error("reduction: partials do not match");
    }
    switch (kind) {
      case ReduceKind::kVar:
      case ReduceKind::kStd: {
        double* na = acc[0].mutable_data<double>();
        double* ma = acc[1].mutable_data<double>();
        double* qa = acc[2].mutable_data<double>();
        const double* nb = Part(partials[p], 0).data<double>();
        const double* mb = Part(partials[p], 1).data<double>();
        const double* qb = Part(partials[p], 2).data<double>();
        for (int64_t j = 0; j < n; ++j) {
          const double total = na[j] + nb[j];
          if (total == 0) continue;
          const double delta = mb[j] - ma[j];
          ma[j] += delta * nb[j] / total;
          qa[j] += qb[j] + delta * delta * na[j] * nb[j] / total;
          na[j] = total;
        }
        break;
      }
      case ReduceKind::kArgMin:
      case ReduceKind::kArgMax: {
        const bool mn = kind == ReduceKind::kArgMin;
        VisitDType(acc[0].dtype(), [&]<class T>(T) {
          T* v = acc[0].mutable_data<T>();
          int64_t* w = acc[1].mutable_data<int64_t>();
          const T* vb = Part(partials[p], 0).data<T>();
          const int64_t* wb = Part(partials[p], 1).data<int64_t>();
          for (int64_t j = 0; j < n; ++j) {
            // Earlier blocks come first: ties keep the smaller index.
            if (Better(vb[j], v[j], mn) || (!Better(v[j], vb[j], mn) && !IsNan(v[j]) && wb[j] < w[j])) {
              v[j] = vb[j];
              w[j] = wb[j];
            }
          }
        });
        break;
      }
      default: {
        for (size_t k = 0; k < parts; ++k) {
          VisitDType(acc[k].dtype(), [&]<class T>(T) {
            T* a = acc[k].mutable_data<T>();
            const T* b = Part(partials[p], k).data<T>();
            for (int64_t j = 0; j < n; ++j) {
              switch (kind) {
                case ReduceKind::kProd: a[j] = WrapMul(a[j], b[j]); break;
                case ReduceKind::kMin: a[j] = MinOf(a[j], b[j]); break;
                case ReduceKind::kMax: a[j] = MaxOf(a[j], b[j]); break;
                case ReduceKind::kAny: a[j] = a[j] || b[j]; break;
                case ReduceKind::kAll: a[j] = a[j] && b[j]; break;
                default: a[j] = WrapAdd(a[j], b[j]); break;
              }
            }
          });
        }
        break;
      }
    }
  }
  ValueList out;
  for (NDArray& a : acc) out.push_back(Value::From(std::move(a)));
  return out;
}

NDArray FinishPartial(ReduceKind kind, DType in, const ValueList& partial, const Shape& out_shape, int ddof) {
  const DType rt = ReduceResultType(kind, in);
  auto part = [&](size_t k) -> const NDArray& {
    if (k >= partial.size()) throw Error("reduction: malformed partial result");
    return partial[k].get<NDArray>();
  };
  NDArray out;
  switch (kind) {
    case ReduceKind::kMean:
    case ReduceKind::kNanMean: {
      const NDArray& s = part(0);
      const NDArray& c = part(1);
      NDArray m = NDArray::Empty(DType::kFloat64, s.shape());
      double* o = m.mutable_data<double>();
      for (int64_t j = 0; j < s.size(); ++j) o[j] = s.data<double>()[j] / c.data<double>()[j];  // 0/0 = nan, as NumPy
      out = m.AsType(rt);
      break;
    }
    case ReduceKind::kVar:
    case ReduceKind::kStd: {
      const NDArray& c = part(0);
      const NDArray& q = part(2);
      NDArray v = NDArray::Empty(DType::kFloat64, c.shape());
      double* o = v.mutable_data<double>();
      for (int64_t j = 0; j < c.size(); ++j) {
        const double dof = c.data<double>()[j] - ddof;
        o[j] = dof > 0 ? q.data<double>()[j] / dof : std::numeric_limits<double>::quiet_NaN();
        if (kind == ReduceKind::kStd) o[j] = std::sqrt(o[j]);
      }
      out = v.AsType(rt);
      break;
    }
    case ReduceKind::kArgMin:
    case ReduceKind::kArgMax: out = part(1); break;
    default: out = part(0).AsType(rt); break;
  }
  return out.Reshape(out_shape);
}

NDArray Cumulative(const NDArray& block, int axis, bool product, DType out_type) {
  NDArray in = block.AsType(out_type);
  NDArray out = NDArray::Empty(out_type, block.shape());
  const Shape& s = block.shape();
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (int d = axis + 1; d < block.ndim(); ++d) inner *= s[d];
  const int64_t n = s[axis];
  VisitDType(out_type, [&]<class T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      const T* x = in.data<T>();
      T* o = out.mutable_data<T>();
      for (int64_t a = 0; a < outer; ++a) {
        const int64_t base = a * n * inner;
        for (int64_t i = 0; i < inner && n > 0; ++i) o[base + i] = x[base + i];
        for (int64_t k = 1; k < n; ++k) {
          const int64_t row = base + k * inner, prev = row - inner;
          for (int64_t i = 0; i < inner; ++i) {
            o[row + i] = product ? WrapMul(o[prev + i], x[row + i]) : WrapAdd(o[prev + i], x[row + i]);
          }
        }
      }
    }
  });
  return out;
}

NDArray ApplyCarry(const NDArray& block, const NDArray& previous, int axis, bool product) {
  const Shape& s = block.shape();
  const Shape& p = previous.shape();
  if (p.size() != s.size() || block.dtype() != previous.dtype()) throw Error("cumulative: blocks do not match");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (int d = axis + 1; d < block.ndim(); ++d) inner *= s[d];
  const int64_t n = s[axis], pn = p[axis];
  NDArray out = NDArray::Empty(block.dtype(), s);
  if (pn == 0) return block;
  VisitDType(block.dtype(), [&]<class T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      const T* x = block.data<T>();
      const T* c = previous.data<T>();
      T* o = out.mutable_data<T>();
      for (int64_t a = 0; a < outer; ++a) {
        const T* carry = c + (a * pn + pn - 1) * inner;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t row = (a * n + k) * inner;
          for (int64_t i = 0; i < inner; ++i) {
            o[row + i] = product ? WrapMul(x[row + i], carry[i]) : WrapAdd(x[row + i], carry[i]);
          }
        }
      }
    }
  });
  return out;
}

}  // namespace skein::array::internal
