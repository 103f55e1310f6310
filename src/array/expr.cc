// Expression programs: encoding, checking, printing and evaluation (see
// expr_internal.h).
#include "expr_internal.h"
#include "pack_rows_internal.h"
#include "wrap_internal.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "skein/core/serialize.h"

namespace skein::array::internal {

// ---- encoding ---------------------------------------------------------------

std::string Program::Encode() const {
  std::string out;
  ByteWriter w(&out);
  w.U32(static_cast<uint32_t>(num_inputs));
  w.U32(static_cast<uint32_t>(nodes.size()));
  for (const ExprNode& n : nodes) {
    w.U8(static_cast<uint8_t>(n.kind));
    w.U8(n.op);
    w.U8(static_cast<uint8_t>(n.dtype));
    w.U8(static_cast<uint8_t>(n.arg));
    w.U32(static_cast<uint32_t>(n.a));
    w.U32(static_cast<uint32_t>(n.b));
    w.U32(static_cast<uint32_t>(n.c));
    w.F64(n.f);
    w.I64(n.i);
  }
  w.U32(static_cast<uint32_t>(input_axes.size()));
  for (const auto& axes : input_axes) {
    w.U8(static_cast<uint8_t>(axes.size()));
    for (int8_t a : axes) w.U8(static_cast<uint8_t>(a));
  }
  return out;
}

Program Program::Decode(std::string_view bytes) {
  ByteReader r(bytes, "elementwise program");
  Program p;
  p.num_inputs = static_cast<int32_t>(r.U32());
  uint32_t count = r.U32();
  if (count == 0 || count > (1u << 16) || p.num_inputs < 0 || p.num_inputs > (1 << 16)) {
    throw SerializationError("elementwise program: implausible sizes (" + std::to_string(count) + " nodes, " +
                             std::to_string(p.num_inputs) + " inputs)");
  }
  auto bad = [&](size_t k, const std::string& what) {
    return SerializationError("elementwise program: node " + std::to_string(k) + ": " + what);
  };
  for (uint32_t k = 0; k < count; ++k) {
    ExprNode n;
    uint8_t kind = r.U8();
    n.op = r.U8();
    uint8_t dt = r.U8(), arg = r.U8();
    n.a = static_cast<int32_t>(r.U32());
    n.b = static_cast<int32_t>(r.U32());
    n.c = static_cast<int32_t>(r.U32());
    n.f = r.F64();
    n.i = r.I64();
    if (kind > static_cast<uint8_t>(ExprKind::kCast)) throw bad(k, "unknown kind " + std::to_string(kind));
    if (dt > static_cast<uint8_t>(DType::kFloat64) || arg > static_cast<uint8_t>(DType::kFloat64)) {
      throw bad(k, "unknown dtype");
    }
    n.kind = static_cast<ExprKind>(kind);
    n.dtype = static_cast<DType>(dt);
    n.arg = static_cast<DType>(arg);
    auto child_ok = [&](int32_t c) { return c >= 0 && static_cast<uint32_t>(c) < k; };
    // Children a node does not use must be -1: the evaluator trusts them.
    const int used = n.kind == ExprKind::kWhere ? 3 : n.kind == ExprKind::kBinary ? 2
                     : (n.kind == ExprKind::kUnary || n.kind == ExprKind::kCast || n.kind == ExprKind::kInput) ? 1 : 0;
    if ((used < 2 && n.b != -1) || (used < 3 && n.c != -1) || (used < 1 && n.a != -1)) throw bad(k, "unused operand set");
    switch (n.kind) {
      case ExprKind::kInput:
        if (n.a < 0 || n.a >= p.num_inputs) throw bad(k, "input index " + std::to_string(n.a) + " out of range");
        break;
      case ExprKind::kScalar: break;
      case ExprKind::kUnary:
        if (n.op >= static_cast<uint8_t>(UnaryOp::kCount) || !child_ok(n.a)) throw bad(k, "bad unary node");
        break;
      case ExprKind::kBinary:
        if (n.op >= static_cast<uint8_t>(BinaryOp::kCount) || !child_ok(n.a) || !child_ok(n.b)) {
          throw bad(k, "bad binary node");
        }
        break;
      case ExprKind::kWhere:
        if (!child_ok(n.a) || !child_ok(n.b) || !child_ok(n.c)) throw bad(k, "bad where node");
        break;
      case ExprKind::kCast:
        if (!child_ok(n.a)) throw bad(k, "bad cast node");
        break;
    }
    p.nodes.push_back(n);
  }
  // Operand types must be what each node expects (a lying program must not
  // make a kernel read the wrong element width).
  for (size_t k = 0; k < p.nodes.size(); ++k) {
    const ExprNode& n = p.nodes[k];
    auto type_of = [&](int32_t c) { return p.nodes[static_cast<size_t>(c)].dtype; };
    bool ok = true;
    switch (n.kind) {
      case ExprKind::kUnary: {
        // ... and the result type what the kernel writes (its output width).
        const auto op = static_cast<UnaryOp>(n.op);
        const DType out = op == UnaryOp::kIsNan || op == UnaryOp::kNot ? DType::kBool : n.arg;
        ok = type_of(n.a) == n.arg && n.dtype == out;
        break;
      }
      case ExprKind::kBinary: {
        const auto op = static_cast<BinaryOp>(n.op);
        const bool to_bool = (op >= BinaryOp::kEq && op <= BinaryOp::kGe) || op == BinaryOp::kAnd ||
                             op == BinaryOp::kOr || op == BinaryOp::kXor;
        ok = type_of(n.a) == n.arg && type_of(n.b) == n.arg && n.dtype == (to_bool ? DType::kBool : n.arg);
        break;
      }
      case ExprKind::kWhere: ok = type_of(n.a) == DType::kBool && type_of(n.b) == n.dtype && type_of(n.c) == n.dtype; break;
      case ExprKind::kCast: ok = type_of(n.a) == n.arg; break;
      default: break;
    }
    if (!ok) throw bad(k, "operand types do not match the node");
  }
  const uint32_t permuted = r.U32();
  if (permuted != 0 && permuted != static_cast<uint32_t>(p.num_inputs)) {
    throw SerializationError("elementwise program: " + std::to_string(permuted) + " input permutations for " +
                             std::to_string(p.num_inputs) + " inputs");
  }
  for (uint32_t k = 0; k < permuted; ++k) {
    const uint8_t len = r.U8();
    std::vector<int8_t> axes(len);
    std::vector<bool> seen(len, false);
    for (auto& a : axes) {
      const uint8_t v = r.U8();
      if (v >= len || seen[v]) {
        throw SerializationError("elementwise program: input " + std::to_string(k) + ": axes are not a permutation");
      }
      seen[v] = true;
      a = static_cast<int8_t>(v);
    }
    p.input_axes.push_back(std::move(axes));
  }
  if (r.remaining() != 0) throw SerializationError("elementwise program: trailing bytes");
  return p;
}

namespace {

const char* UnaryName(UnaryOp op) {
  static const char* kNames[] = {"negative", "abs", "sqrt", "exp", "log", "sin", "cos", "isnan", "logical_not", "invert"};
  return kNames[static_cast<int>(op)];
}
const char* BinarySymbol(BinaryOp op) {
  static const char* kNames[] = {"+",  "-",  "*",  "/",  "//", "%",  "**", "==", "!=", "<",  "<=",
                                 ">",  ">=", "and", "or", "xor", "&", "|",  "^",  "maximum", "minimum"};
  return kNames[static_cast<int>(op)];
}

}  // namespace

std::string Program::ToString() const {
  std::vector<std::string> text(nodes.size());
  for (size_t k = 0; k < nodes.size(); ++k) {
    const ExprNode& n = nodes[k];
    switch (n.kind) {
      case ExprKind::kInput: {
        text[k] = "in" + std::to_string(n.a);
        if (!input_axes.empty() && !input_axes[static_cast<size_t>(n.a)].empty()) {
          std::string axes;
          for (int8_t a : input_axes[static_cast<size_t>(n.a)]) axes += (axes.empty() ? "" : ",") + std::to_string(a);
          text[k] = "transpose(" + text[k] + ", (" + axes + "))";
        }
        break;
      }
      case ExprKind::kScalar:
        text[k] = IsFloat(n.dtype) ? std::to_string(n.f) : std::to_string(n.i);
        break;
      case ExprKind::kUnary: text[k] = std::string(UnaryName(static_cast<UnaryOp>(n.op))) + "(" + text[n.a] + ")"; break;
      case ExprKind::kBinary: {
        auto op = static_cast<BinaryOp>(n.op);
        if (op == BinaryOp::kMax || op == BinaryOp::kMin) {
          text[k] = std::string(BinarySymbol(op)) + "(" + text[n.a] + ", " + text[n.b] + ")";
        } else {
          text[k] = "(" + text[n.a] + " " + BinarySymbol(op) + " " + text[n.b] + ")";
        }
        break;
      }
      case ExprKind::kWhere: text[k] = "where(" + text[n.a] + ", " + text[n.b] + ", " + text[n.c] + ")"; break;
      case ExprKind::kCast: text[k] = std::string(DTypeName(n.dtype)) + "(" + text[n.a] + ")"; break;
    }
  }
  return text.empty() ? "" : text.back();
}

bool BroadcastShapes(std::span<const Shape> shapes, Shape* out) {
  size_t nd = 0;
  for (const Shape& s : shapes) nd = std::max(nd, s.size());
  out->assign(nd, 1);
  for (const Shape& s : shapes) {
    for (size_t k = 0; k < s.size(); ++k) {
      int64_t& o = (*out)[nd - s.size() + k];
      int64_t v = s[k];
      if (v == o || v == 1) continue;
      if (o == 1) {
        o = v;
        continue;
      }
      return false;
    }
  }
  return true;
}

namespace {

// Input k as the program sees it: the block's shape and element strides,
// read through the input's axis permutation (a fused transpose reads the
// block in place). False if the permutation does not fit the block.
bool InputView(const Program& program, size_t k, const NDArray& in, Shape* shape, Shape* strides) {
  Shape c(in.ndim());
  for (int64_t d = in.ndim() - 1, step = 1; d >= 0; --d) {
    c[d] = step;
    step *= in.shape()[d];
  }
  const std::vector<int8_t>* axes = program.input_axes.empty() ? nullptr : &program.input_axes[k];
  if (!axes || axes->empty()) {
    *shape = in.shape();
    *strides = std::move(c);
    return true;
  }
  if (static_cast<int>(axes->size()) != in.ndim()) return false;
  shape->clear();
  strides->clear();
  for (int8_t a : *axes) {
    shape->push_back(in.shape()[a]);
    strides->push_back(c[a]);
  }
  return true;
}

}  // namespace

bool ResultShape(const Program& program, std::span<const NDArray* const> inputs, Shape* out) {
  std::vector<Shape> shapes(inputs.size());
  Shape strides;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!InputView(program, k, *inputs[k], &shapes[k], &strides)) return false;
  }
  return BroadcastShapes(shapes, out);
}

// ---- kernels ----------------------------------------------------------------

namespace {

// Scratch bytes the per-node piece buffers may use together (half of L1).
constexpr int64_t kL1Budget = 16384;
// How far ahead of the piece being computed streamed inputs are prefetched.
constexpr int64_t kAheadBytes = 8192;
using Kernel = void (*)(const void* a, const void* b, const void* c, void* out, int64_t n);

template <class T>
T FloorDiv(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b == 0) return a / b;  // inf or nan, as NumPy
    T m = std::fmod(a, b);
    T div = (a - m) / b;
    if (m != 0 && ((b < 0) != (m < 0))) div -= 1;
    return std::floor(div) == div ? div : std::floor(div);
  } else if constexpr (std::is_same_v<T, bool>) {
    return a && b;
  } else {
    if (b == 0) return 0;                                       // NumPy: 0 (with a warning)
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(a));  // no INT_MIN / -1 trap
      T q = a / b;
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
      return q;
    } else {
      return a / b;
    }
  }
}

template <class T>
T Mod(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b == 0) return std::numeric_limits<T>::quiet_NaN();
    T m = std::fmod(a, b);
    if (m != 0 && ((b < 0) != (m < 0))) m += b;
    return m;
  } else if constexpr (std::is_same_v<T, bool>) {
    return false;
  } else {
    if (b == 0) return 0;
    if constexpr (std::is_signed_v<T>) {
      if (b == -1) return 0;
      T m = a % b;
      if (m != 0 && ((b < 0) != (m < 0))) m += b;
      return m;
    } else {
      return a % b;
    }
  }
}

template <class T>
T Pow(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::pow(a, b);
  } else if constexpr (std::is_same_v<T, bool>) {
    return a || !b;
  } else {
    if constexpr (std::is_signed_v<T>) {
      if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
    }
    using U = std::make_unsigned_t<T>;
    U base = static_cast<U>(a), result = 1;
    for (auto e = static_cast<U>(b); e; e >>= 1) {  // wraps like NumPy's integer power
      if (e & 1) result = static_cast<U>(result * base);
      base = static_cast<U>(base * base);
    }
    return static_cast<T>(result);
  }
}

template <class T>
T Maximum(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return (a != a) ? a : (b != b) ? b : (a < b ? b : a);
  } else {
    return a < b ? b : a;
  }
}
template <class T>
T Minimum(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return (a != a) ? a : (b != b) ? b : (b < a ? b : a);
  } else {
    return b < a ? b : a;
  }
}

// Where a binary kernel's operands come from: two arrays, or one of them a
// single scalar read once (kept in a register, not streamed from a splatted
// buffer).
enum Form { kArrays, kScalarRight, kScalarLeft };

// One loop per (op, type, form): the compiler vectorizes these.
#define SKEIN_BINARY_KERNEL(NAME, R, ...)                                             \
  template <class T, Form kForm>                                                      \
  void NAME(const void* pa, const void* pb, const void*, void* po, int64_t n) {       \
    const T* __restrict x = static_cast<const T*>(pa);                                \
    const T* __restrict y = static_cast<const T*>(pb);                                \
    R* __restrict o = static_cast<R*>(po);                                            \
    if constexpr (kForm == kScalarRight) {                                            \
      const T b = *y;                                                                 \
      for (int64_t k = 0; k < n; ++k) {                                               \
        const T a = x[k];                                                             \
        o[k] = static_cast<R>(__VA_ARGS__);                                           \
      }                                                                               \
    } else if constexpr (kForm == kScalarLeft) {                                      \
      const T a = *x;                                                                 \
      for (int64_t k = 0; k < n; ++k) {                                               \
        const T b = y[k];                                                             \
        o[k] = static_cast<R>(__VA_ARGS__);                                           \
      }                                                                               \
    } else {                                                                          \
      for (int64_t k = 0; k < n; ++k) {                                               \
        const T a = x[k], b = y[k];                                                   \
        o[k] = static_cast<R>(__VA_ARGS__);                                           \
      }                                                                               \
    }                                                                                 \
  }
SKEIN_BINARY_KERNEL(KAdd, T, std::is_same_v<T, bool> ? (a || b) : WrapAdd(a, b))
SKEIN_BINARY_KERNEL(KSub, T, WrapSub(a, b))
SKEIN_BINARY_KERNEL(KMul, T, std::is_same_v<T, bool> ? (a && b) : WrapMul(a, b))
SKEIN_BINARY_KERNEL(KDiv, T, a / b)
SKEIN_BINARY_KERNEL(KFloorDiv, T, FloorDiv<T>(a, b))
SKEIN_BINARY_KERNEL(KMod, T, Mod<T>(a, b))
SKEIN_BINARY_KERNEL(KPow, T, Pow<T>(a, b))
SKEIN_BINARY_KERNEL(KEq, bool, a == b)
SKEIN_BINARY_KERNEL(KNe, bool, a != b)
SKEIN_BINARY_KERNEL(KLt, bool, a < b)
SKEIN_BINARY_KERNEL(KLe, bool, a <= b)
SKEIN_BINARY_KERNEL(KGt, bool, a > b)
SKEIN_BINARY_KERNEL(KGe, bool, a >= b)
SKEIN_BINARY_KERNEL(KAnd, bool, a && b)
SKEIN_BINARY_KERNEL(KOr, bool, a || b)
SKEIN_BINARY_KERNEL(KXor, bool, a != b)
SKEIN_BINARY_KERNEL(KMax, T, Maximum<T>(a, b))
SKEIN_BINARY_KERNEL(KMin, T, Minimum<T>(a, b))

// Bitwise ops exist for integer and bool types only; BinaryKernel never
// picks them for floats, which get the left operand so the code compiles.
template <class T>
T BitAnd(T a, T b) { if constexpr (std::is_integral_v<T>) return static_cast<T>(a & b); else return a; }
template <class T>
T BitOr(T a, T b) { if constexpr (std::is_integral_v<T>) return static_cast<T>(a | b); else return a; }
template <class T>
T BitXor(T a, T b) { if constexpr (std::is_integral_v<T>) return static_cast<T>(a ^ b); else return a; }
SKEIN_BINARY_KERNEL(KBitAnd, T, BitAnd<T>(a, b))
SKEIN_BINARY_KERNEL(KBitOr, T, BitOr<T>(a, b))
SKEIN_BINARY_KERNEL(KBitXor, T, BitXor<T>(a, b))
#undef SKEIN_BINARY_KERNEL

template <class T, Form F>
Kernel BinaryKernelIn(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd: return KAdd<T, F>;
    case BinaryOp::kSub: return KSub<T, F>;
    case BinaryOp::kMul: return KMul<T, F>;
    case BinaryOp::kDiv: return std::is_floating_point_v<T> ? KDiv<T, F> : nullptr;  // integers: casts come first
    case BinaryOp::kFloorDiv: return KFloorDiv<T, F>;
    case BinaryOp::kMod: return KMod<T, F>;
    case BinaryOp::kPow: return KPow<T, F>;
    case BinaryOp::kEq: return KEq<T, F>;
    case BinaryOp::kNe: return KNe<T, F>;
    case BinaryOp::kLt: return KLt<T, F>;
    case BinaryOp::kLe: return KLe<T, F>;
    case BinaryOp::kGt: return KGt<T, F>;
    case BinaryOp::kGe: return KGe<T, F>;
    case BinaryOp::kAnd: return KAnd<T, F>;
    case BinaryOp::kOr: return KOr<T, F>;
    case BinaryOp::kXor: return KXor<T, F>;
    case BinaryOp::kBitAnd: return std::is_integral_v<T> ? KBitAnd<T, F> : nullptr;
    case BinaryOp::kBitOr: return std::is_integral_v<T> ? KBitOr<T, F> : nullptr;
    case BinaryOp::kBitXor: return std::is_integral_v<T> ? KBitXor<T, F> : nullptr;
    case BinaryOp::kMax: return KMax<T, F>;
    case BinaryOp::kMin: return KMin<T, F>;
    default: return nullptr;
  }
}

template <class T>
Kernel BinaryKernel(BinaryOp op, Form form) {
  switch (form) {
    case kScalarRight: return BinaryKernelIn<T, kScalarRight>(op);
    case kScalarLeft: return BinaryKernelIn<T, kScalarLeft>(op);
    default: return BinaryKernelIn<T, kArrays>(op);
  }
}

#define SKEIN_UNARY_KERNEL(NAME, R, ...)                                      \
  template <class T>                                                          \
  void NAME(const void* pa, const void*, const void*, void* po, int64_t n) {  \
    const T* __restrict x = static_cast<const T*>(pa);                        \
    R* __restrict o = static_cast<R*>(po);                                    \
    for (int64_t k = 0; k < n; ++k) {                                         \
      const T a = x[k];                                                       \
      o[k] = static_cast<R>(__VA_ARGS__);                                          \
    }                                                                         \
  }
template <class T>
T Abs(T a) {
  if constexpr (std::is_floating_point_v<T>) return std::fabs(a);
  else if constexpr (std::is_signed_v<T>) return a < 0 ? static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(a)) : a;
  else return a;
}
template <class T>
T Neg(T a) {
  if constexpr (std::is_floating_point_v<T>) return -a;
  else if constexpr (std::is_same_v<T, bool>) return a;
  else return static_cast<T>(0 - static_cast<std::make_unsigned_t<T>>(a));  // wraps like NumPy
}
template <class T>
T Invert(T a) {
  if constexpr (std::is_same_v<T, bool>) return !a;
  else if constexpr (std::is_integral_v<T>) return static_cast<T>(~a);
  else return a;
}
template <class T>
bool IsNan(T a) {
  if constexpr (std::is_floating_point_v<T>) return a != a;
  else return false;
}
SKEIN_UNARY_KERNEL(UNeg, T, Neg<T>(a))
SKEIN_UNARY_KERNEL(UAbs, T, Abs<T>(a))
SKEIN_UNARY_KERNEL(USqrt, T, std::sqrt(a))
SKEIN_UNARY_KERNEL(UExp, T, std::exp(a))
SKEIN_UNARY_KERNEL(ULog, T, std::log(a))
SKEIN_UNARY_KERNEL(USin, T, std::sin(a))
SKEIN_UNARY_KERNEL(UCos, T, std::cos(a))
SKEIN_UNARY_KERNEL(UIsNan, bool, IsNan<T>(a))
SKEIN_UNARY_KERNEL(UNot, bool, !a)
SKEIN_UNARY_KERNEL(UInvert, T, Invert<T>(a))
#undef SKEIN_UNARY_KERNEL

template <class T>
Kernel UnaryKernel(UnaryOp op) {
  switch (op) {
    case UnaryOp::kNeg: return UNeg<T>;
    case UnaryOp::kAbs: return UAbs<T>;
    case UnaryOp::kIsNan: return UIsNan<T>;
    case UnaryOp::kNot: return UNot<T>;
    case UnaryOp::kInvert: return std::is_floating_point_v<T> ? nullptr : UInvert<T>;
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::kSqrt: return USqrt<T>;
      case UnaryOp::kExp: return UExp<T>;
      case UnaryOp::kLog: return ULog<T>;
      case UnaryOp::kSin: return USin<T>;
      case UnaryOp::kCos: return UCos<T>;
      default: break;
    }
  }
  return nullptr;
}

template <class T>
void KWhere(const void* pc, const void* pa, const void* pb, void* po, int64_t n) {
  const bool* c = static_cast<const bool*>(pc);
  const T* x = static_cast<const T*>(pa);
  const T* y = static_cast<const T*>(pb);
  T* o = static_cast<T*>(po);
  for (int64_t k = 0; k < n; ++k) o[k] = c[k] ? x[k] : y[k];
}

// Fills `n` elements with the element at `src`.
void Splat(const std::byte* src, size_t item, std::byte* dst, int64_t n) {
  switch (item) {
    case 1: std::memset(dst, static_cast<int>(*src), static_cast<size_t>(n)); break;
    case 4: { uint32_t v; std::memcpy(&v, src, 4); std::fill_n(reinterpret_cast<uint32_t*>(dst), n, v); break; }
    default: { uint64_t v; std::memcpy(&v, src, 8); std::fill_n(reinterpret_cast<uint64_t*>(dst), n, v); break; }
  }
}

struct Step {
  ExprKind kind;
  Kernel kernel = nullptr;
  int32_t a = -1, b = -1, c = -1;
  DType from, to;  // casts
  size_t item;
};

// Evaluate and EvaluateInto: the result goes to `sink` when there is one,
// else into a new array (or `storage`).
NDArray EvaluateImpl(const Program& program, std::span<const NDArray* const> inputs, int64_t row_begin,
                     int64_t row_end, NDArray* storage, PieceSink* sink) {
  if (static_cast<int32_t>(inputs.size()) != program.num_inputs) {
    throw Error("elementwise: program takes " + std::to_string(program.num_inputs) + " inputs, task gave " +
                std::to_string(inputs.size()));
  }
  const size_t ni = inputs.size();
  std::vector<Shape> shapes(ni), view_strides(ni);
  for (size_t k = 0; k < ni; ++k) {
    if (!InputView(program, k, *inputs[k], &shapes[k], &view_strides[k])) {
      throw Error("elementwise: input " + std::to_string(k) + " of shape " + ShapeToString(inputs[k]->shape()) +
                  " read through " + std::to_string(program.input_axes[k].size()) + " permuted axes");
    }
  }
  for (size_t k = 0; k < ni; ++k) {
    for (const ExprNode& n : program.nodes) {
      if (n.kind == ExprKind::kInput && n.a == static_cast<int32_t>(k) && n.dtype != inputs[k]->dtype()) {
        throw TypeError("elementwise: input " + std::to_string(k) + " has dtype " +
                        std::string(DTypeName(inputs[k]->dtype())) + ", the program expects " +
                        std::string(DTypeName(n.dtype)));
      }
    }
  }
  // Result shape: the inputs broadcast together, cut to the row range.
  Shape out_shape;
  if (!BroadcastShapes(shapes, &out_shape)) {
    std::string s;
    for (const Shape& sh : shapes) s += " " + ShapeToString(sh);
    throw Error("elementwise: input blocks with shapes" + s + " do not broadcast");
  }
  const size_t nd = out_shape.size();
  if (nd > 0 && row_end >= 0) {
    if (row_begin < 0 || row_begin > row_end || row_end > out_shape[0]) throw Error("elementwise: bad row range");
    out_shape[0] = row_end - row_begin;
  } else {
    row_begin = 0;
  }
  const ExprNode& root = program.nodes.back();
  NDArray out;
  std::byte* out_bytes = nullptr;
  const int64_t total = ShapeSize(out_shape);
  const int64_t out_bytes_needed = total * static_cast<int64_t>(ItemSize(root.dtype));
  if (sink) {
    // No result array: the root's pieces go to the sink from scratch.
  } else if (storage && static_cast<int64_t>(storage->buffer().size()) >= out_bytes_needed) {
    out = NDArray::FromBuffer(root.dtype, out_shape, storage->buffer().Slice(0, static_cast<size_t>(out_bytes_needed)));
    out_bytes = static_cast<std::byte*>(storage->mutable_bytes());
  } else {
    out = NDArray::Empty(root.dtype, out_shape);
    out_bytes = static_cast<std::byte*>(out.mutable_bytes());
  }
  if (total == 0) return out;

  // Element strides of every input over the result's axes (0 where
  // broadcast), and where the row range starts in each.
  std::vector<Shape> full(ni, Shape(nd, 0));
  std::vector<int64_t> start_offset(ni, 0);
  for (size_t k = 0; k < ni; ++k) {
    const size_t off = nd - shapes[k].size();
    for (size_t d = off; d < nd; ++d) {
      if (shapes[k][d - off] != 1) full[k][d] = view_strides[k][d - off];
    }
    if (nd > 0) start_offset[k] = row_begin * full[k][0];
  }
  // Iteration space: axes of extent 1 dropped, then adjacent axes merged
  // where every input steps through them as one (NumPy's coalescing), so
  // most blocks run as one flat loop.
  std::vector<int64_t> dims;                // merged extents
  std::vector<std::vector<int64_t>> strides(ni);  // per input, per merged axis
  for (size_t d = 0; d < nd; ++d) {
    if (out_shape[d] == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; k < ni && merge; ++k) merge = strides[k].back() == full[k][d] * out_shape[d];
    if (merge) {
      dims.back() *= out_shape[d];
      for (size_t k = 0; k < ni; ++k) strides[k].back() = full[k][d];
    } else {
      dims.push_back(out_shape[d]);
      for (size_t k = 0; k < ni; ++k) strides[k].push_back(full[k][d]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (size_t k = 0; k < ni; ++k) strides[k].push_back(0);
  }
  const size_t md = dims.size();
  // Where each input's elements start, and inputs read across their rows (a
  // fused transpose) packed first into row order with a cache-tiled copy:
  // gathering them element by element would touch a cache line per element.
  std::vector<const std::byte*> base(ni);
  std::vector<std::unique_ptr<uint64_t[]>> packed;
  std::vector<char> streamed(ni, 0);  // read in place along rows (prefetched)
  bool prefetch = true;
  for (size_t k = 0; k < ni; ++k) {
    const size_t item = inputs[k]->itemsize();
    base[k] = inputs[k]->bytes() + start_offset[k] * static_cast<int64_t>(item);
    const int64_t inner = strides[k][md - 1];
    streamed[k] = inner == 1;
    if (inner == 0 || inner == 1) continue;
    // Packing (strided reads from memory) is then what bounds the block: a
    // software prefetch of the other inputs only competes with it for the
    // memory queues ((x + x.T).sum(0) ran 7% slower with it).
    prefetch = false;
    packed.emplace_back(new uint64_t[static_cast<size_t>(total)]);
    auto* dst = reinterpret_cast<std::byte*>(packed.back().get());
    PackRows(base[k], dims, strides[k], item, dst);
    base[k] = dst;
    for (size_t d = md, step = 1; d-- > 0;) {
      strides[k][d] = static_cast<int64_t>(step);
      step *= static_cast<size_t>(dims[d]);
    }
  }

  // Plan: a kernel and a scratch buffer per node.
  const size_t nn = program.nodes.size();
  std::vector<Step> steps(nn);
  for (size_t k = 0; k < nn; ++k) {
    const ExprNode& n = program.nodes[k];
    Step& s = steps[k];
    s.kind = n.kind;
    s.a = n.a;
    s.b = n.b;
    s.c = n.c;
    s.item = ItemSize(n.dtype);
    s.from = n.arg;
    s.to = n.dtype;
    if (n.kind == ExprKind::kUnary) {
      s.kernel = VisitDType(n.arg, [&]<class T>(T) { return UnaryKernel<T>(static_cast<UnaryOp>(n.op)); });
    } else if (n.kind == ExprKind::kBinary) {
      auto scalar = [&](int32_t child) { return program.nodes[static_cast<size_t>(child)].kind == ExprKind::kScalar; };
      const Form form = scalar(n.b) && !scalar(n.a) ? kScalarRight : scalar(n.a) && !scalar(n.b) ? kScalarLeft : kArrays;
      s.kernel = VisitDType(n.arg, [&]<class T>(T) { return BinaryKernel<T>(static_cast<BinaryOp>(n.op), form); });
    } else if (n.kind == ExprKind::kWhere) {
      s.kernel = VisitDType(n.dtype, [&]<class T>(T) { return Kernel(KWhere<T>); });
    }
    if ((n.kind == ExprKind::kUnary || n.kind == ExprKind::kBinary) && !s.kernel) {
      throw TypeError("elementwise: operation " + std::to_string(n.op) + " is not defined for dtype " +
                      std::string(DTypeName(n.arg)));
    }
  }
  // Pieces small enough that every node's scratch stays in L1 (a long
  // program with 1024-element pieces would spill to L2 between kernels).
  const int64_t kPiece = std::clamp<int64_t>(
      static_cast<int64_t>(std::bit_floor(static_cast<uint64_t>(kL1Budget / (8 * static_cast<int64_t>(nn))))), 128, 1024);
  std::unique_ptr<uint64_t[]> scratch(new uint64_t[nn * kPiece]);  // 8-byte aligned, kPiece elements per node (not zeroed)
  auto buf = [&](size_t k) { return reinterpret_cast<std::byte*>(scratch.get() + k * kPiece); };
  for (size_t k = 0; k < nn; ++k) {
    const ExprNode& n = program.nodes[k];
    if (n.kind != ExprKind::kScalar) continue;
    VisitDType(n.dtype, [&]<class T>(T) {
      T v = IsFloat(n.dtype) ? static_cast<T>(n.f) : static_cast<T>(n.i);
      std::fill_n(reinterpret_cast<T*>(buf(k)), kPiece, v);
    });
  }

  std::vector<const void*> ptr(nn);
  std::vector<int64_t> row_offset(ni);
  std::vector<int64_t> idx(md, 0);
  std::vector<const std::byte*> pf_begin(ni), pf_end(ni);
  const int64_t inner = dims[md - 1];
  const int64_t rows = total / inner;
  const size_t out_item = ItemSize(root.dtype);
  for (int64_t row = 0; row < rows; ++row) {
    for (size_t k = 0; k < ni; ++k) {
      int64_t o = 0;
      for (size_t d = 0; d + 1 < md; ++d) o += idx[d] * strides[k][d];
      row_offset[k] = o;
    }
    for (int64_t start = 0; start < inner; start += kPiece) {
      const int64_t n = std::min(kPiece, inner - start);
      std::byte* dst_root = sink ? buf(nn - 1) : out_bytes + (row * inner + start) * static_cast<int64_t>(out_item);
      // Software prefetch of the streamed inputs kAheadBytes on, spread over
      // the steps so that compute-heavy kernels (sqrt, exp) overlap the
      // memory traffic instead of waiting for it piece by piece.
      int64_t pf_lines = 0;
      for (size_t in = 0; in < ni && prefetch; ++in) {
        if (!streamed[in]) continue;
        const int64_t item = static_cast<int64_t>(inputs[in]->itemsize());
        const int64_t ahead = kAheadBytes / item;
        const int64_t b0 = std::min(inner, start + ahead), b1 = std::min(inner, start + ahead + kPiece);
        pf_begin[in] = base[in] + (row_offset[in] + b0) * item;
        pf_end[in] = base[in] + (row_offset[in] + b1) * item;
        pf_lines = std::max<int64_t>(pf_lines, (b1 - b0) * item / 64 + 1);
      }
      const int64_t pf_per_step = (pf_lines + static_cast<int64_t>(nn) - 1) / static_cast<int64_t>(nn);
      for (size_t k = 0; k < nn; ++k) {
        for (size_t in = 0; in < ni && pf_lines > 0; ++in) {
          if (!streamed[in]) continue;
          for (int64_t l = 0; l < pf_per_step && pf_begin[in] < pf_end[in]; ++l, pf_begin[in] += 64) {
            __builtin_prefetch(pf_begin[in]);
          }
        }
        const Step& s = steps[k];
        std::byte* dst = k + 1 == nn ? dst_root : buf(k);
        switch (s.kind) {
          case ExprKind::kInput: {
            const size_t in = static_cast<size_t>(s.a);
            const std::byte* first = base[in] + row_offset[in] * static_cast<int64_t>(s.item);
            const int64_t step = strides[in][md - 1];
            if (step == 1) {
              ptr[k] = first + start * static_cast<int64_t>(s.item);
              if (k + 1 == nn && !sink) std::memcpy(dst, ptr[k], static_cast<size_t>(n) * s.item);
            } else {  // broadcast (inputs read across rows were packed above)
              Splat(first, s.item, dst, n);
              ptr[k] = dst;
            }
            break;
          }
          case ExprKind::kScalar:
            ptr[k] = buf(k);
            if (k + 1 == nn && !sink) std::memcpy(dst, buf(k), static_cast<size_t>(n) * s.item);
            break;
          case ExprKind::kUnary:
          case ExprKind::kBinary:
            s.kernel(ptr[s.a], s.b >= 0 ? ptr[s.b] : nullptr, nullptr, dst, n);
            ptr[k] = dst;
            break;
          case ExprKind::kWhere:
            s.kernel(ptr[s.a], ptr[s.b], ptr[s.c], dst, n);
            ptr[k] = dst;
            break;
          case ExprKind::kCast:
            ConvertElements(s.from, ptr[s.a], s.to, dst, n);
            ptr[k] = dst;
            break;
        }
      }
      if (sink) sink->Consume(ptr[nn - 1], n);
    }
    for (size_t d = md - 1; d-- > 0;) {
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

}  // namespace

bool MatchElementMap(const Program& program, ElementMap* map) {
  const std::vector<ExprNode>& nodes = program.nodes;
  if (program.num_inputs != 1 || nodes.empty() || nodes[0].kind != ExprKind::kInput) return false;
  if (!program.input_axes.empty() && !program.input_axes[0].empty()) return false;
  const DType t = nodes[0].dtype;
  if (t != DType::kFloat32 && t != DType::kFloat64) return false;
  ElementMap m;
  // The steps, in the order the map applies them; each at most once.
  enum Stage { kStart, kAddedBefore, kMultiplied, kAddedAfter, kMapped } stage = kStart;
  size_t value = 0;  // the node holding the value so far
  for (size_t k = 1; k < nodes.size(); ++k) {
    const ExprNode& n = nodes[k];
    if (n.dtype != t) return false;
    if (n.kind == ExprKind::kScalar) continue;  // read through the binary node that uses it
    if (n.kind == ExprKind::kUnary) {
      const auto op = static_cast<UnaryOp>(n.op);
      if (stage == kMapped || n.a != static_cast<int32_t>(value) || (op != UnaryOp::kSqrt && op != UnaryOp::kAbs)) return false;
      m.unary = op;
      stage = kMapped;
      value = k;
      continue;
    }
    if (n.kind != ExprKind::kBinary || stage == kMapped) return false;
    // One operand is the value, the other a scalar of the same dtype.
    const bool value_left = n.a == static_cast<int32_t>(value);
    const int32_t other = value_left ? n.b : n.a;
    if ((!value_left && n.b != static_cast<int32_t>(value)) || other < 0 ||
        nodes[static_cast<size_t>(other)].kind != ExprKind::kScalar) {
      return false;
    }
    const double s = nodes[static_cast<size_t>(other)].f;
    const auto op = static_cast<BinaryOp>(n.op);
    if (op == BinaryOp::kMul && stage < kMultiplied) {
      m.mul = s;
      stage = kMultiplied;
    } else if (op == BinaryOp::kAdd || (op == BinaryOp::kSub && value_left)) {
      // x - s is x + (-s) exactly; s + x is x + s.
      const double add = op == BinaryOp::kSub ? -s : s;
      if (stage == kStart) {
        m.add_before = add;
        stage = kAddedBefore;
      } else if (stage < kAddedAfter) {
        m.add_after = add;
        stage = kAddedAfter;
      } else {
        return false;
      }
    } else {
      return false;
    }
    value = k;
  }
  // Every node is on the chain (an unused scalar would be the result).
  if (value + 1 != nodes.size() || stage == kStart) return false;
  *map = m;
  return true;
}

bool MatchSignedSum(const Program& program, std::vector<SignedTerm>* terms) {
  const std::vector<ExprNode>& nodes = program.nodes;
  if (nodes.empty()) return false;
  const DType t = nodes.back().dtype;
  if (t != DType::kFloat32 && t != DType::kFloat64) return false;
  std::vector<SignedTerm> found;
  size_t visited = 0;
  // Children come before their parents, so the walk from the root ends.
  auto walk = [&](auto&& self, int32_t k, bool negative) -> bool {
    // A node shared by two parents would be walked once per path (twice as
    // often at every level of a chain of x + x): stop at the first extra.
    if (++visited > nodes.size()) return false;
    const ExprNode& n = nodes[static_cast<size_t>(k)];
    if (n.dtype != t) return false;
    if (n.kind == ExprKind::kInput) {
      found.push_back({n.a, negative});
      return true;
    }
    if (n.kind != ExprKind::kBinary || n.arg != t) return false;
    const auto op = static_cast<BinaryOp>(n.op);
    if (op != BinaryOp::kAdd && op != BinaryOp::kSub) return false;
    return self(self, n.a, negative) && self(self, n.b, op == BinaryOp::kSub ? !negative : negative);
  };
  if (!walk(walk, static_cast<int32_t>(nodes.size() - 1), false) || found.size() < 2) return false;
  // An input in two terms (x + x) is read once by the program and would be
  // read twice here.
  for (size_t i = 0; i < found.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (found[i].input == found[j].input) return false;
    }
  }
  *terms = std::move(found);
  return true;
}

NDArray Evaluate(const Program& program, std::span<const NDArray* const> inputs, int64_t row_begin, int64_t row_end,
                 NDArray* storage) {
  return EvaluateImpl(program, inputs, row_begin, row_end, storage, nullptr);
}

void EvaluateInto(const Program& program, std::span<const NDArray* const> inputs, PieceSink* sink) {
  EvaluateImpl(program, inputs, 0, -1, nullptr, sink);
}

}  // namespace skein::array::internal
