// Group-by kernels on one table: hashing rows into groups, and the
// chunk / combine / finalize steps of aggregations that the DataFrame's
// tree reductions and shuffles run (as dask.dataframe's ACA: apply-concat-
// apply). Partial tables hold the keys plus state columns named
// "<output>\x1f<part>" (sum, count, mean, m2, min, max, first, last).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "skein/core/memory_pool.h"
#include "skein/dataframe/table.h"

namespace skein::dataframe::internal {

/// Each row's group (-1: a null key dropped), and each group's first row.
struct Grouping {
  PoolScratch<int32_t> group;  // row-sized scratch: pool memory (no page faults per partition), every row set
  PoolVector<int64_t> first_row;  // group-sized: pool memory too (q10: 1.25M groups a partition)
  int64_t num_groups() const { return static_cast<int64_t>(first_row.size()); }

  /// The rows of each group, contiguous and in order (a counting sort):
  /// group k's rows are rows[start[k]] ... rows[start[k + 1] - 1]. Only
  /// rows from `from` on count, numbered from there (the right side of a
  /// join grouped together with its left).
  struct Members {
    PoolVector<int64_t> start, rows;
  };
  Members RowsByGroup(int64_t from = 0) const;
};

/// Groups the rows of `keys` (one or more columns of equal length): ids
/// 0..groups-1 in no promised order (small integer and category keys get
/// them in key order, hashed keys in first-seen order). With
/// `dropna`, a row with any null key is in no group; otherwise nulls form
/// their own group, as pandas' dropna=False.
Grouping GroupRows(const std::vector<const Column*>& keys, bool dropna);

enum class AggFunc : uint8_t {
  kSum, kMean, kCount, kSize, kMin, kMax, kStd, kVar, kFirst, kLast, kNUnique, kMedian, kQuantile, kCorr,
};
/// "sum", "mean", ... ; Error naming the unknown name and the known ones.
AggFunc AggFuncFromName(const std::string& name);
const char* AggFuncName(AggFunc f);
/// Keeps each group's values as its partial state (median, quantile; see
/// GroupValues and ValuesState).
inline bool KeepsValues(AggFunc f) { return f == AggFunc::kMedian || f == AggFunc::kQuantile; }

struct AggSpec {
  std::string column;  ///< input column ("" for size)
  AggFunc func;
  std::string name;    ///< output column
  double q = 0.5;      ///< quantile
  int ddof = 1;        ///< std, var
  std::string other;   ///< corr: the second column
};

/// The result type of `spec` over an input column of `in`; TypeError when
/// the aggregation does not apply (sum of strings...).
TypeId AggResultType(const AggSpec& spec, TypeId in);

/// A partial's state column for `a`: "<output>\x1f<part>".
std::string StateName(const AggSpec& a, const char* part);
/// State values as columns (one copy into pool memory); `valid`: one byte
/// per value, nullptr: all valid.
Column Int64Column(std::span<const int64_t> v);
Column Float64Column(std::span<const double> v, const uint8_t* valid = nullptr);

/// Row i of `c` holds a number that counts: not null, not NaN.
inline bool ValidNumber(const Column& c, int64_t i) {
  if (c.IsNull(i)) return false;
  // Raw reads: this runs per row, and data<T>() checks the type each call.
  if (c.type() == TypeId::kFloat64) return !std::isnan(reinterpret_cast<const double*>(c.values().data())[i]);
  if (c.type() == TypeId::kFloat32) return !std::isnan(reinterpret_cast<const float*>(c.values().data())[i]);
  return true;
}

// Calls f(group, value) for every valid row in a group (nulls and NaN
// skipped), value as T. The column's pointers are read once, not per row.
template <class T, class F>
void ForValues(const Column& c, const PoolScratch<int32_t>& group, F f) {
  const int64_t n = c.length();
  const uint8_t* valid = c.has_nulls() ? c.validity_bits() : nullptr;
  const int32_t* gp = group.data();
  auto run = [&](auto get) {
    for (int64_t i = 0; i < n; ++i) {
      const int32_t g = gp[i];
      if (g < 0 || (valid && !bits::Get(valid, i))) continue;
      const auto v = get(i);
      if (v != v) continue;  // NaN (never true for integers)
      f(g, static_cast<T>(v));
    }
  };
  switch (c.type()) {
    case TypeId::kInt64:
    case TypeId::kTimestamp: { const int64_t* v = c.data<int64_t>(); run([v](int64_t i) { return v[i]; }); break; }
    case TypeId::kInt32:
    case TypeId::kDate: { const int32_t* v = c.data<int32_t>(); run([v](int64_t i) { return v[i]; }); break; }
    case TypeId::kFloat64: { const double* v = c.data<double>(); run([v](int64_t i) { return v[i]; }); break; }
    case TypeId::kFloat32: { const float* v = c.data<float>(); run([v](int64_t i) { return v[i]; }); break; }
    case TypeId::kBool: {
      const auto* b = reinterpret_cast<const uint8_t*>(c.values().data());
      run([b](int64_t i) { return bits::Get(b, i) ? 1 : 0; });
      break;
    }
    default: throw TypeError("not a numeric column: " + std::string(TypeName(c.type())));
  }
}

/// Whether SumInOnePass takes `c`: int64 or float64 without nulls.
bool SumsInOnePass(const Column& c);

/// Per group, the sums of `columns` (each int64 or float64 without nulls;
/// float sums skip NaN) and, with `counts`, the rows per group and each
/// float column's count of non-NaN values: one pass over the rows for up
/// to three columns, each row updating one slot of all its group's sums.
struct LaneSums {
  struct Lane {
    PoolVector<int64_t> ints;   ///< an int64 column's sums
    PoolVector<double> floats;  ///< a float64 column's sums
    PoolVector<int64_t> count;  ///< a float64 column's non-NaN values (with counts)
  };
  std::vector<Lane> lanes;    ///< one per column, in order
  PoolVector<int64_t> size;   ///< rows per group (with counts)
  PoolVector<int64_t> slots;  ///< DirectSumChunk: the key slots kept, in order
};
LaneSums SumInOnePass(const std::vector<const Column*>& columns, bool counts, const PoolScratch<int32_t>& group,
                      int64_t groups);

/// How SumInOnePass passes over `groups` slots for `lanes` sums (and the
/// row count, with `counts`) on a core with `l2_bytes` of second-level
/// cache (0: unknown): as many lanes a pass as fit in three quarters of
/// it, the count with the first of them or, where it does not fit there,
/// in a pass of its own; all three lanes a pass where not even one fits.
struct SumPassPlan {
  int lanes_per_pass = 3;
  bool count_alone = false;
  bool operator==(const SumPassPlan&) const = default;
};
SumPassPlan PlanSumPasses(size_t lanes, bool counts, size_t groups, size_t l2_bytes);
/// Tests: every pass takes `lanes_per_pass` lanes, the count alone or not
/// (0: as PlanSumPasses says).
void TEST_ForceSumPasses(int lanes_per_pass, bool count_alone);

/// Which of `aggs` over `t` one SumInOnePass answers: sums and means of
/// columns it takes (a lane each), sizes and counts of int columns without
/// nulls (its row count).
struct SumPlan {
  std::vector<int> lane_of;        ///< per aggregation: its lane, or -1
  std::vector<uint8_t> by_size;    ///< per aggregation: answered by the row count
  std::vector<const Column*> lanes;
  bool counts = false;             ///< row counts needed
  bool all = true;                 ///< every aggregation answered
};
SumPlan PlanSums(const Table& t, const std::vector<AggSpec>& aggs);
/// Aggregation j's state columns (as States names and types them) from a
/// pass planned by `plan`; j must be answered by it.
void AppendSumStates(const Table& t, const AggSpec& a, const SumPlan& plan, size_t j, LaneSums& sums,
                     std::vector<std::pair<std::string, Column>>* out);
/// AggregateChunk without grouping, where it applies: one key column
/// without nulls, a category or integers in a small range (or two
/// category keys without nulls, a slot per pair of codes), and only
/// aggregations PlanSums answers. Each key value has a slot, the sums go
/// straight to it, and the slots no row reached are dropped after: no
/// group id per row is ever written. Groups come in key order, or with
/// `parts` > 1 in the order of the parts a hash shuffle deals them to
/// (HashParts), key order within each.
std::optional<Table> DirectSumChunk(const Table& t, const std::vector<std::string>& keys,
                                    const std::vector<AggSpec>& aggs, int parts = 0);

/// An integer column (int64, int32, timestamp, date) whose valid values lie
/// in a range small enough for a direct table: its lowest value and the
/// range's width + 1. False for other columns, all-null or empty ones, and
/// wide ranges (hashing wins there).
bool SmallIntRange(const Column& c, int64_t* lo, int64_t* range);

/// Each group's valid values (nulls and NaN skipped) side by side as
/// float64, in row order within a group, groups one after another in
/// group order or in an order asked for: the r-th group laid out has
/// vals[from[r]] ... vals[from[r + 1] - 1], and group k is laid out at
/// pos_of[k] (empty: at k). `bytes` owns the values; `vals` points into
/// it and stays writable until the bytes go into a column (ValuesState).
struct GroupedValues {
  PoolVector<int64_t> from;
  PoolVector<int32_t> pos_of;
  Buffer bytes;
  double* vals = nullptr;
  size_t groups() const { return from.size() - 1; }
  size_t pos(size_t k) const { return pos_of.empty() ? k : static_cast<size_t>(pos_of[k]); }
  double* begin(size_t k) const { return vals + from[pos(k)]; }
  double* end(size_t k) const { return vals + from[pos(k) + 1]; }
};
/// A counting sort of `c`'s values by group: one pass counts, one deals.
/// `order` (a permutation of the group ids, or empty) is the order the
/// groups are laid out in.
GroupedValues GroupValues(const Column& c, const Grouping& g, std::span<const int64_t> order = {});
/// The count, mean and M2 states of std or var `a` (as MomentState names
/// them) from grouped values.
void MomentStatesFromGrouped(const GroupedValues& gv, const AggSpec& a,
                             std::vector<std::pair<std::string, Column>>* out);
/// A median's or quantile's partial state: one row per group (in gv's
/// layout order), a binary string holding the group's values as native
/// float64 bytes (Arrow's list<float64> laid out as offsets plus bytes).
/// Error where a partition's values pass the 2 GiB a string column's
/// offsets reach.
Column ValuesState(const GroupedValues& gv);
/// Values states of several partials merged: the rows of `parts` (in that
/// order) grouped by `g`, each group's bytes one after another. Error
/// naming the row where a state is not a whole number of float64 values.
Column CombineValuesStates(const std::vector<const Column*>& parts, const Grouping& g);
/// A median's or quantile's q (0.5 for a median); Error unless in [0, 1].
double QuantileQ(const AggSpec& a);
/// The q-quantile of each row of a values state (null where a group has
/// no values; NaN a message slipped in is skipped).
Column QuantilesOfState(const Column& values, double q);
/// The q-quantile of each group of `g` over the rows of values states
/// `parts` (in that order), each group's runs copied out and selected from.
Column QuantilesOfParts(const std::vector<const Column*>& parts, const Grouping& g, double q);

/// Partial state of `table` grouped by `keys` (keys first, then states).
/// With `parts` > 1 (a hash shuffle into that many parts follows) and
/// median or quantile states, the groups come in the order of their parts,
/// so that HashPartition slices them instead of copying their values.
Table AggregateChunk(const Table& table, const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs,
                     bool dropna, int parts = 0);
/// Partials combined into one partial. With `final_quantiles` (the last
/// combine, FinalizePartial next), medians and quantiles are answered here
/// from each group's runs in the partials, as a state "<output>\x1ffinal"
/// that FinalizePartial passes on, instead of merged into one values state
/// that is then read once more.
Table CombinePartials(const std::vector<Table>& partials, const std::vector<std::string>& keys,
                      const std::vector<AggSpec>& aggs, bool dropna, bool final_quantiles = false);
/// The answers from a partial: keys, then one column per aggregation.
Table FinalizePartial(const Table& partial, const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs);
/// Holistic path: the answers straight from raw rows.
Table AggregateRaw(const Table& table, const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs,
                   bool dropna);

/// Per group of `keys`, the `n` rows that come first when ordered by
/// `by` (descending unless `ascending`; nulls last), groups one after
/// another in GroupRows' id order: pandas' groupby(...).nlargest /
/// nsmallest / head after a sort.
Table GroupTopN(const Table& table, const std::vector<std::string>& keys, const std::string& by, bool ascending,
                int64_t n, bool dropna);

/// Rows sorted by `columns` (ascending unless told; nulls last), stable.
Table SortTable(const Table& table, const std::vector<std::string>& columns, const std::vector<bool>& ascending = {});

/// A 64-bit hash per row over `columns` (equal keys hash equal).
PoolVector<uint64_t> HashRows(const std::vector<const Column*>& columns);
/// Each row's part among `parts` by the hash of `keys`.
PoolVector<uint32_t> HashParts(const Table& table, const std::vector<std::string>& keys, int parts);
/// Where each row goes when rows are laid out by their `part` (each below
/// `parts`), in row order within a part: a counting sort's positions.
PoolVector<int64_t> PositionsByPart(const PoolVector<uint32_t>& part, int parts);
/// Splits `table` into `parts` tables by the hash of `keys` (a shuffle's
/// map side); rows already in part order are sliced, not copied.
std::vector<Table> HashPartition(const Table& table, const std::vector<std::string>& keys, int parts);

}  // namespace skein::dataframe::internal
