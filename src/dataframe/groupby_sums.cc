// Several per-group sums in one pass over the rows (see SumInOnePass in
// groupby_internal.h). With many groups every row lands on a random group,
// so the cost is the cache line each sum touches: one pass per sum reads
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

// One pass over up to three lanes. Bit l of `kFloat` says lane l is
// float64 (else int64). A slot is kWords 8-byte words: the lanes' sums,
// then (with kCount) the group's rows and each float lane's count of
// non-NaN values. NaN adds nothing (pandas' skipna).
template <int kLanes, unsigned kFloat, bool kCount>
void SumPass(const int32_t* group, int64_t rows, const void* const* src, std::byte* slots) {
  constexpr int kWords = kLanes + (kCount ? 1 + std::popcount(kFloat) : 0);
  constexpr size_t kStride = kWords * 8;
  for (int64_t i = 0; i < rows; ++i) {
    const int32_t k = group[i];
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

using PassFn = void (*)(const int32_t*, int64_t, const void* const*, std::byte*);

// SumPass for a lane count (1-3), float mask and count flag known only at
// run time.
PassFn PassFor(int lanes, unsigned floats, bool count) {
  auto pick = [&]<int N>(std::integral_constant<int, N>) -> PassFn {
    PassFn fn = nullptr;
    [&]<unsigned... F>(std::integer_sequence<unsigned, F...>) {
      ((floats == F ? (fn = count ? &SumPass<N, F, true> : &SumPass<N, F, false>) : fn), ...);
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

}  // namespace

bool SumsInOnePass(const Column& c) {
  return (c.type() == TypeId::kInt64 || c.type() == TypeId::kFloat64) && !c.has_nulls();
}

LaneSums SumInOnePass(const std::vector<const Column*>& columns, bool counts, const PoolScratch<int32_t>& group,
                      int64_t groups) {
  LaneSums out;
  out.lanes.resize(columns.size());
  const auto g = static_cast<size_t>(groups);
  for (size_t first = 0; first < columns.size(); first += kMaxLanes) {
    const int lanes = static_cast<int>(std::min<size_t>(kMaxLanes, columns.size() - first));
    unsigned floats = 0;
    const void* src[kMaxLanes] = {};
    for (int l = 0; l < lanes; ++l) {
      const Column& c = *columns[first + static_cast<size_t>(l)];
      if (!SumsInOnePass(c) || c.length() != static_cast<int64_t>(group.size())) {
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
    PoolScratch<std::byte> slots(g * static_cast<size_t>(words) * 8);
    std::memset(slots.data(), 0, slots.size());
    PassFor(lanes, floats, counts)(group.data(), static_cast<int64_t>(group.size()), src, slots.data());
    // Lanes out of the slots, one column of groups each.
    auto word = [&](size_t k, int w) { return slots.data() + (k * static_cast<size_t>(words) + static_cast<size_t>(w)) * 8; };
    if (counts && out.size.empty()) {
      out.size.resize(g);
      for (size_t k = 0; k < g; ++k) std::memcpy(&out.size[k], word(k, lanes), 8);
    }
    int float_at = lanes + 1;
    for (int l = 0; l < lanes; ++l) {
      LaneSums::Lane& lane = out.lanes[first + static_cast<size_t>(l)];
      const bool is_float = (floats >> l) & 1;
      (is_float ? lane.floats.resize(g) : lane.ints.resize(g));
      for (size_t k = 0; k < g; ++k) std::memcpy(is_float ? static_cast<void*>(&lane.floats[k]) : &lane.ints[k], word(k, l), 8);
      if (counts && is_float) {
        lane.count.resize(g);
        for (size_t k = 0; k < g; ++k) std::memcpy(&lane.count[k], word(k, float_at), 8);
        ++float_at;
      }
    }
  }
  return out;
}

}  // namespace skein::dataframe::internal
