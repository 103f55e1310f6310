// Series (one column of a frame), Scalar (a lazy single value) and
// whole-frame aggregation (see dataframe.h).
#include <cmath>
#include <ostream>

#include "plan_internal.h"

namespace skein {

namespace {
// The constant key a whole-frame aggregation groups by.
const char kAll[] = "__skein_all__";
}  // namespace

DataFrame DataFrame::agg(const std::vector<Agg>& aggs) const {
  if (!valid()) throw Error("agg: the DataFrame is empty (default-constructed)");
  // One group per partition through the groupby machinery: a tree of
  // partial states, combined once.
  GroupByOptions o;
  o.sort = false;
  DataFrame grouped = assign(kAll, Expr(int64_t{0})).groupby({kAll}, o).agg(aggs);
  std::vector<std::string> names;
  for (const Field& f : grouped.schema()) {
    if (f.name != kAll) names.push_back(f.name);
  }
  return grouped[names];
}

Series DataFrame::operator[](const std::string& name) const { return Series((*this)[std::vector<std::string>{name}], name); }
Series DataFrame::operator[](const char* name) const { return (*this)[std::string(name)]; }

Series::Series(DataFrame frame, std::string name) : frame_(std::move(frame)), name_(std::move(name)) {
  if (frame_.columns() != std::vector<std::string>{name_}) throw Error("Series: the frame must hold exactly column '" + name_ + "'");
}

TypeId Series::dtype() const { return frame_.schema()[0].type; }
Column Series::compute(const ComputeOptions& options) const { return frame_.compute(options).column(0); }
Column Series::head(int64_t n) const { return frame_.head(n).column(0); }

Scalar Series::Agg1(const std::string& func) const { return Scalar(frame_.agg({Agg(name_, func)}), func); }

Series Series::unique() const { return Series(frame_.drop_duplicates(), name_); }

std::string Series::ToString() const {
  return "skein.Series<name=" + name_ + ", dtype=" + std::string(TypeName(dtype())) +
         ", npartitions=" + std::to_string(npartitions()) + ">";
}

std::ostream& operator<<(std::ostream& os, const Series& s) { return os << s.ToString(); }

double Scalar::compute(const ComputeOptions& options) const {
  const Table t = frame_.compute(options);
  if (t.num_columns() != 1) throw Error("Scalar: expected one column, got " + std::to_string(t.num_columns()));
  if (t.num_rows() == 0) {
    // No rows: sums and counts are 0 (pandas), anything else is undefined.
    if (func_ == "sum" || func_ == "count" || func_ == "nunique" || func_ == "size") return 0;
    return std::nan("");
  }
  return t.column(0).NumberAt(0);
}

}  // namespace skein
