// The index: set_index by sampling (divisions known and true of every
// partition) or on sorted data (checked), loc reading only the partitions
// its range can touch, the index surviving steps, join on indexes, and the
// Series/Scalar API with whole-frame aggregation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "skein/api/delayed.h"
#include "skein/dataframe/dataframe.h"

namespace skein {
namespace {

// id: a permutation of 0..n-1 (shuffled); name: "n<id % 37>"; x: id / 4.
Table Shuffled(int64_t n, uint32_t seed = 3) {
  std::vector<int64_t> id(static_cast<size_t>(n));
  std::iota(id.begin(), id.end(), 0);
  std::shuffle(id.begin(), id.end(), std::mt19937(seed));
  std::vector<double> x;
  std::vector<std::optional<std::string>> name;
  for (int64_t v : id) {
    x.push_back(static_cast<double>(v) / 4);
    name.emplace_back("n" + std::to_string(v % 37));
  }
  return Table({{"id", Column::FromVector(id)}, {"name", Column::FromStrings(name)}, {"x", Column::FromVector(x)}});
}

// Each partition of df, computed.
std::vector<Table> Partitions(const DataFrame& df) {
  std::vector<Table> out;
  for (const Value& v : Get(df.graph(), df.keys())) out.push_back(v.get<Table>());
  return out;
}

void ExpectDivisionsHold(const DataFrame& df) {
  const Table d = df.divisions();
  ASSERT_EQ(d.num_rows(), df.npartitions() + 1);
  const std::vector<Table> parts = Partitions(df);
  for (size_t p = 0; p < parts.size(); ++p) {
    const Column& c = parts[p].column(df.index());
    for (int64_t i = 0; i < c.length(); ++i) {
      if (c.IsNull(i)) continue;
      EXPECT_GE(c.NumberAt(i), d.column(0).NumberAt(static_cast<int64_t>(p))) << "partition " << p;
      EXPECT_LE(c.NumberAt(i), d.column(0).NumberAt(static_cast<int64_t>(p) + 1)) << "partition " << p;
    }
  }
}

TEST(IndexTest, SetIndexSortsAndKnowsItsDivisions) {
  const Table t = Shuffled(20000);
  DataFrame df = from_table(t, 5).set_index("id");
  EXPECT_EQ(df.index(), "id");
  ASSERT_TRUE(df.known_divisions());
  EXPECT_EQ(df.divisions().column(0).NumberAt(0), 0);       // exact minimum
  EXPECT_EQ(df.divisions().column(0).NumberAt(df.npartitions()), 19999);  // exact maximum
  ExpectDivisionsHold(df);
  const Table all = df.compute();
  for (int64_t i = 0; i < all.num_rows(); ++i) ASSERT_EQ(all.column("id").data<int64_t>()[i], i);
  EXPECT_NE(df.ToString().find("index=id"), std::string::npos);
}

TEST(IndexTest, LocReadsOnlyThePartitionsItsRangeTouches) {
  DataFrame df = from_table(Shuffled(20000), 5).set_index("id").persist();
  ASSERT_TRUE(df.known_divisions());
  DataFrame few = df.loc(int64_t{100}, int64_t{180});
  EXPECT_EQ(few.npartitions(), 1);
  const Table r = few.compute();
  ASSERT_EQ(r.num_rows(), 81);
  EXPECT_EQ(r.column("id").data<int64_t>()[0], 100);
  EXPECT_EQ(df.loc(int64_t{12345}).compute().column("x").data<double>()[0], 12345 / 4.0);
  EXPECT_EQ(df.loc(int64_t{50000}).compute().num_rows(), 0);
  // A range across every partition keeps them all.
  EXPECT_EQ(df.loc(int64_t{-5}, int64_t{30000}).compute().num_rows(), 20000);
  // Without an index: an error; without divisions: a filter of everything.
  EXPECT_THROW(from_table(Shuffled(10), 2).loc(int64_t{1}), Error);
  EXPECT_EQ(from_table(Shuffled(100), 3).set_index("id").reset_index().index(), "");
}

TEST(IndexTest, StringIndexAndSortedData) {
  DataFrame df = from_table(Shuffled(5000), 4).set_index("name");
  ASSERT_TRUE(df.known_divisions());
  EXPECT_EQ(df.divisions().column(0).StringAt(0), "n0");
  EXPECT_EQ(df.loc("n7").compute().num_rows(), df[col("name") == "n7"].compute().num_rows());
  EXPECT_LT(df.loc("n7").npartitions(), df.npartitions());
  // Already sorted partitions: divisions from each partition's range.
  std::vector<Table> parts;
  for (int p = 0; p < 4; ++p) {
    std::vector<int64_t> v;
    for (int i = 0; i < 100; ++i) v.push_back(p * 1000 + i * 3);
    parts.push_back(Table({{"k", Column::FromVector(v)}}));
  }
  DataFrame sorted = from_tables(parts).set_index("k", /*sorted=*/true);
  ASSERT_TRUE(sorted.known_divisions());
  EXPECT_EQ(sorted.npartitions(), 4);
  EXPECT_EQ(sorted.divisions().column(0).NumberAt(1), 1000);
  EXPECT_EQ(sorted.divisions().column(0).NumberAt(4), 3297);
  ExpectDivisionsHold(sorted);
  EXPECT_EQ(sorted.loc(int64_t{2000}, int64_t{2010}).npartitions(), 1);
  std::swap(parts[1], parts[2]);
  try {
    from_tables(parts).set_index("k", true);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not sorted"), std::string::npos) << e.what();
  }
  EXPECT_THROW(from_tables(parts).set_index("nope"), KeyError);
}

TEST(IndexTest, IndexSurvivesStepsThatKeepItAndJoinUsesIt) {
  DataFrame df = from_table(Shuffled(3000), 3).set_index("id");
  EXPECT_EQ(df[col("x") > 10.0].index(), "id");
  EXPECT_TRUE(df[col("x") > 10.0].known_divisions());
  EXPECT_EQ(df[{"x"}].index(), "");
  EXPECT_EQ(df.rename({{"id", "key"}}).index(), "key");
  EXPECT_EQ(df.assign("id", col("x")).index(), "");
  // join on indexes: the same rows as a merge on the index columns.
  std::vector<int64_t> rid;
  std::vector<double> w;
  for (int64_t i = 0; i < 3000; i += 7) {
    rid.push_back(i);
    w.push_back(static_cast<double>(i) * 2);
  }
  DataFrame right = from_table(Table({{"rid", Column::FromVector(rid)}, {"w", Column::FromVector(w)}}), 2).set_index("rid");
  const Table j = df.join(right, "inner").compute();
  EXPECT_EQ(j.num_rows(), static_cast<int64_t>(rid.size()));
  for (int64_t i = 0; i < j.num_rows(); ++i) {
    EXPECT_EQ(j.column("w").data<double>()[i], j.column("x").data<double>()[i] * 8);
  }
  EXPECT_EQ(df.join(right, "left").compute().num_rows(), 3000);
  EXPECT_EQ(df.join(right).index(), "id");
  EXPECT_THROW(df.join(from_table(Shuffled(10), 1)), Error);
}

TEST(IndexTest, SeriesAndWholeFrameAggregation) {
  const Table t = Shuffled(1000);
  DataFrame df = from_table(t, 4);
  Series x = df["x"];
  EXPECT_EQ(x.name(), "x");
  EXPECT_EQ(x.dtype(), TypeId::kFloat64);
  EXPECT_EQ(x.npartitions(), 4);
  EXPECT_DOUBLE_EQ(x.sum().compute(), 999.0 * 1000 / 2 / 4);
  EXPECT_DOUBLE_EQ(x.mean().compute(), 999.0 / 2 / 4);
  EXPECT_DOUBLE_EQ(x.max().compute(), 999.0 / 4);
  EXPECT_DOUBLE_EQ(x.min().compute(), 0);
  EXPECT_DOUBLE_EQ(df["id"].count().compute(), 1000);
  EXPECT_DOUBLE_EQ(df["name"].nunique().compute(), 37);
  EXPECT_EQ(df["name"].unique().compute().length(), 37);
  EXPECT_EQ(df["name"].value_counts().compute().num_rows(), 37);
  EXPECT_EQ(x.compute().length(), 1000);
  EXPECT_EQ(x.head(3).length(), 3);
  EXPECT_NE(x.ToString().find("dtype=float64"), std::string::npos);
  EXPECT_THROW(df["nope"], KeyError);
  // Whole-frame aggregation: one row.
  const Table a = df.agg({{"x", "sum"}, {"id", "max"}, {"name", "count", "n"}}).compute();
  ASSERT_EQ(a.num_rows(), 1);
  EXPECT_EQ(a.names(), (std::vector<std::string>{"x", "id", "n"}));
  EXPECT_EQ(a.column("id").NumberAt(0), 999);
  // No rows: a sum of nothing is 0, a mean is NaN.
  DataFrame none = df[col("id") < 0];
  EXPECT_EQ(none["x"].sum().compute(), 0);
  EXPECT_TRUE(std::isnan(none["x"].mean().compute()));
}

}  // namespace
}  // namespace skein
