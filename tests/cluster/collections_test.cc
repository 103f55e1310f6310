// Arrays and dataframes on a real multi-process cluster: with a Client
// connected, the same collection code computes on the workers (the default
// Client, as in dask.distributed), persist() keeps results there, and every
// answer equals the local scheduler's.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>

#include "skein/skein.h"

namespace skein {
namespace {

ComputeOptions Local() {
  ComputeOptions o;
  o.scheduler = "threads";
  return o;
}

class CollectionsOnClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    LocalClusterOptions o;
    o.n_workers = 2;
    o.threads_per_worker = 1;
    cluster_ = new LocalCluster(o);
    client_ = new Client(*cluster_);
    dir_ = std::filesystem::temp_directory_path() / ("skein_collections_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  static void TearDownTestSuite() {
    delete client_;
    delete cluster_;
    std::filesystem::remove_all(dir_);
  }
  // Tasks the cluster has finished so far (/json/status "tasks_done").
  static int64_t TasksDone() {
    httplib::Client http(cluster_->http_address());
    auto res = http.Get("/json/status");
    if (!res || res->status != 200) throw std::runtime_error("no status from " + cluster_->http_address());
    size_t at = res->body.find("\"tasks_done\":");
    if (at == std::string::npos) throw std::runtime_error("no tasks_done in " + res->body);
    return std::stoll(res->body.substr(at + 13));
  }
  static LocalCluster* cluster_;
  static Client* client_;
  static std::filesystem::path dir_;
};
LocalCluster* CollectionsOnClusterTest::cluster_ = nullptr;
Client* CollectionsOnClusterTest::client_ = nullptr;
std::filesystem::path CollectionsOnClusterTest::dir_;

void ExpectSame(const NDArray& got, const NDArray& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  std::vector<double> g = got.AsType(DType::kFloat64).ToVector<double>();
  std::vector<double> w = want.AsType(DType::kFloat64).ToVector<double>();
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_NEAR(g[i], w[i], 1e-9 * (1 + std::abs(w[i]))) << what << " at flat index " << i;
  }
}

TEST_F(CollectionsOnClusterTest, ArrayExpressionsMatchTheLocalScheduler) {
  ASSERT_EQ(client_->workers().size(), 2u);
  Array x = random::default_rng(7).random({300, 300}, 100);
  Array y = arange(0, 300, 1, 75);
  std::vector<std::pair<std::string, Array>> cases = {
      {"(x + x.T).sum(0)", (x + x.T()).sum(0)},
      {"x.mean()", x.mean()},
      {"x.std()", x.std()},
      {"sqrt(x*2+1).max()", sqrt(x * 2 + 1).max()},
      {"x @ x", matmul(x, x)},
      {"x[10:250:3, ::-2] + y[::-2]", x[{Slice(10, 250, 3), Slice(std::nullopt, std::nullopt, -2)}] +
                                          y[{Slice(std::nullopt, std::nullopt, -2)}]},
      {"cumsum(x, 1)", x.cumsum(1)},
      {"argmax(x, 0)", x.argmax(0)},
      {"reshape(rechunk(x))", x.rechunk(60).reshape({900, 100})},
      {"concatenate + where", where(concatenate({x, x}, 0) > 0.5, 1.0, -1.0).sum(1)},
      {"x.take", x.take({5, 299, 0, 17}, 1)},
  };
  for (const auto& [what, a] : cases) {
    int64_t before = TasksDone();
    NDArray got = a.compute();
    EXPECT_GT(TasksDone(), before) << what << " did not run on the cluster";
    ExpectSame(got, a.compute(Local()), what);
  }
  // Several arrays in one graph share their common inputs.
  std::vector<NDArray> both = compute({x.sum(), x.min()});
  EXPECT_NEAR(both[0].ToVector<double>()[0], x.sum().compute(Local()).ToVector<double>()[0], 1e-9);
}

TEST_F(CollectionsOnClusterTest, TallSkinnyQrOnTheCluster) {
  Array a = random::default_rng(3).normal(0, 1, {400, 20}, {100, 20});
  auto [q, r] = linalg::tsqr(a);
  ExpectSame(matmul(q, r).compute(), a.compute(Local()), "q @ r");
}

TEST_F(CollectionsOnClusterTest, PersistedArrayStaysOnTheWorkers) {
  Array x = random::default_rng(11).random({200, 200}, 50);
  Array p = (x * 3).persist();
  // Held on the cluster: the persisted graph holds handles, not blocks.
  for (uint32_t i = 0; i < p.graph().size(); ++i) EXPECT_FALSE(p.graph().task(i).is_literal());
  ExpectSame((p + 1).sum(0).compute(), ((x * 3) + 1).sum(0).compute(Local()), "persisted (x*3)+1");
  ExpectSame(p.compute(), (x * 3).compute(Local()), "persisted x*3");
  // The local scheduler fetches held blocks from the cluster.
  ExpectSame((p - 1).compute(Local()), ((x * 3) - 1).compute(Local()), "held blocks computed locally");
}

TEST_F(CollectionsOnClusterTest, ResultsPersistedThroughAClosedClientAreRefusedByName) {
  Array x = ones({20, 20}, 10);
  Array p;
  {
    Client other(*cluster_);  // the default while it lives
    p = (x + 1).persist();
    EXPECT_EQ(p.sum().compute().ToVector<double>()[0], 800);
  }  // closed: its results are released and client_ is the default again
  try {
    p.sum().compute();
    FAIL() << "a result held by a closed client was used";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("closed Client"), std::string::npos) << e.what();
  }
  EXPECT_EQ((x + 1).sum().compute().ToVector<double>()[0], 800);  // on client_'s cluster
}

TEST_F(CollectionsOnClusterTest, WorkersWriteNpyAndZarrBlocksThemselves) {
  Array x = random::default_rng(5).random({60, 40}, 20);
  Array p = (x * 2).persist();
  std::string npy = (dir_ / "stored.npy").string(), zarr = (dir_ / "stored.zarr").string();
  int64_t before = TasksDone();
  store({p, p + 1}, {NpyTarget(npy), ZarrTarget(zarr)});
  // 6 blocks each, every write a task on the workers (p + 1 fuses into
  // its writes).
  EXPECT_GE(TasksDone() - before, 12);
  ExpectSame(read_npy(npy), (x * 2).compute(Local()), "stored .npy");
  ExpectSame(from_zarr(zarr).compute(Local()), (x * 2 + 1).compute(Local()), "stored .zarr");
}

TEST_F(CollectionsOnClusterTest, Hdf5IsWrittenHereFromBlocksHeldOnTheCluster) {
  // One library handle on one file: this process writes, fetching blocks.
  Array x = random::default_rng(6).random({60, 40}, 20);
  Array p = (x * 3).persist();
  std::string path = (dir_ / "stored.h5").string();
  int64_t before = TasksDone();
  store({p}, {Hdf5Target(path, "/x")});
  EXPECT_EQ(TasksDone(), before);  // nothing ran there: the blocks were fetched
  ExpectSame(from_hdf5(path, "/x").compute(Local()), (x * 3).compute(Local()), "stored .h5");
}

TEST_F(CollectionsOnClusterTest, UnregisteredBlockFunctionsAreRefusedByName) {
  Array x = ones({10, 10}, 5);
  Array m = map_blocks([](std::span<const NDArray> b, const BlockInfo&) { return b[0]; }, {x});
  try {
    m.compute();
    FAIL() << "a lambda was sent to a cluster";
  } catch (const OpError& e) {
    EXPECT_NE(std::string(e.what()).find("register"), std::string::npos) << e.what();
  }
  // Locally it runs.
  EXPECT_EQ(m.compute(Local()).ToVector<double>().size(), 100u);
}

// A CSV dataset in several files: keys with many and few groups, values.
std::string WriteCsv(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  for (int f = 0; f < 3; ++f) {
    std::ofstream out(dir / ("part" + std::to_string(f) + ".csv"));
    out << "id1,id4,v1,v3\n";
    for (int i = 0; i < 4000; ++i) {
      int r = f * 4000 + i;
      out << "id" << (r * 7 % 13) << "," << (r * 31 % 997) << "," << (r % 5) << "," << (r % 101) * 0.25 << "\n";
    }
  }
  return (dir / "*.csv").string();
}

void ExpectSameTable(Table got, Table want, const std::vector<std::string>& by, const std::string& what) {
  if (!by.empty()) {
    got = from_table(got).sort_values(by).compute(Local());
    want = from_table(want).sort_values(by).compute(Local());
  }
  EXPECT_EQ(got, want) << what << "\ncluster:\n" << got << "\nlocal:\n" << want;
}

TEST_F(CollectionsOnClusterTest, DataFrameQuestionsMatchTheLocalScheduler) {
  std::string csv = WriteCsv(dir_ / "csv");
  CsvOptions co;
  co.blocksize = 30000;  // several partitions per file
  DataFrame df = read_csv(csv, co);
  ASSERT_GT(df.npartitions(), 3);
  DataFrame small = df[col("v1") > 1].assign("w", col("v3") * 2);
  GroupByOptions many;
  many.split_out = 3;
  std::vector<std::tuple<std::string, DataFrame, std::vector<std::string>>> cases = {
      {"filter+assign", small, {"id1", "id4", "v1", "v3"}},
      {"groupby sum/mean", small.groupby({"id1"}).agg({{"v1", "sum"}, {"w", "mean"}}), {"id1"}},
      {"groupby split_out", df.groupby({"id4"}, many).agg({{"v3", "max"}, {"v1", "count"}}), {"id4"}},
      {"groupby two keys median", df.groupby({"id1", "v1"}).agg({{"v3", "median"}}), {"id1", "v1"}},
      {"sort_values", df.sort_values({"v3", "id4"}), {}},
      {"value_counts", df.value_counts("id1"), {"id1"}},
      {"drop_duplicates", df[{"id1", "v1"}].drop_duplicates(), {"id1", "v1"}},
      {"nlargest", df.nlargest(5, {"v3", "id4"}), {}},
  };
  for (const auto& [what, frame, by] : cases) {
    int64_t before = TasksDone();
    Table got = frame.compute();
    EXPECT_GT(TasksDone(), before) << what << " did not run on the cluster";
    ExpectSameTable(got, frame.compute(Local()), by, what);
  }

  // Joins: broadcast (small right side) and hash-shuffled.
  DataFrame right = df.groupby({"id4"}).agg({{"v3", "sum", "total"}});
  MergeOptions mo;
  mo.on = {"id4"};
  DataFrame joined = df.merge(right, mo);
  ExpectSameTable(joined.compute(), joined.compute(Local()), {"id1", "id4", "v1", "v3"}, "merge");
  mo.npartitions = 4;
  DataFrame shuffled = df.merge(df.rename({{"v1", "v1b"}, {"v3", "v3b"}, {"id1", "id1b"}}), mo);
  EXPECT_EQ(shuffled.compute().num_rows(), shuffled.compute(Local()).num_rows());
}

TEST_F(CollectionsOnClusterTest, CategorizedFrameGroupsAndJoinsLikeTheLocalScheduler) {
  std::string csv = WriteCsv(dir_ / "csv3");
  CsvOptions co;
  co.blocksize = 30000;
  co.dtype = {{"id1", TypeId::kCategory}};
  DataFrame df = read_csv(csv, co).persist();
  ASSERT_GT(df.npartitions(), 3);
  int64_t before = TasksDone();
  DataFrame cat = df.categorize({"id1"}).persist();  // the labels gathered and recoded on the workers
  EXPECT_GT(TasksDone(), before);
  GroupByOptions many;
  many.split_out = 3;
  Table got = cat.groupby({"id1"}, many).agg({{"v3", "sum"}, {"v1", "max"}}).compute();
  EXPECT_TRUE(got.column("id1").categories_known());  // through the workers' shuffle and back
  ExpectSameTable(got, read_csv(csv, co).groupby({"id1"}, many).agg({{"v3", "sum"}, {"v1", "max"}}).compute(Local()),
                  {"id1"}, "groupby of categories");
  DataFrame right = from_table(Table({{"id1", Column::FromStrings({"id3", "id5", "id12", "none"})},
                                      {"w", Column::FromVector<int64_t>({3, 5, 12, 0})}}));
  MergeOptions mo;
  mo.on = {"id1"};
  DataFrame joined = cat.merge(right, mo);
  ExpectSameTable(joined.compute(), read_csv(csv, co).merge(right, mo).compute(Local()), {"id1", "id4", "v1", "v3"},
                  "merge on categories");
}

TEST_F(CollectionsOnClusterTest, PersistedFrameAndParquetRoundTrip) {
  std::string csv = WriteCsv(dir_ / "csv2");
  DataFrame df = read_csv(csv).persist();
  for (uint32_t i = 0; i < df.graph().size(); ++i) EXPECT_FALSE(df.graph().task(i).is_literal());
  DataFrame q = df.groupby({"id1"}).agg({{"v3", "sum"}});
  ExpectSameTable(q.compute(), read_csv(csv).groupby({"id1"}).agg({{"v3", "sum"}}).compute(Local()), {"id1"},
                  "groupby on persisted partitions");
  // Workers write the files (temporary names, renamed when complete).
  std::filesystem::path out = dir_ / "pq";
  std::vector<std::string> files = df.to_parquet(out.string());
  EXPECT_EQ(files.size(), static_cast<size_t>(df.npartitions()));
  ExpectSameTable(read_parquet(out.string()).compute(), read_csv(csv).compute(Local()), {}, "parquet round trip");
}

TEST_F(CollectionsOnClusterTest, ThreadsOptionKeepsWorkLocal) {
  // With a Client connected, scheduler=threads still runs here: a lambda is fine.
  DataFrame df = from_table(Table({{"a", Column::FromVector<int64_t>({1, 2, 3})}}));
  DataFrame m = df.map_partitions([](const Table& t) { return t; });
  int64_t before = TasksDone();
  EXPECT_EQ(m.compute(Local()).num_rows(), 3);
  config::ScopedSet s({{"scheduler", std::string("threads")}});
  EXPECT_EQ(m.compute().num_rows(), 3);
  EXPECT_EQ(TasksDone(), before);
}

}  // namespace
}  // namespace skein
