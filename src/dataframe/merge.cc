// merge: the API and its three plans: partition-wise when both sides are
// already hash-partitioned on the keys, a broadcast of a one-partition right
// side, or a hash shuffle of both sides (see dataframe.h).
#include <algorithm>

#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"

namespace skein {

using dataframe::internal::HashJoin;
using dataframe::internal::JoinHow;
using dataframe::internal::JoinSpec;
using dataframe::internal::Lowered;
using dataframe::internal::PlanNode;

namespace dataframe::internal {

namespace {

Value Strings(const std::vector<std::string>& v) {
  ValueList out;
  for (const auto& s : v) out.push_back(Value(s));
  return Value(std::move(out));
}
std::vector<std::string> Strings(const Value& v) {
  std::vector<std::string> out;
  for (const Value& s : v.get<ValueList>()) out.push_back(s.get<std::string>());
  return out;
}

Value EncodeJoin(const JoinSpec& s, int64_t part) {
  return Value(ValueList{Strings(s.left_on), Strings(s.right_on), Value(static_cast<int64_t>(s.how)),
                         Value(s.suffix_left), Value(s.suffix_right), Value(part)});
}
JoinSpec DecodeJoin(const Value& v, int64_t* part) {
  const ValueList& l = v.get<ValueList>();
  if (l.size() != 6) throw Error("merge: malformed task parameters");
  JoinSpec s;
  s.left_on = Strings(l[0]);
  s.right_on = Strings(l[1]);
  const int64_t how = l[2].as<int64_t>();
  if (how < 0 || how > static_cast<int64_t>(JoinHow::kOuter)) throw Error("merge: malformed task parameters");
  s.how = static_cast<JoinHow>(how);
  s.suffix_left = l[3].get<std::string>();
  s.suffix_right = l[4].get<std::string>();
  *part = l[5].as<int64_t>();
  return s;
}

// args: [left partition, right partition].
const OpPtr& MergeOp() {
  static const OpPtr op = RegisterOp("dataframe.merge", [](std::span<const Value> args, const OpContext& ctx) {
    int64_t part;
    JoinSpec s = DecodeJoin(ctx.params, &part);
    return Value::From(HashJoin(args[0].get<Table>(), args[1].get<Table>(), s));
  });
  return op;
}

// args: [left pieces, right pieces] (lists of tables) of one part.
const OpPtr& ShuffleMergeOp() {
  static const OpPtr op = RegisterOp("dataframe.merge-shuffled", [](std::span<const Value> args, const OpContext& ctx) {
    int64_t part;
    JoinSpec s = DecodeJoin(ctx.params, &part);
    return Value::From(HashJoin(Table::Concat(TablesOf(args[0])), Table::Concat(TablesOf(args[1])), s));
  });
  return op;
}

const OpPtr& HashSplitByOp() {
  static const OpPtr op = RegisterOp("dataframe.hash-split-by", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& p = ctx.params.get<ValueList>();
    if (p.size() != 2) throw Error("hash-split: malformed task parameters");
    ValueList out;
    for (Table& t : HashPartition(args[0].get<Table>(), Strings(p[0]), static_cast<int>(p[1].as<int64_t>()))) {
      out.push_back(Value::From(std::move(t)));
    }
    return Value(std::move(out));
  });
  return op;
}
[[maybe_unused]] const bool kRegistered = (MergeOp(), ShuffleMergeOp(), HashSplitByOp(), true);

}  // namespace

Lowered HashSplit(const Lowered& in, const std::vector<std::string>& keys, int parts) {
  const std::string name = skein::internal::NewKeyName("hash-split");
  Graph g;
  Lowered out;
  for (size_t i = 0; i < in.keys.size(); ++i) {
    Key k(name, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(HashSplitByOp(), {Arg::Ref(in.keys[i])},
                        Value(ValueList{Strings(keys), Value(static_cast<int64_t>(parts))})));
    out.keys.push_back(k);
  }
  out.layer = Layer::Make(name, std::move(g), {in.layer});
  return out;
}

Lowered LowerMerge(const PlanNode& node) {
  const PlanNode& l = *node.input;
  const PlanNode& r = *node.input2;
  Lowered left = Lower(node.input), right = Lower(node.input2);
  Graph g;
  Lowered out;
  const std::string name = skein::internal::NewKeyName("merge");
  std::vector<LayerPtr> deps{left.layer, right.layer};
  const JoinSpec& s = node.join;
  const bool partition_wise = l.partitioned_on == s.left_on && r.partitioned_on == s.right_on &&
                              l.npartitions == r.npartitions && !s.left_on.empty();
  const bool broadcast = !partition_wise && right.keys.size() == 1 && (s.how == JoinHow::kInner || s.how == JoinHow::kLeft);
  if (partition_wise || broadcast) {
    for (size_t i = 0; i < left.keys.size(); ++i) {
      Key k(name, {static_cast<int64_t>(i)});
      g.Add(k, Task::Call(MergeOp(), {Arg::Ref(left.keys[i]), Arg::Ref(right.keys[partition_wise ? i : 0])},
                          EncodeJoin(s, 0)));
      out.keys.push_back(k);
    }
  } else {
    const int parts = node.npartitions;
    Lowered ls = HashSplit(left, s.left_on, parts), rs = HashSplit(right, s.right_on, parts);
    std::vector<std::vector<Key>> lp = ShufflePieces(&g, ls.keys, parts), rp = ShufflePieces(&g, rs.keys, parts);
    for (int j = 0; j < parts; ++j) {
      std::vector<Arg> la, ra;
      for (const Key& k : lp[static_cast<size_t>(j)]) la.push_back(Arg::Ref(k));
      for (const Key& k : rp[static_cast<size_t>(j)]) ra.push_back(Arg::Ref(k));
      Key k(name, {j});
      g.Add(k, Task::Call(ShuffleMergeOp(), {Arg::List(la), Arg::List(ra)}, EncodeJoin(s, j)));
      out.keys.push_back(k);
    }
    deps = {ls.layer, rs.layer};
  }
  out.layer = Layer::Make(name, std::move(g), std::move(deps));
  return out;
}

}  // namespace dataframe::internal

DataFrame merge(const DataFrame& left, const DataFrame& right, const MergeOptions& opt) {
  if (!left.valid() || !right.valid()) throw Error("merge: a DataFrame is empty (default-constructed)");
  JoinSpec s;
  s.how = dataframe::internal::JoinHowFromName(opt.how);
  s.left_on = opt.on.empty() ? opt.left_on : opt.on;
  s.right_on = opt.on.empty() ? opt.right_on : opt.on;
  if (!opt.on.empty() && (!opt.left_on.empty() || !opt.right_on.empty())) {
    throw Error("merge: give either on or left_on/right_on, not both");
  }
  if (s.left_on.empty()) {
    // pandas: the columns both sides share.
    for (const Field& f : left.schema()) {
      for (const Field& g : right.schema()) {
        if (f.name == g.name) s.left_on.push_back(f.name);
      }
    }
    s.right_on = s.left_on;
    if (s.left_on.empty()) throw Error("merge: no keys given and no column names in common");
  }
  s.suffix_left = opt.suffixes.first;
  s.suffix_right = opt.suffixes.second;
  // The output schema: the kernel on empty tables (checks names and types).
  using dataframe::internal::EmptyTable;
  Table probe = HashJoin(EmptyTable(left.schema()), EmptyTable(right.schema()), s);
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kMerge;
  node->schema = probe.schema();
  node->input = left.node();
  node->input2 = right.node();
  node->join = s;
  const int nl = left.npartitions(), nr = right.npartitions();
  const bool partition_wise = left.node()->partitioned_on == s.left_on && right.node()->partitioned_on == s.right_on &&
                              nl == nr;
  const bool broadcast = !partition_wise && nr == 1 && (s.how == JoinHow::kInner || s.how == JoinHow::kLeft);
  node->npartitions = partition_wise || broadcast ? nl : std::max({nl, nr, opt.npartitions});
  if (!broadcast) node->partitioned_on = s.left_on;  // shuffled (or already) by the left keys
  if (partition_wise) node->partitioned_on = left.node()->partitioned_on;
  return DataFrame(std::move(node));
}

DataFrame DataFrame::merge(const DataFrame& right, const MergeOptions& options) const {
  return skein::merge(*this, right, options);
}

}  // namespace skein
