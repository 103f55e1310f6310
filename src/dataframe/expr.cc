// Column expressions: building, printing, type checking and encoding (see
// expr.h; evaluation is in expr_eval.cc).
#include "skein/dataframe/expr.h"

#include <algorithm>
#include <set>

#include "expr_internal.h"
#include "skein/core/serialize.h"

namespace skein {

using internal::ExprNode;
using internal::ExprOp;
using internal::Literal;

namespace {

Expr Make(ExprNode n) { return Expr(std::make_shared<const ExprNode>(std::move(n))); }

Expr Op(ExprOp op, std::vector<Expr> args) {
  ExprNode n;
  n.op = op;
  n.args = std::move(args);
  return Make(std::move(n));
}

Expr LiteralExpr(Literal l) {
  ExprNode n;
  n.op = ExprOp::kLiteral;
  n.literal = std::move(l);
  return Make(std::move(n));
}

}  // namespace

namespace internal {

const char* OpName(ExprOp op) {
  static const char* kNames[] = {"col", "lit", "+", "-", "*", "/", "%", "//", "neg", "abs", "==", "!=", "<", "<=", ">",
                                 ">=", "&", "|", "~", "isnull", "notnull", "isin", "astype", "fillna", "where",
                                 "str.contains", "str.startswith", "str.endswith", "str.lower", "str.upper", "str.len",
                                 "str.slice", "str.replace", "dt.year", "dt.month", "dt.day", "dt.hour", "dt.minute",
                                 "dt.dayofweek"};
  return kNames[static_cast<int>(op)];
}

}  // namespace internal

Expr::Expr() : Expr(LiteralExpr({})) {}
Expr::Expr(int64_t v) : Expr(LiteralExpr({.kind = Literal::kInt, .i = v, .s = {}})) {}
Expr::Expr(int v) : Expr(static_cast<int64_t>(v)) {}
Expr::Expr(double v) : Expr(LiteralExpr({.kind = Literal::kFloat, .f = v, .s = {}})) {}
Expr::Expr(bool v) : Expr(LiteralExpr({.kind = Literal::kBool, .b = v, .s = {}})) {}
Expr::Expr(const char* v) : Expr(std::string(v)) {}
Expr::Expr(std::string v) : Expr(LiteralExpr({.kind = Literal::kString, .s = std::move(v)})) {}

Expr Expr::Column(std::string column) {
  ExprNode n;
  n.op = ExprOp::kColumn;
  n.name = std::move(column);
  return Make(std::move(n));
}

Expr Expr::isnull() const { return Op(ExprOp::kIsNull, {*this}); }
Expr Expr::notnull() const { return Op(ExprOp::kNotNull, {*this}); }
Expr Expr::isin(std::vector<Expr> values) const {
  for (const Expr& v : values) {
    if (v.node()->op != ExprOp::kLiteral) throw TypeError("isin: the values must be literals, got " + v.ToString());
  }
  values.insert(values.begin(), *this);
  return Op(ExprOp::kIsIn, std::move(values));
}
Expr Expr::between(Expr lo, Expr hi) const { return (*this >= lo) & (*this <= hi); }
Expr Expr::astype(TypeId type) const {
  ExprNode n;
  n.op = ExprOp::kCast;
  n.type = type;
  n.args = {*this};
  return Make(std::move(n));
}
Expr Expr::fillna(Expr value) const { return Op(ExprOp::kFillNa, {*this, std::move(value)}); }
Expr Expr::abs() const { return Op(ExprOp::kAbs, {*this}); }
Expr Expr::where(Expr cond, Expr other) const { return Op(ExprOp::kWhere, {std::move(cond), *this, std::move(other)}); }
Expr Expr::mask(Expr cond, Expr other) const { return Op(ExprOp::kWhere, {std::move(cond), std::move(other), *this}); }
StringMethods Expr::str() const { return StringMethods(*this); }
DatetimeMethods Expr::dt() const { return DatetimeMethods(*this); }

bool Expr::IsColumn(std::string* name) const {
  if (node_->op != ExprOp::kColumn) return false;
  if (name) *name = node_->name;
  return true;
}

Expr operator+(const Expr& a, const Expr& b) { return Op(ExprOp::kAdd, {a, b}); }
Expr operator-(const Expr& a, const Expr& b) { return Op(ExprOp::kSub, {a, b}); }
Expr operator*(const Expr& a, const Expr& b) { return Op(ExprOp::kMul, {a, b}); }
Expr operator/(const Expr& a, const Expr& b) { return Op(ExprOp::kDiv, {a, b}); }
Expr operator%(const Expr& a, const Expr& b) { return Op(ExprOp::kMod, {a, b}); }
Expr floordiv(const Expr& a, const Expr& b) { return Op(ExprOp::kFloorDiv, {a, b}); }
Expr operator-(const Expr& a) { return Op(ExprOp::kNeg, {a}); }
Expr operator==(const Expr& a, const Expr& b) { return Op(ExprOp::kEq, {a, b}); }
Expr operator!=(const Expr& a, const Expr& b) { return Op(ExprOp::kNe, {a, b}); }
Expr operator<(const Expr& a, const Expr& b) { return Op(ExprOp::kLt, {a, b}); }
Expr operator<=(const Expr& a, const Expr& b) { return Op(ExprOp::kLe, {a, b}); }
Expr operator>(const Expr& a, const Expr& b) { return Op(ExprOp::kGt, {a, b}); }
Expr operator>=(const Expr& a, const Expr& b) { return Op(ExprOp::kGe, {a, b}); }
Expr operator&(const Expr& a, const Expr& b) { return Op(ExprOp::kAnd, {a, b}); }
Expr operator|(const Expr& a, const Expr& b) { return Op(ExprOp::kOr, {a, b}); }
Expr operator~(const Expr& a) { return Op(ExprOp::kNot, {a}); }

namespace {
Expr StrOp(ExprOp op, const Expr& e, std::vector<std::string> args = {}) {
  ExprNode n;
  n.op = op;
  n.args = {e};
  n.strings = std::move(args);
  return Make(std::move(n));
}
}  // namespace

Expr StringMethods::contains(std::string p) const { return StrOp(ExprOp::kStrContains, e_, {std::move(p)}); }
Expr StringMethods::startswith(std::string p) const { return StrOp(ExprOp::kStrStartsWith, e_, {std::move(p)}); }
Expr StringMethods::endswith(std::string p) const { return StrOp(ExprOp::kStrEndsWith, e_, {std::move(p)}); }
Expr StringMethods::lower() const { return StrOp(ExprOp::kStrLower, e_); }
Expr StringMethods::upper() const { return StrOp(ExprOp::kStrUpper, e_); }
Expr StringMethods::len() const { return StrOp(ExprOp::kStrLen, e_); }
Expr StringMethods::replace(std::string from, std::string to) const {
  if (from.empty()) throw Error("str.replace: the pattern is empty");
  return StrOp(ExprOp::kStrReplace, e_, {std::move(from), std::move(to)});
}
Expr StringMethods::slice(int64_t start, std::optional<int64_t> stop) const {
  ExprNode n;
  n.op = ExprOp::kStrSlice;
  n.args = {e_};
  n.start = start;
  n.stop = stop;
  return Make(std::move(n));
}
Expr DatetimeMethods::year() const { return Op(ExprOp::kDtYear, {e_}); }
Expr DatetimeMethods::month() const { return Op(ExprOp::kDtMonth, {e_}); }
Expr DatetimeMethods::day() const { return Op(ExprOp::kDtDay, {e_}); }
Expr DatetimeMethods::hour() const { return Op(ExprOp::kDtHour, {e_}); }
Expr DatetimeMethods::minute() const { return Op(ExprOp::kDtMinute, {e_}); }
Expr DatetimeMethods::dayofweek() const { return Op(ExprOp::kDtDayOfWeek, {e_}); }

// ---- inspection -------------------------------------------------------------

namespace {

void CollectColumns(const ExprNode& n, std::vector<std::string>* out) {
  if (n.op == ExprOp::kColumn && std::find(out->begin(), out->end(), n.name) == out->end()) out->push_back(n.name);
  for (const Expr& a : n.args) CollectColumns(*a.node(), out);
}

std::string LiteralText(const Literal& l) {
  switch (l.kind) {
    case Literal::kNull: return "null";
    case Literal::kInt: return std::to_string(l.i);
    case Literal::kFloat: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", l.f);
      return buf;
    }
    case Literal::kBool: return l.b ? "True" : "False";
    case Literal::kString: return "'" + l.s + "'";
  }
  return "?";
}

}  // namespace

std::vector<std::string> Expr::Columns() const {
  std::vector<std::string> out;
  CollectColumns(*node_, &out);
  return out;
}

std::string Expr::ToString() const {
  const ExprNode& n = *node_;
  auto arg = [&](size_t i) { return n.args[i].ToString(); };
  switch (n.op) {
    case ExprOp::kColumn: return "col(" + n.name + ")";
    case ExprOp::kLiteral: return LiteralText(n.literal);
    case ExprOp::kAdd: case ExprOp::kSub: case ExprOp::kMul: case ExprOp::kDiv: case ExprOp::kMod:
    case ExprOp::kFloorDiv: case ExprOp::kEq: case ExprOp::kNe: case ExprOp::kLt: case ExprOp::kLe:
    case ExprOp::kGt: case ExprOp::kGe: case ExprOp::kAnd: case ExprOp::kOr:
      return "(" + arg(0) + " " + internal::OpName(n.op) + " " + arg(1) + ")";
    case ExprOp::kNeg: return "-" + arg(0);
    case ExprOp::kNot: return "~" + arg(0);
    case ExprOp::kCast: return arg(0) + ".astype(" + std::string(TypeName(n.type)) + ")";
    case ExprOp::kIsIn: {
      std::string s = arg(0) + ".isin([";
      for (size_t i = 1; i < n.args.size(); ++i) s += (i > 1 ? ", " : "") + arg(i);
      return s + "])";
    }
    case ExprOp::kWhere: return arg(1) + ".where(" + arg(0) + ", " + arg(2) + ")";
    case ExprOp::kStrSlice:
      return arg(0) + ".str.slice(" + std::to_string(n.start) + (n.stop ? ", " + std::to_string(*n.stop) : "") + ")";
    default: {
      std::string s = arg(0) + "." + internal::OpName(n.op) + "(";
      for (size_t i = 1; i < n.args.size(); ++i) s += (i > 1 ? ", " : "") + arg(i);
      for (size_t i = 0; i < n.strings.size(); ++i) s += (i || n.args.size() > 1 ? ", '" : "'") + n.strings[i] + "'";
      return s + ")";
    }
  }
}

// ---- encoding -----------------------------------------------------------------

namespace {

void EncodeNode(const ExprNode& n, ByteWriter& w) {
  w.U8(static_cast<uint8_t>(n.op));
  switch (n.op) {
    case ExprOp::kColumn: w.Str(n.name); break;
    case ExprOp::kLiteral:
      w.U8(n.literal.kind);
      w.I64(n.literal.i);
      w.F64(n.literal.f);
      w.U8(n.literal.b);
      w.Str(n.literal.s);
      break;
    default: break;
  }
  w.U8(static_cast<uint8_t>(n.type));
  w.I64(n.start);
  w.U8(n.stop.has_value());
  w.I64(n.stop.value_or(0));
  w.U32(static_cast<uint32_t>(n.strings.size()));
  for (const auto& s : n.strings) w.Str(s);
  w.U32(static_cast<uint32_t>(n.args.size()));
  for (const Expr& a : n.args) EncodeNode(*a.node(), w);
}

Expr DecodeNode(ByteReader& r, int depth) {
  if (depth > 200) throw SerializationError("expression: nested more than 200 deep");
  ExprNode n;
  const uint8_t op = r.U8();
  if (op > static_cast<uint8_t>(ExprOp::kLast)) throw SerializationError("expression: unknown operation " + std::to_string(op));
  n.op = static_cast<ExprOp>(op);
  if (n.op == ExprOp::kColumn) n.name = std::string(r.Str());
  if (n.op == ExprOp::kLiteral) {
    const uint8_t kind = r.U8();
    if (kind > Literal::kString) throw SerializationError("expression: unknown literal kind " + std::to_string(kind));
    n.literal.kind = static_cast<Literal::Kind>(kind);
    n.literal.i = r.I64();
    n.literal.f = r.F64();
    n.literal.b = r.U8() != 0;
    n.literal.s = std::string(r.Str());
  }
  n.type = TypeFromCode(r.U8(), "expression");
  n.start = r.I64();
  const bool has_stop = r.U8() != 0;
  const int64_t stop = r.I64();
  if (has_stop) n.stop = stop;
  const uint32_t ns = r.U32();
  if (ns > r.remaining()) throw SerializationError("expression: implausible argument count");
  for (uint32_t i = 0; i < ns; ++i) n.strings.emplace_back(r.Str());
  const uint32_t na = r.U32();
  if (na > r.remaining()) throw SerializationError("expression: implausible operand count");
  for (uint32_t i = 0; i < na; ++i) n.args.push_back(DecodeNode(r, depth + 1));
  // Arity: what evaluation will index.
  size_t want_args = 0, want_strings = 0;
  switch (n.op) {
    case ExprOp::kColumn: case ExprOp::kLiteral: break;
    case ExprOp::kAdd: case ExprOp::kSub: case ExprOp::kMul: case ExprOp::kDiv: case ExprOp::kMod:
    case ExprOp::kFloorDiv: case ExprOp::kEq: case ExprOp::kNe: case ExprOp::kLt: case ExprOp::kLe:
    case ExprOp::kGt: case ExprOp::kGe: case ExprOp::kAnd: case ExprOp::kOr: case ExprOp::kFillNa:
      want_args = 2; break;
    case ExprOp::kWhere: want_args = 3; break;
    case ExprOp::kIsIn: want_args = std::max<size_t>(1, n.args.size()); break;
    case ExprOp::kStrContains: case ExprOp::kStrStartsWith: case ExprOp::kStrEndsWith:
      want_args = 1; want_strings = 1; break;
    case ExprOp::kStrReplace: want_args = 1; want_strings = 2; break;
    default: want_args = 1; break;
  }
  if (n.args.size() != want_args || n.strings.size() != want_strings) {
    throw SerializationError(std::string("expression: ") + internal::OpName(n.op) + " with " +
                             std::to_string(n.args.size()) + " operands and " + std::to_string(n.strings.size()) +
                             " arguments");
  }
  if (n.op == ExprOp::kStrReplace && n.strings[0].empty()) throw SerializationError("expression: empty replace pattern");
  if (n.op == ExprOp::kIsIn) {
    for (size_t i = 1; i < n.args.size(); ++i) {
      if (n.args[i].node()->op != ExprOp::kLiteral) throw SerializationError("expression: isin over a non-literal");
    }
  }
  return Make(std::move(n));
}

}  // namespace

std::string Expr::Encode() const {
  std::string out;
  ByteWriter w(&out);
  EncodeNode(*node_, w);
  return out;
}

Expr Expr::Decode(std::string_view bytes) {
  ByteReader r(bytes, "expression");
  Expr e = DecodeNode(r, 0);
  if (r.remaining()) throw SerializationError("expression: " + std::to_string(r.remaining()) + " bytes left over");
  return e;
}

}  // namespace skein
