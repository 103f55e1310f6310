// skein/dataframe/expr.h — column expressions: what filters, assign and
// aggregations compute per row, as in pandas (`df[df.x > 3]`) or Polars
// (`pl.col("x") > 3`).
//
// An Expr is a small immutable tree. It is data, not code: it serializes
// into task parameters, so a filter runs unchanged on a cluster, and the
// planner can read which columns it needs (projection pushdown) and push
// simple comparisons into readers.
//
//   using skein::col;
//   skein::Expr keep = (col("x") > 3) & col("name").str().startswith("a");
//   skein::Expr y = (col("x") + 1) * col("w");
//   skein::Column c = y.Evaluate(table);    // one partition
//
// Nulls propagate through arithmetic and comparisons (a null compared is
// null, and a filter keeps only true rows). Type mismatches (a string
// compared with a number, arithmetic on strings) are a TypeError naming the
// expression and the types.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "skein/core/value.h"
#include "skein/dataframe/table.h"

namespace skein {

class Expr;
class StringMethods;
class DatetimeMethods;

namespace internal {
struct ExprNode;
}

class Expr {
 public:
  /// A null literal.
  Expr();
  Expr(int64_t v);       // NOLINT: literals convert implicitly, as in col("x") > 3
  Expr(int v);           // NOLINT
  Expr(double v);        // NOLINT
  Expr(bool v);          // NOLINT
  Expr(const char* v);   // NOLINT
  Expr(std::string v);   // NOLINT

  /// The value of `column` in each row.
  static Expr Column(std::string column);

  // Elementwise operations (pandas names).
  Expr isnull() const;
  Expr notnull() const;
  Expr isin(std::vector<Expr> values) const;
  /// lo <= x <= hi (inclusive, as pandas' default).
  Expr between(Expr lo, Expr hi) const;
  Expr astype(TypeId type) const;
  Expr fillna(Expr value) const;
  Expr abs() const;
  /// Where `cond` is true this value, otherwise `other` (pandas' where).
  Expr where(Expr cond, Expr other = Expr()) const;
  /// Where `cond` is true `other`, otherwise this value (pandas' mask).
  Expr mask(Expr cond, Expr other = Expr()) const;
  StringMethods str() const;
  DatetimeMethods dt() const;

  /// Computes the expression over one partition: a column of its rows.
  skein::Column Evaluate(const Table& table) const;
  /// The result type over `schema`; TypeError if the types do not fit.
  TypeId ResultType(const Schema& schema) const;
  /// Columns the expression reads.
  std::vector<std::string> Columns() const;
  /// "(col(x) > 3) & col(y).isnull()".
  std::string ToString() const;
  /// Is this a plain column reference (and which)?
  bool IsColumn(std::string* name = nullptr) const;

  std::string Encode() const;
  /// Error naming what is wrong when `bytes` is not an encoded expression.
  static Expr Decode(std::string_view bytes);

  const std::shared_ptr<const internal::ExprNode>& node() const { return node_; }
  explicit Expr(std::shared_ptr<const internal::ExprNode> node) : node_(std::move(node)) {}

 private:
  std::shared_ptr<const internal::ExprNode> node_;
};

/// col("x"): the column named x.
inline Expr col(std::string name) { return Expr::Column(std::move(name)); }
/// A literal value.
inline Expr lit(Expr v) { return v; }

Expr operator+(const Expr& a, const Expr& b);
Expr operator-(const Expr& a, const Expr& b);
Expr operator*(const Expr& a, const Expr& b);
/// True division: always float64, as in pandas.
Expr operator/(const Expr& a, const Expr& b);
Expr operator%(const Expr& a, const Expr& b);
/// Floor division (pandas' //).
Expr floordiv(const Expr& a, const Expr& b);
Expr operator-(const Expr& a);
Expr operator==(const Expr& a, const Expr& b);
Expr operator!=(const Expr& a, const Expr& b);
Expr operator<(const Expr& a, const Expr& b);
Expr operator<=(const Expr& a, const Expr& b);
Expr operator>(const Expr& a, const Expr& b);
Expr operator>=(const Expr& a, const Expr& b);
Expr operator&(const Expr& a, const Expr& b);
Expr operator|(const Expr& a, const Expr& b);
Expr operator~(const Expr& a);

/// Series.str methods.
class StringMethods {
 public:
  explicit StringMethods(Expr e) : e_(std::move(e)) {}
  Expr contains(std::string pattern) const;  ///< plain substring (regex=False)
  Expr startswith(std::string prefix) const;
  Expr endswith(std::string suffix) const;
  Expr lower() const;
  Expr upper() const;
  Expr len() const;
  /// Characters [start, stop) of each value in bytes, Python slice rules.
  Expr slice(int64_t start, std::optional<int64_t> stop = std::nullopt) const;
  Expr replace(std::string from, std::string to) const;

 private:
  Expr e_;
};

/// Series.dt fields of timestamp and date columns.
class DatetimeMethods {
 public:
  explicit DatetimeMethods(Expr e) : e_(std::move(e)) {}
  Expr year() const;
  Expr month() const;
  Expr day() const;
  Expr hour() const;
  Expr minute() const;
  /// Monday = 0 ... Sunday = 6.
  Expr dayofweek() const;

 private:
  Expr e_;
};

}  // namespace skein
