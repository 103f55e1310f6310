// The index: set_index (a sort whose cut points become divisions, or a
// check that the partitions are already in order), loc on the index
// (reading only the partitions whose divisions overlap), reset_index and
// join on indexes (see dataframe.h).
#include <algorithm>
#include <cmath>

#include "expr_internal.h"
#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"

namespace skein {

using dataframe::internal::CompareCells;
using dataframe::internal::Lowered;
using dataframe::internal::NodePtr;
using dataframe::internal::PlanNode;
using dataframe::internal::Step;

namespace dataframe::internal {

Lowered LowerPartitions(const PlanNode& node) {
  Lowered in = Lower(node.input);
  Lowered out;
  out.layer = in.layer;
  for (int p : node.parts) out.keys.push_back(in.keys.at(static_cast<size_t>(p)));
  return out;
}

}  // namespace dataframe::internal

namespace {

bool Text(TypeId t) { return t == TypeId::kString || t == TypeId::kCategory; }

// Sign of (row i of c) - literal, or nullopt when they do not compare.
std::optional<int> CompareLiteral(const Column& c, int64_t i, const Expr& e) {
  const auto& n = *e.node();
  if (n.op != internal::ExprOp::kLiteral) return std::nullopt;
  const internal::Literal& l = n.literal;
  if (Text(c.type())) {
    if (l.kind != internal::Literal::kString) return std::nullopt;
    const int r = c.StringAt(i).compare(l.s);
    return r < 0 ? -1 : r > 0 ? 1 : 0;
  }
  double v;
  if (l.kind == internal::Literal::kInt) v = static_cast<double>(l.i);
  else if (l.kind == internal::Literal::kFloat) v = l.f;
  else return std::nullopt;
  const double a = c.NumberAt(i);
  return a < v ? -1 : a > v ? 1 : 0;
}

// A frame over `input` with the same rows and the given index.
DataFrame WithIndex(const DataFrame& df, const std::string& index, Table divisions) {
  Step s;
  s.kind = Step::kProject;
  s.names = df.columns();
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kStep;
  node->schema = df.schema();
  node->npartitions = df.npartitions();
  node->partitioned_on = df.node()->partitioned_on;
  node->input = df.node();
  node->step = std::move(s);
  node->index = index;
  node->divisions = std::move(divisions);
  return DataFrame(std::move(node));
}

// "dataframe.min-max": the smallest and largest usable value of a column
// (no rows when it has none).
const OpPtr& MinMaxOp() {
  static const OpPtr op = RegisterOp("dataframe.min-max", [](std::span<const Value> args, const OpContext& ctx) {
    const Table t = args[0].get<Table>().Select({ctx.params.get<std::string>()});
    const auto [lo, hi] = dataframe::internal::MinMaxRows(t.column(0));
    return Value::From(lo < 0 ? t.Slice(0, 0) : t.Take({lo, hi}));
  });
  return op;
}
[[maybe_unused]] const OpPtr& kMinMax = MinMaxOp();

}  // namespace

DataFrame DataFrame::set_index(const std::string& column, bool sorted) const {
  if (!valid()) throw Error("set_index: the DataFrame is empty (default-constructed)");
  const Schema s = schema();
  auto f = std::find_if(s.begin(), s.end(), [&](const Field& x) { return x.name == column; });
  if (f == s.end()) throw KeyError("set_index: no column '" + column + "'");
  if (f->type == TypeId::kBool) throw TypeError("set_index: a bool column cannot be an index");
  if (!sorted) {
    // One sample both cuts the ranges and gives the exact extremes.
    const Table sample = dataframe::internal::SortedSample(*this, column, true);
    DataFrame out = npartitions() > 1 ? dataframe::internal::RangeSort(*this, {column}, {true}, sample) : sort_values({column});
    Table divisions;
    if (sample.num_rows() > 0) {
      // [min, cut points..., max]: the range shuffle puts values in
      // [cut[j - 1], cut[j]) into partition j.
      const Table cuts = npartitions() > 1 ? out.node()->boundaries : sample.Slice(0, 0);
      divisions = Table::Concat({sample.Slice(0, 1), cuts, sample.Slice(sample.num_rows() - 1, 1)});
      if (divisions.num_rows() != out.npartitions() + 1) divisions = Table();
    }
    return WithIndex(out, column, std::move(divisions));
  }
  // Already sorted: each partition's range, computed now, must follow the last.
  Lowered in = dataframe::internal::Lower(node(), std::vector<std::string>{column});
  Graph g = Materialize({in.layer});
  std::vector<Key> ranges;
  const std::string name = skein::internal::NewKeyName("min-max");
  for (size_t i = 0; i < in.keys.size(); ++i) {
    Key k(name, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(MinMaxOp(), {Arg::Ref(in.keys[i])}, Value(column)));
    ranges.push_back(k);
  }
  std::vector<Table> mm;
  for (const Value& v : Get(g, ranges)) mm.push_back(v.get<Table>());
  // Each partition must start after the one before it ends (strictly, so
  // that partition i holds [divisions[i], divisions[i + 1])).
  std::vector<int> nonempty;
  for (size_t i = 0; i < mm.size(); ++i) {
    if (mm[i].num_rows() == 0) continue;
    if (!nonempty.empty()) {
      const int last = nonempty.back();
      const Column& prev = mm[static_cast<size_t>(last)].column(0);
      if (CompareCells(prev, 1, mm[i].column(0), 0) >= 0) {
        throw Error("set_index(sorted=true): partition " + std::to_string(last) + " ends at " + prev.Format(1) +
                    " and partition " + std::to_string(i) + " starts at " + mm[i].column(0).Format(0) +
                    "; the column is not sorted across partitions (or a value spans two)");
      }
    }
    nonempty.push_back(static_cast<int>(i));
  }
  if (nonempty.empty()) return WithIndex(*this, column, Table());
  // Divisions: every partition's minimum, then the last maximum. Empty
  // partitions are left out, so every range is a real one.
  std::vector<Table> cells;
  for (int i : nonempty) cells.push_back(mm[static_cast<size_t>(i)].Slice(0, 1));
  cells.push_back(mm[static_cast<size_t>(nonempty.back())].Slice(1, 1));
  Table divisions = Table::Concat(cells);
  if (static_cast<int>(nonempty.size()) == npartitions()) return WithIndex(*this, column, std::move(divisions));
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kPartitions;
  node->schema = schema();
  node->npartitions = static_cast<int>(nonempty.size());
  node->input = this->node();
  node->parts = std::move(nonempty);
  node->index = column;
  node->divisions = std::move(divisions);
  return DataFrame(std::move(node));
}

std::string DataFrame::index() const {
  if (!valid()) throw Error("index: the DataFrame is empty (default-constructed)");
  return node()->index;
}

Table DataFrame::divisions() const {
  if (!valid()) throw Error("divisions: the DataFrame is empty (default-constructed)");
  return node()->divisions;
}

DataFrame DataFrame::reset_index() const {
  if (!valid()) throw Error("reset_index: the DataFrame is empty (default-constructed)");
  return WithIndex(*this, "", Table());
}

DataFrame DataFrame::loc(const Expr& lo, const Expr& hi) const {
  const std::string ix = index();
  if (ix.empty()) throw Error("loc: the frame has no index (set_index first)");
  DataFrame rows = filter((col(ix) >= lo) & (col(ix) <= hi));
  const Table d = divisions();
  if (d.num_rows() != npartitions() + 1) return rows;
  // Partitions whose [d[i], d[i + 1]) (the last: [d[i], d[i + 1]]) meets [lo, hi].
  const Column& c = d.column(0);
  std::vector<int> keep;
  const int last = npartitions() - 1;
  for (int i = 0; i <= last; ++i) {
    const auto below = CompareLiteral(c, i + 1, lo);  // d[i + 1] vs lo
    const auto above = CompareLiteral(c, i, hi);      // d[i] vs hi
    if (below && (*below < 0 || (*below == 0 && i < last))) continue;
    if (above && *above > 0) continue;
    keep.push_back(i);
  }
  if (keep.empty()) keep.push_back(0);  // the filter leaves it empty
  if (static_cast<int>(keep.size()) == npartitions()) return rows;
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kPartitions;
  node->schema = rows.schema();
  node->npartitions = static_cast<int>(keep.size());
  node->input = rows.node();
  node->index = ix;
  std::vector<int64_t> cut;
  for (int p : keep) cut.push_back(p);
  cut.push_back(keep.back() + 1);
  // Kept partitions are contiguous, so their divisions are too.
  node->divisions = d.Take(cut);
  node->parts = std::move(keep);
  return DataFrame(std::move(node));
}

DataFrame DataFrame::loc(const Expr& value) const { return loc(value, value); }

DataFrame DataFrame::join(const DataFrame& right, const std::string& how,
                          std::pair<std::string, std::string> suffixes) const {
  if (index().empty() || right.index().empty()) throw Error("join: both frames need an index (set_index first)");
  MergeOptions m;
  m.how = how;
  m.left_on = {index()};
  m.right_on = {right.index()};
  m.suffixes = std::move(suffixes);
  DataFrame out = merge(right, m);
  const std::vector<std::string> cols = out.columns();
  if (std::find(cols.begin(), cols.end(), index()) == cols.end()) return out;
  return WithIndex(out, index(), Table());
}

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered = (MinMaxOp(), true);

}  // namespace skein
