// describe() and tail(): small eager summaries of a frame (see dataframe.h).
#include <algorithm>

#include "plan_internal.h"

namespace skein {

Table DataFrame::describe(const ComputeOptions& options) const {
  if (!valid()) throw Error("describe: the DataFrame is empty (default-constructed)");
  std::vector<std::string> numeric;
  for (const Field& f : schema()) {
    if (IsNumeric(f.type)) numeric.push_back(f.name);
  }
  if (numeric.empty()) throw Error("describe: no numeric columns");
  // One group holding every row: the aggregations over the whole frame.
  const std::string all = "__describe__";
  std::vector<Agg> aggs;
  const char* stats[] = {"count", "mean", "std", "min", "q25", "median", "q75", "max"};
  for (const auto& c : numeric) {
    for (const char* st : stats) {
      std::string func = st;
      double q = 0.5;
      if (func == "q25") func = "quantile", q = 0.25;
      if (func == "q75") func = "quantile", q = 0.75;
      aggs.emplace_back(c, func, c + "\x1f" + st, q);
    }
  }
  GroupByOptions go;
  go.sort = false;
  Table r = (*this)[numeric].assign(all, Expr(int64_t{0})).groupby({all}, go).agg(aggs).compute(options);
  std::vector<std::pair<std::string, Column>> cols;
  cols.emplace_back("stat", Column::FromStrings({"count", "mean", "std", "min", "25%", "50%", "75%", "max"}));
  for (const auto& c : numeric) {
    std::vector<double> v;
    std::vector<bool> valid;
    for (const char* st : stats) {
      const Column& col = r.column(c + "\x1f" + st);
      const bool ok = r.num_rows() == 1 && col.IsValid(0);
      v.push_back(ok ? col.NumberAt(0) : 0);
      valid.push_back(ok);
    }
    cols.emplace_back(c, Column::FromVector<double>(v, valid));
  }
  return Table(std::move(cols));
}

Table DataFrame::tail(int64_t n) const {
  if (!valid()) throw Error("tail: the DataFrame is empty (default-constructed)");
  dataframe::internal::Lowered l = dataframe::internal::Lower(node());
  Graph g = Materialize({l.layer});
  std::vector<Table> got;
  int64_t rows = 0;
  for (auto it = l.keys.rbegin(); it != l.keys.rend() && rows < n; ++it) {
    Table t = Get(g, {*it})[0].get<Table>();
    rows += t.num_rows();
    got.insert(got.begin(), std::move(t));
  }
  if (got.empty()) return head(0);
  Table all = Table::Concat(got);
  return all.Slice(std::max<int64_t>(0, all.num_rows() - n), n);
}

}  // namespace skein
