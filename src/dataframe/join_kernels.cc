// The hash join of two tables (see join_internal.h): both sides' keys are
// grouped together into one id space, the right rows are bucketed by id,
// and each left row emits its bucket.
#include <algorithm>
#include <numeric>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "groupby_internal.h"
#include "join_internal.h"

#include "skein/core/memory_pool.h"
#include "skein/dataframe/expr.h"

namespace skein::dataframe::internal {

JoinHow JoinHowFromName(const std::string& how) {
  if (how == "inner") return JoinHow::kInner;
  if (how == "left") return JoinHow::kLeft;
  if (how == "right") return JoinHow::kRight;
  if (how == "outer") return JoinHow::kOuter;
  throw Error("merge: how must be inner, left, right or outer, got '" + how + "'");
}

namespace {

// `other` (strings, or categories over another dictionary) as codes of
// `cat`'s dictionary, labels it lacks appended to a copy of it; `cat`
// then moves to that copy too (same codes). nullopt where the dictionary
// repeats a label (codes would not tell labels apart).
std::optional<std::pair<Column, Column>> OneDictionary(const Column& cat, const Column& other) {
  const std::shared_ptr<const Column>& dict = cat.dictionary();
  if (other.type() == TypeId::kCategory && Column::SameLabels(*dict, *other.dictionary())) return std::pair(cat, other);
  if (dict->has_nulls() || dict->FirstRepeat() >= 0) return std::nullopt;
  if (other.type() == TypeId::kCategory && other.dictionary()->has_nulls()) return std::nullopt;
  std::vector<std::string_view> extra;
  std::unordered_map<std::string_view, int32_t> extra_code;
  auto code_of = [&](std::string_view label) {
    const int64_t at = dict->IndexOf(label);
    if (at >= 0) return static_cast<int32_t>(at);
    auto [it, fresh] = extra_code.emplace(label, static_cast<int32_t>(dict->length() + static_cast<int64_t>(extra.size())));
    if (fresh) extra.push_back(label);
    return it->second;
  };
  const int64_t n = other.length();
  std::byte* w;
  Buffer codes = Buffer::AllocateUninitialized(static_cast<size_t>(n) * 4, &w);
  auto* out = reinterpret_cast<int32_t*>(w);
  if (other.type() == TypeId::kCategory) {
    // Each label of its dictionary looked up once.
    const Column& od = *other.dictionary();
    std::vector<int32_t> map(static_cast<size_t>(od.length()));
    for (int64_t j = 0; j < od.length(); ++j) map[static_cast<size_t>(j)] = code_of(od.StringAt(j));
    const int32_t* in = other.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) out[i] = other.IsValid(i) ? map[static_cast<size_t>(in[i])] : 0;
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = other.IsValid(i) ? code_of(other.StringAt(i)) : 0;
  }
  std::shared_ptr<const Column> joint = dict;
  Column cat_out = cat;
  if (!extra.empty()) {
    std::vector<std::optional<std::string>> more(extra.begin(), extra.end());
    const Column added = Column::FromStrings(more);
    joint = std::make_shared<const Column>(Column::Concat({dict.get(), &added}));
    cat_out = Column::Make(TypeId::kCategory, cat.length(), cat.validity(), cat.values(), {}, joint);
  }
  return std::pair(std::move(cat_out), Column::Make(TypeId::kCategory, n, other.validity(), std::move(codes), {}, joint));
}

// The two key columns as one type both can be compared in. Text keys
// where either side is a category are compared as codes of one
// dictionary: decoding the category side had turned each join's 10M codes
// into strings, then hashed and compared their bytes (j4: memcmp, string
// hashing, the copy and its page faults were 55% of the join).
std::pair<Column, Column> Comparable(const Column& l, const std::string& ln, const Column& r, const std::string& rn) {
  auto text = [](TypeId t) { return t == TypeId::kString || t == TypeId::kCategory; };
  if (l.type() == r.type() && l.type() != TypeId::kCategory) return {l, r};
  if (text(l.type()) && text(r.type())) {
    if (l.type() == TypeId::kCategory) {
      if (auto both = OneDictionary(l, r)) return *both;
    } else if (auto both = OneDictionary(r, l)) {
      return {std::move(both->second), std::move(both->first)};
    }
    return {l.Decoded(), r.Decoded()};
  }
  // Numbers of one kind widen to the wider type (int32 with int64...).
  const bool ints = IsInteger(l.type()) && IsInteger(r.type());
  if (ints || (IsFloating(l.type()) && IsFloating(r.type()))) {
    const TypeId wide = ints ? TypeId::kInt64 : TypeId::kFloat64;
    auto widen = [wide](const Column& c) {
      return c.type() == wide ? c : col("k").astype(wide).Evaluate(Table({{"k", c}}));
    };
    return {widen(l), widen(r)};
  }
  throw TypeError("merge: key '" + ln + "' is " + std::string(TypeName(l.type())) + " on the left and '" + rn + "' is " +
                  std::string(TypeName(r.type())) + " on the right; they cannot be joined");
}

}  // namespace

Table HashJoin(const Table& left, const Table& right, const JoinSpec& spec) {
  if (spec.left_on.empty() || spec.left_on.size() != spec.right_on.size()) {
    throw Error("merge: left_on and right_on must name the same number (> 0) of keys");
  }
  const int64_t nl = left.num_rows(), nr = right.num_rows();
  // One id space for both sides' keys.
  std::vector<Column> keys, left_keys;
  for (size_t k = 0; k < spec.left_on.size(); ++k) {
    auto [l, r] = Comparable(left.column(spec.left_on[k]), spec.left_on[k], right.column(spec.right_on[k]), spec.right_on[k]);
    // Integer keys' ranges first, so that the concatenation knows its own
    // without a pass: a stored partition's is found once and kept (one
    // that came over the wire had none, and every join scanned its keys).
    (void)l.IntRange();
    (void)r.IntRange();
    keys.push_back(Column::Concat({&l, &r}));
    left_keys.push_back(std::move(l));
  }
  std::vector<const Column*> key_ptrs;
  for (const Column& c : keys) key_ptrs.push_back(&c);
  Grouping g = GroupRows(key_ptrs, /*dropna=*/false);
  // Right rows bucketed by id (counting sort keeps their order).
  const auto [start, bucket] = g.RowsByGroup(nl);
  const bool keep_left = spec.how == JoinHow::kLeft || spec.how == JoinHow::kOuter;
  const bool keep_right = spec.how == JoinHow::kRight || spec.how == JoinHow::kOuter;
  // Output rows counted first, so the row lists are sized once (in pool
  // memory: a join of 10M rows refills them without page faults).
  size_t out_rows = 0;
  for (int64_t i = 0; i < nl; ++i) {
    const auto id = static_cast<size_t>(g.group[static_cast<size_t>(i)]);
    const auto matches = static_cast<size_t>(start[id + 1] - start[id]);
    out_rows += matches ? matches : keep_left ? 1 : 0;
  }
  PoolVector<int64_t> li, ri;
  li.reserve(out_rows + (keep_right ? static_cast<size_t>(nr) : 0));
  ri.reserve(li.capacity());
  std::vector<uint8_t> right_used(keep_right ? static_cast<size_t>(nr) : 0, 0);
  for (int64_t i = 0; i < nl; ++i) {
    const auto id = static_cast<size_t>(g.group[static_cast<size_t>(i)]);
    if (start[id] == start[id + 1]) {
      if (keep_left) {
        li.push_back(i);
        ri.push_back(-1);
      }
      continue;
    }
    for (int64_t b = start[id]; b < start[id + 1]; ++b) {
      li.push_back(i);
      ri.push_back(bucket[static_cast<size_t>(b)]);
      if (keep_right) right_used[static_cast<size_t>(bucket[static_cast<size_t>(b)])] = 1;
    }
  }
  if (keep_right) {
    for (int64_t j = 0; j < nr; ++j) {
      if (!right_used[static_cast<size_t>(j)]) {
        li.push_back(-1);
        ri.push_back(j);
      }
    }
  }
  // Each left row once, in order (a left join, or an inner one where every
  // row matches, on unique right keys: the db-benchmark joins): the left
  // columns are the output's as they are, not copies.
  bool left_as_is = li.size() == static_cast<size_t>(nl);
  for (size_t r = 0; left_as_is && r < li.size(); ++r) left_as_is = li[r] == static_cast<int64_t>(r);
  // Output columns: left's (shared keys coalesced), then right's non-key.
  std::vector<std::pair<std::string, Column>> cols;
  auto shared_key = [&](const std::string& name) {
    for (size_t k = 0; k < spec.left_on.size(); ++k) {
      if (spec.left_on[k] == name && spec.right_on[k] == name) return static_cast<int>(k);
    }
    return -1;
  };
  for (int c = 0; c < left.num_columns(); ++c) {
    const std::string& name = left.names()[static_cast<size_t>(c)];
    const int k = shared_key(name);
    if (k >= 0 && left_as_is) {
      cols.emplace_back(name, left_keys[static_cast<size_t>(k)]);
      continue;
    }
    if (k >= 0) {
      // The key of each output row, from whichever side has it.
      const Column& joint = keys[static_cast<size_t>(k)];
      PoolVector<int64_t> rows;
      rows.reserve(li.size());
      for (size_t r = 0; r < li.size(); ++r) rows.push_back(li[r] >= 0 ? li[r] : nl + ri[r]);
      cols.emplace_back(name, joint.Take(rows));
      continue;
    }
    const bool clash = right.Find(name) >= 0 && shared_key(name) < 0;
    cols.emplace_back(clash ? name + spec.suffix_left : name, left_as_is ? left.column(c) : left.column(c).Take(li));
  }
  for (int c = 0; c < right.num_columns(); ++c) {
    const std::string& name = right.names()[static_cast<size_t>(c)];
    if (shared_key(name) >= 0) continue;
    const bool clash = left.Find(name) >= 0;
    cols.emplace_back(clash ? name + spec.suffix_right : name, right.column(c).Take(ri));
  }
  if (cols.empty()) return Table::Empty(static_cast<int64_t>(li.size()));
  return Table(std::move(cols));
}

}  // namespace skein::dataframe::internal
