// Several per-group sums in one pass over the rows (SumInOnePass in
// groupby_internal.h), and the chunk step that needs no grouping at all
// when the key is one small-range integer or category column, or two
// category columns (DirectSumChunk). With many groups every row lands on
// a random group, so the cost is the cache line each sum touches: one
// pass per sum reads
// the row's group id again and touches one line per sum, while one slot
// holding all of a group's sums (and counts) is one line per row. On this
// machine, three sums over 100k groups: 3.7 ns a row in three passes,
// 2.2 ns in one.
#include <bit>
#include <cstring>
#include <utility>

#include "groupby_internal.h"

namespace skein::dataframe::internal {

namespace {

// Where row i's sums go: its slot, from an int32 array (group ids, or a
// category's codes: -1 is no slot) or int64 values, minus `lo`.
template <class T>
struct SlotOf {
  const T* key;
  int64_t lo;
  int64_t operator()(int64_t i) const { return static_cast<int64_t>(key[i]) - lo; }
};

// Two category keys' slot: code a * (labels of b) + code b.
struct PairSlotOf {
  const int32_t* a;
  const int32_t* b;
  int64_t width;
  int64_t operator()(int64_t i) const { return static_cast<int64_t>(a[i]) * width + b[i]; }
};

// SlotOf that also marks each slot it hands out in a byte per slot: which
// slots some row reached, where no row count is kept (a store no later
// row waits on, in a table 1/24 the size of the sums').
template <class T>
struct MarkedSlotOf {
  const T* key;
  int64_t lo;
  uint8_t* seen;
  int64_t operator()(int64_t i) const {
    const int64_t k = static_cast<int64_t>(key[i]) - lo;
    seen[k] = 1;
    return k;
  }
};

// One pass over up to three lanes. Bit l of `kFloat` says lane l is
// float64 (else int64). A slot is kWords 8-byte words: the lanes' sums,
// then (with kCount) the group's rows and each float lane's count of
// non-NaN values. NaN adds nothing (pandas' skipna).
template <int kLanes, unsigned kFloat, bool kCount, class Slot>
void SumPass(Slot slot_of, int64_t rows, const void* const* src, std::byte* slots) {
  constexpr int kWords = kLanes + (kCount ? 1 + std::popcount(kFloat) : 0);
  constexpr size_t kStride = kWords * 8;
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t k = slot_of(i);
    if (k < 0) continue;
    std::byte* slot = slots + static_cast<size_t>(k) * kStride;
    [&]<int... L>(std::integer_sequence<int, L...>) {
      (
          [&] {
            if constexpr ((kFloat >> L) & 1) {
              const double v = static_cast<const double*>(src[L])[i];
              const bool ok = v == v;
              *reinterpret_cast<double*>(slot + L * 8) += ok ? v : 0.0;
              if constexpr (kCount) {
                constexpr int at = kLanes + 1 + std::popcount(kFloat & ((1u << L) - 1));
                *reinterpret_cast<int64_t*>(slot + at * 8) += ok;
              }
            } else {
              *reinterpret_cast<int64_t*>(slot + L * 8) += static_cast<const int64_t*>(src[L])[i];
            }
          }(),
          ...);
    }(std::make_integer_sequence<int, kLanes>{});
    if constexpr (kCount) ++*reinterpret_cast<int64_t*>(slot + kLanes * 8);
  }
}

template <class Slot>
using PassFn = void (*)(Slot, int64_t, const void* const*, std::byte*);

// SumPass for a lane count (1-3), float mask and count flag known only at
// run time.
template <class Slot>
PassFn<Slot> PassFor(int lanes, unsigned floats, bool count) {
  auto pick = [&]<int N>(std::integral_constant<int, N>) -> PassFn<Slot> {
    PassFn<Slot> fn = nullptr;
    [&]<unsigned... F>(std::integer_sequence<unsigned, F...>) {
      ((floats == F ? (fn = count ? &SumPass<N, F, true, Slot> : &SumPass<N, F, false, Slot>) : fn), ...);
    }(std::make_integer_sequence<unsigned, (1u << N)>{});
    return fn;
  };
  switch (lanes) {
    case 1: return pick(std::integral_constant<int, 1>{});
    case 2: return pick(std::integral_constant<int, 2>{});
    default: return pick(std::integral_constant<int, 3>{});
  }
}

constexpr int kMaxLanes = 3;  // more lanes: one pass per three

// SumInOnePass over `slots` slots, rows placed by `slot_of`. With
// `compact`, only slots some row reached are kept (those `seen` marks,
// else those with a row count: counts must be on), and out.slots lists
// them.
template <class Slot>
LaneSums SumLanes(const std::vector<const Column*>& columns, bool counts, bool compact, Slot slot_of, int64_t rows,
                  int64_t slots, const uint8_t* seen = nullptr) {
  LaneSums out;
  out.lanes.resize(columns.size());
  const auto g = static_cast<size_t>(slots);
  std::vector<size_t> keep;  // with compact: the slots reached, in order
  for (size_t first = 0; first < columns.size(); first += kMaxLanes) {
    const int lanes = static_cast<int>(std::min<size_t>(kMaxLanes, columns.size() - first));
    unsigned floats = 0;
    const void* src[kMaxLanes] = {};
    for (int l = 0; l < lanes; ++l) {
      const Column& c = *columns[first + static_cast<size_t>(l)];
      if (!SumsInOnePass(c) || c.length() != rows) {
        throw Error("SumInOnePass: column " + std::to_string(first + static_cast<size_t>(l)) +
                    " is not an int64/float64 column without nulls of the grouping's length");
      }
      if (c.type() == TypeId::kFloat64) {
        floats |= 1u << l;
        src[l] = c.data<double>();
      } else {
        src[l] = c.data<int64_t>();
      }
    }
    const int words = lanes + (counts ? 1 + std::popcount(floats) : 0);
    PoolScratch<std::byte> table(g * static_cast<size_t>(words) * 8);
    std::memset(table.data(), 0, table.size());
    PassFor<Slot>(lanes, floats, counts)(slot_of, rows, src, table.data());
    auto word = [&](size_t k, int w) { return table.data() + (k * static_cast<size_t>(words) + static_cast<size_t>(w)) * 8; };
    if (compact && first == 0) {
      for (size_t k = 0; k < g; ++k) {
        int64_t n = 0;
        if (seen) n = seen[k];
        else std::memcpy(&n, word(k, lanes), 8);
        if (n > 0) keep.push_back(k);
      }
      out.slots.assign(keep.begin(), keep.end());
    }
    const size_t kept = compact ? keep.size() : g;
    auto slot = [&](size_t j) { return compact ? keep[j] : j; };
    // Lanes out of the slots, one column of groups each.
    auto column_of = [&](auto* dst, int w) {
      for (size_t j = 0; j < kept; ++j) std::memcpy(&dst[j], word(slot(j), w), 8);
    };
    if (counts && out.size.empty()) {
      out.size.resize(kept);
      column_of(out.size.data(), lanes);
    }
    int float_at = lanes + 1;
    for (int l = 0; l < lanes; ++l) {
      LaneSums::Lane& lane = out.lanes[first + static_cast<size_t>(l)];
      if ((floats >> l) & 1) {
        lane.floats.resize(kept);
        column_of(lane.floats.data(), l);
        if (counts) {
          lane.count.resize(kept);
          column_of(lane.count.data(), float_at++);
        }
      } else {
        lane.ints.resize(kept);
        column_of(lane.ints.data(), l);
      }
    }
  }
  return out;
}

// The key column of the slots kept: slot s is key value lo + s (integers)
// or code s of the same dictionary (categories).
Column KeysOfSlots(const Column& key, int64_t lo, const PoolVector<int64_t>& slots) {
  const auto n = static_cast<int64_t>(slots.size());
  std::byte* w;
  if (key.type() == TypeId::kCategory || FixedWidth(key.type()) == 4) {
    Buffer b = Buffer::AllocateUninitialized(static_cast<size_t>(n) * 4, &w);
    auto* v = reinterpret_cast<int32_t*>(w);
    for (int64_t j = 0; j < n; ++j) v[j] = static_cast<int32_t>(lo + slots[static_cast<size_t>(j)]);
    if (key.type() == TypeId::kCategory) {
      return Column::Make(TypeId::kCategory, n, {}, std::move(b), {}, key.dictionary(), key.categories_known());
    }
    return Column::Make(key.type(), n, {}, std::move(b));
  }
  Buffer b = Buffer::AllocateUninitialized(static_cast<size_t>(n) * 8, &w);
  auto* v = reinterpret_cast<int64_t*>(w);
  for (int64_t j = 0; j < n; ++j) v[j] = lo + slots[static_cast<size_t>(j)];
  return Column::Make(key.type(), n, {}, std::move(b));
}

}  // namespace

bool SumsInOnePass(const Column& c) {
  return (c.type() == TypeId::kInt64 || c.type() == TypeId::kFloat64) && !c.has_nulls();
}

LaneSums SumInOnePass(const std::vector<const Column*>& columns, bool counts, const PoolScratch<int32_t>& group,
                      int64_t groups) {
  return SumLanes(columns, counts, false, SlotOf<int32_t>{group.data(), 0}, static_cast<int64_t>(group.size()), groups);
}

SumPlan PlanSums(const Table& t, const std::vector<AggSpec>& aggs) {
  SumPlan plan;
  plan.lane_of.assign(aggs.size(), -1);
  plan.by_size.assign(aggs.size(), 0);
  for (size_t j = 0; j < aggs.size(); ++j) {
    const AggSpec& a = aggs[j];
    if ((a.func == AggFunc::kSum || a.func == AggFunc::kMean) && SumsInOnePass(t.column(a.column))) {
      plan.lane_of[j] = static_cast<int>(plan.lanes.size());
      plan.lanes.push_back(&t.column(a.column));
      plan.counts = plan.counts || a.func == AggFunc::kMean;
    } else if (a.func == AggFunc::kSize ||
               (a.func == AggFunc::kCount && !t.column(a.column).has_nulls() && !IsFloating(t.column(a.column).type()))) {
      plan.by_size[j] = 1;
      plan.counts = true;
    } else {
      plan.all = false;
    }
  }
  return plan;
}

void AppendSumStates(const Table& t, const AggSpec& a, const SumPlan& plan, size_t j, LaneSums& sums,
                     std::vector<std::pair<std::string, Column>>* out) {
  if (plan.by_size[j]) {
    if (a.func == AggFunc::kCount) AggResultType(a, t.column(a.column).type());
    out->emplace_back(StateName(a, "count"), Int64Column(sums.size));
    return;
  }
  const Column& c = t.column(a.column);
  AggResultType(a, c.type());
  LaneSums::Lane& lane = sums.lanes[static_cast<size_t>(plan.lane_of[j])];
  const bool is_float = c.type() == TypeId::kFloat64;
  if (a.func == AggFunc::kSum) {
    out->emplace_back(StateName(a, "sum"), is_float ? Float64Column(lane.floats) : Int64Column(lane.ints));
    return;
  }
  if (!is_float) {  // a mean's sum is a double, as SumState's
    lane.floats.resize(lane.ints.size());
    for (size_t k = 0; k < lane.ints.size(); ++k) lane.floats[k] = static_cast<double>(lane.ints[k]);
  }
  out->emplace_back(StateName(a, "sum"), Float64Column(lane.floats));
  out->emplace_back(StateName(a, "count"), Int64Column(is_float ? lane.count : sums.size));
}

namespace {

// The plan of a direct pass over `range` slots, or nullopt where grouping
// first is the better path: slots far more than the rows (a partition's
// few rows over a large dictionary would sweep a table mostly empty), or
// an aggregation the pass does not answer, or no sum at all (a count
// alone). `*mark`: which slots rows reached is told by a byte per slot,
// not by a row count. Where the sums need no count (so no size either)
// and the slots are many, a count would widen each slot (q5: 24 -> 32
// bytes over 100k groups, which measured slower than grouping first).
std::optional<SumPlan> PlanSlots(const Table& t, const std::vector<AggSpec>& aggs, int64_t range, bool* mark) {
  if (range > std::max<int64_t>(t.num_rows(), 4096) || range > (int64_t{1} << 22)) return std::nullopt;
  SumPlan plan = PlanSums(t, aggs);
  if (!plan.all || plan.lanes.empty()) return std::nullopt;
  const int64_t slot_bytes = 8 * static_cast<int64_t>(plan.lanes.size() + 1);
  *mark = !plan.counts && range * slot_bytes > (int64_t{1} << 19);
  return plan;
}

// The chunk's table: its key columns, then every aggregation's states.
Table SlotTable(std::vector<std::pair<std::string, Column>> cols, const Table& t, const std::vector<AggSpec>& aggs,
                const SumPlan& plan, LaneSums& sums) {
  for (size_t j = 0; j < aggs.size(); ++j) AppendSumStates(t, aggs[j], plan, j, sums, &cols);
  return Table(std::move(cols));
}

// DirectSumChunk over two category keys without nulls (q2: id1, id2), a
// slot per pair of codes; not where the slots would need marking.
std::optional<Table> DirectSumPair(const Table& t, const std::vector<std::string>& keys,
                                   const std::vector<AggSpec>& aggs) {
  const Column &a = t.column(keys[0]), &b = t.column(keys[1]);
  if (a.type() != TypeId::kCategory || b.type() != TypeId::kCategory || a.has_nulls() || b.has_nulls()) {
    return std::nullopt;
  }
  const int64_t width = b.dictionary()->length(), range = a.dictionary()->length() * width;
  bool mark = false;
  const std::optional<SumPlan> plan = PlanSlots(t, aggs, range, &mark);
  if (!plan || mark) return std::nullopt;
  LaneSums sums = SumLanes(plan->lanes, true, true, PairSlotOf{a.data<int32_t>(), b.data<int32_t>(), width},
                           t.num_rows(), range);
  PoolVector<int64_t> first(sums.slots.size()), second(sums.slots.size());
  for (size_t j = 0; j < sums.slots.size(); ++j) {
    first[j] = sums.slots[j] / width;
    second[j] = sums.slots[j] % width;
  }
  std::vector<std::pair<std::string, Column>> cols;
  cols.emplace_back(keys[0], KeysOfSlots(a, 0, first));
  cols.emplace_back(keys[1], KeysOfSlots(b, 0, second));
  return SlotTable(std::move(cols), t, aggs, *plan, sums);
}

}  // namespace

std::optional<Table> DirectSumChunk(const Table& t, const std::vector<std::string>& keys,
                                    const std::vector<AggSpec>& aggs) {
  if (aggs.empty()) return std::nullopt;
  if (keys.size() == 2 && keys[0] != keys[1]) return DirectSumPair(t, keys, aggs);
  if (keys.size() != 1) return std::nullopt;
  const Column& key = t.column(keys[0]);
  if (key.has_nulls()) return std::nullopt;
  int64_t lo = 0, range = 0;
  if (key.type() == TypeId::kCategory) {
    range = key.dictionary()->length();
  } else if (!SmallIntRange(key, &lo, &range)) {
    return std::nullopt;
  }
  bool mark = false;
  const std::optional<SumPlan> plan = PlanSlots(t, aggs, range, &mark);
  if (!plan) return std::nullopt;
  const bool narrow = key.type() == TypeId::kCategory || FixedWidth(key.type()) == 4;
  const int64_t rows = t.num_rows();
  LaneSums sums;
  const std::vector<const Column*>& lanes = plan->lanes;
  if (mark) {
    PoolScratch<uint8_t> seen(static_cast<size_t>(range));
    std::memset(seen.data(), 0, seen.size());
    sums = narrow ? SumLanes(lanes, false, true, MarkedSlotOf<int32_t>{key.data<int32_t>(), lo, seen.data()}, rows,
                             range, seen.data())
                  : SumLanes(lanes, false, true, MarkedSlotOf<int64_t>{key.data<int64_t>(), lo, seen.data()}, rows,
                             range, seen.data());
  } else if (narrow) {
    sums = SumLanes(lanes, true, true, SlotOf<int32_t>{key.data<int32_t>(), lo}, rows, range);
  } else {
    sums = SumLanes(lanes, true, true, SlotOf<int64_t>{key.data<int64_t>(), lo}, rows, range);
  }
  std::vector<std::pair<std::string, Column>> cols;
  cols.emplace_back(keys[0], KeysOfSlots(key, lo, sums.slots));
  return SlotTable(std::move(cols), t, aggs, *plan, sums);
}

}  // namespace skein::dataframe::internal
