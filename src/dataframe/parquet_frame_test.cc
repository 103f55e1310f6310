// DataFrames over Parquet: to_parquet/read_parquet round trips through
// several files and row groups, filters and groupby matching the same work
// in memory, row groups skipped on statistics and columns never read
// (shown by corrupting exactly what must not be read), directory order,
// overwrite rules and schema mismatches.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/parquet/chunk.h"
#include "io/temp_dir_test_util.h"
#include "skein/dataframe/dataframe.h"

namespace skein {
namespace {

namespace fs = std::filesystem;

class ParquetFrameTest : public io::testing::TempDirTest<> {
 protected:
  // v: 0..n-1 in order; k: 5 string keys; x: floats with nulls.
  static Table Data(int64_t n) {
    ColumnBuilder v(TypeId::kInt64), x(TypeId::kFloat64), k(TypeId::kString);
    for (int64_t i = 0; i < n; ++i) {
      v.Append<int64_t>(i);
      if (i % 13 == 0) x.AppendNull();
      else x.Append<double>(static_cast<double>(i % 97) * 0.5);
      k.AppendString("k" + std::to_string(i % 5));
    }
    return Table({{"v", v.Finish()}, {"k", k.Finish()}, {"x", x.Finish()}});
  }
  // Overwrites the bytes of `column`'s chunk in `row_group` of `file`.
  static void Corrupt(const std::string& file, int row_group, const std::string& column) {
    ParquetRowGroupPlan p = ParquetFile::Open(file).Plan(row_group, {column});
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(p.chunks[0]->offset);
    const std::string junk(static_cast<size_t>(p.chunks[0]->length), '\xff');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
};

TEST_F(ParquetFrameTest, RoundTripsThroughFilesAndRowGroups) {
  const Table t = Data(10000);
  ParquetWriteOptions o;
  o.row_group_size = 1000;
  const auto files = from_table(t, 4).to_parquet(Path("ds"), o);
  ASSERT_EQ(files.size(), 4u);
  DataFrame df = read_parquet(Path("ds"));
  EXPECT_EQ(df.npartitions(), 12);  // 2500 rows per file: 3 row groups each
  EXPECT_EQ(df.schema(), t.schema());
  EXPECT_TRUE(df.compute() == t);
  // Work on it matches the same work in memory.
  DataFrame mem = from_table(t, 3);
  auto q = [](const DataFrame& d) {
    return d[col("x") > 10.0].groupby({"k"}).agg({{"v", "sum"}, {"x", "mean"}, {"v", "count", "n"}}).compute();
  };
  EXPECT_TRUE(q(df) == q(mem));
  // Options: a column subset, strings as categories.
  ParquetReadOptions ro;
  ro.columns = {"k"};
  ro.categories = {"k"};
  const Table k = read_parquet(Path("ds"), ro).compute();
  EXPECT_EQ(k.schema(), (Schema{{"k", TypeId::kCategory}}));
  EXPECT_TRUE(k.column(0).Decoded() == t.column("k"));
  // A glob and one file work too.
  EXPECT_EQ(read_parquet(Path("ds/part.1.*")).compute().num_rows(), 2500);
}

TEST_F(ParquetFrameTest, SkipsRowGroupsTheFiltersRuleOutAndColumnsNobodyReads) {
  ParquetWriteOptions o;
  o.row_group_size = 1000;
  WriteParquet(Path("t.parquet"), Data(5000), o);
  // v is sorted, so row group g holds v in [1000g, 1000g + 999]. Break the
  // chunks that must not be read: v of groups 0-3, and x everywhere.
  for (int g = 0; g < 4; ++g) Corrupt(Path("t.parquet"), g, "v");
  for (int g = 0; g < 5; ++g) Corrupt(Path("t.parquet"), g, "x");
  DataFrame df = read_parquet(Path("t.parquet"));
  const Table hi = df[col("v") >= 4500][{"v", "k"}].compute();
  ASSERT_EQ(hi.num_rows(), 500);
  EXPECT_EQ(hi.column("v").data<int64_t>()[0], 4500);
  // Every kind of predicate the statistics can refute.
  EXPECT_EQ(df[(col("v") > 4000) & (col("k") == "k1")][{"v"}].compute().num_rows(), 200);
  EXPECT_EQ(df[col("v").isin({4100, 4200, 9999})][{"v"}].compute().num_rows(), 2);
  EXPECT_EQ(df[col("v").between(4998, 7000)][{"v"}].compute().num_rows(), 2);
  EXPECT_EQ(df[Expr(int64_t{4990}) < col("v")][{"v"}].compute().num_rows(), 9);
  EXPECT_EQ(df[(col("v") < 0) | (col("v") >= 4999)][{"v"}].compute().num_rows(), 1);
  // Reading what was broken fails with the file, row group and column.
  try {
    df[col("v") >= 10].compute();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {  // a TaskError naming the task and the IOError
    EXPECT_NE(std::string(e.what()).find("IOError"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("t.parquet"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("row group"), std::string::npos) << e.what();
  }
}

TEST_F(ParquetFrameTest, DirectoriesReadInNaturalOrderAndOverwriteIsExplicit) {
  const Table t = Data(1200);
  from_table(t, 12).to_parquet(Path("ds"));
  EXPECT_TRUE(read_parquet(Path("ds")).compute() == t);  // part.10 after part.9
  try {
    from_table(t, 2).to_parquet(Path("ds"));
    ADD_FAILURE() << "no error";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("overwrite"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(read_parquet(Path("ds")).compute() == t);  // nothing lost
  from_table(t, 2).to_parquet(Path("ds"), {}, /*overwrite=*/true);
  EXPECT_EQ(read_parquet(Path("ds")).npartitions(), 2);
  EXPECT_TRUE(read_parquet(Path("ds")).compute() == t);
  // Bad options fail before anything is written.
  ParquetWriteOptions bad;
  bad.compression = "brotli";
  EXPECT_THROW(from_table(t, 2).to_parquet(Path("other"), bad), Error);
  EXPECT_FALSE(fs::exists(Path("other/part.0.parquet")));
}

TEST_F(ParquetFrameTest, BadDatasetsAreErrorsNamingTheFiles) {
  EXPECT_THROW(read_parquet(Path("missing.parquet")), IOError);
  fs::create_directories(Path("empty"));
  EXPECT_THROW(read_parquet(Path("empty")), IOError);
  fs::create_directories(Path("mix"));
  WriteParquet(Path("mix/a.parquet"), Data(10));
  WriteParquet(Path("mix/b.parquet"), Data(10).Select({"v", "k"}));
  try {
    read_parquet(Path("mix"));
    ADD_FAILURE() << "no error";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("b.parquet"), std::string::npos) << e.what();
  }
  std::ofstream(Path("mix/c.parquet")) << "not parquet";
  EXPECT_THROW(read_parquet(Path("mix/c.parquet")), IOError);
  EXPECT_THROW(read_parquet(Path("mix/a.parquet"))[{"nope"}], KeyError);
}

}  // namespace
}  // namespace skein
