// Per-partition steps: their schemas, running them, and their encoding
// into task parameters (see plan_internal.h).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_set>

#include "plan_internal.h"
#include "skein/core/serialize.h"

namespace skein::dataframe::internal {

namespace {

int FindField(const Schema& s, const std::string& name) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

[[noreturn]] void Unknown(const Schema& s, const std::string& name, const char* where) {
  std::string have;
  for (const Field& f : s) have += (have.empty() ? "" : ", ") + f.name;
  throw KeyError(std::string(where) + ": no column '" + name + "' (columns: " + have + ")");
}

const Field& Need(const Schema& s, const std::string& name, const char* where) {
  const int i = FindField(s, name);
  if (i < 0) Unknown(s, name, where);
  return s[static_cast<size_t>(i)];
}

}  // namespace

Schema Step::Apply(const Schema& in) const {
  switch (kind) {
    case kProject: {
      Schema out;
      for (const auto& n : names) out.push_back(Need(in, n, "select"));
      return out;
    }
    case kFilter: {
      const TypeId t = expr.ResultType(in);
      if (t != TypeId::kBool) throw TypeError("filter: " + expr.ToString() + " is " + std::string(TypeName(t)) + ", not bool");
      return in;
    }
    case kAssign: {
      Schema out = in;
      const TypeId t = expr.ResultType(in);
      const int i = FindField(out, names[0]);
      if (i >= 0) out[static_cast<size_t>(i)].type = t;
      else out.push_back({names[0], t});
      return out;
    }
    case kRename: {
      Schema out = in;
      for (size_t k = 0; k < names.size(); ++k) {
        const int i = FindField(out, names[k]);
        if (i < 0) Unknown(in, names[k], "rename");
        out[static_cast<size_t>(i)].name = names2[k];
      }
      std::unordered_set<std::string> seen;
      for (const Field& f : out) {
        if (!seen.insert(f.name).second) throw Error("rename: two columns would be named '" + f.name + "'");
      }
      return out;
    }
    case kDropNa:
      for (const auto& n : names) Need(in, n, "dropna");
      return in;
    case kAggChunk: {
      Schema out;
      for (const auto& k : names) {
        out.push_back(Need(in, k, "groupby"));
      }
      for (const AggSpec& a : aggs) {
        if (a.func != AggFunc::kSize) AggResultType(a, Need(in, a.column, "groupby").type);
        if (a.func == AggFunc::kCorr) AggResultType(a, Need(in, a.other, "groupby").type);
      }
      return out;  // the state columns follow; callers only need the keys
    }
    case kSortLocal:
    case kTopN:
    case kDedupe:
      for (const auto& n : names) Need(in, n, kind == kDedupe ? "drop_duplicates" : "sort");
      return in;
    case kGroupTopN:
      for (const auto& n : names) Need(in, n, "groupby");
      for (const auto& n : names2) Need(in, n, "groupby");
      return in;
    case kSample:
      return in;
  }
  return in;
}

Table Step::Run(const Table& in, int64_t partition) const {
  switch (kind) {
    case kProject: return in.Select(names);
    case kFilter: return in.Filter(expr.Evaluate(in));
    case kAssign: return in.With(names[0], expr.Evaluate(in));
    case kRename: {
      std::vector<std::pair<std::string, Column>> cols;
      for (int i = 0; i < in.num_columns(); ++i) {
        std::string n = in.names()[static_cast<size_t>(i)];
        auto it = std::find(names.begin(), names.end(), n);
        if (it != names.end()) n = names2[static_cast<size_t>(it - names.begin())];
        cols.emplace_back(std::move(n), in.column(i));
      }
      return cols.empty() ? in : Table(std::move(cols));
    }
    case kDropNa: {
      std::vector<const Column*> cols;
      if (names.empty()) {
        for (const Column& c : in.columns()) cols.push_back(&c);
      } else {
        for (const auto& n : names) cols.push_back(&in.column(n));
      }
      std::vector<int64_t> keep;
      for (int64_t i = 0; i < in.num_rows(); ++i) {
        bool ok = true;
        for (const Column* c : cols) ok = ok && c->IsValid(i) && !(IsFloating(c->type()) && std::isnan(c->NumberAt(i)));
        if (ok) keep.push_back(i);
      }
      return static_cast<int64_t>(keep.size()) == in.num_rows() ? in : in.Take(keep);
    }
    case kAggChunk: return AggregateChunk(in, names, aggs, dropna, static_cast<int>(n));
    case kSortLocal: return SortTable(in, names, ascending);
    case kTopN: {
      Table sorted = SortTable(in, names, ascending);
      return sorted.num_rows() > n ? sorted.Slice(0, n) : sorted;
    }
    case kDedupe: {
      std::vector<const Column*> cols;
      if (names.empty()) {
        for (const Column& c : in.columns()) cols.push_back(&c);
      } else {
        for (const auto& k : names) cols.push_back(&in.column(k));
      }
      if (cols.empty() || in.num_rows() == 0) return in;
      Grouping g = GroupRows(cols, /*dropna=*/false);
      if (static_cast<int64_t>(g.first_row.size()) == in.num_rows()) return in;
      // Group ids need not follow the rows; the rows kept stay in order.
      std::sort(g.first_row.begin(), g.first_row.end());
      return in.Take(g.first_row);
    }
    case kGroupTopN: return GroupTopN(in, names, names2[0], ascending[0], n, dropna);
    case kSample: {
      // pandas' sample(frac) of each partition: round(frac * rows) rows
      // without replacement, kept in their order; reproducible from the
      // seed and the partition number.
      const int64_t rows = in.num_rows();
      const auto k = static_cast<int64_t>(std::llround(frac * static_cast<double>(rows)));
      std::mt19937_64 rng(static_cast<uint64_t>(n) * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(partition));
      std::vector<int64_t> idx(static_cast<size_t>(rows));
      std::iota(idx.begin(), idx.end(), 0);
      for (int64_t i = 0; i < k; ++i) {
        std::uniform_int_distribution<int64_t> pick(i, rows - 1);
        std::swap(idx[static_cast<size_t>(i)], idx[static_cast<size_t>(pick(rng))]);
      }
      idx.resize(static_cast<size_t>(std::min(k, rows)));
      std::sort(idx.begin(), idx.end());
      return in.Take(idx);
    }
  }
  return in;
}

int64_t PartitionOf(const Key& key) { return key.index().empty() ? 0 : key.index()[0]; }

Table RunSteps(const std::vector<Step>& steps, Table t, int64_t partition) {
  for (const Step& s : steps) t = s.Run(t, partition);
  return t;
}

// ---- encoding ---------------------------------------------------------------

void WriteStrings(ByteWriter& w, const std::vector<std::string>& v) {
  w.U32(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) w.Str(s);
}

std::vector<std::string> ReadStrings(ByteReader& r) {
  const uint32_t n = r.U32();
  if (n > r.remaining()) throw SerializationError("dataframe params: implausible count of names");
  std::vector<std::string> v;
  for (uint32_t i = 0; i < n; ++i) v.emplace_back(r.Str());
  return v;
}

void WriteSchema(ByteWriter& w, const Schema& schema) {
  w.U32(static_cast<uint32_t>(schema.size()));
  for (const Field& f : schema) {
    w.Str(f.name);
    w.U8(static_cast<uint8_t>(f.type));
  }
}

Schema ReadSchema(ByteReader& r) {
  const uint32_t n = r.U32();
  if (n > r.remaining()) throw SerializationError("dataframe params: implausible count of columns");
  Schema schema;
  for (uint32_t i = 0; i < n; ++i) {
    Field f;
    f.name = std::string(r.Str());
    f.type = TypeFromCode(r.U8(), "dataframe params");
    schema.push_back(std::move(f));
  }
  return schema;
}

std::string EncodeSteps(const std::vector<Step>& steps) {
  std::string out;
  ByteWriter w(&out);
  w.U32(static_cast<uint32_t>(steps.size()));
  for (const Step& s : steps) {
    w.U8(s.kind);
    WriteStrings(w, s.names);
    WriteStrings(w, s.names2);
    const bool has_expr = s.kind == Step::kFilter || s.kind == Step::kAssign;
    if (has_expr) w.Str(s.expr.Encode());
    w.U8(s.dropna);
    w.U32(static_cast<uint32_t>(s.ascending.size()));
    for (bool a : s.ascending) w.U8(a);
    w.I64(s.n);
    w.F64(s.frac);
    w.U32(static_cast<uint32_t>(s.aggs.size()));
    for (const AggSpec& a : s.aggs) {
      w.Str(a.column);
      w.U8(static_cast<uint8_t>(a.func));
      w.Str(a.name);
      w.F64(a.q);
      w.I64(a.ddof);
      w.Str(a.other);
    }
  }
  return out;
}

std::vector<Step> DecodeSteps(std::string_view bytes) {
  ByteReader r(bytes, "dataframe steps");
  const uint32_t n = r.U32();
  if (n > r.remaining()) throw SerializationError("steps: implausible step count");
  std::vector<Step> steps;
  for (uint32_t i = 0; i < n; ++i) {
    Step s;
    const uint8_t kind = r.U8();
    if (kind > Step::kLast) throw SerializationError("steps: unknown step kind " + std::to_string(kind));
    s.kind = static_cast<Step::Kind>(kind);
    s.names = ReadStrings(r);
    s.names2 = ReadStrings(r);
    if (s.kind == Step::kFilter || s.kind == Step::kAssign) s.expr = Expr::Decode(r.Str());
    s.dropna = r.U8() != 0;
    const uint32_t nasc = r.U32();
    if (nasc > r.remaining()) throw SerializationError("steps: implausible flag count");
    for (uint32_t k = 0; k < nasc; ++k) s.ascending.push_back(r.U8() != 0);
    s.n = r.I64();
    s.frac = r.F64();
    const uint32_t na = r.U32();
    if (na > r.remaining()) throw SerializationError("steps: implausible aggregation count");
    for (uint32_t k = 0; k < na; ++k) {
      AggSpec a;
      a.column = std::string(r.Str());
      const uint8_t f = r.U8();
      if (f > static_cast<uint8_t>(AggFunc::kCorr)) throw SerializationError("steps: unknown aggregation");
      a.func = static_cast<AggFunc>(f);
      a.name = std::string(r.Str());
      a.q = r.F64();
      a.ddof = static_cast<int>(r.I64());
      a.other = std::string(r.Str());
      s.aggs.push_back(std::move(a));
    }
    const bool sorts = s.kind == Step::kSortLocal || s.kind == Step::kTopN;
    if (s.kind == Step::kSample && !(s.frac >= 0 && s.frac <= 1)) throw SerializationError("steps: malformed step");
    if (s.kind == Step::kGroupTopN && (s.names.empty() || s.names2.size() != 1 || s.ascending.size() != 1 || s.n < 0)) {
      throw SerializationError("steps: malformed step");
    }
    if ((s.kind == Step::kAssign && s.names.size() != 1) || (s.kind == Step::kRename && s.names.size() != s.names2.size()) ||
        (sorts && s.ascending.size() != s.names.size()) || (s.kind == Step::kTopN && s.n < 0)) {
      throw SerializationError("steps: malformed step");
    }
    steps.push_back(std::move(s));
  }
  if (r.remaining()) throw SerializationError("steps: bytes left over");
  return steps;
}

}  // namespace skein::dataframe::internal
