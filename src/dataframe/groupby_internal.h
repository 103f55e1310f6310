// Group-by kernels on one table: hashing rows into groups, and the
// chunk / combine / finalize steps of aggregations that the DataFrame's
// tree reductions and shuffles run (as dask.dataframe's ACA: apply-concat-
// apply). Partial tables hold the keys plus state columns named
// "<output>\x1f<part>" (sum, count, mean, m2, min, max, first, last).
#pragma once

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
/// Needs every value of a group at once (nunique, median, quantile).
bool IsHolistic(AggFunc f);

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
/// group id per row is ever written. Groups come in key order.
std::optional<Table> DirectSumChunk(const Table& t, const std::vector<std::string>& keys,
                                    const std::vector<AggSpec>& aggs);

/// An integer column (int64, int32, timestamp, date) whose valid values lie
/// in a range small enough for a direct table: its lowest value and the
/// range's width + 1. False for other columns, all-null or empty ones, and
/// wide ranges (hashing wins there).
bool SmallIntRange(const Column& c, int64_t* lo, int64_t* range);

/// Partial state of `table` grouped by `keys` (keys first, then states).
Table AggregateChunk(const Table& table, const std::vector<std::string>& keys, const std::vector<AggSpec>& aggs,
                     bool dropna);
/// Partials combined into one partial.
Table CombinePartials(const std::vector<Table>& partials, const std::vector<std::string>& keys,
                      const std::vector<AggSpec>& aggs, bool dropna);
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
/// Splits `table` into `parts` tables by the hash of `keys` (a shuffle's
/// map side).
std::vector<Table> HashPartition(const Table& table, const std::vector<std::string>& keys, int parts);

}  // namespace skein::dataframe::internal
