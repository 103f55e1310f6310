// Several per-group sums in one pass over the rows (SumInOnePass in
// groupby_internal.h), and the chunk step that needs no grouping at all
// when the key is one small-range integer or category column, or two
// category columns (DirectSumChunk). With many groups every row lands on
// a random group, so the cost is the cache line each sum touches: one
// pass per sum reads
// the row's group id again and touches one line per sum, while one slot
// holding all of a group's sums (and counts) is one line per row. On the
// machine this was first measured on, three sums over 100k groups: 3.7 ns
// a row in three passes, 2.2 ns in one. Where a narrower table stays in L2 and
// the wide one does not, the passes split (LanesPerPass).
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstring>
#include <fstream>
#include <functional>
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

// One pass over up to three lanes. Bit l of `kFloat` says lane l is
// float64 (else int64). A slot is kWords 8-byte words: the lanes' sums,
// then (with kCount) the group's rows and, with kSkipNaN, each float
// lane's count of non-NaN values. With kSkipNaN NaN adds nothing (pandas'
// skipna); without it NaN goes into the sum, which is what tells the
// caller to pass again with it (SumLanes: most columns have no NaN, and
// the test costs ~10% of a pass over a large table).
template <int kLanes, unsigned kFloat, bool kCount, bool kSkipNaN, class Slot>
void SumPass(Slot slot_of, int64_t rows, const void* const* src, std::byte* slots) {
  constexpr int kWords = kLanes + (kCount ? 1 + (kSkipNaN ? std::popcount(kFloat) : 0) : 0);
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
              if constexpr (kSkipNaN) {
                const bool ok = v == v;
                *reinterpret_cast<double*>(slot + L * 8) += ok ? v : 0.0;
                if constexpr (kCount) {
                  constexpr int at = kLanes + 1 + std::popcount(kFloat & ((1u << L) - 1));
                  *reinterpret_cast<int64_t*>(slot + at * 8) += ok;
                }
              } else {
                *reinterpret_cast<double*>(slot + L * 8) += v;
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

// SumPass for a lane count (0-3), float mask, count flag and NaN test
// known only at run time (lanes of ints only have no NaN to test).
template <class Slot>
PassFn<Slot> PassFor(int lanes, unsigned floats, bool count, bool skip_nan) {
  auto pick = [&]<int N>(std::integral_constant<int, N>) -> PassFn<Slot> {
    PassFn<Slot> fn = nullptr;
    [&]<unsigned... F>(std::integer_sequence<unsigned, F...>) {
      (
          [&] {
            if (floats != F) return;
            if constexpr (F == 0) fn = count ? &SumPass<N, F, true, false, Slot> : &SumPass<N, F, false, false, Slot>;
            else if (skip_nan) fn = count ? &SumPass<N, F, true, true, Slot> : &SumPass<N, F, false, true, Slot>;
            else fn = count ? &SumPass<N, F, true, false, Slot> : &SumPass<N, F, false, false, Slot>;
          }(),
          ...);
    }(std::make_integer_sequence<unsigned, (1u << N)>{});
    return fn;
  };
  switch (lanes) {
    case 0: return pick(std::integral_constant<int, 0>{});  // the row count alone
    case 1: return pick(std::integral_constant<int, 1>{});
    case 2: return pick(std::integral_constant<int, 2>{});
    default: return pick(std::integral_constant<int, 3>{});
  }
}

constexpr int kMaxLanes = 3;  // more lanes: one pass per three

// This core's second-level cache in bytes, or 0 where the system does not
// say (then every pass takes as many lanes as it can).
size_t L2Bytes() {
  static const size_t bytes = [] {
    long n = ::sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (n > 0) return static_cast<size_t>(n);
    std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index2/size");  // "2048K"
    size_t v = 0;
    char unit = 0;
    if (f >> v >> unit) return v * (unit == 'M' ? 1 << 20 : unit == 'K' ? 1 << 10 : 1);
    return size_t{0};
  }();
  return bytes;
}

std::atomic<int> forced_lanes_per_pass{0};  // TEST_ForceSumPasses
std::atomic<bool> forced_count_alone{false};

}  // namespace

// One slot holding all of a group's sums costs one cache line a row, which
// wins while the table stays in the core's L2 or where it would miss L2
// either way. Where the whole table outgrows L2 but a narrower one fits, a
// pass per lane or two wins by more than rereading the keys costs: on a
// 2 MiB-L2 Xeon, q5's three sums over 100k groups (a 2.4 MB table) took
// 6.2 ms per 1.25M rows in one pass, 4.9 ms in three of 0.8 MB and 4.2 ms
// in two (1.6 + 0.8 MB). A table fits in three quarters of L2 (the rows
// stream through the same cache): at 1.9 MB one pass had already lost.
// The row count rides with the first lanes where they fit together, else
// it gets a pass of its own (q3: a sum, a mean and the count, 100k groups).
SumPassPlan PlanSumPasses(size_t lanes, bool counts, size_t groups, size_t l2_bytes) {
  const int most = static_cast<int>(std::min<size_t>(kMaxLanes, std::max<size_t>(lanes, 1)));
  const size_t budget = l2_bytes / 4 * 3;
  auto fits = [&](int words) { return groups * static_cast<size_t>(words) * 8 <= budget; };
  for (int p = most; p >= 1; --p) {
    if (fits(p + counts)) return {p, false};
  }
  for (int p = most; counts && lanes > 0 && p >= 1; --p) {
    if (fits(p)) return {p, true};
  }
  return {most, false};
}

void TEST_ForceSumPasses(int lanes_per_pass, bool count_alone) {
  forced_lanes_per_pass = lanes_per_pass;
  forced_count_alone = count_alone;
}

namespace {

// The slots of a pass's table (`g` slots of `stride` words, the first
// `lanes` of them sums, then with `counts` the row count) that some row
// reached, in order: those with a row count, else those with a sum word
// that is not all zero bits. No row writes a mark in the pass (a byte
// store per row cost ~20% of q5's): only where a slot's sums are all zero,
// which rows summing to zero leave too, does a second pass over the keys
// mark the slots rows reach.
template <class Slot>
PoolVector<int64_t> SlotsReached(const uint64_t* w64, size_t g, size_t stride, int lanes, bool counts, Slot slot_of,
                                 int64_t rows) {
  PoolVector<int64_t> keep(g);
  size_t n = 0;
  if (counts) {
    for (size_t k = 0; k < g; ++k) {
      keep[n] = static_cast<int64_t>(k);
      n += w64[k * stride + static_cast<size_t>(lanes)] != 0;
    }
  } else {
    for (size_t k = 0; k < g; ++k) {
      uint64_t any = 0;
      for (int l = 0; l < lanes; ++l) any |= w64[k * stride + static_cast<size_t>(l)];
      keep[n] = static_cast<int64_t>(k);
      n += any != 0;
    }
    if (n < g) {  // a slot with no bit set: reached or not?
      PoolScratch<uint8_t> seen(g);
      std::memset(seen.data(), 0, g);
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t k = slot_of(i);
        if (k >= 0) seen[static_cast<size_t>(k)] = 1;
      }
      n = 0;
      for (size_t k = 0; k < g; ++k) {
        keep[n] = static_cast<int64_t>(k);
        n += seen[k];
      }
    }
  }
  keep.resize(n);
  return keep;
}

// SumInOnePass over `slots` slots, rows placed by `slot_of`. With
// `compact`, only the slots some row reached are kept (SlotsReached), and
// out.slots lists them. With `place` (compact only), the groups are
// written where it puts each slot kept (a permutation), and out.slots is
// in that order.
using Placer = std::function<void(const PoolVector<int64_t>& slots, PoolVector<int64_t>* pos)>;
template <class Slot>
LaneSums SumLanes(const std::vector<const Column*>& columns, bool counts, bool compact, Slot slot_of, int64_t rows,
                  int64_t slots, const Placer* place = nullptr) {
  LaneSums out;
  out.lanes.resize(columns.size());
  const auto g = static_cast<size_t>(slots);
  PoolVector<int64_t> pos;  // with `place`: where kept slot j's group goes
  const SumPassPlan plan = forced_lanes_per_pass > 0
                               ? SumPassPlan{forced_lanes_per_pass.load(), forced_count_alone.load() && counts}
                               : PlanSumPasses(columns.size(), counts, g, L2Bytes());
  // The passes: (first lane, lanes); a count alone is a pass of no lanes.
  std::vector<std::pair<size_t, int>> passes;
  if (plan.count_alone) passes.emplace_back(0, 0);
  for (size_t first = 0; first < columns.size(); first += static_cast<size_t>(plan.lanes_per_pass)) {
    passes.emplace_back(first, static_cast<int>(std::min<size_t>(static_cast<size_t>(plan.lanes_per_pass),
                                                                 columns.size() - first)));
  }
  for (size_t pass = 0; pass < passes.size(); ++pass) {
    const auto [first, lanes] = passes[pass];
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
    // First without the NaN test; a NaN sum (a NaN among the rows, or
    // infinities of both signs) sends the lanes through the tested pass.
    for (bool skip_nan : {false, true}) {
      if (skip_nan && floats == 0) break;
      // The rows are counted in the first pass, and again only where a
      // float lane with NaN needs its own counts beside them.
      const bool pass_counts = counts && (pass == 0 || skip_nan);
      const int words = lanes + (pass_counts ? 1 + (skip_nan ? std::popcount(floats) : 0) : 0);
      PoolScratch<std::byte> table(g * static_cast<size_t>(words) * 8);
      std::memset(table.data(), 0, table.size());
      PassFor<Slot>(lanes, floats, pass_counts, skip_nan)(slot_of, rows, src, table.data());
      const auto* w64 = reinterpret_cast<const uint64_t*>(table.data());
      const auto stride = static_cast<size_t>(words);
      if (compact && pass == 0 && !skip_nan) {
        out.slots = SlotsReached(w64, g, stride, lanes, pass_counts, slot_of, rows);
        if (place) (*place)(out.slots, &pos);
      }
      const size_t kept = compact ? out.slots.size() : g;
      // The words wanted, each into its column of groups, in one pass over
      // the slots (a pass per word read the table's lines once per word).
      std::vector<std::pair<size_t, uint64_t*>> wanted;  // (word, column)
      auto want = [&](auto& column, int w) {
        column.resize(kept);
        wanted.emplace_back(static_cast<size_t>(w), reinterpret_cast<uint64_t*>(column.data()));
      };
      if (pass_counts && out.size.empty()) want(out.size, lanes);
      int float_at = lanes + 1;
      for (int l = 0; l < lanes; ++l) {
        LaneSums::Lane& lane = out.lanes[first + static_cast<size_t>(l)];
        if ((floats >> l) & 1) {
          want(lane.floats, l);
          if (skip_nan && pass_counts) want(lane.count, float_at++);
        } else {
          want(lane.ints, l);
        }
      }
      const int64_t* keep = compact ? out.slots.data() : nullptr;
      if (pos.empty()) {
        for (size_t j = 0; j < kept; ++j) {
          const uint64_t* slot = w64 + (keep ? static_cast<size_t>(keep[j]) : j) * stride;
          for (const auto& [w, column] : wanted) column[j] = slot[w];
        }
      } else {  // written where `place` put them
        for (size_t j = 0; j < kept; ++j) {
          const uint64_t* slot = w64 + static_cast<size_t>(keep[j]) * stride;
          const auto at = static_cast<size_t>(pos[j]);
          for (const auto& [w, column] : wanted) column[at] = slot[w];
        }
      }
      bool nan = false;
      for (int l = 0; l < lanes && !skip_nan; ++l) {
        if (!((floats >> l) & 1)) continue;
        LaneSums::Lane& lane = out.lanes[first + static_cast<size_t>(l)];
        for (double v : lane.floats) nan |= v != v;
        if (counts) lane.count.assign(out.size.begin(), out.size.end());  // no NaN: every row counts
      }
      if (!nan) break;
    }
  }
  if (!pos.empty()) {
    PoolVector<int64_t> placed(out.slots.size());
    for (size_t j = 0; j < pos.size(); ++j) placed[static_cast<size_t>(pos[j])] = out.slots[j];
    out.slots = std::move(placed);
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
// alone). Slots hold a row count only where an aggregation needs one: a
// count word widens q5's slots from 24 to 32 bytes over 100k groups,
// which measured slower than grouping first.
std::optional<SumPlan> PlanSlots(const Table& t, const std::vector<AggSpec>& aggs, int64_t range) {
  if (range > std::max<int64_t>(t.num_rows(), 4096) || range > (int64_t{1} << 22)) return std::nullopt;
  SumPlan plan = PlanSums(t, aggs);
  if (!plan.all || plan.lanes.empty()) return std::nullopt;
  return plan;
}

// The key columns of the slots in `slots`, in that order.
using SlotKeys = std::function<std::vector<std::pair<std::string, Column>>(const PoolVector<int64_t>& slots)>;

// The chunk's table from a direct pass: its key columns, then every
// aggregation's states. With `parts` > 1 (a hash shuffle into that many
// parts follows) the groups are written in the order of their parts, so
// that the shuffle's split is slices (HashPartition): the part of each
// slot kept is hashed from its key, and the pass's extraction writes each
// group where its part's run puts it, with no copy after.
template <class Slot>
Table SlotChunk(const Table& t, const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs, int parts,
                const SumPlan& plan, Slot slot_of, int64_t range, const SlotKeys& slot_keys) {
  const Placer by_part = [&](const PoolVector<int64_t>& slots, PoolVector<int64_t>* pos) {
    *pos = PositionsByPart(HashParts(Table(slot_keys(slots)), keys, parts), parts);
  };
  LaneSums sums = SumLanes(plan.lanes, plan.counts, true, slot_of, t.num_rows(), range, parts > 1 ? &by_part : nullptr);
  std::vector<std::pair<std::string, Column>> cols = slot_keys(sums.slots);
  for (size_t j = 0; j < aggs.size(); ++j) AppendSumStates(t, aggs[j], plan, j, sums, &cols);
  return Table(std::move(cols));
}

// DirectSumChunk over two category keys without nulls (q2: id1, id2), a
// slot per pair of codes.
std::optional<Table> DirectSumPair(const Table& t, const std::vector<std::string>& keys,
                                   const std::vector<AggSpec>& aggs, int parts) {
  const Column &a = t.column(keys[0]), &b = t.column(keys[1]);
  if (a.type() != TypeId::kCategory || b.type() != TypeId::kCategory || a.has_nulls() || b.has_nulls()) {
    return std::nullopt;
  }
  const int64_t width = b.dictionary()->length(), range = a.dictionary()->length() * width;
  const std::optional<SumPlan> plan = PlanSlots(t, aggs, range);
  if (!plan) return std::nullopt;
  const SlotKeys slot_keys = [&](const PoolVector<int64_t>& slots) {
    PoolVector<int64_t> first(slots.size()), second(slots.size());
    for (size_t j = 0; j < slots.size(); ++j) {
      first[j] = slots[j] / width;
      second[j] = slots[j] % width;
    }
    std::vector<std::pair<std::string, Column>> cols;
    cols.emplace_back(keys[0], KeysOfSlots(a, 0, first));
    cols.emplace_back(keys[1], KeysOfSlots(b, 0, second));
    return cols;
  };
  return SlotChunk(t, keys, aggs, parts, *plan, PairSlotOf{a.data<int32_t>(), b.data<int32_t>(), width}, range,
                   slot_keys);
}

}  // namespace

std::optional<Table> DirectSumChunk(const Table& t, const std::vector<std::string>& keys,
                                    const std::vector<AggSpec>& aggs, int parts) {
  if (aggs.empty()) return std::nullopt;
  if (keys.size() == 2 && keys[0] != keys[1]) return DirectSumPair(t, keys, aggs, parts);
  if (keys.size() != 1) return std::nullopt;
  const Column& key = t.column(keys[0]);
  if (key.has_nulls()) return std::nullopt;
  int64_t lo = 0, range = 0;
  if (key.type() == TypeId::kCategory) {
    range = key.dictionary()->length();
  } else if (!SmallIntRange(key, &lo, &range)) {
    return std::nullopt;
  }
  const std::optional<SumPlan> plan = PlanSlots(t, aggs, range);
  if (!plan) return std::nullopt;
  const SlotKeys slot_keys = [&](const PoolVector<int64_t>& slots) {
    std::vector<std::pair<std::string, Column>> cols;
    cols.emplace_back(keys[0], KeysOfSlots(key, lo, slots));
    return cols;
  };
  if (key.type() == TypeId::kCategory || FixedWidth(key.type()) == 4) {
    return SlotChunk(t, keys, aggs, parts, *plan, SlotOf<int32_t>{key.data<int32_t>(), lo}, range, slot_keys);
  }
  return SlotChunk(t, keys, aggs, parts, *plan, SlotOf<int64_t>{key.data<int64_t>(), lo}, range, slot_keys);
}

}  // namespace skein::dataframe::internal
