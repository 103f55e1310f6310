// The node behind an Expr, shared by expr.cc (building, printing, encoding)
// and expr_eval.cc (evaluating over a table).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "skein/dataframe/expr.h"

namespace skein::internal {

enum class ExprOp : uint8_t {
  kColumn, kLiteral,
  kAdd, kSub, kMul, kDiv, kMod, kFloorDiv, kNeg, kAbs,
  kEq, kNe, kLt, kLe, kGt, kGe,
  kAnd, kOr, kNot,
  kIsNull, kNotNull, kIsIn, kCast, kFillNa, kWhere,
  kStrContains, kStrStartsWith, kStrEndsWith, kStrLower, kStrUpper, kStrLen, kStrSlice, kStrReplace,
  kDtYear, kDtMonth, kDtDay, kDtHour, kDtMinute, kDtDayOfWeek,
  kLast = kDtDayOfWeek,
};

/// A literal: null, int64, float64, bool or string.
struct Literal {
  enum Kind : uint8_t { kNull, kInt, kFloat, kBool, kString } kind = kNull;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
};

struct ExprNode {
  ExprOp op = ExprOp::kLiteral;
  std::string name;           // kColumn
  Literal literal;            // kLiteral
  TypeId type = TypeId::kInt64;  // kCast
  std::vector<Expr> args;     // operands (kIsIn: the value, then the set)
  std::vector<std::string> strings;  // string method arguments
  int64_t start = 0;          // kStrSlice
  std::optional<int64_t> stop;
};

/// Printable operator name ("+", "==", "isin", "str.lower"...).
const char* OpName(ExprOp op);

}  // namespace skein::internal
