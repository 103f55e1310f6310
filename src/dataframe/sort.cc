// Sorting and whole-frame reductions: sort_values (sampled quantiles of the
// first key cut the rows into ranges, a shuffle sends each range to one
// partition, each partition sorts), and nlargest / nsmallest /
// drop_duplicates / value_counts as trees that rerun one step on
// concatenations of its results (see dataframe.h).
#include <algorithm>
#include <cmath>

#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"
#include "skein/core/reduction.h"

namespace skein {

using dataframe::internal::Lowered;
using dataframe::internal::PlanNode;
using dataframe::internal::Step;

namespace dataframe::internal {

namespace {


// args: [list of tables]; params: steps run on their concatenation.
const OpPtr& ConcatStepsOp() {
  static const OpPtr op = RegisterOp("dataframe.concat-steps", [](std::span<const Value> args, const OpContext& ctx) {
    return Value::From(RunSteps(DecodeSteps(ctx.params.get<std::string>()), Table::Concat(TablesOf(args[0]))));
  });
  return op;
}

// Which range each row of `c` falls in, given sorted `bounds` (ascending or
// descending): range j holds [bounds[j - 1], bounds[j]), as Dask's
// divisions; nulls go last.
std::vector<int64_t> RangeOf(const Column& c, const Column& bounds, bool ascending) {
  const int64_t n = c.length(), nb = bounds.length();
  std::vector<int64_t> out(static_cast<size_t>(n));
  const bool text = c.type() == TypeId::kString || c.type() == TypeId::kCategory;
  for (int64_t i = 0; i < n; ++i) {
    if (c.IsNull(i) || (IsFloating(c.type()) && std::isnan(c.NumberAt(i)))) {
      out[static_cast<size_t>(i)] = nb;
      continue;
    }
    // The number of bounds that sort before the value.
    int64_t lo = 0, hi = nb;
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      bool before;
      if (text) {
        const int cmp = bounds.StringAt(mid).compare(c.StringAt(i));
        before = ascending ? cmp <= 0 : cmp >= 0;
      } else {
        const double b = bounds.NumberAt(mid), v = c.NumberAt(i);
        before = ascending ? b <= v : b >= v;
      }
      if (before) lo = mid + 1;
      else hi = mid;
    }
    out[static_cast<size_t>(i)] = lo;
  }
  return out;
}

// params: [boundaries, column, ascending]; returns the partition cut into
// boundaries + 1 ranges.
const OpPtr& RangeSplitOp() {
  static const OpPtr op = RegisterOp("dataframe.range-split", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    if (p.size() != 3) throw Error("sort: malformed task parameters");
    const Table& bounds = p[0].get<Table>();
    const Table& t = args[0].get<Table>();
    std::vector<int64_t> range = RangeOf(t.column(p[1].get<std::string>()), bounds.column(0), p[2].as<int64_t>() != 0);
    std::vector<uint32_t> part(range.begin(), range.end());
    ValueList out;
    for (Table& piece : t.Split(part, static_cast<size_t>(bounds.num_rows()) + 1)) out.push_back(Value::From(std::move(piece)));
    return Value(std::move(out));
  });
  return op;
}

bool Usable(const Column& c, int64_t i) { return c.IsValid(i) && !(IsFloating(c.type()) && std::isnan(c.NumberAt(i))); }

// A small sample of one column of a partition: up to `k` evenly spaced rows,
// plus its smallest and largest values (so a sample's extremes are exact).
const OpPtr& SampleOp() {
  static const OpPtr op = RegisterOp("dataframe.sample-column", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    const Table t = args[0].get<Table>().Select({p.at(0).get<std::string>()});
    const Column& c = t.column(0);
    const int64_t k = std::max<int64_t>(1, p.at(1).as<int64_t>());
    std::vector<int64_t> rows;
    const int64_t n = t.num_rows();
    for (int64_t j = 0; j < std::min(n, k); ++j) rows.push_back(j * n / std::min(n, k));
    const auto [lo, hi] = MinMaxRows(c);
    if (lo >= 0) {
      rows.push_back(lo);
      rows.push_back(hi);
    }
    return Value::From(t.Take(rows));
  });
  return op;
}

[[maybe_unused]] const bool kRegistered = (ConcatStepsOp(), RangeSplitOp(), SampleOp(), true);

}  // namespace

int CompareCells(const Column& c, int64_t i, const Column& d, int64_t j) {
  if (c.type() == TypeId::kString || c.type() == TypeId::kCategory) {
    const int r = c.StringAt(i).compare(d.StringAt(j));
    return (r > 0) - (r < 0);
  }
  const double a = c.NumberAt(i), b = d.NumberAt(j);
  return (a > b) - (a < b);
}

std::pair<int64_t, int64_t> MinMaxRows(const Column& c) {
  int64_t lo = -1, hi = -1;
  for (int64_t i = 0; i < c.length(); ++i) {
    if (!Usable(c, i)) continue;
    if (lo < 0 || CompareCells(c, i, c, lo) < 0) lo = i;
    if (hi < 0 || CompareCells(c, i, c, hi) > 0) hi = i;
  }
  return {lo, hi};
}

Table SortedSample(const DataFrame& df, const std::string& column, bool ascending) {
  // Sample the column in every partition (computed now, as Dask computes
  // divisions).
  Lowered in = Lower(df.node(), std::vector<std::string>{column});
  Graph g = Materialize({in.layer});
  std::vector<Key> samples;
  const std::string name = skein::internal::NewKeyName("sample");
  for (size_t i = 0; i < in.keys.size(); ++i) {
    Key k(name, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(SampleOp(), {Arg::Ref(in.keys[i])}, Value(ValueList{Value(column), Value(int64_t{256})})));
    samples.push_back(k);
  }
  std::vector<Table> parts;
  for (const Value& v : Get(g, samples)) parts.push_back(v.get<Table>());
  Table sample = SortTable(Table::Concat(parts), {column}, {ascending});
  std::vector<int64_t> valid_rows;
  const Column& c = sample.column(0);
  for (int64_t i = 0; i < c.length(); ++i) {
    if (Usable(c, i)) valid_rows.push_back(i);
  }
  return sample.Take(valid_rows);
}

Table CutPoints(const Table& sample, int parts) {
  std::vector<int64_t> cuts;
  const auto n = static_cast<int64_t>(sample.num_rows());
  for (int j = 1; j < parts && n > 0; ++j) cuts.push_back(n * j / parts);
  return sample.Take(cuts);
}

DataFrame ReduceFrame(const DataFrame& df, Step step) {
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kReduce;
  node->schema = step.Apply(df.schema());
  node->npartitions = 1;
  node->input = df.node();
  node->step = std::move(step);
  return DataFrame(std::move(node));
}

Lowered LowerReduce(const PlanNode& node) {
  auto [source, steps] = SplitChain(node.input);
  steps.push_back(node.step);  // the chunk step, fused into each partition's task
  Lowered chunks = LowerPipeline(source, std::move(steps), std::nullopt);
  const std::string name = skein::internal::NewKeyName("reduce");
  Graph g;
  TreeReduction spec;
  spec.combine = ConcatStepsOp();
  spec.params = Value(EncodeSteps({node.step}));
  spec.split_every = 8;
  spec.output = Key(name + "-agg", {0});
  Lowered out;
  out.keys.push_back(AddTreeReduction(&g, chunks.keys, name, spec));
  out.layer = Layer::Make(name, std::move(g), {chunks.layer});
  return out;
}

Lowered LowerSort(const PlanNode& node) {
  Lowered in = Lower(node.input);
  const std::string split = skein::internal::NewKeyName("range-split");
  Graph g;
  const Value params(ValueList{Value::From(node.boundaries), Value(node.step.names[0]),
                               Value(static_cast<int64_t>(node.step.ascending[0]))});
  std::vector<Key> splits;
  for (size_t i = 0; i < in.keys.size(); ++i) {
    Key k(split, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(RangeSplitOp(), {Arg::Ref(in.keys[i])}, params));
    splits.push_back(k);
  }
  const int parts = static_cast<int>(node.boundaries.num_rows()) + 1;
  std::vector<std::vector<Key>> pieces = ShufflePieces(&g, splits, parts);
  const std::string name = skein::internal::NewKeyName("sort");
  const Value steps(EncodeSteps({node.step}));
  Lowered out;
  for (int j = 0; j < parts; ++j) {
    std::vector<Arg> refs;
    for (const Key& k : pieces[static_cast<size_t>(j)]) refs.push_back(Arg::Ref(k));
    Key k(name, {j});
    g.Add(k, Task::Call(ConcatStepsOp(), {Arg::List(refs)}, steps));
    out.keys.push_back(k);
  }
  out.layer = Layer::Make(name, std::move(g), {in.layer});
  return out;
}

}  // namespace dataframe::internal

namespace {

Step SortStep(Step::Kind kind, const std::vector<std::string>& by, const std::vector<bool>& ascending, int64_t n = 0) {
  if (by.empty()) throw Error("sort: no columns to sort by");
  if (!ascending.empty() && ascending.size() != by.size()) {
    throw Error("sort: " + std::to_string(ascending.size()) + " ascending flags for " + std::to_string(by.size()) + " columns");
  }
  Step s;
  s.kind = kind;
  s.names = by;
  s.ascending = ascending.empty() ? std::vector<bool>(by.size(), true) : ascending;
  s.n = n;
  return s;
}

DataFrame LocalStep(const DataFrame& df, Step step) {
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kStep;
  node->schema = step.Apply(df.schema());
  node->npartitions = df.npartitions();
  node->input = df.node();
  node->step = std::move(step);
  return DataFrame(std::move(node));
}

}  // namespace

DataFrame dataframe::internal::RangeSort(const DataFrame& df, const std::vector<std::string>& by,
                                          const std::vector<bool>& ascending, const Table& sample) {
  Step step = SortStep(Step::kSortLocal, by, ascending);
  step.Apply(df.schema());
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kSort;
  node->schema = df.schema();
  node->boundaries = CutPoints(sample, df.npartitions());
  node->npartitions = static_cast<int>(node->boundaries.num_rows()) + 1;
  node->input = df.node();
  node->step = std::move(step);
  return DataFrame(std::move(node));
}

DataFrame DataFrame::sort_values(const std::vector<std::string>& by, const std::vector<bool>& ascending) const {
  if (!valid()) throw Error("sort_values: the DataFrame is empty (default-constructed)");
  Step step = SortStep(Step::kSortLocal, by, ascending);
  step.Apply(schema());
  if (npartitions() == 1) return LocalStep(*this, std::move(step));
  const Table sample = dataframe::internal::SortedSample(*this, by[0], step.ascending[0]);
  return dataframe::internal::RangeSort(*this, by, step.ascending, sample);
}

DataFrame DataFrame::nlargest(int64_t n, const std::vector<std::string>& columns) const {
  if (n < 0) throw Error("nlargest: n must be >= 0");
  return dataframe::internal::ReduceFrame(*this, SortStep(Step::kTopN, columns, std::vector<bool>(columns.size(), false), n));
}

DataFrame DataFrame::nsmallest(int64_t n, const std::vector<std::string>& columns) const {
  if (n < 0) throw Error("nsmallest: n must be >= 0");
  return dataframe::internal::ReduceFrame(*this, SortStep(Step::kTopN, columns, std::vector<bool>(columns.size(), true), n));
}

DataFrame DataFrame::drop_duplicates(const std::vector<std::string>& subset) const {
  Step s;
  s.kind = Step::kDedupe;
  s.names = subset;
  return dataframe::internal::ReduceFrame(*this, std::move(s));
}

DataFrame DataFrame::value_counts(const std::string& column) const {
  DataFrame counts = groupby({column}, GroupByOptions{.dropna = true, .sort = false}).size().rename({{"size", "count"}});
  return LocalStep(counts, SortStep(Step::kSortLocal, {"count", column}, {false, true}));
}

}  // namespace skein
