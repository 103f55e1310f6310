// Blockwise products and tall-and-skinny QR (see linalg.h).
#include "skein/array/linalg.h"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <numeric>

#include "block_copy_internal.h"
#include "ops_internal.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace skein {

using array::internal::ShapeFrom;
using array::internal::ShapeValue;

namespace {

// Blocks run in parallel on the scheduler's threads; BLAS threading on top
// would oversubscribe the cores.
void SingleThreadedBlas() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// out (m x n, row-major, of type T) += a (m x k) * b (k x n).
template <class T>
void Gemm(const T* a, const T* b, T* out, int64_t m, int64_t k, int64_t n) {
  if (m == 0 || n == 0 || k == 0) return;
  if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, a, k, b, n, 1.0, out, n);
  } else if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 1.0f, out, n);
  } else {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t p = 0; p < k; ++p) {
        const T av = a[i * k + p];
        if (av == T(0)) continue;
        for (int64_t j = 0; j < n; ++j) {
          if constexpr (std::is_same_v<T, bool>) out[i * n + j] = out[i * n + j] || (av && b[p * n + j]);
          else out[i * n + j] = static_cast<T>(out[i * n + j] + av * b[p * n + j]);
        }
      }
    }
  }
}

// A block with `front` axes moved first and the rest after, in order (a copy
// only when that is not already the layout).
NDArray Arrange(const NDArray& b, const std::vector<int>& first, const std::vector<int>& second) {
  std::vector<int> perm = first;
  perm.insert(perm.end(), second.begin(), second.end());
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int>(i);
  return identity ? b : array::internal::Transpose(b, perm);
}

std::vector<int> Complement(int nd, const std::vector<int>& axes) {
  std::vector<int> out;
  for (int d = 0; d < nd; ++d) {
    if (std::find(axes.begin(), axes.end(), d) == axes.end()) out.push_back(d);
  }
  return out;
}

// "array.tensordot" args: [A blocks], [B blocks] (pairs along the contracted
// axes); params: [axes_a, axes_b, out dtype, out block shape].
const OpPtr& TensordotOp() {
  static const OpPtr op = RegisterOp("array.tensordot", [](std::span<const Value> args, const OpContext& ctx) {
    SingleThreadedBlas();
    const ValueList& p = ctx.params.get<ValueList>();
    std::vector<int64_t> ax = p.at(0).as<std::vector<int64_t>>(), bx = p.at(1).as<std::vector<int64_t>>();
    const DType t = static_cast<DType>(p.at(2).as<int64_t>());
    const Shape out_shape = ShapeFrom(p.at(3));
    const ValueList& as = args[0].get<ValueList>();
    const ValueList& bs = args[1].get<ValueList>();
    if (as.size() != bs.size() || as.empty()) throw Error("tensordot: malformed task " + ctx.key.ToString());
    std::vector<int> axes_a(ax.begin(), ax.end()), axes_b(bx.begin(), bx.end());
    NDArray out = NDArray::Zeros(t, out_shape);
    for (size_t k = 0; k < as.size(); ++k) {
      const NDArray& a = as[k].get<NDArray>();
      const NDArray& b = bs[k].get<NDArray>();
      for (int x : axes_a) if (x < 0 || x >= a.ndim()) throw Error("tensordot: bad axes in task " + ctx.key.ToString());
      for (int x : axes_b) if (x < 0 || x >= b.ndim()) throw Error("tensordot: bad axes in task " + ctx.key.ToString());
      std::vector<int> free_a = Complement(a.ndim(), axes_a), free_b = Complement(b.ndim(), axes_b);
      int64_t m = 1, inner = 1, n = 1;
      for (int d : free_a) m *= a.shape()[d];
      for (int d : axes_a) inner *= a.shape()[d];
      for (int d : free_b) n *= b.shape()[d];
      int64_t inner_b = 1;
      for (int d : axes_b) inner_b *= b.shape()[d];
      if (inner != inner_b || m * n != out.size()) throw Error("tensordot: block shapes do not match in task " + ctx.key.ToString());
      NDArray l = Arrange(a, free_a, axes_a).AsType(t), r = Arrange(b, axes_b, free_b).AsType(t);
      VisitDType(t, [&]<class T>(T) { Gemm<T>(l.data<T>(), r.data<T>(), out.mutable_data<T>(), m, inner, n); });
    }
    return Value::From(std::move(out));
  });
  return op;
}

}  // namespace

Array tensordot(const Array& a, const Array& b, const std::vector<int>& axes_a_in, const std::vector<int>& axes_b_in) {
  internal::CheckValid(a, "tensordot");
  internal::CheckValid(b, "tensordot");
  if (axes_a_in.size() != axes_b_in.size()) throw Error("tensordot: shape-mismatch for sum (axes of different lengths)");
  std::vector<int> axes_a, axes_b;
  for (int x : axes_a_in) axes_a.push_back(internal::NormalizeAxis(x, a.ndim(), "tensordot"));
  for (int x : axes_b_in) axes_b.push_back(internal::NormalizeAxis(x, b.ndim(), "tensordot"));
  for (size_t i = 0; i < axes_a.size(); ++i) {
    if (a.shape()[axes_a[i]] != b.shape()[axes_b[i]]) {
      throw Error("tensordot: shape-mismatch for sum: " + ShapeToString(a.shape()) + " and " +
                  ShapeToString(b.shape()) + " (axis " + std::to_string(axes_a[i]) + " of a has " +
                  std::to_string(a.shape()[axes_a[i]]) + " elements, axis " + std::to_string(axes_b[i]) + " of b has " +
                  std::to_string(b.shape()[axes_b[i]]) + ")");
    }
  }
  // Contracted axes must be cut the same way on both sides.
  Chunks ca = a.chunks(), cb = b.chunks();
  for (size_t i = 0; i < axes_a.size(); ++i) {
    std::vector<int64_t> c = CommonChunks(ca[axes_a[i]], cb[axes_b[i]]);
    ca[axes_a[i]] = c;
    cb[axes_b[i]] = c;
  }
  Array A = a.rechunk(ca), B = b.rechunk(cb);
  const DType t = ResultType(a.dtype(), b.dtype());
  std::vector<int> free_a = Complement(a.ndim(), axes_a), free_b = Complement(b.ndim(), axes_b);
  Shape out_shape;
  Chunks out_chunks;
  for (int d : free_a) {
    out_shape.push_back(a.shape()[d]);
    out_chunks.push_back(A.chunks()[d]);
  }
  for (int d : free_b) {
    out_shape.push_back(b.shape()[d]);
    out_chunks.push_back(B.chunks()[d]);
  }
  Chunks contracted;
  for (int d : axes_a) contracted.push_back(std::vector<int64_t>(A.chunks()[d].size(), 1));
  std::vector<std::vector<int64_t>> pairs = AllBlocks(contracted);
  ValueList pa, pb;
  for (int x : axes_a) pa.push_back(int64_t{x});
  for (int x : axes_b) pb.push_back(int64_t{x});
  std::string name = internal::NewArrayName("tensordot");
  Graph g;
  for (const auto& block : AllBlocks(out_chunks)) {
    std::vector<Arg> la, lb;
    for (const auto& c : pairs) {
      std::vector<int64_t> ia(a.ndim()), ib(b.ndim());
      for (size_t i = 0; i < free_a.size(); ++i) ia[free_a[i]] = block[i];
      for (size_t i = 0; i < free_b.size(); ++i) ib[free_b[i]] = block[free_a.size() + i];
      for (size_t i = 0; i < axes_a.size(); ++i) {
        ia[axes_a[i]] = c[i];
        ib[axes_b[i]] = c[i];
      }
      la.push_back(Arg::Ref(A.key(ia)));
      lb.push_back(Arg::Ref(B.key(ib)));
    }
    g.AddUnchecked(Key(name, block),
                   Task::Call(TensordotOp(), {Arg::List(std::move(la)), Arg::List(std::move(lb))},
                              Value(ValueList{pa, pb, int64_t(t), ShapeValue(BlockShape(out_chunks, block))})));
  }
  return internal::MakeArray(name, std::move(out_shape), std::move(out_chunks), t, std::move(g),
                             internal::LayersOf({A, B}));
}

Array tensordot(const Array& a, const Array& b, int n) {
  internal::CheckValid(a, "tensordot");
  internal::CheckValid(b, "tensordot");
  if (n < 0 || n > a.ndim() || n > b.ndim()) throw Error("tensordot: cannot contract " + std::to_string(n) + " axes");
  std::vector<int> axes_a, axes_b;
  for (int i = 0; i < n; ++i) {
    axes_a.push_back(a.ndim() - n + i);
    axes_b.push_back(i);
  }
  return tensordot(a, b, axes_a, axes_b);
}

Array matmul(const Array& a, const Array& b) {
  internal::CheckValid(a, "matmul");
  internal::CheckValid(b, "matmul");
  if (a.ndim() == 0 || b.ndim() == 0 || a.ndim() > 2 || b.ndim() > 2) {
    throw Error("matmul: operands must be 1-d or 2-d, got shapes " + ShapeToString(a.shape()) + " and " +
                ShapeToString(b.shape()));
  }
  const int ka = a.ndim() - 1;
  if (a.shape()[ka] != b.shape()[0]) {
    throw Error("matmul: mismatch in its core dimension: " + ShapeToString(a.shape()) + " @ " +
                ShapeToString(b.shape()) + " (" + std::to_string(a.shape()[ka]) + " != " +
                std::to_string(b.shape()[0]) + ")");
  }
  return tensordot(a, b, {ka}, {0});
}

Array dot(const Array& a, const Array& b) { return matmul(a, b); }

// ---- TSQR -----------------------------------------------------------------------

namespace linalg {
namespace {

// QR of a row-major m x n matrix: Q (m x k), R (k x n), k = min(m, n).
std::pair<NDArray, NDArray> DenseQR(const NDArray& in) {
  const NDArray a = in.AsType(DType::kFloat64);
  const int64_t m = a.shape()[0], n = a.shape()[1], k = std::min(m, n);
  NDArray work = NDArray::Empty(DType::kFloat64, {m, n});
  if (a.size()) std::memcpy(work.mutable_bytes(), a.bytes(), a.buffer().size());
  std::vector<double> tau(static_cast<size_t>(std::max<int64_t>(k, 1)));
  double* w = work.mutable_data<double>();
  if (k > 0) {
    int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, n, w, n, tau.data());
    if (info != 0) throw Error("qr: LAPACK dgeqrf failed with info " + std::to_string(info));
  }
  NDArray r = NDArray::Zeros(DType::kFloat64, {k, n});
  double* rp = r.mutable_data<double>();
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = i; j < n; ++j) rp[i * n + j] = w[i * n + j];
  }
  NDArray q = NDArray::Empty(DType::kFloat64, {m, k});
  double* qp = q.mutable_data<double>();
  for (int64_t i = 0; i < m; ++i) std::memcpy(qp + i * k, w + i * n, static_cast<size_t>(k) * sizeof(double));
  if (k > 0) {
    int info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, k, k, qp, k, tau.data());
    if (info != 0) throw Error("qr: LAPACK dorgqr failed with info " + std::to_string(info));
  }
  return {std::move(q), std::move(r)};
}

const OpPtr& BlockQROp() {
  static const OpPtr op = RegisterOp("array.qr-block", [](std::span<const Value> args, const OpContext&) {
    SingleThreadedBlas();
    auto [q, r] = DenseQR(args[0].get<NDArray>());
    return Value(ValueList{Value::From(std::move(q)), Value::From(std::move(r))});
  });
  return op;
}

// The R factors stacked and factored again: [Q2, R].
const OpPtr& StackQROp() {
  static const OpPtr op = RegisterOp("array.qr-stack", [](std::span<const Value> args, const OpContext&) {
    SingleThreadedBlas();
    const ValueList& parts = args[0].get<ValueList>();
    int64_t rows = 0, n = 0;
    for (const Value& v : parts) {
      const NDArray& r = v.get<ValueList>().at(1).get<NDArray>();
      rows += r.shape()[0];
      n = r.shape()[1];
    }
    NDArray stacked = NDArray::Empty(DType::kFloat64, {rows, n});
    int64_t at = 0;
    for (const Value& v : parts) {
      const NDArray& r = v.get<ValueList>().at(1).get<NDArray>();
      Shape zero{0, 0}, dst{at, 0};
      array::internal::CopyRegion(r, zero, r.shape(), &stacked, dst);
      at += r.shape()[0];
    }
    auto [q2, r] = DenseQR(stacked);
    return Value(ValueList{Value::From(std::move(q2)), Value::From(std::move(r))});
  });
  return op;
}

// Q of block i: Q_i @ Q2[offset : offset + k_i]. Params: [offset].
const OpPtr& BlockQOp() {
  static const OpPtr op = RegisterOp("array.qr-q", [](std::span<const Value> args, const OpContext& ctx) {
    SingleThreadedBlas();
    const NDArray& qi = args[0].get<ValueList>().at(0).get<NDArray>();
    const NDArray& q2 = args[1].get<ValueList>().at(0).get<NDArray>();
    const int64_t off = ctx.params.as<int64_t>();
    const int64_t m = qi.shape()[0], k = qi.shape()[1], n = q2.shape()[1];
    if (off < 0 || off + k > q2.shape()[0]) throw Error("qr: malformed task " + ctx.key.ToString());
    NDArray out = NDArray::Zeros(DType::kFloat64, {m, n});
    Gemm<double>(qi.data<double>(), q2.data<double>() + off * n, out.mutable_data<double>(), m, k, n);
    return Value::From(std::move(out));
  });
  return op;
}

const OpPtr& PickOp() {
  static const OpPtr op = RegisterOp("array.pick", [](std::span<const Value> args, const OpContext& ctx) {
    return args[0].get<ValueList>().at(static_cast<size_t>(ctx.params.as<int64_t>()));
  });
  return op;
}

}  // namespace

std::pair<Array, Array> tsqr(const Array& a_in) {
  internal::CheckValid(a_in, "tsqr");
  if (a_in.ndim() != 2) throw Error("tsqr: expected a 2-d array, got shape " + ShapeToString(a_in.shape()));
  Array a = a_in.dtype() == DType::kFloat64 ? a_in : a_in.astype(DType::kFloat64);
  a = a.rechunk(Chunks{a.chunks()[0], {a.shape()[1]}});
  const int64_t n = a.shape()[1];
  for (int64_t rows : a.chunks()[0]) {
    if (rows < n && a.chunks()[0].size() > 1) {
      throw Error("tsqr: every row block needs at least as many rows as there are columns (" + std::to_string(n) +
                  "); got row blocks " + ShapeToString(a.chunks()[0]) + " — rechunk the rows");
    }
  }
  std::string name = internal::NewArrayName("qr");
  const std::string blocks = name + "-block", stack = name + "-stack";
  Graph g;
  std::vector<Arg> all;
  const size_t nb = a.chunks()[0].size();
  for (size_t i = 0; i < nb; ++i) {
    Key k(blocks, {static_cast<int64_t>(i)});
    g.AddUnchecked(k, Task::Call(BlockQROp(), {Arg::Ref(a.key({static_cast<int64_t>(i), 0}))}));
    all.push_back(Arg::Ref(k));
  }
  g.AddUnchecked(Key(stack), Task::Call(StackQROp(), {Arg::List(std::move(all))}));
  const std::string qname = name + "-q", rname = name + "-r";
  Graph gq, gr;
  int64_t off = 0;
  const int64_t kr = std::min(a.shape()[0], n);
  Chunks q_chunks{a.chunks()[0], {kr}};
  for (size_t i = 0; i < nb; ++i) {
    gq.AddUnchecked(Key(qname, {static_cast<int64_t>(i), 0}),
                    Task::Call(BlockQOp(), {Arg::Ref(Key(blocks, {static_cast<int64_t>(i)})), Arg::Ref(Key(stack))},
                               Value(off)));
    off += std::min(a.chunks()[0][i], n);
  }
  gr.AddUnchecked(Key(rname, {0, 0}), Task::Call(PickOp(), {Arg::Ref(Key(stack))}, Value(int64_t{1})));
  LayerPtr shared = Layer::Make(name, std::move(g), {a.layer()});
  Array q = internal::MakeArray(qname, {a.shape()[0], kr}, q_chunks, DType::kFloat64, std::move(gq), {shared});
  Array r = internal::MakeArray(rname, {kr, n}, Chunks{{kr}, {n}}, DType::kFloat64, std::move(gr), {shared});
  return {q, r};
}

std::pair<Array, Array> qr(const Array& a) { return tsqr(a); }

}  // namespace linalg

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered =
    (TensordotOp(), linalg::BlockQROp(), linalg::StackQROp(), linalg::BlockQOp(), linalg::PickOp(), true);

}  // namespace skein
