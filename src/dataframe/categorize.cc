// DataFrame::categorize: string and category columns recoded to one set of
// categories that every partition shares (Dask's categorize, pandas'
// categories). Two parts: the distinct labels of each partition, gathered
// now and merged here in sorted order; then a task per partition recoding
// it to them, all of them reading one categories value, so that a
// process's partitions hold the same dictionary buffers (and a cluster
// worker fetches the categories once).
#include <algorithm>

#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"

namespace skein {
namespace dataframe::internal {
namespace {

// The distinct valid labels of `c` (a string or category column).
Column LabelsOf(const Column& c) {
  if (c.type() == TypeId::kCategory) {
    // The labels some valid row uses, in code order.
    const Column& dict = *c.dictionary();
    std::vector<uint8_t> used(static_cast<size_t>(dict.length()), 0);
    const int32_t* codes = c.data<int32_t>();
    for (int64_t i = 0; i < c.length(); ++i) {
      if (c.IsValid(i)) used[static_cast<size_t>(codes[i])] = 1;
    }
    std::vector<int64_t> rows;
    for (int64_t k = 0; k < dict.length(); ++k) {
      if (used[static_cast<size_t>(k)]) rows.push_back(k);
    }
    return static_cast<int64_t>(rows.size()) == dict.length() ? dict : dict.Take(rows);
  }
  CategoryBuilder labels;
  for (int64_t i = 0; i < c.length(); ++i) {
    if (c.IsValid(i)) labels.Intern(c.StringAt(i));
  }
  return *labels.TakeDictionary();
}

std::string EncodeNames(const std::vector<std::string>& names) {
  std::string out;
  ByteWriter w(&out);
  WriteStrings(w, names);
  return out;
}

std::vector<std::string> DecodeNames(const Value& params, const char* what) {
  ByteReader r(params.get<std::string>(), what);
  return ReadStrings(r);
}

// A partition's labels: one single-column table ("label") per named column.
const OpPtr& LabelsOp() {
  static const OpPtr op = RegisterOp("dataframe.category-labels", [](std::span<const Value> args, const OpContext& ctx) {
    const Table& t = args[0].get<Table>();
    ValueList out;
    for (const std::string& name : DecodeNames(ctx.params, "dataframe.category-labels params")) {
      out.push_back(Value::From(Table({{"label", LabelsOf(t.column(name))}})));
    }
    return Value(std::move(out));
  });
  return op;
}

// A partition with its named columns recoded to the categories (args[1]:
// one single-column table per name, in order).
const OpPtr& RecodeOp() {
  static const OpPtr op = RegisterOp("dataframe.categorize", [](std::span<const Value> args, const OpContext& ctx) {
    const Table& t = args[0].get<Table>();
    const std::vector<std::string> names = DecodeNames(ctx.params, "dataframe.categorize params");
    const ValueList& categories_list = args[1].get<ValueList>();
    std::vector<const Table*> categories;
    for (const Value& v : categories_list) categories.push_back(&v.get<Table>());
    if (categories.size() != names.size()) {
      throw SerializationError("dataframe.categorize: " + std::to_string(categories.size()) + " categories for " +
                               std::to_string(names.size()) + " columns");
    }
    std::vector<std::pair<std::string, Column>> cols;
    for (int i = 0; i < t.num_columns(); ++i) {
      const std::string& name = t.names()[static_cast<size_t>(i)];
      const auto at = std::find(names.begin(), names.end(), name);
      if (at == names.end()) {
        cols.emplace_back(name, t.column(i));
        continue;
      }
      // The categories value's buffers, shared by every partition recoded
      // here, and its label index, built once on the value itself.
      const Column& shared = categories[static_cast<size_t>(at - names.begin())]->column(0);
      shared.FirstRepeat();
      auto dict = std::make_shared<const Column>(shared);
      try {
        cols.emplace_back(name, t.column(i).WithCategories(dict));
      } catch (const Error& e) {
        throw Error("categorize: column '" + name + "' of partition " + std::to_string(PartitionOf(ctx.key)) + ": " +
                    e.what());
      }
    }
    return Value::From(Table(std::move(cols)));
  });
  return op;
}

[[maybe_unused]] const bool kOpsRegistered = (LabelsOp(), RecodeOp(), true);

// The labels of every partition's lists merged into one sorted string
// column per name.
std::vector<Column> MergeLabels(const std::vector<Value>& per_partition, size_t columns) {
  std::vector<Column> out;
  for (size_t k = 0; k < columns; ++k) {
    CategoryBuilder all;
    std::vector<int32_t> codes;
    for (const Value& v : per_partition) {
      const Column& labels = v.get<ValueList>().at(k).get<Table>().column(0);
      codes.resize(static_cast<size_t>(labels.length()));
      all.InternAll(labels, codes.data());
    }
    const Column merged = *all.TakeDictionary();
    std::vector<int64_t> order(static_cast<size_t>(merged.length()));
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return merged.StringAt(a) < merged.StringAt(b); });
    out.push_back(merged.Take(order));
  }
  return out;
}

}  // namespace
}  // namespace dataframe::internal

DataFrame DataFrame::categorize(const std::vector<std::string>& columns) const {
  using namespace dataframe::internal;
  if (!node_) throw Error("categorize: the DataFrame is empty (default-constructed)");
  Schema schema = node_->schema;
  std::vector<std::string> names = columns;
  if (names.empty()) {
    for (const Field& f : schema) {
      if (f.type == TypeId::kString || f.type == TypeId::kCategory) names.push_back(f.name);
    }
  }
  for (const std::string& name : names) {
    auto f = std::find_if(schema.begin(), schema.end(), [&](const Field& x) { return x.name == name; });
    if (f == schema.end()) throw KeyError("categorize: no column '" + name + "' in {" + SchemaToString(schema) + "}");
    if (f->type != TypeId::kString && f->type != TypeId::kCategory) {
      throw TypeError("categorize: column '" + name + "' is " + std::string(TypeName(f->type)) +
                      ", not string or category");
    }
    f->type = TypeId::kCategory;
  }
  if (names.empty()) return *this;
  const std::string params = EncodeNames(names);

  // The categories, now.
  std::vector<Column> categories;
  {
    Lowered in = Lower(node_, names);
    Graph g = Materialize({in.layer});
    const std::string name = skein::internal::NewKeyName("category-labels");
    std::vector<Key> keys;
    for (size_t i = 0; i < in.keys.size(); ++i) {
      keys.emplace_back(name, std::vector<int64_t>{static_cast<int64_t>(i)});
      g.Add(keys.back(), Task::Call(LabelsOp(), {Arg::Ref(in.keys[i])}, Value(params)));
    }
    categories = MergeLabels(Get(g, keys), names.size());
  }

  // Each partition recoded to them, when computed.
  Lowered in = Lower(node_);
  const std::string name = skein::internal::NewKeyName("categorize");
  Graph g;
  const Key cats(name + "-categories", {0});
  ValueList list;
  for (Column& c : categories) list.push_back(Value::From(Table({{"label", std::move(c)}})));
  g.Add(cats, Task::FromValue(Value(std::move(list))));
  std::vector<Key> keys;
  for (size_t i = 0; i < in.keys.size(); ++i) {
    keys.emplace_back(name, std::vector<int64_t>{static_cast<int64_t>(i)});
    g.Add(keys.back(), Task::Call(RecodeOp(), {Arg::Ref(in.keys[i]), Arg::Ref(cats)}, Value(params)));
  }
  auto node = LayerNode(std::move(schema), std::move(g), std::move(keys), name, {in.layer});
  node->index = node_->index;
  node->divisions = node_->divisions;
  node->partitioned_on = node_->partitioned_on;  // hashing reads labels, which recoding keeps
  return DataFrame(std::move(node));
}

}  // namespace skein
