// skein/dataframe/dataframe.h — partitioned, lazy dataframes with a
// pandas-like API, as dask.dataframe.
//
// A DataFrame is a plan: a source (CSV files, in-memory tables) and the
// operations on it. Nothing runs until compute(). Before it runs, the plan
// is optimized as dask-expr does: the columns that are never used are not
// read (projection pushdown into read_csv), and chains of per-partition
// operations (filters, assign, rename...) fuse into one task per partition,
// inside the reading task when there is one. Aggregations run as tree
// reductions (`split_every`) or, with `split_out` > 1, as hash shuffles.
//
//   auto df = skein::read_csv("data/*.csv");
//   auto big = df[skein::col("v1") > 2].assign("w", skein::col("v3") * 2);
//   skein::Table r = big.groupby({"id1"}).agg({{"v1", "sum"}, {"w", "mean"}}).compute();
//   std::cout << r;
#pragma once

#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "skein/dataframe/expr.h"
#include "skein/dataframe/table.h"
#include "skein/io/csv.h"
#include "skein/io/json.h"
#include "skein/io/parquet.h"
#include "skein/local/scheduler.h"

namespace skein {

namespace dataframe::internal {
struct PlanNode;
}

class GroupBy;
class Series;
class Scalar;

/// One aggregation: `func` of `column` named `name` (default: the column's
/// name, or "<column>_<func>" when it is aggregated more than once). `func`
/// is a pandas name: sum, mean, count, size, min, max, std, var, first,
/// last, nunique, median, quantile, corr (see Agg::Corr).
struct Agg {
  std::string column;
  std::string func;
  std::string name;
  double q = 0.5;  ///< quantile
  int ddof = 1;    ///< std, var
  std::string other;  ///< corr: the second column
  Agg(std::string column_, std::string func_, std::string name_ = "", double q_ = 0.5)
      : column(std::move(column_)), func(std::move(func_)), name(std::move(name_)), q(q_) {}
  /// Pearson correlation of x and y per group (pairs where both are valid).
  static Agg Corr(std::string x, std::string y, std::string name = "") {
    Agg a(std::move(x), "corr", std::move(name));
    a.other = std::move(y);
    return a;
  }
};

struct ParquetReadOptions {
  /// Only these columns (as df[columns]); empty: all.
  std::vector<std::string> columns;
  /// String columns read as category (columns skein wrote as categories
  /// are read as categories anyway).
  std::vector<std::string> categories;
};

struct GroupByOptions {
  /// Rows whose key is null are dropped (pandas' default) or form a group.
  bool dropna = true;
  /// Result sorted by the keys (pandas' default); false leaves the groups
  /// in no promised order, as Dask's sort=False (cheaper: no sort).
  bool sort = true;
  /// Output partitions: 1 is a tree reduction, more is a hash shuffle.
  int split_out = 1;
  /// Fan-in of the tree reduction.
  int split_every = 8;
};

/// How to merge (pandas' merge arguments).
struct MergeOptions {
  /// inner, left, right or outer.
  std::string how = "inner";
  /// Key columns named alike on both sides; or left_on/right_on; neither:
  /// the columns both sides share.
  std::vector<std::string> on, left_on, right_on;
  std::pair<std::string, std::string> suffixes{"_x", "_y"};
  /// Partitions of a shuffled merge (at least the larger side's).
  int npartitions = 0;
};

class DataFrame {
 public:
  DataFrame() = default;

  Schema schema() const;
  std::vector<std::string> columns() const;
  int npartitions() const;
  bool valid() const { return node_ != nullptr; }

  /// The columns `names`, in that order (KeyError for unknown ones).
  DataFrame operator[](const std::vector<std::string>& names) const;
  DataFrame operator[](std::initializer_list<std::string> names) const {
    return (*this)[std::vector<std::string>(names)];
  }
  /// One column as a Series (KeyError for an unknown name).
  Series operator[](const std::string& name) const;
  Series operator[](const char* name) const;
  /// Rows where `mask` is true (df[df.x > 3]).
  DataFrame operator[](const Expr& mask) const { return filter(mask); }
  DataFrame filter(const Expr& mask) const;
  /// Adds or replaces column `name`.
  DataFrame assign(const std::string& name, const Expr& value) const;
  DataFrame rename(const std::map<std::string, std::string>& names) const;
  DataFrame drop(const std::vector<std::string>& names) const;
  DataFrame astype(const std::map<std::string, TypeId>& types) const;
  /// Nulls in `columns` (all when empty) replaced by `value`.
  DataFrame fillna(const Expr& value, const std::vector<std::string>& columns = {}) const;
  /// Rows without a null in `subset` (all columns when empty).
  DataFrame dropna(const std::vector<std::string>& subset = {}) const;
  /// A function of each partition. `meta` is its output schema (empty: the
  /// same as this frame's). Local only: the function is a C++ callable.
  DataFrame map_partitions(std::function<Table(const Table&)> fn, Schema meta = {}) const;

  GroupBy groupby(std::vector<std::string> keys, GroupByOptions options = {}) const;
  /// Aggregations over the whole frame (pandas' df.agg): one row, a column
  /// per Agg, from a tree reduction. No rows give no row.
  DataFrame agg(const std::vector<Agg>& aggs) const;

  // --- the index (dask.dataframe's sorted index and divisions) -------------
  /// The frame sorted by `column`, which becomes its index, with known
  /// divisions: quantiles of a sample (computed now, as Dask does) cut the
  /// rows into ranges, and the sample carries the exact minimum and maximum.
  /// `sorted`: the partitions are already in order (each partition's
  /// range is computed now and checked; Error naming the partitions that
  /// overlap), so nothing moves; empty partitions are dropped.
  DataFrame set_index(const std::string& column, bool sorted = false) const;
  /// The index column ("" when there is none).
  std::string index() const;
  /// npartitions + 1 values of the index, in order, as Dask's: partition i
  /// holds index values in [divisions[i], divisions[i + 1]) (the last one
  /// includes its end; nulls, if any, are in the last). No rows when unknown.
  Table divisions() const;
  bool known_divisions() const { return divisions().num_rows() > 0; }
  /// Rows whose index lies in [lo, hi] (pandas' label slicing: both ends
  /// included). With known divisions only the partitions that can hold
  /// them are read. Error when the frame has no index.
  DataFrame loc(const Expr& lo, const Expr& hi) const;
  /// Rows whose index equals `value`.
  DataFrame loc(const Expr& value) const;
  /// The same rows with no index (the column stays).
  DataFrame reset_index() const;
  /// pandas' join: rows of this frame and `right` whose indexes are equal
  /// (left, right, inner or outer), as a merge on the two index columns;
  /// the result keeps this frame's index. Error when either has no index.
  DataFrame join(const DataFrame& right, const std::string& how = "left",
                 std::pair<std::string, std::string> suffixes = {"_x", "_y"}) const;
  /// Rows sorted by `by` (ascending unless told, per column; nulls last).
  /// Several partitions: quantiles of a sample of the first column (computed
  /// now, as Dask computes divisions) cut the rows into ranges, one per
  /// output partition, so the partitions in order are sorted.
  DataFrame sort_values(const std::vector<std::string>& by, const std::vector<bool>& ascending = {}) const;
  /// The n rows with the largest (smallest) `columns`, in that order: one
  /// partition, from a tree of per-partition top-n.
  DataFrame nlargest(int64_t n, const std::vector<std::string>& columns) const;
  DataFrame nsmallest(int64_t n, const std::vector<std::string>& columns) const;
  /// The first row of each distinct `subset` (all columns when empty).
  DataFrame drop_duplicates(const std::vector<std::string>& subset = {}) const;
  /// Rows per distinct value of `column`, most frequent first: columns
  /// `column` and "count".
  DataFrame value_counts(const std::string& column) const;
  /// count, mean, std, min, 25%, 50%, 75%, max of every numeric column
  /// (computed now), as pandas' describe: a "stat" column, then one per column.
  Table describe(const ComputeOptions& options = {}) const;
  /// The last `n` rows.
  Table tail(int64_t n = 5) const;
  /// Writes CSV: `path` with a '*' names one file per partition (the '*'
  /// becomes its number); otherwise one file. Each file is written under a
  /// temporary name and renamed when complete. Returns the files written.
  std::vector<std::string> to_csv(const std::string& path, const ComputeOptions& options = {}) const;
  /// Writes Parquet: one file per partition, `dir`/part.<i>.parquet, each
  /// under a temporary name renamed when complete. A directory already
  /// holding .parquet files is refused unless `overwrite` (then part files
  /// beyond the new partitions are removed once every new one is written).
  /// Returns the files written.
  std::vector<std::string> to_parquet(const std::string& dir, const ParquetWriteOptions& options = {},
                                      bool overwrite = false, const ComputeOptions& compute = {}) const;
  /// A database-style join (see skein::merge).
  DataFrame merge(const DataFrame& right, const MergeOptions& options = {}) const;

  /// A random `frac` of each partition's rows (pandas' sample(frac)),
  /// reproducible for a given `random_state`.
  DataFrame sample(double frac, uint64_t random_state = 0) const;
  /// The first `n` rows (computing only the partitions needed).
  Table head(int64_t n = 5) const;
  /// Rows of all partitions, in order.
  Table compute(const ComputeOptions& options = {}) const;
  /// Computes now; the result holds its partitions in memory.
  DataFrame persist(const ComputeOptions& options = {}) const;
  /// The string and category `columns` (all of them when empty) as
  /// categories every partition shares, as Dask's categorize: the distinct
  /// labels are gathered now (one pass over the frame: persist it first if
  /// it reads files) and sorted, and each partition is recoded to them
  /// when computed. Grouping, shuffling and concatenating such columns
  /// then works on codes alone (see Column::categories_known). KeyError for
  /// an unknown column, TypeError for one neither string nor category.
  DataFrame categorize(const std::vector<std::string>& columns = {}) const;

  /// Keys of the partitions and the graph computing them (optimized).
  std::vector<Key> keys() const;
  Graph graph() const;
  /// "skein.DataFrame<npartitions=4>" and the schema, as Dask prints a lazy frame.
  std::string ToString() const;

  const std::shared_ptr<const dataframe::internal::PlanNode>& node() const { return node_; }
  explicit DataFrame(std::shared_ptr<const dataframe::internal::PlanNode> node) : node_(std::move(node)) {}

 private:
  std::shared_ptr<const dataframe::internal::PlanNode> node_;
};

std::ostream& operator<<(std::ostream& os, const DataFrame& df);

class GroupBy {
 public:
  GroupBy(DataFrame df, std::vector<std::string> keys, GroupByOptions options);
  DataFrame agg(const std::vector<Agg>& aggs) const;
  /// One function over every non-key column (size: a "size" column).
  DataFrame sum() const { return All("sum"); }
  DataFrame mean() const { return All("mean"); }
  DataFrame count() const { return All("count"); }
  DataFrame min() const { return All("min"); }
  DataFrame max() const { return All("max"); }
  DataFrame std() const { return All("std"); }
  DataFrame var() const { return All("var"); }
  DataFrame first() const { return All("first"); }
  DataFrame last() const { return All("last"); }
  DataFrame nunique() const { return All("nunique"); }
  DataFrame median() const { return All("median"); }
  DataFrame size() const;
  /// The `n` rows of each group with the largest (smallest) `column`, as
  /// pandas' groupby(...)[...].nlargest: rows, not one per group (one
  /// partition, from a tree of per-partition top-n per group).
  DataFrame nlargest(int64_t n, const std::string& column) const;
  DataFrame nsmallest(int64_t n, const std::string& column) const;

 private:
  DataFrame TopN(int64_t n, const std::string& column, bool ascending) const;
  DataFrame All(const std::string& func) const;
  DataFrame df_;
  std::vector<std::string> keys_;
  GroupByOptions options_;
};

/// A lazy single value (a whole-frame aggregation), as Dask's Scalar.
class Scalar {
 public:
  /// `func`: the aggregation that made the cell, which decides the value
  /// of no rows at all.
  explicit Scalar(DataFrame one_cell, std::string func = "") : frame_(std::move(one_cell)), func_(std::move(func)) {}
  /// The value as a number (NaN for a null; a frame with no rows gives NaN,
  /// or 0 for sum, count and nunique, as pandas).
  double compute(const ComputeOptions& options = {}) const;
  const DataFrame& frame() const { return frame_; }

 private:
  DataFrame frame_;
  std::string func_;
};

/// One column of a frame, as dask.dataframe's Series. Lazy like its frame.
class Series {
 public:
  Series(DataFrame frame, std::string name);
  const std::string& name() const { return name_; }
  TypeId dtype() const;
  int npartitions() const { return frame_.npartitions(); }
  /// The one-column frame.
  const DataFrame& to_frame() const { return frame_; }
  skein::Column compute(const ComputeOptions& options = {}) const;
  skein::Column head(int64_t n = 5) const;
  Scalar sum() const { return Agg1("sum"); }
  Scalar mean() const { return Agg1("mean"); }
  Scalar min() const { return Agg1("min"); }
  Scalar max() const { return Agg1("max"); }
  Scalar count() const { return Agg1("count"); }
  Scalar std() const { return Agg1("std"); }
  Scalar var() const { return Agg1("var"); }
  Scalar nunique() const { return Agg1("nunique"); }
  Scalar median() const { return Agg1("median"); }
  /// Distinct values, in first-seen order.
  Series unique() const;
  /// Columns `name` and "count", most frequent first.
  DataFrame value_counts() const { return frame_.value_counts(name_); }
  /// "skein.Series<name=x, dtype=int64, npartitions=4>".
  std::string ToString() const;

 private:
  Scalar Agg1(const std::string& func) const;
  DataFrame frame_;
  std::string name_;
};

std::ostream& operator<<(std::ostream& os, const Series& s);

/// pandas' merge: rows of `left` and `right` whose keys are equal. When
/// both sides are already hash-partitioned on the keys (the output of a
/// shuffle on them) partitions join pairwise; a one-partition right side is
/// broadcast to every left partition (inner and left joins); otherwise both
/// sides are hash-shuffled on the keys. TypeError naming the columns when
/// the key types cannot be compared (a string with a number).
DataFrame merge(const DataFrame& left, const DataFrame& right, const MergeOptions& options = {});

/// A frame over CSV files: `pattern` is a path or a glob. Each file is cut
/// into partitions of about `options.blocksize` bytes; the schema comes
/// from the first file (IOError naming the file when the files differ).
DataFrame read_csv(const std::string& pattern, const CsvOptions& options = {});
/// A frame over Parquet files: `pattern` is a file, a glob, or a directory
/// (its *.parquet files, in natural order). Each row group is a partition.
/// Before reading, columns nobody uses are dropped and row groups whose
/// min/max statistics show that no row passes the frame's leading filters
/// are skipped (as dask-expr pushes filters into read_parquet). IOError
/// naming the file when files differ in schema or are not Parquet.
DataFrame read_parquet(const std::string& pattern, const ParquetReadOptions& options = {});
/// A frame over JSON lines files (a path or a glob), one partition per
/// block of about `options.blocksize` bytes of whole lines; the schema comes
/// from the first lines of the first file.
DataFrame read_json(const std::string& pattern, const JsonOptions& options = {});
/// A frame over in-memory tables, one partition each (same schema).
DataFrame from_tables(std::vector<Table> partitions);
/// A frame over one table cut into `npartitions` row ranges.
DataFrame from_table(const Table& table, int npartitions = 1);

}  // namespace skein
