// groupby: the API (GroupBy::agg and friends) and its lowering to chunk
// tasks fused into the input's pipeline, then a tree reduction
// (split_out = 1) or a hash shuffle of the partials (split_out > 1).
#include <algorithm>
#include <map>

#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"
#include "skein/core/reduction.h"

namespace skein {

using dataframe::internal::AggFunc;
using dataframe::internal::AggSpec;
using dataframe::internal::PlanNode;
using dataframe::internal::Step;

namespace dataframe::internal {

namespace {

struct GroupParams {
  Step spec;  // kAggChunk: keys, aggs, dropna
  bool raw = false;
  bool sort = true;
  int64_t part = 0;
};

Value EncodeGroup(const GroupParams& p) {
  return Value(ValueList{Value(EncodeSteps({p.spec})), Value(static_cast<int64_t>(p.raw)),
                         Value(static_cast<int64_t>(p.sort)), Value(p.part)});
}

GroupParams DecodeGroup(const Value& v) {
  const ValueList& l = v.get<ValueList>();
  if (l.size() != 4) throw Error("groupby: malformed task parameters");
  GroupParams p;
  std::vector<Step> steps = DecodeSteps(l[0].get<std::string>());
  if (steps.size() != 1 || steps[0].kind != Step::kAggChunk) throw Error("groupby: malformed task parameters");
  p.spec = std::move(steps[0]);
  p.raw = l[1].as<int64_t>() != 0;
  p.sort = l[2].as<int64_t>() != 0;
  p.part = l[3].as<int64_t>();
  return p;
}


Table Combine(const GroupParams& p, const std::vector<Table>& parts) {
  if (p.raw) return Table::Concat(parts);
  return CombinePartials(parts, p.spec.names, p.spec.aggs, p.spec.dropna);
}

Table Finish(const GroupParams& p, const std::vector<Table>& parts) {
  Table out = p.raw ? AggregateRaw(Table::Concat(parts), p.spec.names, p.spec.aggs, p.spec.dropna)
                    : FinalizePartial(CombinePartials(parts, p.spec.names, p.spec.aggs, p.spec.dropna,
                                                      /*final_quantiles=*/true),
                                      p.spec.names, p.spec.aggs);
  return p.sort ? SortTable(out, p.spec.names) : out;
}

const OpPtr& CombineOp() {
  static const OpPtr op = RegisterOp("dataframe.groupby-combine", [](std::span<const Value> args, const OpContext& ctx) {
    return Value::From(Combine(DecodeGroup(ctx.params), TablesOf(args[0])));
  });
  return op;
}
const OpPtr& AggregateOp() {
  static const OpPtr op = RegisterOp("dataframe.groupby-aggregate", [](std::span<const Value> args, const OpContext& ctx) {
    return Value::From(Finish(DecodeGroup(ctx.params), TablesOf(args[0])));
  });
  return op;
}
// The map side of a shuffle: a partition cut by key hash.
const OpPtr& HashSplitOp() {
  static const OpPtr op = RegisterOp("dataframe.hash-split", [](std::span<const Value> args, const OpContext& ctx) {
    GroupParams p = DecodeGroup(ctx.params);
    ValueList out;
    for (Table& t : HashPartition(args[0].get<Table>(), p.spec.names, static_cast<int>(p.part))) {
      out.push_back(Value::From(std::move(t)));
    }
    return Value(std::move(out));
  });
  return op;
}
[[maybe_unused]] const bool kRegistered = (CombineOp(), AggregateOp(), HashSplitOp(), true);

}  // namespace

Lowered LowerGroupBy(const PlanNode& node) {
  auto [source, steps] = SplitChain(node.input);
  GroupParams p;
  p.spec.kind = Step::kAggChunk;
  p.spec.names = node.group_keys;
  p.spec.aggs = node.aggs;
  p.spec.dropna = node.group_options.dropna;
  p.sort = node.group_options.sort;
  // nunique needs every row of a group at once: ship the rows themselves
  // (only the columns used). Medians and quantiles ship each group's
  // values as a partial state instead (groupby_values.cc).
  p.raw = std::any_of(node.aggs.begin(), node.aggs.end(), [](const AggSpec& a) { return a.func == AggFunc::kNUnique; });
  if (p.raw) {
    Step project;
    project.kind = Step::kProject;
    project.names = node.group_keys;
    for (const AggSpec& a : node.aggs) {
      for (const std::string* c : {&a.column, &a.other}) {
        if (!c->empty() && std::find(project.names.begin(), project.names.end(), *c) == project.names.end()) {
          project.names.push_back(*c);
        }
      }
    }
    steps.push_back(std::move(project));
  } else {
    Step chunk = p.spec;
    chunk.n = std::max(1, node.group_options.split_out);  // the parts HashSplitOp deals it to
    steps.push_back(std::move(chunk));
  }
  Lowered chunks = LowerPipeline(source, std::move(steps), std::nullopt);
  Graph g;
  Lowered out;
  const int split_out = std::max(1, node.group_options.split_out);
  if (split_out == 1) {
    const std::string name = skein::internal::NewKeyName("groupby");
    TreeReduction spec;
    spec.combine = CombineOp();
    spec.aggregate = AggregateOp();
    spec.params = EncodeGroup(p);
    spec.split_every = std::max(2, node.group_options.split_every);
    spec.output = Key(name + "-agg", {0});
    out.keys.push_back(AddTreeReduction(&g, chunks.keys, name, spec));
    out.layer = Layer::Make(name, std::move(g), {chunks.layer});
    return out;
  }
  const std::string split = skein::internal::NewKeyName("hash-split");
  GroupParams sp = p;
  sp.part = split_out;
  std::vector<Key> splits;
  for (size_t i = 0; i < chunks.keys.size(); ++i) {
    Key k(split, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(HashSplitOp(), {Arg::Ref(chunks.keys[i])}, EncodeGroup(sp)));
    splits.push_back(k);
  }
  std::vector<std::vector<Key>> pieces = ShufflePieces(&g, splits, split_out);
  const std::string name = skein::internal::NewKeyName("groupby-shuffle");
  for (int j = 0; j < split_out; ++j) {
    std::vector<Arg> refs;
    for (const Key& k : pieces[static_cast<size_t>(j)]) refs.push_back(Arg::Ref(k));
    Key k(name, {j});
    g.Add(k, Task::Call(AggregateOp(), {Arg::List(refs)}, EncodeGroup(p)));
    out.keys.push_back(k);
  }
  out.layer = Layer::Make(name, std::move(g), {chunks.layer});
  return out;
}

}  // namespace dataframe::internal

GroupBy::GroupBy(DataFrame df, std::vector<std::string> keys, GroupByOptions options)
    : df_(std::move(df)), keys_(std::move(keys)), options_(options) {
  if (keys_.empty()) throw Error("groupby: no keys");
  const Schema s = df_.schema();
  for (const auto& k : keys_) {
    if (std::none_of(s.begin(), s.end(), [&](const Field& f) { return f.name == k; })) {
      std::string have;
      for (const Field& f : s) have += (have.empty() ? "" : ", ") + f.name;
      throw KeyError("groupby: no column '" + k + "' (columns: " + have + ")");
    }
  }
  if (options_.split_out < 1) throw Error("groupby: split_out must be >= 1");
  if (options_.split_every < 2) throw Error("groupby: split_every must be >= 2");
}

DataFrame GroupBy::agg(const std::vector<Agg>& aggs) const {
  if (aggs.empty()) throw Error("groupby.agg: no aggregations");
  const Schema in = df_.schema();
  std::map<std::string, int> uses;
  for (const Agg& a : aggs) ++uses[a.column];
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kGroupBy;
  node->input = df_.node();
  node->group_keys = keys_;
  node->group_options = options_;
  node->npartitions = options_.split_out;
  if (options_.split_out > 1) node->partitioned_on = keys_;  // each output holds the keys hashing to it
  for (const auto& k : keys_) {
    for (const Field& f : in) {
      if (f.name == k) node->schema.push_back({k, f.type});
    }
  }
  for (const Agg& a : aggs) {
    AggSpec s;
    s.func = dataframe::internal::AggFuncFromName(a.func);
    s.column = s.func == AggFunc::kSize ? "" : a.column;
    s.q = a.q;
    s.ddof = a.ddof;
    s.other = a.other;
    if (s.func == AggFunc::kCorr) {
      if (s.other.empty()) throw Error("groupby.agg: corr needs a second column (Agg::Corr(x, y))");
      if (std::none_of(in.begin(), in.end(), [&](const Field& f) { return f.name == s.other; })) {
        throw KeyError("groupby.agg: no column '" + s.other + "'");
      }
    }
    s.name = !a.name.empty() ? a.name : s.func == AggFunc::kSize ? "size" : uses[a.column] > 1 ? a.column + "_" + a.func : a.column;
    TypeId t = TypeId::kInt64;
    if (s.func != AggFunc::kSize) {
      auto f = std::find_if(in.begin(), in.end(), [&](const Field& f) { return f.name == s.column; });
      if (f == in.end()) throw KeyError("groupby.agg: no column '" + s.column + "'");
      if (std::find(keys_.begin(), keys_.end(), s.column) != keys_.end()) {
        throw Error("groupby.agg: '" + s.column + "' is a key; aggregate another column");
      }
      t = dataframe::internal::AggResultType(s, f->type);
    }
    for (const Field& f : node->schema) {
      if (f.name == s.name) throw Error("groupby.agg: two output columns named '" + s.name + "'");
    }
    node->schema.push_back({s.name, t});
    node->aggs.push_back(std::move(s));
  }
  return DataFrame(std::move(node));
}

DataFrame GroupBy::All(const std::string& func) const {
  std::vector<Agg> aggs;
  const bool numeric_only = func != "count" && func != "min" && func != "max" && func != "first" && func != "last" &&
                            func != "nunique";
  for (const Field& f : df_.schema()) {
    if (std::find(keys_.begin(), keys_.end(), f.name) != keys_.end()) continue;
    if (numeric_only && !IsNumeric(f.type) && f.type != TypeId::kBool) continue;
    aggs.emplace_back(f.name, func);
  }
  if (aggs.empty()) throw Error("groupby." + func + ": no columns to aggregate");
  return agg(aggs);
}

DataFrame GroupBy::size() const { return agg({Agg("", "size")}); }

DataFrame GroupBy::TopN(int64_t n, const std::string& column, bool ascending) const {
  if (n < 0) throw Error("groupby.nlargest: n must be >= 0");
  Step s;
  s.kind = Step::kGroupTopN;
  s.names = keys_;
  s.names2 = {column};
  s.ascending = {ascending};
  s.n = n;
  s.dropna = options_.dropna;
  return dataframe::internal::ReduceFrame(df_, std::move(s));
}

DataFrame GroupBy::nlargest(int64_t n, const std::string& column) const { return TopN(n, column, false); }
DataFrame GroupBy::nsmallest(int64_t n, const std::string& column) const { return TopN(n, column, true); }

}  // namespace skein
