// read_parquet: a dataset of Parquet files as a frame (a partition per row
// group), its reading tasks, and row-group skipping: the leading filters
// of the fused steps are checked against each row group's min/max
// statistics at lowering time, and row groups where no row can pass are
// never read.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

#include "expr_internal.h"
#include "plan_internal.h"
#include "skein/api/delayed.h"
#include "skein/core/op.h"
#include "skein/core/serialize.h"

namespace skein {

using dataframe::internal::ParquetSource;
using dataframe::internal::PlanNode;

namespace dataframe::internal {

namespace {

// "dataframe.read-parquet": params = [skip u8][row group plan][schema of an
// empty result][fused steps].
const OpPtr& ReadParquetOp() {
  static const OpPtr op = RegisterOp("dataframe.read-parquet", [](std::span<const Value>, const OpContext& ctx) {
    ByteReader r(ctx.params.get<std::string>(), "dataframe.read-parquet params");
    const bool skip = r.U8() != 0;
    const std::string_view plan = r.Str();
    const Schema schema = ReadSchema(r);
    std::vector<Step> steps = DecodeSteps(r.Str());
    Table t = skip ? EmptyTable(schema) : ParquetRowGroupPlan::Decode(plan).Read();
    return Value::From(RunSteps(steps, std::move(t), PartitionOf(ctx.key)));
  });
  return op;
}
[[maybe_unused]] const OpPtr& kReadParquet = ReadParquetOp();

using skein::internal::ExprNode;
using skein::internal::ExprOp;
using skein::internal::Literal;

// Statistics of one row group, by column name.
struct GroupStats {
  const ParquetFile& file;
  int row_group;
  const ParquetStats* Find(const std::string& name, ParquetStats* slot) const {
    const Schema& s = file.schema();
    for (size_t c = 0; c < s.size(); ++c) {
      if (s[c].name != name) continue;
      // Numbers are compared as numbers, strings (and categories) as bytes;
      // timestamps, dates and bools are left alone.
      if (!IsNumeric(s[c].type) && s[c].type != TypeId::kString && s[c].type != TypeId::kCategory) return nullptr;
      *slot = file.stats(row_group, static_cast<int>(c));
      return slot->has_min_max ? slot : nullptr;
    }
    return nullptr;
  }
};

ExprOp Flip(ExprOp op) {
  switch (op) {
    case ExprOp::kLt: return ExprOp::kGt;
    case ExprOp::kLe: return ExprOp::kGe;
    case ExprOp::kGt: return ExprOp::kLt;
    case ExprOp::kGe: return ExprOp::kLe;
    default: return op;
  }
}

// Could a row with values in [min, max] satisfy `col op lit`? Only false
// when certainly not; any doubt is true.
bool MayCompare(ExprOp op, const ParquetStats& st, const Literal& lit) {
  int lo_cmp, hi_cmp;  // sign of (min - lit), (max - lit)
  if (st.is_string) {
    if (lit.kind != Literal::kString) return true;
    lo_cmp = st.min_str.compare(lit.s);
    hi_cmp = st.max_str.compare(lit.s);
  } else {
    long double v;
    if (lit.kind == Literal::kInt) v = static_cast<long double>(lit.i);
    else if (lit.kind == Literal::kFloat) {
      if (lit.f != lit.f) return true;
      v = lit.f;
    } else {
      return true;
    }
    lo_cmp = st.min < v ? -1 : st.min > v ? 1 : 0;
    hi_cmp = st.max < v ? -1 : st.max > v ? 1 : 0;
  }
  switch (op) {
    case ExprOp::kEq: return lo_cmp <= 0 && hi_cmp >= 0;
    case ExprOp::kNe: return !(lo_cmp == 0 && hi_cmp == 0);
    case ExprOp::kLt: return lo_cmp < 0;
    case ExprOp::kLe: return lo_cmp <= 0;
    case ExprOp::kGt: return hi_cmp > 0;
    case ExprOp::kGe: return hi_cmp >= 0;
    default: return true;
  }
}

bool MayMatch(const Expr& e, const GroupStats& g) {
  const ExprNode& n = *e.node();
  ParquetStats slot;
  switch (n.op) {
    case ExprOp::kAnd: return MayMatch(n.args[0], g) && MayMatch(n.args[1], g);
    case ExprOp::kOr: return MayMatch(n.args[0], g) || MayMatch(n.args[1], g);
    case ExprOp::kEq:
    case ExprOp::kNe:
    case ExprOp::kLt:
    case ExprOp::kLe:
    case ExprOp::kGt:
    case ExprOp::kGe: {
      const ExprNode& a = *n.args[0].node();
      const ExprNode& b = *n.args[1].node();
      if (a.op == ExprOp::kColumn && b.op == ExprOp::kLiteral) {
        const ParquetStats* st = g.Find(a.name, &slot);
        return !st || MayCompare(n.op, *st, b.literal);
      }
      if (b.op == ExprOp::kColumn && a.op == ExprOp::kLiteral) {
        const ParquetStats* st = g.Find(b.name, &slot);
        return !st || MayCompare(Flip(n.op), *st, a.literal);
      }
      return true;
    }
    case ExprOp::kIsIn: {
      const ExprNode& a = *n.args[0].node();
      if (a.op != ExprOp::kColumn) return true;
      const ParquetStats* st = g.Find(a.name, &slot);
      if (!st) return true;
      for (size_t k = 1; k < n.args.size(); ++k) {
        const ExprNode& v = *n.args[k].node();
        if (v.op != ExprOp::kLiteral || MayCompare(ExprOp::kEq, *st, v.literal)) return true;
      }
      return false;
    }
    default: return true;
  }
}

}  // namespace

Lowered LowerParquet(const PlanNode& source, const std::optional<std::set<std::string>>& need, const std::vector<Step>& steps) {
  const ParquetSource& src = *source.parquet;
  std::vector<std::string> columns;
  Schema read;
  for (const Field& f : src.schema) {
    if (!need || need->count(f.name)) {
      columns.push_back(f.name);
      read.push_back(f);
    }
  }
  // Filters that see the file's own columns: those before any step that
  // changes a column's meaning (assign, rename) or the rows' grouping.
  std::vector<Expr> filters;
  for (const Step& s : steps) {
    if (s.kind == Step::kFilter) filters.push_back(s.expr);
    else if (s.kind != Step::kProject && s.kind != Step::kDropNa) break;
  }
  std::string schema_bytes;
  ByteWriter sw(&schema_bytes);
  WriteSchema(sw, read);
  const std::string steps_bytes = EncodeSteps(steps);
  const std::string name = skein::internal::NewKeyName("read-parquet");
  Graph g;
  Lowered out;
  for (size_t i = 0; i < src.parts.size(); ++i) {
    const ParquetSource::Part& part = src.parts[i];
    bool skip = part.file < 0;
    std::string plan;
    if (!skip) {
      const ParquetFile& f = src.files[static_cast<size_t>(part.file)];
      const GroupStats stats{f, part.row_group};
      for (const Expr& e : filters) skip = skip || !MayMatch(e, stats);
      if (!skip) plan = f.Plan(part.row_group, columns).Encode();
    }
    std::string params;
    ByteWriter w(&params);
    w.U8(skip ? 1 : 0);
    w.Str(plan);
    w.Raw(schema_bytes.data(), schema_bytes.size());
    w.Str(steps_bytes);
    Key k(name, {static_cast<int64_t>(i)});
    g.Add(k, Task::Call(ReadParquetOp(), {}, Value(std::move(params))));
    out.keys.push_back(k);
  }
  out.layer = Layer::Make(name, std::move(g));
  return out;
}

namespace {

// The dataset's files: a directory's *.parquet files, a glob, or one file.
std::vector<std::string> DatasetFiles(const std::string& pattern) {
  struct stat st{};
  if (::stat(pattern.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::vector<std::string> files;
    DIR* d = ::opendir(pattern.c_str());
    if (!d) throw IOError("read_parquet: cannot list '" + pattern + "'");
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 8 && n.compare(n.size() - 8, 8, ".parquet") == 0 && n[0] != '.' && n[0] != '_') {
        files.push_back(pattern + "/" + n);
      }
    }
    ::closedir(d);
    if (files.empty()) throw IOError("read_parquet: no .parquet files in directory '" + pattern + "'");
    std::sort(files.begin(), files.end(), NaturalLess);
    return files;
  }
  return ExpandGlob(pattern, "read_parquet");
}

}  // namespace

}  // namespace dataframe::internal

DataFrame read_parquet(const std::string& pattern, const ParquetReadOptions& options) {
  auto src = std::make_shared<ParquetSource>();
  for (const std::string& path : dataframe::internal::DatasetFiles(pattern)) {
    src->files.push_back(ParquetFile::Open(path, options.categories));
    const ParquetFile& f = src->files.back();
    if (src->files.size() == 1) src->schema = f.schema();
    else if (f.schema() != src->schema) {
      throw IOError("read_parquet: '" + path + "' has columns (" + SchemaToString(f.schema()) + "), '" +
                    src->files[0].path() + "' has (" + SchemaToString(src->schema) + ")");
    }
    for (int g = 0; g < f.num_row_groups(); ++g) {
      src->parts.push_back({static_cast<int>(src->files.size()) - 1, g});
    }
  }
  if (src->parts.empty()) src->parts.push_back({});
  auto node = std::make_shared<PlanNode>();
  node->kind = PlanNode::kParquet;
  node->schema = src->schema;
  node->npartitions = static_cast<int>(src->parts.size());
  node->parquet = std::move(src);
  DataFrame df(std::move(node));
  if (!options.columns.empty()) df = df[options.columns];
  return df;
}

// Every op above registers when the library loads, not on first use, so a
// worker knows it by name before it has built such a graph itself.
[[maybe_unused]] const bool kOpsRegistered = (dataframe::internal::ReadParquetOp(), true);

}  // namespace skein
