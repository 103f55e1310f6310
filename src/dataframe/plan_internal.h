// The DataFrame's plan: nodes built by the API (dataframe.cc, groupby.cc,
// read_csv.cc), and the per-partition steps that lowering fuses into one
// task per partition (lower.cc).
#pragma once

#include <functional>
#include <mutex>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "groupby_internal.h"
#include "join_internal.h"
#include "skein/core/layer.h"
#include "skein/core/serialize.h"
#include "skein/dataframe/dataframe.h"
#include "skein/io/json.h"
#include "skein/io/parquet.h"

namespace skein::dataframe::internal {

/// One per-partition operation. Steps are data: they encode into task
/// parameters (EncodeSteps), so a fused pipeline runs anywhere.
struct Step {
  enum Kind : uint8_t {
    kProject,     // names: the columns kept, in order
    kFilter,      // expr: rows where it is true
    kAssign,      // names[0] = expr
    kRename,      // names[i] -> names2[i]
    kDropNa,      // names: the subset (empty: all)
    kAggChunk,    // a groupby's partial state: names = keys, aggs, dropna; n: parts a shuffle deals it to (0: none)
    kSortLocal,   // rows sorted by names (ascending per flag), stable
    kTopN,        // the first n rows in that order (nlargest/nsmallest)
    kDedupe,      // first row of each distinct names (all columns when empty)
    kGroupTopN,   // per distinct names (keys), the n rows first by names2[0] (ascending[0])
    kSample,      // a random `frac` of the rows (seeded by `seed` and the partition)
    kLast = kSample,
  } kind = kProject;
  std::vector<std::string> names, names2;
  Expr expr;
  std::vector<AggSpec> aggs;
  bool dropna = true;
  std::vector<bool> ascending;  // kSortLocal, kTopN: per name
  int64_t n = 0;                // kTopN; kSample: the seed
  double frac = 0;              // kSample

  /// The output schema over `in` (errors for unknown columns or types).
  Schema Apply(const Schema& in) const;
  /// Runs the step on partition number `partition`.
  Table Run(const Table& in, int64_t partition = 0) const;
};

std::string EncodeSteps(const std::vector<Step>& steps);
/// Name lists and schemas in task parameters (readers' tasks);
/// SerializationError when the bytes lie about their counts or types.
void WriteStrings(ByteWriter& w, const std::vector<std::string>& v);
std::vector<std::string> ReadStrings(ByteReader& r);
void WriteSchema(ByteWriter& w, const Schema& schema);
Schema ReadSchema(ByteReader& r);
/// Error naming what is wrong when `bytes` are not encoded steps.
std::vector<Step> DecodeSteps(std::string_view bytes);
Table RunSteps(const std::vector<Step>& steps, Table t, int64_t partition = 0);
/// The partition number a task's key names (its first index; 0 if none).
int64_t PartitionOf(const Key& key);

struct CsvSource {
  CsvOptions options;
  CsvSchema schema;
  std::vector<CsvBlock> blocks;
};

struct JsonSource {
  Schema schema;  // every column
  std::vector<CsvBlock> blocks;  // line-aligned byte ranges
};

/// a < b comparing runs of digits by their value ("part.2" < "part.10").
bool NaturalLess(const std::string& a, const std::string& b);
/// The files a path or glob names, in natural order; IOError when none match.
std::vector<std::string> ExpandGlob(const std::string& pattern, const char* who);
/// The non-empty blocks of `files` (PlanCsvBlocks), in order; one empty
/// block when there are none, so a frame always has a partition.
std::vector<CsvBlock> PlanBlocks(const std::vector<std::string>& files, const CsvOptions& options);
/// A file's first `limit` bytes, cut after the last newline in them.
std::string Prefix(const std::string& path, int64_t limit);

/// A Parquet dataset: each row group of each file is a partition.
struct ParquetSource {
  Schema schema;
  std::vector<ParquetFile> files;
  struct Part {
    int file = -1;  // -1: an empty dataset's one partition
    int row_group = 0;
  };
  std::vector<Part> parts;
};

struct Lowered;

struct PlanNode {
  enum Kind { kCsv, kJson, kParquet, kTables, kStep, kMap, kGroupBy, kMerge, kReduce, kSort, kPartitions } kind = kTables;
  Schema schema;
  int npartitions = 0;
  /// Rows are hash-partitioned on these columns (HashPartition into
  /// npartitions parts): a merge on them needs no shuffle.
  std::vector<std::string> partitioned_on;
  std::shared_ptr<const PlanNode> input;
  /// The index column ("": none) and its divisions (one column of
  /// npartitions + 1 rows; no rows when unknown).
  std::string index;
  Table divisions;
  // kPartitions: these partitions of `input`, in order
  std::vector<int> parts;
  // kMerge: input is the left side, input2 the right
  std::shared_ptr<const PlanNode> input2;
  JoinSpec join;
  // kReduce: `step` runs on each partition, then on concatenations of its
  // results in a tree, down to one partition. kSort: `step` (kSortLocal)
  // after a range shuffle on `boundaries` (sorted values of the first key).
  Table boundaries;
  // kCsv, kJson, kParquet
  std::shared_ptr<const CsvSource> csv;
  std::shared_ptr<const JsonSource> json;
  std::shared_ptr<const ParquetSource> parquet;
  // kTables: partitions held by a layer of values
  LayerPtr layer;
  std::vector<Key> keys;
  // kStep
  Step step;
  // kMap
  std::function<Table(const Table&)> fn;
  // kGroupBy
  std::vector<std::string> group_keys;
  std::vector<AggSpec> aggs;
  GroupByOptions group_options;

  /// The node lowered for a consumer reading every column, made once: the
  /// same frame always names the same keys (keys() and graph() agree, and
  /// plans that share a node compute it once).
  mutable std::once_flag lower_once;
  mutable std::shared_ptr<const Lowered> lowered;
};
using NodePtr = std::shared_ptr<const PlanNode>;

/// A lowered plan: the layer computing the partitions (and its deps), and
/// their keys in order.
struct Lowered {
  LayerPtr layer;
  std::vector<Key> keys;
};

/// Optimizes and lowers `node`. `needed`: the columns the consumer reads
/// (nullopt: all); columns nobody reads are not read from files.
Lowered Lower(const NodePtr& node, std::optional<std::vector<std::string>> needed = std::nullopt);

/// The node below a chain of steps, and those steps in order (first
/// applied first): what one fused task per partition runs.
std::pair<NodePtr, std::vector<Step>> SplitChain(const NodePtr& node);
/// A plan whose partitions are `keys` of `tasks` (one layer named `name`,
/// over `deps`), with no index yet.
std::shared_ptr<PlanNode> LayerNode(Schema schema, Graph tasks, std::vector<Key> keys, std::string name,
                                    std::vector<LayerPtr> deps = {});
/// A table of `schema` with no rows.
Table EmptyTable(const Schema& schema);
/// The tables of a task argument that is a list of tables.
std::vector<Table> TablesOf(const Value& list);
/// A one-partition frame: `step` on every partition of `df`, then on
/// concatenations of its results in a tree (nlargest, drop_duplicates...).
DataFrame ReduceFrame(const DataFrame& df, Step step);

/// Reading tasks for a Parquet source (read_parquet.cc): the columns in
/// `need` (all when unset), `steps` fused after; row groups whose
/// statistics refute the leading filters are not read.
Lowered LowerParquet(const PlanNode& source, const std::optional<std::set<std::string>>& need, const std::vector<Step>& steps);

/// Lowers kPartitions (index.cc).
Lowered LowerPartitions(const PlanNode& node);
/// A sorted sample of `column` over every partition of `df` (computed now),
/// nulls and NaN left out; it holds the column's exact minimum and maximum.
Table SortedSample(const DataFrame& df, const std::string& column, bool ascending);
/// `parts` - 1 cut points evenly spaced through a sorted sample.
Table CutPoints(const Table& sample, int parts);
/// `df` sorted by `by` through a range shuffle on the cut points of
/// `sample` (SortedSample of by[0]); `df` has several partitions.
DataFrame RangeSort(const DataFrame& df, const std::vector<std::string>& by, const std::vector<bool>& ascending,
                    const Table& sample);
/// Sign of (row i of c) - (row j of d), both valid: strings (and category
/// labels) by bytes, everything else as numbers.
int CompareCells(const Column& c, int64_t i, const Column& d, int64_t j);
/// Rows of the smallest and largest valid, non-NaN values of `c`
/// ({-1, -1} when there are none).
std::pair<int64_t, int64_t> MinMaxRows(const Column& c);

/// Lowers a groupby node (groupby.cc), reading `input` through `steps`
/// fused into its chunk tasks.
Lowered LowerGroupBy(const PlanNode& node);
/// Lowers a merge node (merge.cc): partition-wise, broadcast or shuffle.
Lowered LowerMerge(const PlanNode& node);
/// Lowers kReduce and kSort nodes (sort.cc).
Lowered LowerReduce(const PlanNode& node);
Lowered LowerSort(const PlanNode& node);
/// A layer cutting each of `in`'s partitions into `parts` by the hash of
/// `keys`; each task returns the list of its pieces.
Lowered HashSplit(const Lowered& in, const std::vector<std::string>& keys, int parts);

/// The shuffle's middle: for splits (tasks returning lists of `parts`
/// pieces), one task per (split, part) taking its piece out, so that the
/// task reducing part j depends on its pieces only and never holds the
/// other parts' data (which may be spilled meanwhile). Returns, per part,
/// the keys of its pieces.
std::vector<std::vector<Key>> ShufflePieces(Graph* g, const std::vector<Key>& splits, int parts);

/// A layer of tasks, one per partition, running `steps` over the partitions
/// of `input` (or reading CSV blocks of `csv` with `usecols`).
Lowered LowerPipeline(const NodePtr& source, std::vector<Step> steps, std::optional<std::vector<std::string>> needed);

}  // namespace skein::dataframe::internal
