// DataFrame: building plan nodes, sources from tables, computing and
// printing (see dataframe.h).
#include "skein/dataframe/dataframe.h"

#include <algorithm>
#include <ostream>

#include "dataframe/table_serial_internal.h"
#include "plan_internal.h"
#include "skein/api/delayed.h"

namespace skein {

using dataframe::internal::LayerNode;
using dataframe::internal::NodePtr;
using dataframe::internal::PlanNode;
using dataframe::internal::Step;

namespace {

DataFrame TablesFrame(std::vector<Table> partitions, std::string index, Table divisions);

const PlanNode& Check(const NodePtr& n, const char* what) {
  if (!n) throw Error(std::string(what) + ": the DataFrame is empty (default-constructed)");
  return *n;
}

DataFrame WithStep(const NodePtr& input, Step step) {
  const PlanNode& in = Check(input, "dataframe");
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kStep;
  node->schema = step.Apply(in.schema);
  node->npartitions = in.npartitions;
  node->input = input;
  // Hash partitioning survives steps that keep the key columns as they are.
  const auto& keys = in.partitioned_on;
  auto has = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  bool keeps = true;
  for (const auto& k : keys) {
    switch (step.kind) {
      case Step::kProject: keeps = keeps && has(step.names, k); break;
      case Step::kAssign: keeps = keeps && step.names[0] != k; break;
      case Step::kRename: keeps = keeps && !has(step.names, k); break;
      default: break;
    }
  }
  if (keeps) node->partitioned_on = keys;
  // So do the index and its divisions, while the index column does: steps
  // only drop rows, never move them between partitions.
  if (!in.index.empty()) {
    std::string index = in.index;
    switch (step.kind) {
      case Step::kProject:
        if (!has(step.names, index)) index.clear();
        break;
      case Step::kAssign:
        if (step.names[0] == index) index.clear();
        break;
      case Step::kRename:
        for (size_t i = 0; i < step.names.size(); ++i) {
          if (step.names[i] == in.index) index = step.names2[i];
        }
        break;
      case Step::kFilter:
      case Step::kDropNa:
      case Step::kSample: break;
      default: index.clear();
    }
    node->index = index;
    if (!index.empty()) node->divisions = in.divisions;
  }
  node->step = std::move(step);
  return DataFrame(std::move(node));
}

}  // namespace

Schema DataFrame::schema() const { return Check(node_, "schema").schema; }
int DataFrame::npartitions() const { return Check(node_, "npartitions").npartitions; }
std::vector<std::string> DataFrame::columns() const {
  std::vector<std::string> out;
  for (const Field& f : schema()) out.push_back(f.name);
  return out;
}

DataFrame DataFrame::operator[](const std::vector<std::string>& names) const {
  Step s;
  s.kind = Step::kProject;
  s.names = names;
  return WithStep(node_, std::move(s));
}

DataFrame DataFrame::filter(const Expr& mask) const {
  Step s;
  s.kind = Step::kFilter;
  s.expr = mask;
  return WithStep(node_, std::move(s));
}

DataFrame DataFrame::assign(const std::string& name, const Expr& value) const {
  Step s;
  s.kind = Step::kAssign;
  s.names = {name};
  s.expr = value;
  return WithStep(node_, std::move(s));
}

DataFrame DataFrame::rename(const std::map<std::string, std::string>& names) const {
  Step s;
  s.kind = Step::kRename;
  for (const auto& [from, to] : names) {
    s.names.push_back(from);
    s.names2.push_back(to);
  }
  return WithStep(node_, std::move(s));
}

DataFrame DataFrame::drop(const std::vector<std::string>& names) const {
  const Schema in = schema();
  for (const auto& n : names) {
    if (std::none_of(in.begin(), in.end(), [&](const Field& f) { return f.name == n; })) {
      throw KeyError("drop: no column '" + n + "'");
    }
  }
  std::vector<std::string> keep;
  for (const Field& f : in) {
    if (std::find(names.begin(), names.end(), f.name) == names.end()) keep.push_back(f.name);
  }
  return (*this)[keep];
}

DataFrame DataFrame::astype(const std::map<std::string, TypeId>& types) const {
  DataFrame out = *this;
  for (const auto& [name, type] : types) out = out.assign(name, col(name).astype(type));
  return out;
}

DataFrame DataFrame::fillna(const Expr& value, const std::vector<std::string>& columns) const {
  DataFrame out = *this;
  for (const auto& name : columns.empty() ? this->columns() : columns) out = out.assign(name, col(name).fillna(value));
  return out;
}

DataFrame DataFrame::sample(double frac, uint64_t random_state) const {
  if (!(frac >= 0 && frac <= 1)) throw Error("sample: frac must be in [0, 1], got " + std::to_string(frac));
  Step s;
  s.kind = Step::kSample;
  s.frac = frac;
  s.n = static_cast<int64_t>(random_state);
  return WithStep(node_, std::move(s));
}

DataFrame DataFrame::dropna(const std::vector<std::string>& subset) const {
  Step s;
  s.kind = Step::kDropNa;
  s.names = subset;
  return WithStep(node_, std::move(s));
}

DataFrame DataFrame::map_partitions(std::function<Table(const Table&)> fn, Schema meta) const {
  const PlanNode& in = Check(node_, "map_partitions");
  if (!fn) throw Error("map_partitions: no function");
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kMap;
  node->schema = meta.empty() ? in.schema : std::move(meta);
  node->npartitions = in.npartitions;
  node->input = node_;
  // The declared schema is checked against each partition the function returns.
  Schema want = node->schema;
  node->fn = [fn = std::move(fn), want](const Table& t) {
    Table out = fn(t);
    if (out.schema() != want) {
      throw TypeError("map_partitions: the function returned {" + SchemaToString(out.schema()) + "}, meta says {" +
                      SchemaToString(want) + "}");
    }
    return out;
  };
  return DataFrame(std::move(node));
}

GroupBy DataFrame::groupby(std::vector<std::string> keys, GroupByOptions options) const {
  Check(node_, "groupby");
  return GroupBy(*this, std::move(keys), options);
}

std::vector<Key> DataFrame::keys() const { return dataframe::internal::Lower(node_).keys; }

Graph DataFrame::graph() const { return Materialize({dataframe::internal::Lower(node_).layer}); }

Table DataFrame::compute(const ComputeOptions& options) const {
  Check(node_, "compute");
  // On a cluster the partitions are lent, not fetched: each is read once,
  // straight to its place in the result (fetching, then concatenating,
  // copied every byte twice here).
  dataframe::internal::Lowered l = dataframe::internal::Lower(node_);
  const Graph g = Materialize({l.layer});
  if (std::optional<std::vector<LentValuePtr>> lent = GetLent(g, l.keys, options)) {
    return lent->empty() ? dataframe::internal::EmptyTable(node_->schema) : dataframe::internal::ConcatLent(*lent);
  }
  std::vector<Table> tables;
  for (const Value& v : Get(g, l.keys, options)) tables.push_back(v.get<Table>());
  return tables.empty() ? dataframe::internal::EmptyTable(node_->schema) : Table::Concat(tables);
}

Table DataFrame::head(int64_t n) const {
  Check(node_, "head");
  dataframe::internal::Lowered l = dataframe::internal::Lower(node_);
  Graph g = Materialize({l.layer});
  std::vector<Table> got;
  int64_t rows = 0;
  for (const Key& k : l.keys) {
    if (rows >= n) break;
    Table t = Get(g, {k})[0].get<Table>();
    rows += t.num_rows();
    got.push_back(std::move(t));
  }
  if (got.empty()) return compute().Slice(0, 0);
  Table all = Table::Concat(got);
  return all.Slice(0, n);
}

DataFrame DataFrame::persist(const ComputeOptions& options) const {
  Check(node_, "persist");
  dataframe::internal::Lowered l = dataframe::internal::Lower(node_);
  // Tables here, or handles on partitions a cluster keeps, under the same keys.
  std::vector<Task> held = Persist(Materialize({l.layer}), l.keys, options);
  Graph g;
  for (size_t i = 0; i < held.size(); ++i) g.Add(l.keys[i], std::move(held[i]));
  auto node = LayerNode(node_->schema, std::move(g), l.keys, skein::internal::NewKeyName("persisted"));
  node->index = node_->index;
  node->divisions = node_->divisions;
  node->partitioned_on = node_->partitioned_on;
  return DataFrame(std::move(node));
}

std::string DataFrame::ToString() const {
  const PlanNode& n = Check(node_, "print");
  std::string s = "skein.DataFrame<npartitions=" + std::to_string(n.npartitions) +
                  (n.index.empty() ? "" : ", index=" + n.index + (n.divisions.num_rows() ? ", divisions known" : "")) + ">\n";
  size_t width = 0;
  for (const Field& f : n.schema) width = std::max(width, f.name.size());
  for (const Field& f : n.schema) {
    s += "  " + f.name + std::string(width - f.name.size() + 2, ' ') + std::string(TypeName(f.type)) + "\n";
  }
  return s;
}

std::ostream& operator<<(std::ostream& os, const DataFrame& df) { return os << df.ToString(); }

namespace {

// A frame over in-memory partitions, with an index and divisions if given.
DataFrame TablesFrame(std::vector<Table> partitions, std::string index, Table divisions) {
  if (partitions.empty()) throw Error("from_tables: no partitions");
  const Schema schema = partitions[0].schema();
  for (size_t i = 1; i < partitions.size(); ++i) {
    if (partitions[i].schema() != schema) {
      throw Error("from_tables: partition " + std::to_string(i) + " has schema {" +
                  SchemaToString(partitions[i].schema()) + "}, partition 0 {" + SchemaToString(schema) + "}");
    }
  }
  const std::string name = skein::internal::NewKeyName("from-tables");
  Graph g;
  std::vector<Key> keys;
  for (size_t i = 0; i < partitions.size(); ++i) {
    keys.emplace_back(name, std::vector<int64_t>{static_cast<int64_t>(i)});
    g.Add(keys.back(), Task::FromValue(Value::From(std::move(partitions[i]))));
  }
  auto node = LayerNode(schema, std::move(g), std::move(keys), name);
  node->index = std::move(index);
  node->divisions = std::move(divisions);
  return DataFrame(std::move(node));
}

}  // namespace

namespace dataframe::internal {

std::shared_ptr<PlanNode> LayerNode(Schema schema, Graph tasks, std::vector<Key> keys, std::string name,
                                    std::vector<LayerPtr> deps) {
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kTables;
  node->schema = std::move(schema);
  node->npartitions = static_cast<int>(keys.size());
  node->keys = std::move(keys);
  node->layer = Layer::Make(std::move(name), std::move(tasks), std::move(deps));
  return node;
}

}  // namespace dataframe::internal

DataFrame from_tables(std::vector<Table> partitions) { return TablesFrame(std::move(partitions), "", Table()); }

DataFrame from_table(const Table& table, int npartitions) {
  if (npartitions < 1) throw Error("from_table: npartitions must be >= 1");
  std::vector<Table> parts;
  const int64_t n = table.num_rows();
  for (int p = 0; p < npartitions; ++p) {
    const int64_t a = n * p / npartitions, b = n * (p + 1) / npartitions;
    parts.push_back(table.Slice(a, b - a));
  }
  return from_tables(std::move(parts));
}

}  // namespace skein
