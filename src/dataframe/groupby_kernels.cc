// Group-by kernels: row hashing, grouping with an open-addressing table,
// and the aggregations' chunk / combine / finalize steps (see
// groupby_internal.h).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <span>

#include "groupby_internal.h"
#include "hash_internal.h"

namespace skein::dataframe::internal {

namespace {

// ---- hashing ------------------------------------------------------------------

// Hashes of one column's rows, folded into `h`.
void HashColumn(const Column& c, PoolVector<uint64_t>* h) {
  const int64_t n = c.length();
  uint64_t* out = h->data();
  auto fold = [&](int64_t i, uint64_t v) { out[i] = Mix(out[i] * 31 + v); };
  switch (c.type()) {
    case TypeId::kInt64:
    case TypeId::kTimestamp: {
      const int64_t* v = c.data<int64_t>();
      for (int64_t i = 0; i < n; ++i) fold(i, static_cast<uint64_t>(v[i]));
      break;
    }
    case TypeId::kInt32:
    case TypeId::kDate: {
      const int32_t* v = c.data<int32_t>();
      for (int64_t i = 0; i < n; ++i) fold(i, static_cast<uint64_t>(static_cast<int64_t>(v[i])));
      break;
    }
    case TypeId::kFloat64:
    case TypeId::kFloat32:
      for (int64_t i = 0; i < n; ++i) {
        double d = c.NumberAt(i);
        if (d == 0) d = 0;  // -0.0 and 0.0 are one key
        uint64_t bits;
        if (std::isnan(d)) bits = kNullHash;
        else std::memcpy(&bits, &d, 8);
        fold(i, bits);
      }
      break;
    case TypeId::kBool:
      for (int64_t i = 0; i < n; ++i) fold(i, c.BoolAt(i));
      break;
    case TypeId::kString:
      for (int64_t i = 0; i < n; ++i) fold(i, HashBytes(c.StringAt(i)));
      break;
    case TypeId::kCategory: {
      // By label, not code: dictionaries differ between partitions. The
      // labels' hashes are kept with the dictionary (known categories: one
      // for every partition and query).
      const auto label = c.dictionary()->StringHashes();
      const uint64_t* lh = label->data();
      const int32_t* codes = c.data<int32_t>();
      if (c.has_nulls()) {
        for (int64_t i = 0; i < n; ++i) fold(i, c.IsValid(i) ? lh[codes[i]] : 0);
      } else {
        for (int64_t i = 0; i < n; ++i) fold(i, lh[codes[i]]);
      }
      break;
    }
  }
  if (c.has_nulls()) {
    for (int64_t i = 0; i < n; ++i) {
      if (c.IsNull(i)) out[i] = Mix(out[i] ^ kNullHash);
    }
  }
}

// Rows i and j of one column hold the same key (nulls equal nulls, NaN NaN).
bool SameKey(const Column& c, int64_t i, int64_t j) {
  const bool vi = c.IsValid(i), vj = c.IsValid(j);
  if (!vi || !vj) return vi == vj;
  switch (c.type()) {
    case TypeId::kInt64:
    case TypeId::kTimestamp: {
      const auto* v = reinterpret_cast<const int64_t*>(c.values().data());
      return v[i] == v[j];
    }
    case TypeId::kInt32:
    case TypeId::kDate:
    case TypeId::kCategory: {
      const auto* v = reinterpret_cast<const int32_t*>(c.values().data());
      return v[i] == v[j];
    }
    case TypeId::kBool: return c.BoolAt(i) == c.BoolAt(j);
    case TypeId::kString: return c.StringAt(i) == c.StringAt(j);
    default: {
      const double a = c.NumberAt(i), b = c.NumberAt(j);
      return a == b || (std::isnan(a) && std::isnan(b));
    }
  }
}

bool AnyNull(const std::vector<const Column*>& keys, int64_t i) {
  for (const Column* c : keys) {
    if (c->IsNull(i) || (IsFloating(c->type()) && std::isnan(c->NumberAt(i)))) return true;
  }
  return false;
}

// The open-addressing table: `eq(row, first_row_of_group)`.
template <class Eq>
Grouping GroupWith(const PoolVector<uint64_t>& hashes, const std::vector<uint8_t>& skip, Eq eq) {
  const int64_t n = static_cast<int64_t>(hashes.size());
  Grouping g;
  g.group.resize(static_cast<size_t>(n));
  size_t cap = 1024;
  PoolVector<int32_t> slot(cap, -1);
  PoolVector<uint64_t> slot_hash(cap);
  auto grow = [&] {
    cap *= 2;
    PoolVector<int32_t> s2(cap, -1);
    PoolVector<uint64_t> h2(cap);
    for (size_t k = 0; k < slot.size(); ++k) {
      if (slot[k] < 0) continue;
      size_t p = slot_hash[k] & (cap - 1);
      while (s2[p] >= 0) p = (p + 1) & (cap - 1);
      s2[p] = slot[k];
      h2[p] = slot_hash[k];
    }
    slot.swap(s2);
    slot_hash.swap(h2);
  };
  for (int64_t i = 0; i < n; ++i) {
    if (!skip.empty() && skip[static_cast<size_t>(i)]) {
      g.group[static_cast<size_t>(i)] = -1;
      continue;
    }
    const uint64_t h = hashes[static_cast<size_t>(i)];
    size_t p = h & (cap - 1);
    for (;;) {
      const int32_t s = slot[p];
      if (s < 0) {
        if (g.first_row.size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
          throw Error("groupby: more than 2^31 groups in one partition");
        }
        slot[p] = static_cast<int32_t>(g.first_row.size());
        slot_hash[p] = h;
        g.group[static_cast<size_t>(i)] = slot[p];
        g.first_row.push_back(i);
        if (g.first_row.size() * 2 > cap) grow();
        break;
      }
      if (slot_hash[p] == h && eq(i, g.first_row[static_cast<size_t>(s)])) {
        g.group[static_cast<size_t>(i)] = s;
        break;
      }
      p = (p + 1) & (cap - 1);
    }
  }
  return g;
}

// Whether nearly all of the first few thousand keys differ (a sorted
// sample: 4096 keys, 90% distinct). Ignores the rows' skip flags: a guess.
bool MostlyDistinct(const int64_t* keys, int64_t n) {
  constexpr int64_t kSample = 4096;
  if (n < 4 * kSample) return false;  // small inputs: growing is cheap
  std::vector<int64_t> sample(keys, keys + kSample);
  std::sort(sample.begin(), sample.end());
  const auto distinct = std::unique(sample.begin(), sample.end()) - sample.begin();
  return distinct * 10 >= kSample * 9;
}

// Grouping of int64 keys with the key stored in the table itself (one
// cache line per probe, no trip back to the rows), prefetching the slot of
// a row a few rows ahead: with a million groups the table is far larger
// than the caches and the probes are latency-bound.
Grouping GroupInt64(const int64_t* keys, int64_t n, const std::vector<uint8_t>& skip) {
  struct Slot {
    int64_t key;
    int32_t id;  // -1: empty
  };
  Grouping g;
  g.group.resize(static_cast<size_t>(n));
  // Sized for the groups expected: when nearly every key of a sample is
  // distinct, for all rows at under half load (growing there rehashes
  // every group once per doubling, each a cache miss: q10's 1.25M groups
  // per partition grew 1M -> 2M -> 4M slots); otherwise for n/2, grown
  // as needed (few groups keep a small table that stays in cache).
  size_t cap = 1024;
  const int64_t limit = std::min<int64_t>(n, int64_t{1} << 26);
  while (cap < static_cast<size_t>(limit) / 2) cap *= 2;
  if (MostlyDistinct(keys, n)) {
    cap = std::max(cap, std::bit_ceil(static_cast<size_t>(limit) * 2));
    g.first_row.reserve(static_cast<size_t>(n));  // no copy at each doubling
  }
  PoolVector<Slot> table(cap, Slot{0, -1});
  auto slot_of = [&](int64_t k) { return Mix(static_cast<uint64_t>(k)) & (cap - 1); };
  constexpr int64_t kAhead = 16;
  for (int64_t i = 0; i < n; ++i) {
    if (i + kAhead < n) __builtin_prefetch(&table[slot_of(keys[i + kAhead])]);
    if (!skip.empty() && skip[static_cast<size_t>(i)]) {
      g.group[static_cast<size_t>(i)] = -1;
      continue;
    }
    const int64_t k = keys[i];
    size_t p = slot_of(k);
    for (;; p = (p + 1) & (cap - 1)) {
      Slot& s = table[p];
      if (s.id < 0) {
        s.key = k;
        s.id = static_cast<int32_t>(g.first_row.size());
        g.first_row.push_back(i);
        g.group[static_cast<size_t>(i)] = s.id;
        if (g.first_row.size() * 2 > cap) {
          cap *= 2;
          PoolVector<Slot> bigger(cap, Slot{0, -1});
          for (const Slot& o : table) {
            if (o.id < 0) continue;
            size_t q = slot_of(o.key);
            while (bigger[q].id >= 0) q = (q + 1) & (cap - 1);
            bigger[q] = o;
          }
          table.swap(bigger);
        }
        break;
      }
      if (s.key == k) {
        g.group[static_cast<size_t>(i)] = s.id;
        break;
      }
    }
  }
  return g;
}

}  // namespace

PoolVector<uint64_t> HashRows(const std::vector<const Column*>& columns) {
  const int64_t n = columns.empty() ? 0 : columns[0]->length();
  PoolVector<uint64_t> h(static_cast<size_t>(n), 0x2545f4914f6cdd1dULL);
  for (const Column* c : columns) HashColumn(*c, &h);
  return h;
}

namespace {

// Ids through a direct table over values in [0, range): `value(i)` or -1
// for a null row (which gets its own id, after all values, unless
// dropped). Ids follow the values' order, not the rows': one backward pass
// stores each row's slot and, for each slot, the row that used it (the
// last store is the first row), with no load the next row waits on; ids
// are then handed to the slots in use, and a third pass renumbers the rows
// only where some slot went unused. The first-seen loop this replaced
// waited on its table load every row (27% of q5).
template <class Row, class F>
Grouping DenseSlots(int64_t rows, int64_t range, bool dropna, F value) {
  Grouping d;
  d.group.resize(static_cast<size_t>(rows));
  const int64_t null_slot = range, dropped_slot = range + 1;
  const Row none = std::numeric_limits<Row>::max();
  PoolScratch<Row> first(static_cast<size_t>(range) + 2);
  std::fill(first.begin(), first.end(), none);
  int32_t* const out = d.group.data();
  Row* const fst = first.data();
  const int64_t null_to = dropna ? dropped_slot : null_slot;
  for (int64_t i = rows - 1; i >= 0; --i) {
    const int64_t v = value(i);
    const int64_t s = v < 0 ? null_to : v;
    out[i] = static_cast<int32_t>(s);
    fst[s] = static_cast<Row>(i);
  }
  // Ids for the slots in use, in slot order; identity while no slot before
  // the last one used was skipped.
  PoolScratch<int32_t> id(static_cast<size_t>(range) + 2);
  bool identity = fst[dropped_slot] == none;
  int32_t next = 0;
  d.first_row.resize(static_cast<size_t>(range) + 1);
  int64_t* const first_row = d.first_row.data();
  for (int64_t s = 0; s <= null_slot; ++s) {
    if (fst[s] == none) {
      id[static_cast<size_t>(s)] = -1;
      continue;
    }
    identity = identity && s == next;
    first_row[next] = static_cast<int64_t>(fst[s]);
    id[static_cast<size_t>(s)] = next++;
  }
  d.first_row.resize(static_cast<size_t>(next));
  id[static_cast<size_t>(dropped_slot)] = -1;
  if (!identity) {
    const int32_t* const map = id.data();
    for (int64_t i = 0; i < rows; ++i) out[i] = map[out[i]];
  }
  return d;
}

template <class F>
Grouping DenseByTable(int64_t rows, int64_t range, bool dropna, F value) {
  if (rows < std::numeric_limits<int32_t>::max()) return DenseSlots<int32_t>(rows, range, dropna, value);
  return DenseSlots<int64_t>(rows, range, dropna, value);
}

// DenseByTable over a column's values minus `lo` (integers) or its codes,
// -1 for null rows; one instantiation per storage so the loop has no
// per-row test of the column's type or nulls.
template <class T>
Grouping DenseByValues(const Column& c, const T* v, int64_t lo, int64_t range, bool dropna) {
  const int64_t n = c.length();
  if (!c.has_nulls()) return DenseByTable(n, range, dropna, [v, lo](int64_t i) -> int64_t { return v[i] - lo; });
  const uint8_t* valid = c.validity_bits();
  return DenseByTable(n, range, dropna,
                      [v, lo, valid](int64_t i) -> int64_t { return bits::Get(valid, i) ? v[i] - lo : -1; });
}

}  // namespace

bool SmallIntRange(const Column& c, int64_t* lo_out, int64_t* range) {
  switch (c.type()) {
    case TypeId::kInt64:
    case TypeId::kTimestamp:
    case TypeId::kInt32:
    case TypeId::kDate: break;
    default: return false;
  }
  const int64_t n = c.length();
  // Known from when the column was built, or found once and kept.
  const std::optional<Column::IntBounds> b = c.IntRange();
  if (!b) return false;
  const int64_t lo = b->lo, hi = b->hi;
  // A small range: a direct table beats hashing (ids 1..100, years...).
  // Up to 16M values while the rows are at least a quarter of them: j5's
  // join keys span 10M over 4.7M rows a part, and its table's stores that
  // no row waits on beat the hash table's probes (CPU 1.61/2.05 ->
  // 1.31/1.34 s with the cap at 2^24 instead of 2^22).
  const uint64_t width = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  if (width >= (uint64_t{1} << 24) || width >= static_cast<uint64_t>(4 * n + 1024)) return false;
  *lo_out = lo;
  *range = static_cast<int64_t>(width) + 1;
  return true;
}

namespace {

// Groups of one column: codes for categories, a table for integers in a
// small range, hashing otherwise.
Grouping DenseColumn(const Column& c, bool dropna) {
  const int64_t n = c.length();
  const bool nulls = c.has_nulls();
  switch (c.type()) {
    case TypeId::kCategory: return DenseByValues(c, c.data<int32_t>(), 0, c.dictionary()->length(), dropna);
    case TypeId::kBool:
      return DenseByTable(n, 2, dropna, [&](int64_t i) -> int64_t { return nulls && c.IsNull(i) ? -1 : c.BoolAt(i); });
    case TypeId::kInt64:
    case TypeId::kTimestamp:
    case TypeId::kInt32:
    case TypeId::kDate: {
      int64_t lo = 0, range = 0;
      if (SmallIntRange(c, &lo, &range)) {
        return FixedWidth(c.type()) == 8 ? DenseByValues(c, c.data<int64_t>(), lo, range, dropna)
                                         : DenseByValues(c, c.data<int32_t>(), lo, range, dropna);
      }
      break;
    }
    default: break;
  }
  std::vector<const Column*> one{&c};
  std::vector<uint8_t> skip;
  if (dropna && (nulls || IsFloating(c.type()))) {
    skip.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) skip[static_cast<size_t>(i)] = AnyNull(one, i);
  }
  if (!nulls && (c.type() == TypeId::kInt64 || c.type() == TypeId::kTimestamp)) {
    return GroupInt64(c.data<int64_t>(), n, skip);
  }
  PoolVector<uint64_t> hashes = HashRows(one);
  if (!nulls && (c.type() == TypeId::kInt32 || c.type() == TypeId::kDate)) {
    const int32_t* v = c.data<int32_t>();
    return GroupWith(hashes, skip, [v](int64_t i, int64_t j) { return v[i] == v[j]; });
  }
  if (!nulls && c.type() == TypeId::kString) {
    const int32_t* o = c.string_offsets();
    const char* bytes = reinterpret_cast<const char*>(c.values().data());
    return GroupWith(hashes, skip, [o, bytes](int64_t i, int64_t j) {
      const int32_t li = o[i + 1] - o[i];
      return li == o[j + 1] - o[j] && std::memcmp(bytes + o[i], bytes + o[j], static_cast<size_t>(li)) == 0;
    });
  }
  return GroupWith(hashes, skip, [&c](int64_t i, int64_t j) { return SameKey(c, i, j); });
}

// Groups of packed keys in [0, span) (-1: dropped): a direct table when
// the span is small, the int64 hash table otherwise.
Grouping Densify(const PoolScratch<int64_t>& packed, int64_t span) {
  const int64_t rows = static_cast<int64_t>(packed.size());
  if (span <= (int64_t{1} << 24) || span <= 4 * rows) {
    return DenseByTable(rows, span, /*dropna=*/true, [&](int64_t i) { return packed[static_cast<size_t>(i)]; });
  }
  std::vector<uint8_t> skip;
  for (int64_t i = 0; i < rows; ++i) {
    if (packed[static_cast<size_t>(i)] < 0) {
      skip.assign(static_cast<size_t>(rows), 0);
      for (int64_t j = 0; j < rows; ++j) skip[static_cast<size_t>(j)] = packed[static_cast<size_t>(j)] < 0;
      break;
    }
  }
  return GroupInt64(packed.data(), rows, skip);
}

}  // namespace

Grouping::Members Grouping::RowsByGroup(int64_t from) const {
  Members m;
  m.start.assign(first_row.size() + 1, 0);
  const int64_t n = static_cast<int64_t>(group.size());
  for (int64_t i = from; i < n; ++i) {
    if (group[static_cast<size_t>(i)] >= 0) ++m.start[static_cast<size_t>(group[static_cast<size_t>(i)]) + 1];
  }
  std::partial_sum(m.start.begin(), m.start.end(), m.start.begin());
  m.rows.resize(static_cast<size_t>(m.start.back()));
  PoolVector<int64_t> at(m.start.begin(), m.start.end() - 1);
  for (int64_t i = from; i < n; ++i) {
    const int32_t k = group[static_cast<size_t>(i)];
    if (k >= 0) m.rows[static_cast<size_t>(at[static_cast<size_t>(k)]++)] = i - from;
  }
  return m;
}

// A key column whose values are already small integers: a category's codes,
// or integers in a small range (value - lo). Used as they are when several
// keys are packed: the packed keys are densified once at the end, so each
// column's own first-seen renumbering would be a wasted pass (q2's two
// category keys: 46 ms -> 24 ms). Columns with nulls are not raw.
struct RawKey {
  const int32_t* codes = nullptr;  // category codes
  const int64_t* v64 = nullptr;    // or integers
  const int32_t* v32 = nullptr;
  int64_t lo = 0;
  int64_t range = 0;  // values lie in [0, range)
  explicit operator bool() const { return codes || v64 || v32; }
};

// Calls f(at) with `at(i)` reading r's values through its one storage: a
// loop over `at` tests no storage per row (and vectorizes).
template <class F>
void WithRawKey(const RawKey& r, F&& f) {
  if (r.codes) {
    f([c = r.codes](int64_t i) -> int64_t { return c[i]; });
  } else if (r.v64) {
    f([v = r.v64, lo = r.lo](int64_t i) -> int64_t { return v[i] - lo; });
  } else {
    f([v = r.v32, lo = r.lo](int64_t i) -> int64_t { return v[i] - lo; });
  }
}

RawKey RawKeyOf(const Column& c) {
  RawKey r;
  if (c.has_nulls()) return r;
  if (c.type() == TypeId::kCategory) {
    r.codes = c.data<int32_t>();
    r.range = c.dictionary()->length();
  } else if (SmallIntRange(c, &r.lo, &r.range)) {
    if (FixedWidth(c.type()) == 8) r.v64 = c.data<int64_t>();
    else r.v32 = c.data<int32_t>();
  }
  return r;
}

Grouping GroupRows(const std::vector<const Column*>& keys, bool dropna) {
  if (keys.empty()) throw Error("groupby: no key columns");
  const int64_t rows = keys[0]->length();
  // Several keys: pack the columns' ids into one int64 (id * n_next + id')
  // while the product of their counts fits, and group the packed keys once;
  // densify early only when the next column would overflow the packing.
  RawKey raw = keys.size() > 1 ? RawKeyOf(*keys[0]) : RawKey();
  if (keys.size() == 2 && raw && raw.range > 0) {
    // Two small-range keys (q6: id4, id5; q9: id2, id4): each row's packed
    // key goes straight to the direct table, with no packed column written
    // and read back (a quarter of q6's grouping traffic).
    const RawKey second = RawKeyOf(*keys[1]);
    if (second && second.range > 0 && raw.range <= (int64_t{1} << 40) / second.range) {
      const int64_t span = raw.range * second.range;
      if (span <= (int64_t{1} << 24) || span <= 4 * rows) {
        Grouping out;
        WithRawKey(raw, [&](auto a) {
          WithRawKey(second, [&](auto b) {
            out = DenseByTable(rows, span, dropna, [a, b, m = second.range](int64_t i) { return a(i) * m + b(i); });
          });
        });
        return out;
      }
    }
  }
  Grouping acc;
  PoolScratch<int64_t> packed;  // every row set before it is read
  int64_t span = 0;  // packed values lie in [0, span)
  if (raw) {
    packed.resize(static_cast<size_t>(rows));
    int64_t* out = packed.data();
    WithRawKey(raw, [&](auto at) {
      for (int64_t i = 0; i < rows; ++i) out[i] = at(i);
    });
    span = raw.range;
  } else {
    acc = DenseColumn(*keys[0], dropna);
  }
  for (size_t k = 1; k < keys.size(); ++k) {
    const RawKey next_raw = RawKeyOf(*keys[k]);
    int64_t next_n = next_raw.range;
    Grouping next;
    if (!next_raw) {
      next = DenseColumn(*keys[k], dropna);
      next_n = next.num_groups();
    }
    if (packed.empty()) {
      packed.assign(acc.group.begin(), acc.group.end());
      span = acc.num_groups();
    }
    if (next_n > 0 && span > (int64_t{1} << 62) / std::max<int64_t>(next_n, 1)) {
      // Would overflow: densify what is packed so far.
      acc = Densify(packed, span);
      packed.assign(acc.group.begin(), acc.group.end());
      span = acc.num_groups();
    }
    const int64_t mult = std::max<int64_t>(next_n, 1);
    if (next_raw) {
      int64_t* out = packed.data();
      WithRawKey(next_raw, [&](auto at) {
        for (int64_t i = 0; i < rows; ++i) out[i] = out[i] < 0 ? -1 : out[i] * mult + at(i);
      });
    } else {
      for (int64_t i = 0; i < rows; ++i) {
        int64_t& p = packed[static_cast<size_t>(i)];
        const int32_t y = next.group[static_cast<size_t>(i)];
        p = p < 0 || y < 0 ? -1 : p * mult + y;
      }
    }
    span *= mult;
  }
  if (!packed.empty()) acc = Densify(packed, span);
  return acc;
}

// ---- aggregation names and types ------------------------------------------------

namespace {
const char* kAggNames[] = {"sum", "mean", "count", "size", "min", "max", "std", "var", "first", "last", "nunique",
                           "median", "quantile", "corr"};
}

AggFunc AggFuncFromName(const std::string& name) {
  for (size_t k = 0; k < std::size(kAggNames); ++k) {
    if (name == kAggNames[k]) return static_cast<AggFunc>(k);
  }
  std::string known;
  for (const char* k : kAggNames) known += (known.empty() ? "" : ", ") + std::string(k);
  throw Error("unknown aggregation '" + name + "' (known: " + known + ")");
}

const char* AggFuncName(AggFunc f) { return kAggNames[static_cast<int>(f)]; }


TypeId AggResultType(const AggSpec& a, TypeId in) {
  auto need_numeric = [&] {
    if (!IsNumeric(in) && in != TypeId::kBool) {
      throw TypeError(std::string(AggFuncName(a.func)) + " of column '" + a.column + "', which holds " +
                      std::string(TypeName(in)));
    }
  };
  switch (a.func) {
    case AggFunc::kSum: need_numeric(); return IsFloating(in) ? TypeId::kFloat64 : TypeId::kInt64;
    case AggFunc::kCount:
    case AggFunc::kSize:
    case AggFunc::kNUnique: return TypeId::kInt64;
    case AggFunc::kMean:
    case AggFunc::kStd:
    case AggFunc::kVar:
    case AggFunc::kMedian:
    case AggFunc::kQuantile:
    case AggFunc::kCorr: need_numeric(); return TypeId::kFloat64;
    case AggFunc::kMin:
    case AggFunc::kMax:
      if (in == TypeId::kCategory) return TypeId::kString;
      return in;
    default: return in == TypeId::kCategory ? TypeId::kString : in;
  }
}

// ---- chunk states -------------------------------------------------------------------

std::string StateName(const AggSpec& a, const char* part) { return a.name + "\x1f" + part; }

// A state's values as a column: one copy into pool memory (a zero-filled
// byte vector first had cost a memset and fresh pages per state, 7% of q10).
Column Int64Column(std::span<const int64_t> v) {
  return Column::Make(TypeId::kInt64, static_cast<int64_t>(v.size()), {}, Buffer::Copy(v.data(), v.size() * 8));
}

Column Float64Column(std::span<const double> v, const uint8_t* valid) {
  const int64_t n = static_cast<int64_t>(v.size());
  Buffer b = Buffer::Copy(v.data(), v.size() * 8);
  Buffer validity;
  if (valid) {
    std::byte* w;
    validity = Buffer::Allocate(static_cast<size_t>(bits::Bytes(n)), &w);
    for (int64_t i = 0; i < n; ++i) {
      if (valid[i]) bits::Set(reinterpret_cast<uint8_t*>(w), i);
    }
  }
  return Column::Make(TypeId::kFloat64, n, std::move(validity), std::move(b));
}

namespace {

// Row of each group's min/max/first/last valid value (-1: none).
std::vector<int64_t> PickRows(const Column& c, const PoolScratch<int32_t>& group, int64_t groups, AggFunc f) {
  std::vector<int64_t> best(static_cast<size_t>(groups), -1);
  const int64_t n = c.length();
  auto valid = [&](int64_t i) { return IsFloating(c.type()) ? ValidNumber(c, i) : c.IsValid(i); };
  if (f == AggFunc::kFirst || f == AggFunc::kLast) {
    for (int64_t i = 0; i < n; ++i) {
      const int32_t g = group[static_cast<size_t>(i)];
      if (g < 0 || !valid(i)) continue;
      int64_t& b = best[static_cast<size_t>(g)];
      if (f == AggFunc::kLast || b < 0) b = i;
    }
    return best;
  }
  const bool want_min = f == AggFunc::kMin;
  // Numbers: each group's best value kept beside its row, so a row is
  // compared with the slot it loads anyway (comparing with the best row's
  // value read that row back: a second cache miss per row with many groups).
  auto pick_numbers = [&]<class T>(const T* v) {
    struct Slot {
      T value;
      int64_t row;  // -1: none yet
    };
    PoolVector<Slot> slots(static_cast<size_t>(groups), Slot{T{}, -1});  // pool memory: reused, not faulted in per run
    const bool nulls = c.has_nulls();
    for (int64_t i = 0; i < n; ++i) {
      const int32_t g = group[static_cast<size_t>(i)];
      if (g < 0 || (nulls && !c.IsValid(i))) continue;
      const T x = v[i];
      if constexpr (std::is_floating_point_v<T>) {
        if (x != x) continue;  // NaN: skipped, as pandas does
      }
      Slot& s = slots[static_cast<size_t>(g)];
      if (s.row < 0 || (want_min ? x < s.value : s.value < x)) s = Slot{x, i};
    }
    for (size_t k = 0; k < slots.size(); ++k) best[k] = slots[k].row;
  };
  auto pick = [&](auto less) {
    for (int64_t i = 0; i < n; ++i) {
      const int32_t g = group[static_cast<size_t>(i)];
      if (g < 0 || !valid(i)) continue;
      int64_t& b = best[static_cast<size_t>(g)];
      if (b < 0 || (want_min ? less(i, b) : less(b, i))) b = i;
    }
  };
  switch (c.type()) {
    case TypeId::kString:
    case TypeId::kCategory: pick([&c](int64_t i, int64_t j) { return c.StringAt(i) < c.StringAt(j); }); break;
    case TypeId::kInt64:
    case TypeId::kTimestamp: pick_numbers(c.data<int64_t>()); break;
    case TypeId::kInt32:
    case TypeId::kDate: pick_numbers(c.data<int32_t>()); break;
    case TypeId::kFloat64: pick_numbers(c.data<double>()); break;
    case TypeId::kFloat32: pick_numbers(c.data<float>()); break;
    default: pick([&c](int64_t i, int64_t j) { return c.NumberAt(i) < c.NumberAt(j); }); break;
  }
  return best;
}

// Rows `rows` of c (-1: null).
Column TakeOrNull(const Column& c, const std::vector<int64_t>& rows) {
  bool any_missing = false;
  std::vector<int64_t> idx(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    any_missing = any_missing || rows[k] < 0;
    idx[k] = rows[k] < 0 ? 0 : rows[k];
  }
  Column src = c.type() == TypeId::kCategory ? c.Decoded() : c;
  if (src.length() == 0) return Column::Nulls(src.type(), static_cast<int64_t>(rows.size()));
  Column out = src.Take(idx);
  if (!any_missing) return out;
  std::byte* w;
  Buffer validity = Buffer::Allocate(static_cast<size_t>(bits::Bytes(out.length())), &w);
  for (size_t k = 0; k < rows.size(); ++k) {
    if (rows[k] >= 0 && out.IsValid(static_cast<int64_t>(k))) bits::Set(reinterpret_cast<uint8_t*>(w), static_cast<int64_t>(k));
  }
  return Column::Make(out.type(), out.length(), std::move(validity), out.values(), out.offsets(), out.dictionary());
}

// Each group's min, max, first or last value as a column (null where a
// group has none). Min and max of numbers without nulls keep the best value
// itself per group: a dense array of values (800 KB for q7's 100k groups,
// in L2) updated without a branch, and no rows to take afterwards. Keeping
// the best row beside its value, as PickRows does, is twice the memory and
// a Take more; it is used when nulls or NaN need telling apart.
Column PickValues(const Column& c, const PoolScratch<int32_t>& group, int64_t groups, AggFunc f) {
  const bool want_min = f == AggFunc::kMin;
  auto direct = [&]<class T>(const T* v) -> std::optional<Column> {
    const T init = want_min ? std::numeric_limits<T>::max() : std::numeric_limits<T>::lowest();
    PoolVector<T> best(static_cast<size_t>(groups), init);
    bool nan = false;
    const int64_t n = c.length();
    for (int64_t i = 0; i < n; ++i) {
      const int32_t k = group[static_cast<size_t>(i)];
      if (k < 0) continue;
      const T x = v[i];
      if constexpr (std::is_floating_point_v<T>) nan |= x != x;  // std::min/max keep `best` over a NaN
      T& b = best[static_cast<size_t>(k)];
      b = want_min ? std::min(b, x) : std::max(b, x);
    }
    // Every group has a row (groups come from rows), so with no nulls and
    // no NaN every group's value is real; a NaN-only group would not be.
    if (nan) return std::nullopt;
    return Column::Make(c.type(), groups, {}, Buffer::Copy(best.data(), best.size() * sizeof(T)));
  };
  std::optional<Column> out;
  if ((f == AggFunc::kMin || f == AggFunc::kMax) && !c.has_nulls()) {
    switch (c.type()) {
      case TypeId::kInt64:
      case TypeId::kTimestamp: out = direct(c.data<int64_t>()); break;
      case TypeId::kInt32:
      case TypeId::kDate: out = direct(c.data<int32_t>()); break;
      case TypeId::kFloat64: out = direct(c.data<double>()); break;
      case TypeId::kFloat32: out = direct(c.data<float>()); break;
      default: break;
    }
  }
  return out ? std::move(*out) : TakeOrNull(c, PickRows(c, group, groups, f));
}

// Sums (and, for means, counts) per group. Rows land on groups at random,
// so with many groups every row is a cache miss: a sum and its count share
// one slot (one line touched per row, not two), and a plain sum keeps no
// count at all.
void SumState(const Column& c, const Grouping& g, const AggSpec& a, std::vector<std::pair<std::string, Column>>* out,
              bool with_count) {
  const size_t groups = static_cast<size_t>(g.num_groups());
  auto run = [&]<class S>(S) {
    if (!with_count) {
      PoolVector<S> sum(groups, 0);
      ForValues<S>(c, g.group, [&](int32_t k, S v) { sum[static_cast<size_t>(k)] += v; });
      return std::pair(std::move(sum), PoolVector<int64_t>());
    }
    struct Slot {
      S sum;
      int64_t count;
    };
    PoolVector<Slot> acc(groups, Slot{0, 0});
    ForValues<S>(c, g.group, [&](int32_t k, S v) {
      Slot& s = acc[static_cast<size_t>(k)];
      s.sum += v;
      ++s.count;
    });
    PoolVector<S> sum(groups);
    PoolVector<int64_t> count(groups);
    for (size_t k = 0; k < groups; ++k) {
      sum[k] = acc[k].sum;
      count[k] = acc[k].count;
    }
    return std::pair(std::move(sum), std::move(count));
  };
  PoolVector<int64_t> count;
  if (IsFloating(c.type()) || a.func == AggFunc::kMean) {
    auto [sum, n] = run(double{});
    out->emplace_back(StateName(a, "sum"), Float64Column(sum));
    count = std::move(n);
  } else {
    auto [sum, n] = run(int64_t{});
    out->emplace_back(StateName(a, "sum"), Int64Column(sum));
    count = std::move(n);
  }
  if (with_count) out->emplace_back(StateName(a, "count"), Int64Column(count));
}

// count, mean and M2 (sum of squared deviations) per group, two passes.
void MomentState(const Column& c, const Grouping& g, const AggSpec& a, std::vector<std::pair<std::string, Column>>* out) {
  const size_t groups = static_cast<size_t>(g.num_groups());
  PoolVector<int64_t> count(groups, 0);
  PoolVector<double> sum(groups, 0), m2(groups, 0);
  ForValues<double>(c, g.group, [&](int32_t k, double v) { sum[static_cast<size_t>(k)] += v; ++count[static_cast<size_t>(k)]; });
  PoolVector<double> mean(groups);
  for (size_t k = 0; k < groups; ++k) mean[k] = count[k] ? sum[k] / static_cast<double>(count[k]) : 0;
  ForValues<double>(c, g.group, [&](int32_t k, double v) {
    const double d = v - mean[static_cast<size_t>(k)];
    m2[static_cast<size_t>(k)] += d * d;
  });
  out->emplace_back(StateName(a, "count"), Int64Column(count));
  out->emplace_back(StateName(a, "mean"), Float64Column(mean));
  out->emplace_back(StateName(a, "m2"), Float64Column(m2));
}

// Pairs (x, y) where both are valid: count, means, M2 of each and the
// co-moment C = sum (x - mean x)(y - mean y), two passes.
void CorrState(const Column& x, const Column& y, const Grouping& g, const AggSpec& a,
               std::vector<std::pair<std::string, Column>>* out) {
  AggResultType(a, y.type());
  const size_t groups = static_cast<size_t>(g.num_groups());
  const int64_t n = x.length();
  PoolScratch<int32_t> pair_group(g.group);
  for (int64_t i = 0; i < n; ++i) {
    if (!ValidNumber(x, i) || !ValidNumber(y, i)) pair_group[static_cast<size_t>(i)] = -1;
  }
  PoolVector<int64_t> count(groups, 0);
  PoolVector<double> sx(groups, 0), sy(groups, 0), mx(groups), my(groups), m2x(groups, 0), m2y(groups, 0), cxy(groups, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t k = pair_group[static_cast<size_t>(i)];
    if (k < 0) continue;
    ++count[static_cast<size_t>(k)];
    sx[static_cast<size_t>(k)] += x.NumberAt(i);
    sy[static_cast<size_t>(k)] += y.NumberAt(i);
  }
  for (size_t k = 0; k < groups; ++k) {
    mx[k] = count[k] ? sx[k] / static_cast<double>(count[k]) : 0;
    my[k] = count[k] ? sy[k] / static_cast<double>(count[k]) : 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int32_t k = pair_group[static_cast<size_t>(i)];
    if (k < 0) continue;
    const double dx = x.NumberAt(i) - mx[static_cast<size_t>(k)], dy = y.NumberAt(i) - my[static_cast<size_t>(k)];
    m2x[static_cast<size_t>(k)] += dx * dx;
    m2y[static_cast<size_t>(k)] += dy * dy;
    cxy[static_cast<size_t>(k)] += dx * dy;
  }
  out->emplace_back(StateName(a, "count"), Int64Column(count));
  out->emplace_back(StateName(a, "mx"), Float64Column(mx));
  out->emplace_back(StateName(a, "my"), Float64Column(my));
  out->emplace_back(StateName(a, "m2x"), Float64Column(m2x));
  out->emplace_back(StateName(a, "m2y"), Float64Column(m2y));
  out->emplace_back(StateName(a, "cxy"), Float64Column(cxy));
}

// The state columns of `aggs` over `t` grouped by `g`.
// Values states (medians, quantiles) come out in `order` when one is given
// (see GroupValues), the rest in group order.
std::vector<std::pair<std::string, Column>> States(const Table& t, const Grouping& g, const std::vector<AggSpec>& aggs,
                                                   std::span<const int64_t> order = {}) {
  std::vector<std::pair<std::string, Column>> out;
  const int64_t groups = g.num_groups();
  // Sums and means of int64/float64 columns without nulls, in one pass
  // (SumInOnePass); sizes and counts of int columns come with it.
  const SumPlan plan = PlanSums(t, aggs);
  const bool fuse = !plan.lanes.empty();
  LaneSums fused;
  if (fuse) fused = SumInOnePass(plan.lanes, plan.counts, g.group, groups);
  // Columns a median or quantile groups the values of (once per column);
  // a std or var of such a column reads them too.
  std::map<std::string, GroupedValues> grouped;
  for (const AggSpec& a : aggs) {
    if (KeepsValues(a.func)) grouped.emplace(a.column, GroupedValues{});
  }
  auto values_of = [&](const Column& c, const std::string& name) -> const GroupedValues& {
    GroupedValues& gv = grouped.at(name);
    if (!gv.vals) gv = GroupValues(c, g, order);
    return gv;
  };
  for (size_t j = 0; j < aggs.size(); ++j) {
    const AggSpec& a = aggs[j];
    if (fuse && (plan.lane_of[j] >= 0 || plan.by_size[j])) {
      AppendSumStates(t, a, plan, j, fused, &out);
      continue;
    }
    if (a.func == AggFunc::kSize) {
      PoolVector<int64_t> size(static_cast<size_t>(groups), 0);
      for (int32_t k : g.group) {
        if (k >= 0) ++size[static_cast<size_t>(k)];
      }
      out.emplace_back(StateName(a, "count"), Int64Column(size));
      continue;
    }
    const Column& c = t.column(a.column);
    AggResultType(a, c.type());
    switch (a.func) {
      case AggFunc::kSum: SumState(c, g, a, &out, false); break;
      case AggFunc::kMean: SumState(c, g, a, &out, true); break;
      case AggFunc::kCount: {
        PoolVector<int64_t> count(static_cast<size_t>(groups), 0);
        const bool floating = IsFloating(c.type());
        for (int64_t i = 0; i < c.length(); ++i) {
          const int32_t k = g.group[static_cast<size_t>(i)];
          if (k >= 0 && (floating ? ValidNumber(c, i) : c.IsValid(i))) ++count[static_cast<size_t>(k)];
        }
        out.emplace_back(StateName(a, "count"), Int64Column(count));
        break;
      }
      case AggFunc::kStd:
      case AggFunc::kVar:
        if (grouped.count(a.column)) MomentStatesFromGrouped(values_of(c, a.column), a, &out);
        else MomentState(c, g, a, &out);
        break;
      case AggFunc::kMedian:
      case AggFunc::kQuantile: out.emplace_back(StateName(a, "values"), ValuesState(values_of(c, a.column))); break;
      case AggFunc::kCorr: CorrState(c, t.column(a.other), g, a, &out); break;
      case AggFunc::kMin:
      case AggFunc::kMax:
      case AggFunc::kFirst:
      case AggFunc::kLast:
        out.emplace_back(StateName(a, AggFuncName(a.func)), PickValues(c, g.group, groups, a.func));
        break;
      default: throw Error(std::string("groupby: ") + AggFuncName(a.func) + " has no partial state");
    }
  }
  return out;
}

Table KeysOf(const Table& t, const std::vector<std::string>& keys, const Grouping& g) {
  std::vector<std::pair<std::string, Column>> cols;
  for (const auto& k : keys) {
    Column c = t.column(k);
    cols.emplace_back(k, c.Take(g.first_row));
  }
  Table out(std::move(cols));
  return out;
}

Table WithColumns(Table t, std::vector<std::pair<std::string, Column>> cols) {
  for (auto& [name, c] : cols) t = t.With(name, std::move(c));
  return t;
}

Grouping GroupByNames(const Table& t, const std::vector<std::string>& keys, bool dropna) {
  std::vector<const Column*> cols;
  for (const auto& k : keys) cols.push_back(&t.column(k));
  return GroupRows(cols, dropna);
}

// Where a chunk's keys are nearly all distinct (q10: six keys, ~one group
// per row), grouping it merges almost nothing and costs what grouping the
// whole table costs, then the combine groups the rows again. As DuckDB's
// and Polars' partial aggregations do when they see no reduction, such a
// chunk hands on each row as its own partial instead: its keys as they
// are and each aggregation's state for one row. Only sums, means, counts
// and sizes of int64/float64 columns, keys without nulls, and chunks of
// 64k rows or more where every 8th row forms at least 0.95 groups a row.
// (Keys of D distinct values in the chunk's n rows show that only where
// D > ~10 n/8: grouping would have merged the chunk by 1.45x at most. A
// sample of the first rows would mistake many distinct values, each
// repeated across the chunk, for no repeats.)
std::optional<Table> RowStatesChunk(const Table& t, const std::vector<std::string>& keys,
                                    const std::vector<AggSpec>& aggs) {
  constexpr int64_t kMinRows = 65536, kStride = 8;
  const int64_t n = t.num_rows();
  if (n < kMinRows || aggs.empty()) return std::nullopt;
  for (const AggSpec& a : aggs) {
    if (a.func != AggFunc::kSum && a.func != AggFunc::kMean && a.func != AggFunc::kCount && a.func != AggFunc::kSize) {
      return std::nullopt;
    }
    if (a.func == AggFunc::kSize) continue;
    const TypeId type = t.column(a.column).type();
    if (type != TypeId::kInt64 && type != TypeId::kFloat64) return std::nullopt;
  }
  for (const std::string& k : keys) {
    if (t.column(k).has_nulls()) return std::nullopt;
  }
  std::vector<int64_t> every(static_cast<size_t>(n / kStride));
  for (size_t i = 0; i < every.size(); ++i) every[i] = static_cast<int64_t>(i) * kStride;
  const Table sample = t.Select(keys).Take(every);
  std::vector<const Column*> sample_keys;
  for (const std::string& k : keys) sample_keys.push_back(&sample.column(k));
  const auto sampled = static_cast<int64_t>(every.size());
  if (GroupRows(sample_keys, /*dropna=*/true).num_groups() * 20 < sampled * 19) return std::nullopt;
  std::vector<std::pair<std::string, Column>> cols;
  for (const std::string& k : keys) cols.emplace_back(k, t.column(k));
  const auto rows = static_cast<size_t>(n);
  for (const AggSpec& a : aggs) {
    if (a.func == AggFunc::kSize) {
      PoolVector<int64_t> ones(rows, 1);
      cols.emplace_back(StateName(a, "count"), Int64Column(ones));
      continue;
    }
    const Column& c = t.column(a.column);
    AggResultType(a, c.type());
    // A row's count: 1 where its value counts (not null, not NaN).
    PoolVector<int64_t> count(rows);
    for (size_t i = 0; i < rows; ++i) count[i] = ValidNumber(c, static_cast<int64_t>(i)) ? 1 : 0;
    if (a.func == AggFunc::kCount) {
      cols.emplace_back(StateName(a, "count"), Int64Column(count));
      continue;
    }
    // A row's sum: its value, or 0 where it does not count (a mean's sum
    // is a double, as SumState's).
    if (c.type() == TypeId::kInt64 && a.func == AggFunc::kSum) {
      PoolVector<int64_t> sum(rows);
      const int64_t* v = c.data<int64_t>();
      for (size_t i = 0; i < rows; ++i) sum[i] = count[i] ? v[i] : 0;
      cols.emplace_back(StateName(a, "sum"), Int64Column(sum));
    } else {
      PoolVector<double> sum(rows);
      auto fill = [&](const auto* v) {
        for (size_t i = 0; i < rows; ++i) sum[i] = count[i] ? static_cast<double>(v[i]) : 0.0;
      };
      if (c.type() == TypeId::kInt64) fill(c.data<int64_t>());
      else fill(c.data<double>());
      cols.emplace_back(StateName(a, "sum"), Float64Column(sum));
    }
    if (a.func == AggFunc::kMean) cols.emplace_back(StateName(a, "count"), Int64Column(count));
  }
  return Table(std::move(cols));
}

}  // namespace

Table AggregateChunk(const Table& t, const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs, bool dropna,
                     int parts) {
  if (parts < 0 || parts > (1 << 20)) throw Error("groupby chunk: " + std::to_string(parts) + " parts to deal to");
  if (auto direct = DirectSumChunk(t, keys, aggs, parts)) return std::move(*direct);
  if (auto rows = RowStatesChunk(t, keys, aggs)) return std::move(*rows);
  Grouping g = GroupByNames(t, keys, dropna);
  Table keys_table = KeysOf(t, keys, g);
  const bool values = std::any_of(aggs.begin(), aggs.end(), [](const AggSpec& a) { return KeepsValues(a.func); });
  if (parts <= 1 || !values) return WithColumns(std::move(keys_table), States(t, g, aggs));
  // Groups in the order of the parts a shuffle deals them to, so that its
  // split is slices: the values states (most of the bytes) are laid out so
  // as they are dealt, the other columns (a row per group) are taken so.
  const PoolVector<int64_t> pos = PositionsByPart(HashParts(keys_table, keys, parts), parts);
  std::vector<int64_t> order(pos.size());  // position -> group
  for (size_t k = 0; k < pos.size(); ++k) order[static_cast<size_t>(pos[k])] = static_cast<int64_t>(k);
  std::set<std::string> laid_out;
  for (const AggSpec& a : aggs) {
    if (KeepsValues(a.func)) laid_out.insert(StateName(a, "values"));
  }
  std::vector<std::pair<std::string, Column>> cols;
  for (const std::string& k : keys) cols.emplace_back(k, keys_table.column(k).Take(order));
  for (auto& [name, c] : States(t, g, aggs, order)) cols.emplace_back(name, laid_out.count(name) ? std::move(c) : c.Take(order));
  return Table(std::move(cols));
}

Table CombinePartials(const std::vector<Table>& partials, const std::vector<std::string>& keys,
                      const std::vector<AggSpec>& aggs, bool dropna, bool final_quantiles) {
  // Values states (medians, quantiles) are merged from each partial in
  // place, not concatenated first: their bytes are most of a partial.
  std::vector<std::string> values_states, rest;
  for (const AggSpec& a : aggs) {
    if (KeepsValues(a.func)) values_states.push_back(StateName(a, "values"));
  }
  std::vector<Table> narrow;
  if (!values_states.empty() && !partials.empty()) {
    for (const std::string& n : partials[0].names()) {
      if (std::find(values_states.begin(), values_states.end(), n) == values_states.end()) rest.push_back(n);
    }
    for (const Table& p : partials) narrow.push_back(p.Select(rest));
  }
  Table all = Table::Concat(narrow.empty() ? partials : narrow);
  Grouping g = GroupByNames(all, keys, dropna);
  const size_t groups = static_cast<size_t>(g.num_groups());
  std::vector<std::pair<std::string, Column>> out;
  for (const AggSpec& a : aggs) {
    auto state = [&](const char* part) -> const Column& { return all.column(StateName(a, part)); };
    auto sum_ints = [&](const char* part) {
      PoolVector<int64_t> s(groups, 0);
      const Column& c = state(part);
      const int64_t* v = c.data<int64_t>();
      for (int64_t i = 0; i < c.length(); ++i) {
        if (g.group[static_cast<size_t>(i)] >= 0) s[static_cast<size_t>(g.group[static_cast<size_t>(i)])] += v[i];
      }
      out.emplace_back(StateName(a, part), Int64Column(s));
    };
    switch (a.func) {
      case AggFunc::kSize:
      case AggFunc::kCount: sum_ints("count"); break;
      case AggFunc::kSum:
      case AggFunc::kMean: {
        const Column& c = state("sum");
        if (c.type() == TypeId::kInt64) {
          sum_ints("sum");
        } else {
          PoolVector<double> s(groups, 0);
          const double* v = c.data<double>();
          for (int64_t i = 0; i < c.length(); ++i) {
            if (g.group[static_cast<size_t>(i)] >= 0) s[static_cast<size_t>(g.group[static_cast<size_t>(i)])] += v[i];
          }
          out.emplace_back(StateName(a, "sum"), Float64Column(s));
        }
        if (a.func == AggFunc::kMean) sum_ints("count");
        break;
      }
      case AggFunc::kStd:
      case AggFunc::kVar: {
        // Chan et al.: n = sum n_i, mean = sum n_i mean_i / n,
        // M2 = sum (M2_i + n_i (mean_i - mean)^2).
        const int64_t* n = state("count").data<int64_t>();
        const double* mu = state("mean").data<double>();
        const double* m2 = state("m2").data<double>();
        PoolVector<int64_t> cnt(groups, 0);
        PoolVector<double> sum(groups, 0), mean(groups, 0), out_m2(groups, 0);
        const int64_t rows = all.num_rows();
        for (int64_t i = 0; i < rows; ++i) {
          const int32_t k = g.group[static_cast<size_t>(i)];
          if (k < 0) continue;
          cnt[static_cast<size_t>(k)] += n[i];
          sum[static_cast<size_t>(k)] += static_cast<double>(n[i]) * mu[i];
        }
        for (size_t k = 0; k < groups; ++k) mean[k] = cnt[k] ? sum[k] / static_cast<double>(cnt[k]) : 0;
        for (int64_t i = 0; i < rows; ++i) {
          const int32_t k = g.group[static_cast<size_t>(i)];
          if (k < 0) continue;
          const double d = mu[i] - mean[static_cast<size_t>(k)];
          out_m2[static_cast<size_t>(k)] += m2[i] + static_cast<double>(n[i]) * d * d;
        }
        out.emplace_back(StateName(a, "count"), Int64Column(cnt));
        out.emplace_back(StateName(a, "mean"), Float64Column(mean));
        out.emplace_back(StateName(a, "m2"), Float64Column(out_m2));
        break;
      }
      case AggFunc::kMin:
      case AggFunc::kMax:
      case AggFunc::kFirst:
      case AggFunc::kLast: {
        const Column& c = state(AggFuncName(a.func));
        out.emplace_back(StateName(a, AggFuncName(a.func)), PickValues(c, g.group, g.num_groups(), a.func));
        break;
      }
      case AggFunc::kCorr: {
        // Chan et al.'s pairwise update, merging partials in order.
        const int64_t* n = state("count").data<int64_t>();
        const double *mx = state("mx").data<double>(), *my = state("my").data<double>();
        const double *m2x = state("m2x").data<double>(), *m2y = state("m2y").data<double>(), *c = state("cxy").data<double>();
        PoolVector<int64_t> cn(groups, 0);
        PoolVector<double> ax(groups, 0), ay(groups, 0), bx(groups, 0), by(groups, 0), cc(groups, 0);
        for (int64_t i = 0; i < all.num_rows(); ++i) {
          const int32_t gk = g.group[static_cast<size_t>(i)];
          if (gk < 0 || n[i] == 0) continue;
          const auto k = static_cast<size_t>(gk);
          const double n1 = static_cast<double>(cn[k]), n2 = static_cast<double>(n[i]), nn = n1 + n2;
          const double dx = mx[i] - ax[k], dy = my[i] - ay[k];
          ax[k] += dx * n2 / nn;
          ay[k] += dy * n2 / nn;
          bx[k] += m2x[i] + dx * dx * n1 * n2 / nn;
          by[k] += m2y[i] + dy * dy * n1 * n2 / nn;
          cc[k] += c[i] + dx * dy * n1 * n2 / nn;
          cn[k] += n[i];
        }
        out.emplace_back(StateName(a, "count"), Int64Column(cn));
        out.emplace_back(StateName(a, "mx"), Float64Column(ax));
        out.emplace_back(StateName(a, "my"), Float64Column(ay));
        out.emplace_back(StateName(a, "m2x"), Float64Column(bx));
        out.emplace_back(StateName(a, "m2y"), Float64Column(by));
        out.emplace_back(StateName(a, "cxy"), Float64Column(cc));
        break;
      }
      case AggFunc::kMedian:
      case AggFunc::kQuantile: {
        std::vector<const Column*> parts;
        for (const Table& p : partials) parts.push_back(&p.column(StateName(a, "values")));
        if (final_quantiles) out.emplace_back(StateName(a, "final"), QuantilesOfParts(parts, g, QuantileQ(a)));
        else out.emplace_back(StateName(a, "values"), CombineValuesStates(parts, g));
        break;
      }
      default: throw Error(std::string("groupby: ") + AggFuncName(a.func) + " has no partial state");
    }
  }
  return WithColumns(KeysOf(all, keys, g), std::move(out));
}

Table FinalizePartial(const Table& partial, const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs) {
  std::vector<std::pair<std::string, Column>> cols;
  for (const auto& k : keys) cols.emplace_back(k, partial.column(k));
  const int64_t groups = partial.num_rows();
  for (const AggSpec& a : aggs) {
    auto state = [&](const char* part) -> const Column& { return partial.column(StateName(a, part)); };
    switch (a.func) {
      case AggFunc::kSize:
      case AggFunc::kCount: cols.emplace_back(a.name, state("count")); break;
      case AggFunc::kSum: cols.emplace_back(a.name, state("sum")); break;
      case AggFunc::kMean: {
        const Column& s = state("sum");
        const int64_t* n = state("count").data<int64_t>();
        PoolVector<double> v(static_cast<size_t>(groups));
        PoolVector<uint8_t> valid(static_cast<size_t>(groups));
        for (int64_t k = 0; k < groups; ++k) {
          valid[static_cast<size_t>(k)] = n[k] > 0;
          v[static_cast<size_t>(k)] = n[k] > 0 ? s.NumberAt(k) / static_cast<double>(n[k]) : 0;
        }
        cols.emplace_back(a.name, Float64Column(v, valid.data()));
        break;
      }
      case AggFunc::kStd:
      case AggFunc::kVar: {
        const int64_t* n = state("count").data<int64_t>();
        const double* m2 = state("m2").data<double>();
        PoolVector<double> v(static_cast<size_t>(groups));
        PoolVector<uint8_t> valid(static_cast<size_t>(groups));
        for (int64_t k = 0; k < groups; ++k) {
          const int64_t dof = n[k] - a.ddof;
          valid[static_cast<size_t>(k)] = dof > 0;
          const double var = dof > 0 ? m2[k] / static_cast<double>(dof) : 0;
          v[static_cast<size_t>(k)] = a.func == AggFunc::kStd ? std::sqrt(var) : var;
        }
        cols.emplace_back(a.name, Float64Column(v, valid.data()));
        break;
      }
      case AggFunc::kCorr: {
        const int64_t* n = state("count").data<int64_t>();
        const double *m2x = state("m2x").data<double>(), *m2y = state("m2y").data<double>(), *c = state("cxy").data<double>();
        PoolVector<double> v(static_cast<size_t>(groups));
        PoolVector<uint8_t> valid(static_cast<size_t>(groups));
        for (int64_t k = 0; k < groups; ++k) {
          const double d = std::sqrt(m2x[k] * m2y[k]);
          valid[static_cast<size_t>(k)] = n[k] > 1 && d > 0;
          v[static_cast<size_t>(k)] = d > 0 ? c[k] / d : 0;
        }
        cols.emplace_back(a.name, Float64Column(v, valid.data()));
        break;
      }
      case AggFunc::kMedian:
      case AggFunc::kQuantile:
        cols.emplace_back(a.name, partial.Find(StateName(a, "final")) >= 0
                                      ? state("final")
                                      : QuantilesOfState(state("values"), QuantileQ(a)));
        break;
      case AggFunc::kNUnique: throw Error("groupby: nunique has no partial state");
      default: cols.emplace_back(a.name, state(AggFuncName(a.func))); break;
    }
  }
  if (cols.empty()) return Table::Empty(groups);
  return Table(std::move(cols));
}

Table AggregateRaw(const Table& t, const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs, bool dropna) {
  Grouping g = GroupByNames(t, keys, dropna);
  // Every aggregation but nunique has a partial state (a median's is its
  // group's values): one partial of all the rows, finalized. nunique
  // counts each group's distinct values from its rows.
  std::vector<AggSpec> partial;
  for (const AggSpec& a : aggs) {
    if (a.func != AggFunc::kNUnique) partial.push_back(a);
  }
  Table keys_table = KeysOf(t, keys, g);
  Table done = FinalizePartial(WithColumns(keys_table, States(t, g, partial)), keys, partial);
  const size_t groups = static_cast<size_t>(g.num_groups());
  Grouping::Members members;
  if (partial.size() < aggs.size()) members = g.RowsByGroup();
  const PoolVector<int64_t>& start = members.start;
  const PoolVector<int64_t>& rows = members.rows;
  std::vector<std::pair<std::string, Column>> cols;
  for (const auto& k : keys) cols.emplace_back(k, keys_table.column(k));
  for (const AggSpec& a : aggs) {
    if (a.func != AggFunc::kNUnique) {
      cols.emplace_back(a.name, done.column(a.name));
      continue;
    }
    const Column& c = t.column(a.column);
    AggResultType(a, c.type());
    PoolVector<int64_t> n(groups, 0);
    const bool text = c.type() == TypeId::kString || c.type() == TypeId::kCategory;
    std::vector<std::string_view> sv;
    PoolVector<double> dv;
    for (size_t k = 0; k < groups; ++k) {
      sv.clear();
      dv.clear();
      for (int64_t r = start[k]; r < start[k + 1]; ++r) {
        const int64_t i = rows[static_cast<size_t>(r)];
        if (text ? c.IsNull(i) : !ValidNumber(c, i)) continue;
        if (text) sv.push_back(c.StringAt(i));
        else dv.push_back(c.NumberAt(i));
      }
      if (text) {
        std::sort(sv.begin(), sv.end());
        n[k] = std::unique(sv.begin(), sv.end()) - sv.begin();
      } else {
        std::sort(dv.begin(), dv.end());
        n[k] = std::unique(dv.begin(), dv.end()) - dv.begin();
      }
    }
    cols.emplace_back(a.name, Int64Column(n));
  }
  return Table(std::move(cols));
}

Table GroupTopN(const Table& t, const std::vector<std::string>& keys, const std::string& by, bool ascending, int64_t n,
                bool dropna) {
  Grouping g = GroupByNames(t, keys, dropna);
  const Column& c = t.column(by);
  const bool text = c.type() == TypeId::kString || c.type() == TypeId::kCategory;
  auto null_at = [&](int64_t i) { return c.IsNull(i) || (IsFloating(c.type()) && std::isnan(c.NumberAt(i))); };
  auto before = [&](int64_t i, int64_t j) {  // i orders before j
    const bool ni = null_at(i), nj = null_at(j);
    if (ni || nj) return !ni && nj;
    if (text) return ascending ? c.StringAt(i) < c.StringAt(j) : c.StringAt(j) < c.StringAt(i);
    return ascending ? c.NumberAt(i) < c.NumberAt(j) : c.NumberAt(j) < c.NumberAt(i);
  };
  const size_t groups = static_cast<size_t>(g.num_groups());
  auto [start, rows] = g.RowsByGroup();
  std::vector<int64_t> keep;
  if (!text) {
    // Numbers: compare plain doubles, nulls (and NaN) mapped past every
    // value so they come last.
    std::vector<double> key(static_cast<size_t>(t.num_rows()));
    const double last_value = ascending ? HUGE_VAL : -HUGE_VAL;
    for (int64_t i = 0; i < t.num_rows(); ++i) {
      const double v = c.NumberAt(i);
      key[static_cast<size_t>(i)] = std::isnan(v) ? last_value : v;
    }
    const double* kv = key.data();
    for (size_t k = 0; k < groups; ++k) {
      auto first = rows.begin() + start[k], last = rows.begin() + start[k + 1];
      auto mid = first + std::min<int64_t>(n, last - first);
      if (ascending) {
        std::partial_sort(first, mid, last, [kv](int64_t i, int64_t j) { return kv[i] < kv[j] || (kv[i] == kv[j] && i < j); });
      } else {
        std::partial_sort(first, mid, last, [kv](int64_t i, int64_t j) { return kv[i] > kv[j] || (kv[i] == kv[j] && i < j); });
      }
      keep.insert(keep.end(), first, mid);
    }
    return t.Take(keep);
  }
  for (size_t k = 0; k < groups; ++k) {
    auto first = rows.begin() + start[k], last = rows.begin() + start[k + 1];
    auto mid = first + std::min<int64_t>(n, last - first);
    std::partial_sort(first, mid, last, [&](int64_t i, int64_t j) { return before(i, j) || (!before(j, i) && i < j); });
    keep.insert(keep.end(), first, mid);
  }
  return t.Take(keep);
}

// ---- sorting and partitioning ------------------------------------------------------

Table SortTable(const Table& t, const std::vector<std::string>& columns, const std::vector<bool>& ascending) {
  std::vector<const Column*> cols;
  for (const auto& c : columns) cols.push_back(&t.column(c));
  std::vector<int64_t> idx(static_cast<size_t>(t.num_rows()));
  std::iota(idx.begin(), idx.end(), 0);
  auto cmp = [&](int64_t i, int64_t j) {
    for (size_t k = 0; k < cols.size(); ++k) {
      const Column& c = *cols[k];
      const bool asc = ascending.empty() || ascending[k];
      const bool ni = c.IsNull(i) || (IsFloating(c.type()) && std::isnan(c.NumberAt(i)));
      const bool nj = c.IsNull(j) || (IsFloating(c.type()) && std::isnan(c.NumberAt(j)));
      if (ni || nj) {
        if (ni != nj) return nj;  // nulls last
        continue;
      }
      int r;
      if (c.type() == TypeId::kString || c.type() == TypeId::kCategory) {
        const int s = c.StringAt(i).compare(c.StringAt(j));
        r = s < 0 ? -1 : s > 0;
      } else if (c.type() == TypeId::kInt64 || c.type() == TypeId::kTimestamp) {
        const auto* v = reinterpret_cast<const int64_t*>(c.values().data());
        const int64_t a = v[i], b = v[j];
        r = a < b ? -1 : a > b;
      } else {
        const double a = c.NumberAt(i), b = c.NumberAt(j);
        r = a < b ? -1 : a > b;
      }
      if (r) return asc ? r < 0 : r > 0;
    }
    return false;
  };
  std::stable_sort(idx.begin(), idx.end(), cmp);
  return t.Take(idx);
}

PoolVector<uint32_t> HashParts(const Table& t, const std::vector<std::string>& keys, int parts) {
  if (parts < 1) throw Error("hash partition: parts must be >= 1");
  std::vector<const Column*> cols;
  for (const auto& k : keys) cols.push_back(&t.column(k));
  PoolVector<uint64_t> h = HashRows(cols);
  // The hash's high bits (the low ones choose slots in the groupby hash
  // tables): (high 32 bits) * parts / 2^32, a multiply, not a division.
  const int64_t n = t.num_rows();
  const auto p = static_cast<uint64_t>(parts);
  PoolVector<uint32_t> part(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) part[static_cast<size_t>(i)] = static_cast<uint32_t>(((h[static_cast<size_t>(i)] >> 32) * p) >> 32);
  return part;
}

PoolVector<int64_t> PositionsByPart(const PoolVector<uint32_t>& part, int parts) {
  std::vector<int64_t> at(static_cast<size_t>(parts), 0);
  for (uint32_t p : part) ++at[p];
  int64_t from = 0;
  for (int64_t& a : at) from += std::exchange(a, from);
  PoolVector<int64_t> pos(part.size());
  for (size_t j = 0; j < part.size(); ++j) pos[j] = at[part[j]]++;
  return pos;
}

std::vector<Table> HashPartition(const Table& t, const std::vector<std::string>& keys, int parts) {
  const PoolVector<uint32_t> part = HashParts(t, keys, parts);
  // Rows already in part order (a chunk that laid its groups out so):
  // each part is a slice, nothing copied.
  if (std::is_sorted(part.begin(), part.end())) {
    std::vector<Table> out;
    int64_t from = 0;
    for (uint32_t p = 0; p < static_cast<uint32_t>(parts); ++p) {
      const int64_t to = std::upper_bound(part.begin(), part.end(), p) - part.begin();
      out.push_back(t.Slice(from, to - from));
      from = to;
    }
    return out;
  }
  // Otherwise every column dealt out in one pass (taking each part's rows
  // in turn read every column once per part).
  return t.Split(std::span<const uint32_t>(part.data(), part.size()), static_cast<size_t>(parts));
}

}  // namespace skein::dataframe::internal
