// A groupby and a join over CSV data three times the memory limit: the
// answers equal an unconstrained run's, the shuffles spill (the
// scheduler's stats say so), and results held in memory stay near the limit.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "groupby_internal.h"
#include "io/temp_dir_test_util.h"
#include "skein/dataframe/dataframe.h"

namespace skein {
namespace {

class LargerThanMemory : public io::testing::TempDirTest<> {
 protected:
  // rows of: k (string, `keys` values), g (int), v (int), x (float).
  std::string Write(const std::string& name, int rows, int keys, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::ofstream f(Path(name));
    f << "k,g,v,x\n";
    for (int i = 0; i < rows; ++i) {
      f << "key" << rng() % static_cast<uint64_t>(keys) << "," << rng() % 50 << "," << rng() % 1000 << ","
        << static_cast<double>(rng() % 100000) / 100 << "\n";
    }
    return Path(name);
  }

  // Runs `df` and returns its rows sorted by `by`, with the run's stats.
  static Table Run(const DataFrame& df, const ComputeOptions& opt, const std::vector<std::string>& by,
                   Computation::Stats* stats) {
    auto graph = std::make_shared<const Graph>(df.graph());
    auto c = LocalScheduler::Default().Submit(graph, df.keys(), opt);
    std::vector<Table> parts;
    for (const Value& v : c->Results()) parts.push_back(v.get<Table>());
    *stats = c->stats();
    return dataframe::internal::SortTable(Table::Concat(parts), by);
  }
};

TEST_F(LargerThanMemory, GroupByAndJoinSpillAndMatchAnUnconstrainedRun) {
  CsvOptions opt;
  opt.blocksize = 256 << 10;  // ~40 partitions
  DataFrame left = read_csv(Write("left.csv", 300000, 20000, 1), opt);
  DataFrame right = read_csv(Write("right.csv", 60000, 20000, 2), opt)[{"k", "x"}].rename({{"x", "y"}});
  const int64_t data_bytes = static_cast<int64_t>(left.persist().compute().nbytes());
  GroupByOptions go;
  go.split_out = 4;
  go.sort = false;
  DataFrame grouped = left.groupby({"k"}, go).agg({{"v", "sum"}, {"x", "mean"}, {"g", "max"}});
  MergeOptions mo;
  mo.on = {"k"};
  DataFrame joined = left[{"k", "v"}].merge(right, mo).groupby({"k"}, go).agg({{"y", "sum"}, {"v", "count"}});

  ComputeOptions free;
  free.memory_limit = -1;
  ComputeOptions tight;
  tight.memory_limit = data_bytes / 3;
  tight.spill_directory = dir_.string();
  for (const DataFrame& df : {grouped, joined}) {
    Computation::Stats a, b;
    Table want = Run(df, free, {"k"}, &a);
    Table got = Run(df, tight, {"k"}, &b);
    EXPECT_EQ(got, want);
    EXPECT_GT(b.spilled, 0) << "the shuffle should have spilled";
    EXPECT_GT(b.unspilled, 0);
    // Held results stay near the limit: within it plus the inputs and
    // outputs of the tasks in flight, and well under the data's size.
    EXPECT_LE(b.peak_memory, tight.memory_limit + data_bytes / 2) << "limit " << tight.memory_limit;
    EXPECT_LT(b.peak_memory, data_bytes * 3 / 4) << "data " << data_bytes;
    EXPECT_GT(want.num_rows(), 1000);
  }
}

}  // namespace
}  // namespace skein
