// sort_values across partitions (range shuffle), nlargest/nsmallest,
// drop_duplicates, value_counts, describe, tail and to_csv.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "groupby_internal.h"
#include "io/temp_dir_test_util.h"
#include "skein/dataframe/dataframe.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

Table Data(int n) {
  std::mt19937_64 rng(11);
  std::vector<int64_t> a;
  std::vector<double> x;
  std::vector<bool> xv;
  std::vector<std::optional<std::string>> s;
  for (int i = 0; i < n; ++i) {
    a.push_back(static_cast<int64_t>(rng() % 40));
    x.push_back(static_cast<double>(rng() % 1000) / 10);
    xv.push_back(i % 17 != 0);
    s.push_back("w" + std::to_string(rng() % 9));
  }
  return Table({{"a", Column::FromVector<int64_t>(a)}, {"x", Column::FromVector<double>(x, xv)},
                {"s", Column::FromStrings(s)}});
}

class SortTest : public io::testing::TempDirTest<> {};

TEST_F(SortTest, SortValuesAcrossPartitionsMatchesOneSort) {
  Table t = Data(2000);
  for (bool asc : {true, false}) {
    DataFrame df = from_table(t, 5).sort_values({"x", "a"}, {asc, true});
    EXPECT_GE(df.npartitions(), 2);
    Table got = df.compute();
    Table want = dataframe::internal::SortTable(t, {"x", "a"}, {asc, true});
    // Equal sort keys may come in any order between ties on both columns;
    // compare the key columns exactly and the rows as sets.
    EXPECT_EQ(got.Select({"x", "a"}), want.Select({"x", "a"})) << asc;
    EXPECT_EQ(dataframe::internal::SortTable(got, {"x", "a", "s"}), dataframe::internal::SortTable(want, {"x", "a", "s"}));
    EXPECT_TRUE(got.column("x").IsNull(got.num_rows() - 1));  // nulls last
  }
  Table strings = from_table(t, 3).sort_values({"s"}).compute();
  for (int64_t i = 1; i < strings.num_rows(); ++i) ASSERT_LE(strings.column("s").StringAt(i - 1), strings.column("s").StringAt(i));
}

TEST_F(SortTest, TopNDedupeValueCountsDescribeTail) {
  Table t = Data(1000);
  DataFrame df = from_table(t, 4);
  Table top = df.nlargest(5, {"x"}).compute();
  Table want = dataframe::internal::SortTable(t, {"x"}, {false}).Slice(0, 5);
  EXPECT_EQ(top.Select({"x"}), want.Select({"x"}));
  Table low = df.nsmallest(3, {"a", "x"}).compute();
  EXPECT_EQ(low.Select({"a", "x"}), dataframe::internal::SortTable(t, {"a", "x"}).Slice(0, 3).Select({"a", "x"}));
  Table distinct = df.drop_duplicates({"s"}).compute();
  EXPECT_EQ(distinct.num_rows(), 9);
  Table vc = df.value_counts("s").compute();
  EXPECT_EQ(vc.names(), (std::vector<std::string>{"s", "count"}));
  int64_t total = 0;
  for (int64_t i = 0; i < vc.num_rows(); ++i) {
    total += vc.column("count").data<int64_t>()[i];
    if (i) {
      EXPECT_GE(vc.column("count").data<int64_t>()[i - 1], vc.column("count").data<int64_t>()[i]);
    }
  }
  EXPECT_EQ(total, 1000);
  Table d = df.describe();
  EXPECT_EQ(d.names(), (std::vector<std::string>{"stat", "a", "x"}));
  EXPECT_EQ(d.column("stat").StringAt(5), "50%");
  EXPECT_EQ(d.column("x").NumberAt(0), 1000 - 59);  // count skips nulls (every 17th row)
  double mx = 0;
  for (int64_t i = 0; i < 1000; ++i) mx = std::max(mx, t.column("a").NumberAt(i));
  EXPECT_EQ(d.column("a").NumberAt(7), mx);
  Table last = df.tail(3);
  EXPECT_EQ(last, t.Slice(997, 3));
}

TEST_F(SortTest, TopNPerGroup) {
  Table t = Data(1500);
  Table got = from_table(t, 4).groupby({"s"}).nlargest(2, "x").compute();
  // Reference: per s, the two largest non-null x.
  std::map<std::string, std::vector<double>> xs;
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    if (t.column("x").IsValid(i)) xs[std::string(t.column("s").StringAt(i))].push_back(t.column("x").NumberAt(i));
  }
  ASSERT_EQ(got.num_rows(), static_cast<int64_t>(2 * xs.size()));
  std::map<std::string, std::vector<double>> seen;
  for (int64_t i = 0; i < got.num_rows(); ++i) seen[std::string(got.column("s").StringAt(i))].push_back(got.column("x").NumberAt(i));
  for (auto& [k, v] : xs) {
    std::sort(v.rbegin(), v.rend());
    EXPECT_EQ(seen[k], (std::vector<double>{v[0], v[1]})) << k;
  }
  Table low = from_table(t, 3).groupby({"s"}).nsmallest(1, "a").compute();
  EXPECT_EQ(low.num_rows(), 9);
  EXPECT_THAT([&] { from_table(t).groupby({"s"}).nlargest(2, "nope"); }, ::testing::ThrowsMessage<KeyError>(HasSubstr("'nope'")));
}

TEST_F(SortTest, SampleIsReproducibleAndSized) {
  Table t = Data(1000);
  DataFrame df = from_table(t, 4);
  Table a = df.sample(0.1, 7).compute(), b = df.sample(0.1, 7).compute(), c = df.sample(0.1, 8).compute();
  EXPECT_EQ(a.num_rows(), 100);  // 25 of each partition's 250
  EXPECT_EQ(a, b);
  EXPECT_FALSE(a == c);
  EXPECT_EQ(df.sample(1.0).compute(), t);
  EXPECT_EQ(df.sample(0).compute().num_rows(), 0);
  EXPECT_THROW(df.sample(1.5), Error);
}

TEST_F(SortTest, ToCsvOneFilePerPartitionOrOneFile) {
  Table t = Data(300);
  DataFrame df = from_table(t, 3);
  std::vector<std::string> files = df.to_csv(Path("part-*.csv"));
  ASSERT_EQ(files.size(), 3u);
  EXPECT_TRUE(std::filesystem::exists(Path("part-2.csv")));
  EXPECT_EQ(read_csv(Path("part-*.csv")).compute(), t);
  df.to_csv(Path("all.csv"));
  EXPECT_EQ(read_csv(Path("all.csv")).compute(), t);
  int leftovers = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) leftovers += e.path().string().find(".tmp") != std::string::npos;
  EXPECT_EQ(leftovers, 0);
  // A failing write leaves no file and no temporary behind.
  EXPECT_THROW(df.to_csv(Path("missing-dir/out.csv")), Error);
  EXPECT_FALSE(std::filesystem::exists(Path("missing-dir")));
  EXPECT_THAT([&] { df.sort_values({"nope"}); }, ::testing::ThrowsMessage<KeyError>(HasSubstr("'nope'")));
}

}  // namespace
}  // namespace skein
