// Medians and quantiles per group, and the grouped values they read.
// A median cannot be summed from parts, but a group's values can travel
// instead of its rows: the chunk step deals each partition's values out by
// group (a counting sort) and keeps one row per group holding its values
// as bytes (the "values" state). A shuffle then moves only the values and
// one key row per group, the combine step appends each group's runs, and
// the finalize step selects the quantile from each group's values.
#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "groupby_internal.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace skein::dataframe::internal {

namespace {

// [b, e) reordered so that elements < p come first; returns where the rest
// start. Branch-free (each element is swapped or not by arithmetic): the
// comparisons of unsorted values are coin flips, which a branch mispredicts
// half the time (std::nth_element's partition was over half of q6).
double* PartitionLess(double* b, double* e, double p) {
  double* lo = b;  // [b, lo) < p, [lo, it) >= p
  for (double* it = b; it != e; ++it) {
    const double x = *it;
    const bool less = x < p;
    *it = *lo;
    *lo = x;
    lo += less;
  }
  return lo;
}

// The same with <=: elements equal to p join the front part.
double* PartitionLessEqual(double* b, double* e, double p) {
  double* lo = b;
  for (double* it = b; it != e; ++it) {
    const double x = *it;
    const bool take = x <= p;
    *it = *lo;
    *lo = x;
    lo += take;
  }
  return lo;
}

// std::nth_element's contract for non-NaN doubles: [b, e) reordered so
// that b[k] is the value a sort would put there, nothing before it is
// greater and nothing after it is smaller. Quickselect on branch-free
// partitions with a median-of-three pivot; many equal values are split
// off in one more pass; a window that does not shrink fast enough (an
// adversarial order) finishes with std::nth_element.
void SelectNth(double* b, double* e, std::ptrdiff_t k) {
  double* const target = b + k;
  int rounds = 2 * std::bit_width(static_cast<size_t>(e - b)) + 8;
  while (e - b > 24) {
    if (--rounds < 0) {
      std::nth_element(b, target, e);
      return;
    }
    const double x = b[0], y = b[(e - b) / 2], z = e[-1];
    const double pivot = std::max(std::min(x, y), std::min(std::max(x, y), z));
    double* m = PartitionLess(b, e, pivot);  // [b, m) < pivot <= [m, e)
    if (target < m) {
      e = m;
      continue;
    }
    double* m2 = PartitionLessEqual(m, e, pivot);  // [m, m2) == pivot (never empty)
    if (target < m2) return;
    b = m2;
  }
  std::sort(b, e);
}

// The smallest of [b, e) (not empty), four running minima at a time.
double MinOf(const double* b, const double* e) {
  double m[4] = {b[0], b[0], b[0], b[0]};
  const double* it = b;
  for (; e - it >= 4; it += 4) {
    for (int j = 0; j < 4; ++j) m[j] = std::min(m[j], it[j]);
  }
  for (; it != e; ++it) m[0] = std::min(m[0], *it);
  return std::min(std::min(m[0], m[1]), std::min(m[2], m[3]));
}

// The q-quantile of [b, e) (not empty, no NaN) with linear interpolation
// between the closest ranks lo and lo + 1. Groups of 64 values or more
// first take two values of a strided sample of 64 around the target rank
// as fences: one pass counts the values below the lower fence, copies
// those between the fences (a quarter of them, expected)
// and keeps the least value above the upper one; both ranks are then
// selected among the copies. Where the sample misled (ranks outside the
// fences), the values are selected in place as for small groups. One pass
// and a small select, where selecting in place partitioned the whole
// group two or three times over.
double QuantileOf(double* b, double* e, double q, PoolScratch<double>* scratch) {
  const std::ptrdiff_t n = e - b;
  const double pos = q * static_cast<double>(n - 1);
  const auto lo = static_cast<std::ptrdiff_t>(std::floor(pos));
  auto interpolate = [&](double a_lo, double a_hi) { return a_lo + (a_hi - a_lo) * (pos - static_cast<double>(lo)); };
  // The rank's place among the sample is off by sqrt(64 q (1 - q)), up to
  // 4, either way: fences 8 apart each side miss ~5% of the time (4 apart
  // missed ~27%, each miss a select over the whole group).
  constexpr std::ptrdiff_t kSample = 64, kSpread = 8;
  if (n >= kSample) {
    double sample[kSample];
    for (std::ptrdiff_t s = 0; s < kSample; ++s) sample[s] = b[s * n / kSample];
    const std::ptrdiff_t at = lo * kSample / n;
    // Only the two fences' ranks are needed, not a sorted sample.
    const std::ptrdiff_t rank_lo = std::max<std::ptrdiff_t>(0, at - kSpread);
    const std::ptrdiff_t rank_hi = std::min<std::ptrdiff_t>(kSample - 1, at + 1 + kSpread);
    std::nth_element(sample, sample + rank_lo, sample + kSample);
    std::nth_element(sample + rank_lo + 1, sample + rank_hi, sample + kSample);
    const double fence_lo = sample[rank_lo];
    const double fence_hi = sample[rank_hi];
    if (scratch->size() < static_cast<size_t>(n) + 8) scratch->resize(static_cast<size_t>(n) + 8);
    double* const mid = scratch->data();
    std::ptrdiff_t below = 0, m = 0;
    double above = std::numeric_limits<double>::infinity();
    const double* it = b;
#if defined(__AVX512F__)
    // Eight at a time: the values between the fences packed in a register
    // and stored whole (the scratch has 8 spare), the count moved on by
    // how many there were.
    const __m512d lo_v = _mm512_set1_pd(fence_lo), hi_v = _mm512_set1_pd(fence_hi);
    __m512d above_v = _mm512_set1_pd(above);
    for (; e - it >= 8; it += 8) {
      const __m512d x = _mm512_loadu_pd(it);
      const __mmask8 lt = _mm512_cmp_pd_mask(x, lo_v, _CMP_LT_OQ);
      const __mmask8 gt = _mm512_cmp_pd_mask(x, hi_v, _CMP_GT_OQ);
      const __mmask8 in = static_cast<__mmask8>(~(lt | gt));
      _mm512_storeu_pd(mid + m, _mm512_maskz_compress_pd(in, x));
      below += std::popcount(static_cast<unsigned>(lt));
      m += std::popcount(static_cast<unsigned>(in));
      above_v = _mm512_mask_min_pd(above_v, gt, above_v, x);
    }
    alignas(64) double lanes[8];
    _mm512_store_pd(lanes, above_v);  // (GCC 12's _mm512_reduce_min_pd warns of an unset register)
    for (double l : lanes) above = std::min(above, l);
#endif
    for (; it != e; ++it) {
      const double x = *it;
      below += x < fence_lo;
      mid[m] = x;
      m += (x >= fence_lo) & (x <= fence_hi);
      above = std::min(above, x > fence_hi ? x : std::numeric_limits<double>::infinity());
    }
    if (lo >= below && lo < below + m) {
      const std::ptrdiff_t k = lo - below;
      SelectNth(mid, mid + m, k);
      const double a_lo = mid[k];
      if (lo + 1 >= n) return a_lo;
      return interpolate(a_lo, k + 1 < m ? MinOf(mid + k + 1, mid + m) : above);
    }
  }
  SelectNth(b, e, lo);
  const double a_lo = b[lo];
  return interpolate(a_lo, lo + 1 < n ? MinOf(b + lo + 1, e) : a_lo);
}

// Sum of [b, e) over eight running sums (one chain of dependent adds
// waited 4 cycles a value): the same two-pass moments as MomentState's,
// summed in another order.
template <class F>
double SumOf(const double* b, const double* e, F f) {
  double acc[8] = {};
  const double* p = b;
  for (; e - p >= 8; p += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += f(p[j]);
  }
  for (int j = 0; p != e; ++p, ++j) acc[j] += f(*p);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Count, mean and M2 of each group of `gv`, in two passes over its values.
template <class F>
void ForMoments(const GroupedValues& gv, F f) {
  const size_t groups = gv.groups();
  for (size_t k = 0; k < groups; ++k) {
    const double* b = gv.begin(k);
    const double* e = gv.end(k);
    const int64_t n = e - b;
    const double mean = n ? SumOf(b, e, [](double x) { return x; }) / static_cast<double>(n) : 0;
    const double m2 = SumOf(b, e, [mean](double x) { return (x - mean) * (x - mean); });
    f(k, n, mean, m2);
  }
}

constexpr int64_t kMaxStateBytes = INT32_MAX;

// The bytes of row i of a values state, checked to be whole float64s.
std::pair<const std::byte*, int64_t> StateRow(const Column& c, int64_t i) {
  const int32_t* o = c.string_offsets();
  const int64_t len = int64_t{o[i + 1]} - o[i];
  if (len % 8 != 0) {
    throw Error("groupby median/quantile state: row " + std::to_string(i) + " holds " + std::to_string(len) +
                " bytes, not a whole number of float64 values");
  }
  return {c.values().data() + o[i], c.IsNull(i) ? 0 : len};
}

void CheckState(const Column& c) {
  if (c.type() != TypeId::kString) {
    throw TypeError("groupby median/quantile state: a column of " + std::string(TypeName(c.type())) +
                    ", not the binary values of a partial");
  }
}

void CheckStateSize(int64_t bytes) {
  if (bytes > kMaxStateBytes) {
    throw Error("groupby median/quantile: " + std::to_string(bytes / 8) + " values in one partial, more than its " +
                std::to_string(kMaxStateBytes / 8) + " (2 GiB) hold; use more partitions or split_out");
  }
}

// The n float64s at `b` (any alignment) copied to `d`, NaN left out (a
// state from a message may hold them; the select assumes none); how many
// were copied.
size_t CopyNumbers(const std::byte* b, size_t n, double* d) {
  std::memcpy(d, b, n * 8);
  // A branch-free look for NaN (it vectorizes); the compaction runs only
  // where there is one.
  bool nan = false;
  for (size_t i = 0; i < n; ++i) nan |= d[i] != d[i];
  if (!nan) return n;
  size_t m = 0;
  for (size_t i = 0; i < n; ++i) {
    const double x = d[i];
    d[m] = x;
    m += x == x;
  }
  return m;
}

// A string column over `bytes` with int32 offsets from byte offsets.
Column StateColumn(const PoolVector<int64_t>& from_bytes, Buffer bytes) {
  const size_t groups = from_bytes.size() - 1;
  std::byte* w;
  Buffer offsets = Buffer::AllocateUninitialized((groups + 1) * 4, &w);
  auto* o = reinterpret_cast<int32_t*>(w);
  for (size_t k = 0; k <= groups; ++k) o[k] = static_cast<int32_t>(from_bytes[k]);
  return Column::Make(TypeId::kString, static_cast<int64_t>(groups), {}, std::move(bytes), std::move(offsets));
}

}  // namespace

GroupedValues GroupValues(const Column& c, const Grouping& g, std::span<const int64_t> order) {
  const size_t groups = static_cast<size_t>(g.num_groups());
  GroupedValues out;
  PoolVector<int64_t> count(groups + 1, 0);
  // float64 without nulls (the common case) is counted from the group ids
  // alone, a third of the bytes: a NaN found while dealing leaves a hole at
  // its group's end, closed after.
  const bool fast = c.type() == TypeId::kFloat64 && !c.has_nulls() && c.length() < INT32_MAX;
  if (fast) {
    for (int32_t k : g.group) count[static_cast<size_t>(k >= 0 ? k : static_cast<int32_t>(groups))] += 1;
  } else {
    ForValues<double>(c, g.group, [&](int32_t k, double) { ++count[static_cast<size_t>(k)]; });
  }
  // Where each group starts: in group order, or in `order`'s.
  PoolScratch<int64_t> start(groups);
  out.from.resize(groups + 1);
  out.from[0] = 0;
  if (!order.empty()) {
    if (order.size() != groups) throw Error("groupby: a group order of the wrong length");
    out.pos_of.assign(groups, -1);
    for (size_t r = 0; r < groups; ++r) {
      const auto k = static_cast<size_t>(order[r]);
      if (order[r] < 0 || k >= groups || out.pos_of[k] >= 0) {
        throw Error("groupby: a group order that is not a permutation");
      }
      out.pos_of[k] = static_cast<int32_t>(r);
      start[k] = out.from[r];
      out.from[r + 1] = out.from[r] + count[k];
    }
  } else {
    for (size_t k = 0; k < groups; ++k) {
      start[k] = out.from[k];
      out.from[k + 1] = out.from[k] + count[k];
    }
  }
  const int64_t total = out.from.back();
  std::byte* w;
  out.bytes = Buffer::AllocateUninitialized(static_cast<size_t>(total) * 8 + 8, &w);
  out.vals = reinterpret_cast<double*>(w);
  double* const vals = out.vals;
  // One pass dealing each value to its group's next slot. (Dealing to
  // buckets of 64 groups first, then within each bucket, was slower here:
  // the two passes moved twice the bytes.)
  if (fast) {
    // Without ForValues' per-row tests: int32 cursors (the table stays in
    // the first-level cache for ~10k groups), and the slot a row kPrefetch
    // ahead will store to fetched for writing while this one stores (over
    // 10k groups a store's line is seldom cached).
    constexpr int64_t kPrefetch = 16;
    PoolScratch<int32_t> at32(groups);
    for (size_t k = 0; k < groups; ++k) at32[k] = static_cast<int32_t>(start[k]);
    const double* v = c.data<double>();
    const int32_t* gp = g.group.data();
    int32_t* const cur = at32.data();
    const int64_t n = c.length();
    int64_t nan = 0;
    auto deal = [&](int64_t i) {
      const int32_t k = gp[i];
      const double x = v[i];
      if (k < 0) return;
      if (x == x) vals[cur[k]++] = x;
      else ++nan;
    };
    int64_t i = 0;
    for (; i + kPrefetch < n; ++i) {
      const int32_t ahead = gp[i + kPrefetch];
      if (ahead >= 0) __builtin_prefetch(vals + cur[ahead], 1, 3);
      deal(i);
    }
    for (; i < n; ++i) deal(i);
    if (nan > 0) {
      // Each group's values run from its start to its cursor: moved down
      // over the holes, in layout order.
      int64_t to = 0;
      for (size_t r = 0; r < groups; ++r) {
        const size_t k = order.empty() ? r : static_cast<size_t>(order[r]);
        const int64_t b = out.from[r], len = cur[k] - b;
        if (to != b) std::memmove(vals + to, vals + b, static_cast<size_t>(len) * 8);
        out.from[r] = to;
        to += len;
      }
      out.from[groups] = to;
    }
    return out;
  }
  ForValues<double>(c, g.group, [&](int32_t k, double x) { vals[start[static_cast<size_t>(k)]++] = x; });
  return out;
}

void MomentStatesFromGrouped(const GroupedValues& gv, const AggSpec& a,
                             std::vector<std::pair<std::string, Column>>* out) {
  const size_t groups = gv.groups();
  PoolVector<int64_t> count(groups);
  PoolVector<double> mean(groups), m2(groups);
  ForMoments(gv, [&](size_t k, int64_t n, double mu, double m) {
    count[k] = n;
    mean[k] = mu;
    m2[k] = m;
  });
  out->emplace_back(StateName(a, "count"), Int64Column(count));
  out->emplace_back(StateName(a, "mean"), Float64Column(mean));
  out->emplace_back(StateName(a, "m2"), Float64Column(m2));
}

Column ValuesState(const GroupedValues& gv) {
  CheckStateSize(gv.from.back() * 8);
  PoolVector<int64_t> from_bytes(gv.from.size());
  for (size_t k = 0; k < gv.from.size(); ++k) from_bytes[k] = gv.from[k] * 8;
  return StateColumn(from_bytes, gv.bytes);
}

Column CombineValuesStates(const std::vector<const Column*>& parts, const Grouping& g) {
  const size_t groups = static_cast<size_t>(g.num_groups());
  PoolVector<int64_t> from(groups + 1, 0);
  // Each group's bytes, then where each starts, then every row's run
  // copied to its group's cursor.
  auto each_row = [&](auto f) {
    size_t row = 0;
    for (const Column* c : parts) {
      CheckState(*c);
      for (int64_t i = 0; i < c->length(); ++i, ++row) {
        const int32_t k = g.group[row];
        if (k >= 0) f(static_cast<size_t>(k), StateRow(*c, i));
      }
    }
  };
  each_row([&](size_t k, std::pair<const std::byte*, int64_t> r) { from[k + 1] += r.second; });
  std::partial_sum(from.begin(), from.end(), from.begin());
  CheckStateSize(from.back());
  std::byte* w;
  Buffer bytes = Buffer::AllocateUninitialized(static_cast<size_t>(from.back()) + 8, &w);
  PoolScratch<int64_t> at(from.begin(), from.end() - 1);
  each_row([&](size_t k, std::pair<const std::byte*, int64_t> r) {
    std::memcpy(w + at[k], r.first, static_cast<size_t>(r.second));
    at[k] += r.second;
  });
  return StateColumn(from, std::move(bytes));
}

double QuantileQ(const AggSpec& a) {
  const double q = a.func == AggFunc::kMedian ? 0.5 : a.q;
  if (!(q >= 0 && q <= 1)) throw Error("quantile: q must be in [0, 1], got " + std::to_string(q));
  return q;
}

Column QuantilesOfState(const Column& values, double q) {
  CheckState(values);
  const int64_t groups = values.length();
  PoolVector<double> v(static_cast<size_t>(groups), 0);
  PoolVector<uint8_t> valid(static_cast<size_t>(groups), 0);
  PoolScratch<double> group, scratch;
  for (int64_t k = 0; k < groups; ++k) {
    auto [b, len] = StateRow(values, k);
    const auto n = static_cast<size_t>(len / 8);
    if (group.size() < n) group.resize(n);
    // Copied out (the state is shared, the select reorders).
    double* d = group.data();
    const size_t m = CopyNumbers(b, n, d);
    if (m == 0) continue;
    v[static_cast<size_t>(k)] = QuantileOf(d, d + m, q, &scratch);
    valid[static_cast<size_t>(k)] = 1;
  }
  return Float64Column(v, valid.data());
}

Column QuantilesOfParts(const std::vector<const Column*>& parts, const Grouping& g, double q) {
  // Each group's rows across the parts, then per group its runs copied
  // into one scratch (which the cache keeps) and selected from: the
  // merged state CombineValuesStates writes is never written or read.
  const Grouping::Members members = g.RowsByGroup();
  std::vector<int64_t> part_start = {0};
  for (const Column* c : parts) {
    CheckState(*c);
    part_start.push_back(part_start.back() + c->length());
  }
  const size_t groups = static_cast<size_t>(g.num_groups());
  PoolVector<double> v(groups, 0);
  PoolVector<uint8_t> valid(groups, 0);
  PoolScratch<double> group, scratch;
  for (size_t k = 0; k < groups; ++k) {
    size_t m = 0;
    for (int64_t r = members.start[k]; r < members.start[k + 1]; ++r) {
      const int64_t row = members.rows[static_cast<size_t>(r)];
      const auto p = static_cast<size_t>(std::upper_bound(part_start.begin(), part_start.end(), row) - part_start.begin() - 1);
      auto [b, len] = StateRow(*parts[p], row - part_start[p]);
      const auto n = static_cast<size_t>(len / 8);
      if (group.size() < m + n) group.resize(std::max(m + n, 2 * group.size()));
      m += CopyNumbers(b, n, group.data() + m);
    }
    if (m == 0) continue;
    v[k] = QuantileOf(group.data(), group.data() + m, q, &scratch);
    valid[k] = 1;
  }
  return Float64Column(v, valid.data());
}

}  // namespace skein::dataframe::internal
