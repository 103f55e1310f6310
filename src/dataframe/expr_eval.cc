// Evaluating column expressions over a table, vectorized per operation, and
// their type rules (see expr.h).
#include <algorithm>
#include <cmath>
#include <span>
#include <cstring>
#include <limits>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include "dates_internal.h"
#include "expr_internal.h"

namespace skein {

using internal::ExprNode;
using internal::ExprOp;
using internal::Literal;

namespace {

// ---- types ----------------------------------------------------------------

// nullopt: the null literal (it takes the other operand's type).
using MaybeType = std::optional<TypeId>;

[[noreturn]] void Mismatch(const ExprNode& n, const std::string& why) {
  throw TypeError("expression " + Expr(std::make_shared<const ExprNode>(n)).ToString() + ": " + why);
}

std::string Name(MaybeType t) { return t ? std::string(TypeName(*t)) : "null"; }
bool Numeric(MaybeType t) { return !t || IsNumeric(*t) || *t == TypeId::kBool; }
bool Stringy(MaybeType t) { return !t || *t == TypeId::kString || *t == TypeId::kCategory; }
bool Temporal(MaybeType t) { return t && (*t == TypeId::kTimestamp || *t == TypeId::kDate); }

MaybeType ArithmeticType(ExprOp op, MaybeType a, MaybeType b) {
  if (op == ExprOp::kDiv) return TypeId::kFloat64;
  if (!a) return b ? b : MaybeType(TypeId::kFloat64);
  if (!b) return a;
  if (*a == TypeId::kFloat32 && *b == TypeId::kFloat32) return TypeId::kFloat32;
  if (IsFloating(*a) || IsFloating(*b)) return TypeId::kFloat64;
  if (*a == TypeId::kInt32 && *b == TypeId::kInt32) return TypeId::kInt32;
  return TypeId::kInt64;
}

MaybeType LiteralType(const Literal& l) {
  switch (l.kind) {
    case Literal::kNull: return std::nullopt;
    case Literal::kInt: return TypeId::kInt64;
    case Literal::kFloat: return TypeId::kFloat64;
    case Literal::kBool: return TypeId::kBool;
    case Literal::kString: return TypeId::kString;
  }
  return std::nullopt;
}

MaybeType TypeOf(const ExprNode& n, const Schema& schema) {
  auto arg = [&](size_t i) { return TypeOf(*n.args[i].node(), schema); };
  switch (n.op) {
    case ExprOp::kColumn:
      for (const Field& f : schema) {
        if (f.name == n.name) return f.type;
      }
      {
        std::string have;
        for (const Field& f : schema) have += (have.empty() ? "" : ", ") + f.name;
        throw KeyError("expression refers to column '" + n.name + "', which is not in the frame (columns: " + have + ")");
      }
    case ExprOp::kLiteral: return LiteralType(n.literal);
    case ExprOp::kAdd: case ExprOp::kSub: case ExprOp::kMul: case ExprOp::kDiv: case ExprOp::kMod:
    case ExprOp::kFloorDiv: {
      MaybeType a = arg(0), b = arg(1);
      if (!Numeric(a) || !Numeric(b)) Mismatch(n, "arithmetic on " + Name(a) + " and " + Name(b));
      return ArithmeticType(n.op, a && *a == TypeId::kBool ? TypeId::kInt64 : a, b && *b == TypeId::kBool ? TypeId::kInt64 : b);
    }
    case ExprOp::kNeg: case ExprOp::kAbs: {
      MaybeType a = arg(0);
      if (!Numeric(a) || (a && *a == TypeId::kBool)) Mismatch(n, std::string(internal::OpName(n.op)) + " of " + Name(a));
      return a;
    }
    case ExprOp::kEq: case ExprOp::kNe: case ExprOp::kLt: case ExprOp::kLe: case ExprOp::kGt: case ExprOp::kGe: {
      MaybeType a = arg(0), b = arg(1);
      const bool ok = (Numeric(a) && Numeric(b)) || (Stringy(a) && Stringy(b)) ||
                      (Temporal(a) && (b == a || Stringy(b))) || (Temporal(b) && Stringy(a));
      if (!ok) Mismatch(n, "cannot compare " + Name(a) + " with " + Name(b));
      return TypeId::kBool;
    }
    case ExprOp::kAnd: case ExprOp::kOr: {
      MaybeType a = arg(0), b = arg(1);
      if ((a && *a != TypeId::kBool) || (b && *b != TypeId::kBool)) {
        Mismatch(n, std::string(internal::OpName(n.op)) + " needs bool operands, got " + Name(a) + " and " + Name(b));
      }
      return TypeId::kBool;
    }
    case ExprOp::kNot: {
      MaybeType a = arg(0);
      if (a && *a != TypeId::kBool) Mismatch(n, "~ needs a bool operand, got " + Name(a));
      return TypeId::kBool;
    }
    case ExprOp::kIsNull: case ExprOp::kNotNull: arg(0); return TypeId::kBool;
    case ExprOp::kIsIn: {
      MaybeType a = arg(0);
      for (size_t i = 1; i < n.args.size(); ++i) {
        MaybeType v = arg(i);
        if (!((Numeric(a) && Numeric(v)) || (Stringy(a) && Stringy(v)) || (Temporal(a) && Stringy(v)))) {
          Mismatch(n, "isin of " + Name(a) + " values with a " + Name(v) + " literal");
        }
      }
      return TypeId::kBool;
    }
    case ExprOp::kCast: {
      MaybeType a = arg(0);
      if (n.type == TypeId::kCategory && !Stringy(a)) Mismatch(n, "only strings convert to category");
      return n.type;
    }
    case ExprOp::kFillNa: {
      MaybeType a = arg(0), b = arg(1);
      if (!a) return b;
      if (b && !((Numeric(a) && Numeric(b)) || (Stringy(a) && Stringy(b)) || (Temporal(a) && Stringy(b)))) {
        Mismatch(n, "fill value of " + Name(b) + " for a column of " + Name(a));
      }
      return *a == TypeId::kCategory ? TypeId::kString : a;
    }
    case ExprOp::kWhere: {
      MaybeType c = arg(0), a = arg(1), b = arg(2);
      if (c && *c != TypeId::kBool) Mismatch(n, "the condition is " + Name(c) + ", not bool");
      if (!a) return b;
      if (!b) return a;
      if (Numeric(a) && Numeric(b) && *a != *b) return ArithmeticType(ExprOp::kAdd, a, b);
      if (Stringy(a) && Stringy(b)) return TypeId::kString;
      if (*a != *b) Mismatch(n, "values of " + Name(a) + " and " + Name(b));
      return a;
    }
    case ExprOp::kStrContains: case ExprOp::kStrStartsWith: case ExprOp::kStrEndsWith: case ExprOp::kStrLower:
    case ExprOp::kStrUpper: case ExprOp::kStrLen: case ExprOp::kStrSlice: case ExprOp::kStrReplace: {
      MaybeType a = arg(0);
      if (!Stringy(a)) Mismatch(n, std::string(internal::OpName(n.op)) + " on a column of " + Name(a));
      if (n.op == ExprOp::kStrLen) return TypeId::kInt64;
      if (n.op == ExprOp::kStrContains || n.op == ExprOp::kStrStartsWith || n.op == ExprOp::kStrEndsWith) return TypeId::kBool;
      return TypeId::kString;
    }
    default: {  // dt fields
      MaybeType a = arg(0);
      if (!Temporal(a)) Mismatch(n, std::string(internal::OpName(n.op)) + " on a column of " + Name(a));
      if (n.op == ExprOp::kDtHour || n.op == ExprOp::kDtMinute) {
        if (*a == TypeId::kDate) Mismatch(n, "a date has no hours or minutes");
      }
      return TypeId::kInt32;
    }
  }
}

// ---- values ---------------------------------------------------------------

// An evaluated operand: a column, or a scalar literal of any length.
struct Val {
  bool scalar = false;
  Literal lit;
  Column col;
};

Buffer PackBits(std::span<const uint8_t> bytes) {
  const int64_t n = static_cast<int64_t>(bytes.size());
  std::byte* w;
  Buffer b = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n)), &w);
  auto* out = reinterpret_cast<uint8_t*>(w);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint8_t v = 0;
    for (int k = 0; k < 8; ++k) v |= static_cast<uint8_t>((bytes[static_cast<size_t>(i + k)] != 0) << k);
    out[i / 8] = v;
  }
  for (; i < n; ++i) {
    if (bytes[static_cast<size_t>(i)]) bits::Set(out, i);
  }
  return b;
}

PoolVector<uint8_t> UnpackBits(const Buffer& b, int64_t n) {
  PoolVector<uint8_t> out(static_cast<size_t>(n));
  const auto* p = reinterpret_cast<const uint8_t*>(b.data());
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = bits::Get(p, i);
  return out;
}

// Validity of a result over operands: valid where all are (empty: no nulls).
Buffer CombineValidity(const std::vector<const Val*>& vals, int64_t n, bool* all_null) {
  *all_null = false;
  Buffer out;
  std::byte* w = nullptr;
  for (const Val* v : vals) {
    if (v->scalar) {
      if (v->lit.kind == Literal::kNull) *all_null = true;
      continue;
    }
    if (!v->col.has_nulls()) continue;
    if (!w) {
      out = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n)), &w);
      std::memcpy(w, v->col.validity().data(), static_cast<size_t>(bits::Bytes(n)));
    } else {
      const auto* b = v->col.validity().data();
      for (int64_t i = 0; i < bits::Bytes(n); ++i) w[i] &= b[i];
    }
  }
  return out;
}

Column FromBytes(TypeId t, int64_t n, Buffer validity, PoolVector<std::byte> values) {
  return Column::Make(t, n, std::move(validity), Buffer(std::move(values)));
}

Column BoolColumn(const PoolVector<uint8_t>& v, Buffer validity) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Column::Make(TypeId::kBool, n, std::move(validity), PackBits(v));
}

// Numbers of an operand as T (a converted copy unless already stored as T).
template <class T>
struct Nums {
  const T* p = nullptr;
  std::vector<T> own;
  T s{};
  bool scalar = false;
  T operator[](int64_t i) const { return scalar ? s : p[i]; }
};

template <class T>
Nums<T> GetNums(const Val& v, int64_t n) {
  Nums<T> out;
  if (v.scalar) {
    out.scalar = true;
    const Literal& l = v.lit;
    out.s = l.kind == Literal::kInt ? static_cast<T>(l.i) : l.kind == Literal::kFloat ? static_cast<T>(l.f)
            : l.kind == Literal::kBool ? static_cast<T>(l.b) : T{};
    return out;
  }
  const Column& c = v.col;
  const TypeId t = c.type();
  const bool same = (std::is_same_v<T, int64_t> && (t == TypeId::kInt64 || t == TypeId::kTimestamp)) ||
                    (std::is_same_v<T, double> && t == TypeId::kFloat64) ||
                    (std::is_same_v<T, int32_t> && (t == TypeId::kInt32 || t == TypeId::kDate)) ||
                    (std::is_same_v<T, float> && t == TypeId::kFloat32);
  if (same) {
    out.p = reinterpret_cast<const T*>(c.values().data());
    return out;
  }
  out.own.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    switch (t) {
      case TypeId::kInt64: case TypeId::kTimestamp: out.own[i] = static_cast<T>(c.data<int64_t>()[i]); break;
      case TypeId::kInt32: case TypeId::kDate: out.own[i] = static_cast<T>(c.data<int32_t>()[i]); break;
      case TypeId::kFloat64: out.own[i] = static_cast<T>(c.data<double>()[i]); break;
      case TypeId::kFloat32: out.own[i] = static_cast<T>(c.data<float>()[i]); break;
      case TypeId::kBool: out.own[i] = static_cast<T>(c.BoolAt(i)); break;
      default: throw TypeError("not a numeric column: " + std::string(TypeName(t)));
    }
  }
  out.p = out.own.data();
  return out;
}

template <class T, class F>
Column MapNumeric(TypeId out_type, const Val& a, const Val& b, int64_t n, F f) {
  bool all_null;
  Buffer validity = CombineValidity({&a, &b}, n, &all_null);
  if (all_null) return Column::Nulls(out_type, n);
  Nums<T> x = GetNums<T>(a, n), y = GetNums<T>(b, n);
  PoolVector<std::byte> bytes(static_cast<size_t>(n) * sizeof(T));
  T* o = reinterpret_cast<T*>(bytes.data());
  if (!x.scalar && !y.scalar) for (int64_t i = 0; i < n; ++i) o[i] = f(x.p[i], y.p[i]);
  else if (x.scalar) for (int64_t i = 0; i < n; ++i) o[i] = f(x.s, y[i]);
  else for (int64_t i = 0; i < n; ++i) o[i] = f(x.p[i], y.s);
  return FromBytes(out_type, n, std::move(validity), std::move(bytes));
}

template <class T, class F>
Column CompareNumeric(const Val& a, const Val& b, int64_t n, F f) {
  bool all_null;
  Buffer validity = CombineValidity({&a, &b}, n, &all_null);
  if (all_null) return Column::Nulls(TypeId::kBool, n);
  Nums<T> x = GetNums<T>(a, n), y = GetNums<T>(b, n);
  PoolVector<uint8_t> out(static_cast<size_t>(n));
  if (!x.scalar && !y.scalar) for (int64_t i = 0; i < n; ++i) out[i] = f(x.p[i], y.p[i]);
  else if (x.scalar) for (int64_t i = 0; i < n; ++i) out[i] = f(x.s, y[i]);
  else for (int64_t i = 0; i < n; ++i) out[i] = f(x.p[i], y.s);
  return BoolColumn(out, std::move(validity));
}

template <class F>
Column CompareWith(ExprOp op, F get) {
  switch (op) {
    case ExprOp::kEq: return get([](auto x, auto y) { return x == y; });
    case ExprOp::kNe: return get([](auto x, auto y) { return x != y; });
    case ExprOp::kLt: return get([](auto x, auto y) { return x < y; });
    case ExprOp::kLe: return get([](auto x, auto y) { return x <= y; });
    case ExprOp::kGt: return get([](auto x, auto y) { return x > y; });
    default: return get([](auto x, auto y) { return x >= y; });
  }
}

std::string_view StrOf(const Val& v, int64_t i) { return v.scalar ? std::string_view(v.lit.s) : v.col.StringAt(i); }

// A string literal compared with a timestamp or date column, parsed as one.
Val TemporalLiteral(const Val& v, TypeId t, const ExprNode& n) {
  if (!v.scalar || v.lit.kind != Literal::kString) return v;
  Val out;
  out.scalar = true;
  out.lit.kind = Literal::kInt;
  if (t == TypeId::kDate) {
    int32_t d;
    if (!dates::ParseDate(v.lit.s, &d)) Mismatch(n, "'" + v.lit.s + "' is not a date (YYYY-MM-DD)");
    out.lit.i = d;
  } else if (!dates::ParseTimestamp(v.lit.s, &out.lit.i)) {
    Mismatch(n, "'" + v.lit.s + "' is not a timestamp (YYYY-MM-DD[ HH:MM[:SS]])");
  }
  return out;
}

Column Broadcast(const Literal& l, MaybeType type, int64_t n) {
  const TypeId t = type.value_or(TypeId::kFloat64);
  if (l.kind == Literal::kNull) return Column::Nulls(t, n);
  ColumnBuilder b(t == TypeId::kCategory ? TypeId::kString : t, n);
  for (int64_t i = 0; i < n; ++i) {
    switch (t) {
      case TypeId::kInt64: case TypeId::kTimestamp: b.Append(l.kind == Literal::kFloat ? static_cast<int64_t>(l.f) : l.i); break;
      case TypeId::kInt32: case TypeId::kDate: b.Append(static_cast<int32_t>(l.kind == Literal::kFloat ? l.f : l.i)); break;
      case TypeId::kFloat64: b.Append(l.kind == Literal::kFloat ? l.f : static_cast<double>(l.i)); break;
      case TypeId::kFloat32: b.Append(static_cast<float>(l.kind == Literal::kFloat ? l.f : static_cast<double>(l.i))); break;
      case TypeId::kBool: b.AppendBool(l.kind == Literal::kBool ? l.b : l.i != 0); break;
      default: b.AppendString(l.s); break;
    }
  }
  return b.Finish();
}

Column AsColumn(const Val& v, MaybeType type, int64_t n) { return v.scalar ? Broadcast(v.lit, type, n) : v.col; }

Column Cast(const Column& c, TypeId to, const ExprNode& n);

class Evaluator {
 public:
  Evaluator(const Table& t) : t_(t), schema_(t.schema()), n_(t.num_rows()) {}

  Val Eval(const ExprNode& e) {
    switch (e.op) {
      case ExprOp::kColumn: return Col(t_.column(e.name));
      case ExprOp::kLiteral: {
        Val v;
        v.scalar = true;
        v.lit = e.literal;
        return v;
      }
      default: return Col(Compute(e));
    }
  }

 private:
  static Val Col(Column c) {
    Val v;
    v.col = std::move(c);
    return v;
  }
  MaybeType Type(const ExprNode& e) { return TypeOf(e, schema_); }

  Column Compute(const ExprNode& e) {
    const MaybeType result = Type(e);
    auto arg = [&](size_t i) { return Eval(*e.args[i].node()); };
    auto argtype = [&](size_t i) { return Type(*e.args[i].node()); };
    switch (e.op) {
      case ExprOp::kAdd: case ExprOp::kSub: case ExprOp::kMul: case ExprOp::kDiv: case ExprOp::kMod:
      case ExprOp::kFloorDiv: return Arithmetic(e.op, arg(0), arg(1), *result, e);
      case ExprOp::kNeg: case ExprOp::kAbs: {
        Val a = arg(0);
        Val zero;
        zero.scalar = true;
        zero.lit.kind = Literal::kInt;
        const TypeId t = result.value_or(TypeId::kFloat64);
        if (e.op == ExprOp::kNeg) return Arithmetic(ExprOp::kSub, zero, a, t, e);
        if (IsFloating(t)) {
          return Cast(MapNumeric<double>(TypeId::kFloat64, a, zero, n_, [](double x, double) { return std::fabs(x); }), t, e);
        }
        return Cast(MapNumeric<int64_t>(TypeId::kInt64, a, zero, n_, [](int64_t x, int64_t) { return x < 0 ? -x : x; }), t, e);
      }
      case ExprOp::kEq: case ExprOp::kNe: case ExprOp::kLt: case ExprOp::kLe: case ExprOp::kGt: case ExprOp::kGe:
        return Compare(e.op, arg(0), arg(1), argtype(0), argtype(1), e);
      case ExprOp::kAnd: case ExprOp::kOr: {
        Val a = arg(0), b = arg(1);
        bool all_null;
        Buffer validity = CombineValidity({&a, &b}, n_, &all_null);
        if (all_null) return Column::Nulls(TypeId::kBool, n_);
        Column x = AsColumn(a, TypeId::kBool, n_), y = AsColumn(b, TypeId::kBool, n_);
        std::byte* w;
        Buffer values = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n_)), &w);
        for (int64_t i = 0; i < bits::Bytes(n_); ++i) {
          w[i] = e.op == ExprOp::kAnd ? (x.values().data()[i] & y.values().data()[i])
                                      : (x.values().data()[i] | y.values().data()[i]);
        }
        return Column::Make(TypeId::kBool, n_, std::move(validity), std::move(values));
      }
      case ExprOp::kNot: {
        Val a = arg(0);
        Column x = AsColumn(a, TypeId::kBool, n_);
        std::byte* w;
        Buffer values = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n_)), &w);
        for (int64_t i = 0; i < bits::Bytes(n_); ++i) w[i] = ~x.values().data()[i];
        return Column::Make(TypeId::kBool, n_, x.validity(), std::move(values));
      }
      case ExprOp::kIsNull: case ExprOp::kNotNull: {
        Val a = arg(0);
        PoolVector<uint8_t> out(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) {
          bool null = a.scalar ? a.lit.kind == Literal::kNull
                               : (a.col.IsNull(i) || (IsFloating(a.col.type()) && std::isnan(a.col.NumberAt(i))));
          out[static_cast<size_t>(i)] = (e.op == ExprOp::kIsNull) == null;
        }
        return BoolColumn(out, {});
      }
      case ExprOp::kIsIn: return IsIn(e, arg(0), argtype(0));
      case ExprOp::kCast: return Cast(AsColumn(arg(0), argtype(0), n_), e.type, e);
      case ExprOp::kFillNa: {
        Val a = arg(0), b = arg(1);
        const TypeId t = result.value_or(TypeId::kFloat64);
        Column x = AsColumn(a, t, n_);
        if (x.type() == TypeId::kCategory) x = x.Decoded();
        bool nan_is_null = IsFloating(x.type());
        if (!x.has_nulls() && !nan_is_null) return x;
        Column fill = Cast(AsColumn(b.scalar ? TemporalOrSame(b, t, e) : b, t, n_), t, e);
        return Choose(t, [&](int64_t i) { return x.IsValid(i) && !(nan_is_null && std::isnan(x.NumberAt(i))); }, x, fill);
      }
      case ExprOp::kWhere: {
        Val c = arg(0), a = arg(1), b = arg(2);
        const TypeId t = result.value_or(TypeId::kFloat64);
        Column cond = AsColumn(c, TypeId::kBool, n_);
        Column x = Cast(AsColumn(a, t, n_), t, e), y = Cast(AsColumn(b, t, n_), t, e);
        return Choose(t, [&](int64_t i) { return cond.IsValid(i) && cond.BoolAt(i); }, x, y);
      }
      case ExprOp::kStrContains: case ExprOp::kStrStartsWith: case ExprOp::kStrEndsWith: {
        Column x = AsColumn(arg(0), TypeId::kString, n_);
        const std::string& p = e.strings[0];
        PoolVector<uint8_t> out(static_cast<size_t>(n_));
        for (int64_t i = 0; i < n_; ++i) {
          std::string_view s = x.StringAt(i);
          out[static_cast<size_t>(i)] = e.op == ExprOp::kStrContains     ? s.find(p) != std::string_view::npos
                                        : e.op == ExprOp::kStrStartsWith ? s.substr(0, p.size()) == p
                                                                         : s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
        }
        return BoolColumn(out, x.validity());
      }
      case ExprOp::kStrLen: {
        Column x = AsColumn(arg(0), TypeId::kString, n_);
        PoolVector<std::byte> bytes(static_cast<size_t>(n_) * 8);
        auto* o = reinterpret_cast<int64_t*>(bytes.data());
        for (int64_t i = 0; i < n_; ++i) o[i] = static_cast<int64_t>(x.StringAt(i).size());
        return FromBytes(TypeId::kInt64, n_, x.validity(), std::move(bytes));
      }
      case ExprOp::kStrLower: case ExprOp::kStrUpper: case ExprOp::kStrSlice: case ExprOp::kStrReplace: {
        Column x = AsColumn(arg(0), TypeId::kString, n_);
        ColumnBuilder b(TypeId::kString, n_);
        std::string tmp;
        for (int64_t i = 0; i < n_; ++i) {
          if (x.IsNull(i)) {
            b.AppendNull();
            continue;
          }
          std::string_view s = x.StringAt(i);
          if (e.op == ExprOp::kStrSlice) {
            const int64_t len = static_cast<int64_t>(s.size());
            int64_t lo = e.start < 0 ? std::max<int64_t>(0, len + e.start) : std::min(len, e.start);
            int64_t hi = !e.stop ? len : *e.stop < 0 ? std::max<int64_t>(0, len + *e.stop) : std::min(len, *e.stop);
            b.AppendString(hi > lo ? s.substr(static_cast<size_t>(lo), static_cast<size_t>(hi - lo)) : std::string_view());
            continue;
          }
          tmp.assign(s);
          if (e.op == ExprOp::kStrLower) for (char& ch : tmp) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          else if (e.op == ExprOp::kStrUpper) for (char& ch : tmp) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
          else {
            std::string r;
            const std::string& from = e.strings[0];
            size_t at = 0;
            for (size_t hit; (hit = tmp.find(from, at)) != std::string::npos; at = hit + from.size()) {
              r.append(tmp, at, hit - at);
              r += e.strings[1];
            }
            r.append(tmp, at);
            tmp = std::move(r);
          }
          b.AppendString(tmp);
        }
        return b.Finish();
      }
      default: {  // dt fields
        Column x = AsColumn(arg(0), argtype(0), n_);
        PoolVector<std::byte> bytes(static_cast<size_t>(n_) * 4);
        auto* o = reinterpret_cast<int32_t*>(bytes.data());
        for (int64_t i = 0; i < n_; ++i) {
          if (x.IsNull(i)) continue;
          int64_t ns = x.type() == TypeId::kDate ? x.data<int32_t>()[i] * dates::kNsPerDay : x.data<int64_t>()[i];
          int64_t days = ns / dates::kNsPerDay, rest = ns % dates::kNsPerDay;
          if (rest < 0) rest += dates::kNsPerDay, --days;
          int64_t y;
          unsigned m, d;
          dates::CivilFromDays(days, &y, &m, &d);
          switch (e.op) {
            case ExprOp::kDtYear: o[i] = static_cast<int32_t>(y); break;
            case ExprOp::kDtMonth: o[i] = static_cast<int32_t>(m); break;
            case ExprOp::kDtDay: o[i] = static_cast<int32_t>(d); break;
            case ExprOp::kDtHour: o[i] = static_cast<int32_t>(rest / (3600 * dates::kNsPerSecond)); break;
            case ExprOp::kDtMinute: o[i] = static_cast<int32_t>(rest / (60 * dates::kNsPerSecond) % 60); break;
            default: o[i] = static_cast<int32_t>(((days % 7) + 7 + 3) % 7); break;  // 1970-01-01 was a Thursday (3)
          }
        }
        return FromBytes(TypeId::kInt32, n_, x.validity(), std::move(bytes));
      }
    }
  }

  Val TemporalOrSame(const Val& v, TypeId t, const ExprNode& e) {
    return (t == TypeId::kTimestamp || t == TypeId::kDate) ? TemporalLiteral(v, t, e) : v;
  }

  // Rows where take(i) from x, else from y (both of type t).
  template <class F>
  Column Choose(TypeId t, F take, const Column& x, const Column& y) {
    ColumnBuilder b(t == TypeId::kCategory ? TypeId::kString : t, n_);
    for (int64_t i = 0; i < n_; ++i) {
      const Column& c = take(i) ? x : y;
      if (c.IsNull(i)) {
        b.AppendNull();
        continue;
      }
      switch (t) {
        case TypeId::kString: case TypeId::kCategory: b.AppendString(c.StringAt(i)); break;
        case TypeId::kBool: b.AppendBool(c.BoolAt(i)); break;
        case TypeId::kInt64: case TypeId::kTimestamp: case TypeId::kFloat64:
          b.Append(reinterpret_cast<const int64_t*>(c.values().data())[i]);
          break;
        default: b.Append(reinterpret_cast<const int32_t*>(c.values().data())[i]); break;
      }
    }
    return b.Finish();
  }

  Column Arithmetic(ExprOp op, const Val& a, const Val& b, TypeId t, const ExprNode& e) {
    if (IsFloating(t)) {
      Column r = [&] {
        switch (op) {
          case ExprOp::kAdd: return MapNumeric<double>(TypeId::kFloat64, a, b, n_, [](double x, double y) { return x + y; });
          case ExprOp::kSub: return MapNumeric<double>(TypeId::kFloat64, a, b, n_, [](double x, double y) { return x - y; });
          case ExprOp::kMul: return MapNumeric<double>(TypeId::kFloat64, a, b, n_, [](double x, double y) { return x * y; });
          case ExprOp::kDiv: return MapNumeric<double>(TypeId::kFloat64, a, b, n_, [](double x, double y) { return x / y; });
          case ExprOp::kFloorDiv:
            return MapNumeric<double>(TypeId::kFloat64, a, b, n_, [](double x, double y) { return std::floor(x / y); });
          default:
            return MapNumeric<double>(TypeId::kFloat64, a, b, n_, [](double x, double y) {
              double r = std::fmod(x, y);
              return r != 0 && ((r < 0) != (y < 0)) ? r + y : r;
            });
        }
      }();
      return t == TypeId::kFloat64 ? r : Cast(r, t, e);
    }
    // Integers: division by zero is a null, as in pandas' nullable Int64.
    auto ints = [&](auto f) { return MapNumeric<int64_t>(TypeId::kInt64, a, b, n_, f); };
    Column r = [&] {
      switch (op) {
        case ExprOp::kAdd: return ints([](int64_t x, int64_t y) { return static_cast<int64_t>(static_cast<uint64_t>(x) + static_cast<uint64_t>(y)); });
        case ExprOp::kSub: return ints([](int64_t x, int64_t y) { return static_cast<int64_t>(static_cast<uint64_t>(x) - static_cast<uint64_t>(y)); });
        case ExprOp::kMul: return ints([](int64_t x, int64_t y) { return static_cast<int64_t>(static_cast<uint64_t>(x) * static_cast<uint64_t>(y)); });
        default: return IntDivision(op, a, b);
      }
    }();
    return t == TypeId::kInt64 ? r : Cast(r, t, e);
  }

  Column IntDivision(ExprOp op, const Val& a, const Val& b) {
    bool all_null;
    Buffer validity = CombineValidity({&a, &b}, n_, &all_null);
    if (all_null) return Column::Nulls(TypeId::kInt64, n_);
    Nums<int64_t> x = GetNums<int64_t>(a, n_), y = GetNums<int64_t>(b, n_);
    PoolVector<uint8_t> valid = validity.empty() ? PoolVector<uint8_t>(static_cast<size_t>(n_), 1) : UnpackBits(validity, n_);
    PoolVector<std::byte> bytes(static_cast<size_t>(n_) * 8);
    auto* o = reinterpret_cast<int64_t*>(bytes.data());
    bool zero = false;
    for (int64_t i = 0; i < n_; ++i) {
      const int64_t p = x[i], q = y[i];
      if (q == 0 || (q == -1 && p == std::numeric_limits<int64_t>::min())) {
        valid[static_cast<size_t>(i)] = 0;
        zero = true;
        continue;
      }
      int64_t d = p / q, m = p % q;
      if (m != 0 && ((m < 0) != (q < 0))) --d, m += q;
      o[i] = op == ExprOp::kFloorDiv ? d : m;
    }
    if (zero) validity = PackBits(valid);
    return FromBytes(TypeId::kInt64, n_, std::move(validity), std::move(bytes));
  }

  Column Compare(ExprOp op, Val a, Val b, MaybeType ta, MaybeType tb, const ExprNode& e) {
    if (Temporal(ta)) b = TemporalLiteral(b, *ta, e);
    if (Temporal(tb)) a = TemporalLiteral(a, *tb, e);
    const bool strings = (Stringy(ta) && Stringy(tb)) && (ta || tb) && !(Temporal(ta) || Temporal(tb));
    if (strings) {
      // A category column against a literal: compare codes, not text.
      if ((op == ExprOp::kEq || op == ExprOp::kNe) && !a.scalar && a.col.type() == TypeId::kCategory && b.scalar &&
          b.lit.kind == Literal::kString) {
        return CategoryEquals(a.col, b.lit.s, op == ExprOp::kNe);
      }
      bool all_null;
      Buffer validity = CombineValidity({&a, &b}, n_, &all_null);
      if (all_null) return Column::Nulls(TypeId::kBool, n_);
      PoolVector<uint8_t> out(static_cast<size_t>(n_));
      CompareWith(op, [&](auto f) {
        for (int64_t i = 0; i < n_; ++i) out[static_cast<size_t>(i)] = f(StrOf(a, i), StrOf(b, i));
        return Column();
      });
      return BoolColumn(out, std::move(validity));
    }
    const bool floating = (ta && IsFloating(*ta)) || (tb && IsFloating(*tb)) ||
                          (a.scalar && a.lit.kind == Literal::kFloat) || (b.scalar && b.lit.kind == Literal::kFloat);
    if (floating) return CompareWith(op, [&](auto f) { return CompareNumeric<double>(a, b, n_, f); });
    return CompareWith(op, [&](auto f) { return CompareNumeric<int64_t>(a, b, n_, f); });
  }

  Column CategoryEquals(const Column& c, const std::string& s, bool negate) {
    const Column& dict = *c.dictionary();
    int32_t code = -1;
    for (int64_t k = 0; k < dict.length(); ++k) {
      if (dict.StringAt(k) == s) code = static_cast<int32_t>(k);
    }
    const int32_t* codes = c.data<int32_t>();
    PoolVector<uint8_t> out(static_cast<size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) out[static_cast<size_t>(i)] = (codes[i] == code) != negate;
    return BoolColumn(out, c.validity());
  }

  Column IsIn(const ExprNode& e, const Val& a, MaybeType ta) {
    PoolVector<uint8_t> out(static_cast<size_t>(n_));
    if (a.scalar) return Column::Nulls(TypeId::kBool, n_);
    Column x = a.col;
    if (Stringy(ta) && !Temporal(ta)) {
      std::unordered_set<std::string> set;
      for (size_t i = 1; i < e.args.size(); ++i) {
        const Literal& l = e.args[i].node()->literal;
        if (l.kind == Literal::kString) set.insert(l.s);
      }
      for (int64_t i = 0; i < n_; ++i) out[static_cast<size_t>(i)] = x.IsValid(i) && set.count(std::string(x.StringAt(i)));
      return BoolColumn(out, {});
    }
    std::unordered_set<double> nums;
    for (size_t i = 1; i < e.args.size(); ++i) {
      Val v;
      v.scalar = true;
      v.lit = e.args[i].node()->literal;
      if (Temporal(ta)) v = TemporalLiteral(v, *ta, e);
      if (v.lit.kind == Literal::kInt) nums.insert(static_cast<double>(v.lit.i));
      else if (v.lit.kind == Literal::kFloat) nums.insert(v.lit.f);
      else if (v.lit.kind == Literal::kBool) nums.insert(v.lit.b);
    }
    for (int64_t i = 0; i < n_; ++i) out[static_cast<size_t>(i)] = x.IsValid(i) && nums.count(x.NumberAt(i));
    return BoolColumn(out, {});
  }

  const Table& t_;
  Schema schema_;
  int64_t n_;
};

Column Cast(const Column& c, TypeId to, const ExprNode& n) {
  if (c.type() == to) return c;
  const int64_t len = c.length();
  if (to == TypeId::kCategory) {
    CategoryBuilder out(len);
    for (int64_t i = 0; i < len; ++i) {
      if (c.IsNull(i)) out.AppendNull();
      else out.Append(c.StringAt(i));
    }
    return out.Finish();
  }
  ColumnBuilder b(to, len);
  for (int64_t i = 0; i < len; ++i) {
    if (c.IsNull(i)) {
      b.AppendNull();
      continue;
    }
    if (to == TypeId::kString) {
      b.AppendString(c.type() == TypeId::kString || c.type() == TypeId::kCategory ? std::string(c.StringAt(i)) : c.Format(i));
      continue;
    }
    if (c.type() == TypeId::kString || c.type() == TypeId::kCategory) {
      // Text to a number or time: parse it.
      std::string_view s = c.StringAt(i);
      bool ok = false;
      if (to == TypeId::kTimestamp) {
        int64_t v;
        if ((ok = dates::ParseTimestamp(s, &v))) b.Append(v);
      } else if (to == TypeId::kDate) {
        int32_t v;
        if ((ok = dates::ParseDate(s, &v))) b.Append(v);
      } else if (to == TypeId::kBool) {
        if ((ok = s == "True" || s == "False" || s == "true" || s == "false")) b.AppendBool(s[0] == 'T' || s[0] == 't');
      } else {
        char* end = nullptr;
        std::string tmp(s);
        const double v = std::strtod(tmp.c_str(), &end);
        ok = !tmp.empty() && end == tmp.c_str() + tmp.size();
        if (ok && IsInteger(to) && v != std::floor(v)) ok = false;
        if (ok) {
          if (to == TypeId::kInt64) b.Append(static_cast<int64_t>(v));
          else if (to == TypeId::kInt32) b.Append(static_cast<int32_t>(v));
          else if (to == TypeId::kFloat64) b.Append(v);
          else b.Append(static_cast<float>(v));
        }
      }
      if (!ok) {
        throw TypeError("astype(" + std::string(TypeName(to)) + "): '" + std::string(s) + "' at row " + std::to_string(i) +
                        " does not convert (" + Expr(std::make_shared<const ExprNode>(n)).ToString() + ")");
      }
      continue;
    }
    const double v = c.NumberAt(i);
    switch (to) {
      case TypeId::kInt64: case TypeId::kTimestamp:
        if (c.type() == TypeId::kInt64 || c.type() == TypeId::kTimestamp) b.Append(c.data<int64_t>()[i]);
        else if (std::isnan(v)) b.AppendNull();
        else b.Append(static_cast<int64_t>(v));
        break;
      case TypeId::kInt32: case TypeId::kDate:
        if (std::isnan(v)) b.AppendNull();
        else b.Append(static_cast<int32_t>(v));
        break;
      case TypeId::kFloat64: b.Append(v); break;
      case TypeId::kFloat32: b.Append(static_cast<float>(v)); break;
      case TypeId::kBool: b.AppendBool(v != 0); break;
      default: break;
    }
  }
  return b.Finish();
}

}  // namespace

TypeId Expr::ResultType(const Schema& schema) const { return TypeOf(*node_, schema).value_or(TypeId::kFloat64); }

skein::Column Expr::Evaluate(const Table& table) const {
  const Schema schema = table.schema();
  const TypeId t = ResultType(schema);  // type-checks the whole tree first
  Evaluator ev(table);
  Val v = ev.Eval(*node_);
  return AsColumn(v, t, table.num_rows());
}

}  // namespace skein
