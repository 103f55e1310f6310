// Lowering a DataFrame plan to task layers: projection pushdown (columns
// nobody reads are dropped from steps and never parsed), and fusion of
// per-partition steps into one task per partition, inside the CSV reading
// task when the source is a file (see plan_internal.h).
#include <algorithm>
#include <set>

#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"
#include "skein/core/serialize.h"
#include "io/file_internal.h"

namespace skein::dataframe::internal {

namespace {

// "dataframe.pipeline": params = encoded steps; args = [partition].
const OpPtr& PipelineOp() {
  static const OpPtr op = RegisterOp("dataframe.pipeline", [](std::span<const Value> args, const OpContext& ctx) {
    if (args.size() != 1) throw Error("dataframe.pipeline: expected 1 argument, got " + std::to_string(args.size()));
    std::vector<Step> steps = DecodeSteps(ctx.params.get<std::string>());
    return Value::From(RunSteps(steps, args[0].get<Table>(), PartitionOf(ctx.key)));
  });
  return op;
}
[[maybe_unused]] const OpPtr& kPipeline = PipelineOp();

// "dataframe.shuffle-piece": params = the part; args = [a split's pieces].
const OpPtr& PieceOp() {
  static const OpPtr op = RegisterOp("dataframe.shuffle-piece", [](std::span<const Value> args, const OpContext& ctx) {
    const ValueList& parts = args[0].get<ValueList>();
    const int64_t j = ctx.params.as<int64_t>();
    if (j < 0 || j >= static_cast<int64_t>(parts.size())) throw Error("shuffle: piece " + std::to_string(j) + " out of range");
    return parts[static_cast<size_t>(j)];
  });
  return op;
}
[[maybe_unused]] const OpPtr& kPiece = PieceOp();

// A file block in task parameters, and reading its bytes.
void WriteBlock(ByteWriter& w, const CsvBlock& b) {
  w.Str(b.path);
  w.I64(b.begin);
  w.I64(b.end);
  w.I64(b.first_line);
}

CsvBlock ReadBlockParams(ByteReader& r) {
  CsvBlock b;
  b.path = std::string(r.Str());
  b.begin = r.I64();
  b.end = r.I64();
  b.first_line = r.I64();
  if (b.begin < 0 || b.end < b.begin) throw SerializationError("dataframe reader: bad block");
  return b;
}

// The block's bytes, mapped from the file (File::MapAt: no copy, no fresh
// memory to fault in).
Buffer ReadBlockBytes(const CsvBlock& b) {
  return io::internal::File::OpenRead(b.path).MapAt(b.begin, b.end - b.begin);
}

// "dataframe.read-csv": params = one CSV block, how to parse it, and the
// steps fused after it.
std::string EncodeRead(const CsvBlock& b, const CsvSource& src, const CsvSchema& schema, const std::vector<Step>& steps) {
  std::string out;
  ByteWriter w(&out);
  WriteBlock(w, b);
  w.U8(static_cast<uint8_t>(src.options.delimiter));
  w.U8(static_cast<uint8_t>(src.options.quote));
  WriteStrings(w, src.options.na_values);
  WriteStrings(w, schema.names);
  WriteSchema(w, schema.fields);
  for (int k : schema.source_index) w.U32(static_cast<uint32_t>(k));
  w.Str(EncodeSteps(steps));
  return out;
}

const OpPtr& ReadCsvOp() {
  static const OpPtr op = RegisterOp("dataframe.read-csv", [](std::span<const Value>, const OpContext& ctx) {
    ByteReader r(ctx.params.get<std::string>(), "dataframe.read-csv params");
    const CsvBlock b = ReadBlockParams(r);
    CsvOptions opt;
    opt.delimiter = static_cast<char>(r.U8());
    opt.quote = static_cast<char>(r.U8());
    opt.na_values = ReadStrings(r);
    CsvSchema schema;
    schema.names = ReadStrings(r);
    schema.fields = ReadSchema(r);
    for (size_t i = 0; i < schema.fields.size(); ++i) {
      const uint32_t src = r.U32();
      if (src >= schema.names.size()) throw SerializationError("dataframe.read-csv: bad column index");
      schema.source_index.push_back(static_cast<int>(src));
    }
    std::vector<Step> steps = DecodeSteps(r.Str());
    const Buffer text = ReadBlockBytes(b);
    Table t = ParseBlock(b, [&](int64_t first_line) { return ParseCsv(text.view(), schema, opt, b.path, first_line); });
    return Value::From(RunSteps(steps, std::move(t), PartitionOf(ctx.key)));
  });
  return op;
}
[[maybe_unused]] const OpPtr& kReadCsv = ReadCsvOp();

// "dataframe.read-json": params = one block of lines, the columns to read
// (name, type), the other keys to skip, and the fused steps.
const OpPtr& ReadJsonOp() {
  static const OpPtr op = RegisterOp("dataframe.read-json", [](std::span<const Value>, const OpContext& ctx) {
    ByteReader r(ctx.params.get<std::string>(), "dataframe.read-json params");
    const CsvBlock b = ReadBlockParams(r);
    const Schema schema = ReadSchema(r);
    const std::vector<std::string> skip = ReadStrings(r);
    std::vector<Step> steps = DecodeSteps(r.Str());
    const Buffer text = ReadBlockBytes(b);
    Table t = ParseBlock(b, [&](int64_t first_line) {
      return ParseJsonLines(text.view(), schema, skip, b.path, first_line);
    });
    return Value::From(RunSteps(steps, std::move(t), PartitionOf(ctx.key)));
  });
  return op;
}
[[maybe_unused]] const OpPtr& kReadJson = ReadJsonOp();

using Need = std::optional<std::set<std::string>>;

void AddAll(Need* need, const std::vector<std::string>& names) {
  if (need->has_value()) (*need)->insert(names.begin(), names.end());
}

}  // namespace

std::pair<NodePtr, std::vector<Step>> SplitChain(const NodePtr& node) {
  std::vector<Step> steps;
  NodePtr cur = node;
  while (cur->kind == PlanNode::kStep) {
    steps.push_back(cur->step);
    cur = cur->input;
  }
  std::reverse(steps.begin(), steps.end());
  return {cur, std::move(steps)};
}

Table EmptyTable(const Schema& schema) {
  std::vector<std::pair<std::string, Column>> cols;
  for (const Field& f : schema) cols.emplace_back(f.name, Column::Nulls(f.type, 0));
  return cols.empty() ? Table() : Table(std::move(cols));
}

std::vector<Table> TablesOf(const Value& list) {
  std::vector<Table> out;
  for (const Value& v : list.get<ValueList>()) out.push_back(v.get<Table>());
  return out;
}

std::vector<std::vector<Key>> ShufflePieces(Graph* g, const std::vector<Key>& splits, int parts) {
  const std::string name = skein::internal::NewKeyName("shuffle-piece");
  std::vector<std::vector<Key>> out(static_cast<size_t>(parts));
  for (size_t i = 0; i < splits.size(); ++i) {
    for (int j = 0; j < parts; ++j) {
      Key k(name, {static_cast<int64_t>(i), j});
      g->Add(k, Task::Call(PieceOp(), {Arg::Ref(splits[i])}, Value(static_cast<int64_t>(j))));
      out[static_cast<size_t>(j)].push_back(k);
    }
  }
  return out;
}

Lowered LowerPipeline(const NodePtr& source, std::vector<Step> steps, std::optional<std::vector<std::string>> needed) {
  // Walk the steps from the consumer down, keeping only what is read.
  Need need;
  if (needed) need = std::set<std::string>(needed->begin(), needed->end());
  std::vector<Step> kept;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    Step s = *it;
    switch (s.kind) {
      case Step::kProject:
        if (need) {
          std::vector<std::string> names;
          for (const auto& n : s.names) {
            if (need->count(n)) names.push_back(n);
          }
          s.names = std::move(names);
        }
        need = std::set<std::string>(s.names.begin(), s.names.end());
        break;
      case Step::kFilter: AddAll(&need, s.expr.Columns()); break;
      case Step::kAssign:
        if (need && !need->count(s.names[0])) continue;  // nobody reads it
        if (need) need->erase(s.names[0]);
        AddAll(&need, s.expr.Columns());
        break;
      case Step::kRename:
        if (need) {
          std::set<std::string> before;
          for (const auto& n : *need) {
            auto at = std::find(s.names2.begin(), s.names2.end(), n);
            before.insert(at == s.names2.end() ? n : s.names[static_cast<size_t>(at - s.names2.begin())]);
          }
          need = std::move(before);
        }
        break;
      case Step::kDropNa:
        if (s.names.empty()) need.reset();
        else AddAll(&need, s.names);
        break;
      case Step::kSortLocal:
      case Step::kTopN:
        AddAll(&need, s.names);
        break;
      case Step::kDedupe:
        if (s.names.empty()) need.reset();
        else AddAll(&need, s.names);
        break;
      case Step::kGroupTopN:
        AddAll(&need, s.names);
        AddAll(&need, s.names2);
        break;
      case Step::kSample: break;
      case Step::kAggChunk: {
        std::set<std::string> cols(s.names.begin(), s.names.end());
        for (const AggSpec& a : s.aggs) {
          if (!a.column.empty()) cols.insert(a.column);
          if (!a.other.empty()) cols.insert(a.other);
        }
        need = std::move(cols);
        break;
      }
    }
    kept.insert(kept.begin(), std::move(s));
  }

  Lowered out;
  Graph g;
  if (source->kind == PlanNode::kCsv) {
    const CsvSource& src = *source->csv;
    CsvSchema schema = src.schema;
    if (need) {
      CsvSchema narrow;
      narrow.names = schema.names;
      for (size_t k = 0; k < schema.fields.size(); ++k) {
        if (need->count(schema.fields[k].name)) {
          narrow.fields.push_back(schema.fields[k]);
          narrow.source_index.push_back(schema.source_index[k]);
        }
      }
      schema = std::move(narrow);
    }
    const std::string name = skein::internal::NewKeyName("read-csv");
    for (size_t i = 0; i < src.blocks.size(); ++i) {
      Key k(name, {static_cast<int64_t>(i)});
      g.Add(k, Task::Call(ReadCsvOp(), {}, Value(EncodeRead(src.blocks[i], src, schema, kept))));
      out.keys.push_back(k);
    }
    out.layer = Layer::Make(name, std::move(g));
    return out;
  }
  if (source->kind == PlanNode::kParquet) return LowerParquet(*source, need, kept);
  if (source->kind == PlanNode::kJson) {
    const JsonSource& src = *source->json;
    Schema read;
    std::vector<std::string> skip;
    for (const Field& f : src.schema) {
      if (!need || need->count(f.name)) read.push_back(f);
      else skip.push_back(f.name);
    }
    const std::string name = skein::internal::NewKeyName("read-json");
    const std::string steps_bytes = EncodeSteps(kept);
    for (size_t i = 0; i < src.blocks.size(); ++i) {
      std::string params;
      ByteWriter w(&params);
      WriteBlock(w, src.blocks[i]);
      WriteSchema(w, read);
      WriteStrings(w, skip);
      w.Str(steps_bytes);
      Key k(name, {static_cast<int64_t>(i)});
      g.Add(k, Task::Call(ReadJsonOp(), {}, Value(std::move(params))));
      out.keys.push_back(k);
    }
    out.layer = Layer::Make(name, std::move(g));
    return out;
  }
  Lowered in;
  if (source->kind == PlanNode::kTables) {
    in.layer = source->layer;
    in.keys = source->keys;
  } else {  // a node that ends fusion (groupby, merge, sort, reduce, map)
    in = Lower(source);
  }
  if (kept.empty()) return in;
  const std::string name = skein::internal::NewKeyName("pipeline");
  const std::string params = EncodeSteps(kept);
  for (size_t i = 0; i < in.keys.size(); ++i) {
    Key k(name, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(PipelineOp(), {Arg::Ref(in.keys[i])}, Value(params)));
    out.keys.push_back(k);
  }
  out.layer = Layer::Make(name, std::move(g), {in.layer});
  return out;
}

namespace {
Lowered LowerUncached(const NodePtr& node, std::optional<std::vector<std::string>> needed);
}  // namespace

Lowered Lower(const NodePtr& node, std::optional<std::vector<std::string>> needed) {
  if (needed) return LowerUncached(node, std::move(needed));
  std::call_once(node->lower_once, [&] { node->lowered = std::make_shared<const Lowered>(LowerUncached(node, std::nullopt)); });
  return *node->lowered;
}

namespace {

// map_partitions: a local-only op around the user's function.
Lowered LowerMap(const PlanNode& node) {
  Lowered below = Lower(node.input);
  const std::string name = skein::internal::NewKeyName("map-partitions");
  auto fn = node.fn;
  auto op = std::make_shared<const Op>(
      name, [fn](std::span<const Value> args, const OpContext&) { return Value::From(fn(args[0].get<Table>())); },
      OpOptions{}, /*local_only=*/true);
  Graph g;
  Lowered out;
  for (size_t i = 0; i < below.keys.size(); ++i) {
    Key k(name, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(op, {Arg::Ref(below.keys[i])}));
    out.keys.push_back(k);
  }
  out.layer = Layer::Make(name, std::move(g), {below.layer});
  return out;
}

Lowered LowerUncached(const NodePtr& node, std::optional<std::vector<std::string>> needed) {
  switch (node->kind) {
    case PlanNode::kGroupBy: return LowerGroupBy(*node);
    case PlanNode::kMerge: return LowerMerge(*node);
    case PlanNode::kReduce: return LowerReduce(*node);
    case PlanNode::kSort: return LowerSort(*node);
    case PlanNode::kMap: return LowerMap(*node);
    case PlanNode::kPartitions: return LowerPartitions(*node);
    default: {
      auto [source, steps] = SplitChain(node);
      return LowerPipeline(source, std::move(steps), std::move(needed));
    }
  }
}

}  // namespace

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered = (PipelineOp(), PieceOp(), ReadCsvOp(), ReadJsonOp(), true);

}  // namespace skein::dataframe::internal
