// DataFrames end to end: read_csv in several partitions, filters and
// assign fused into the reading tasks, projection pushdown, groupby with
// every aggregation by tree and by shuffle against a reference computed
// row by row, persist/head/printing, and errors.
#include "skein/dataframe/dataframe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>

#include "groupby_internal.h"
#include "io/temp_dir_test_util.h"

namespace skein {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

// An aggregation of `column` named `name` (the kernels' own spec).
dataframe::internal::AggSpec AggOf(const char* column, dataframe::internal::AggFunc f, const char* name) {
  dataframe::internal::AggSpec a;
  a.column = column;
  a.func = f;
  a.name = name;
  return a;
}

class DataFrameTest : public io::testing::TempDirTest<> {
 protected:
  // k: 7 string keys, g: 3 int keys, v: ints with some nulls, x: floats.
  std::string WriteData(int rows) {
    std::mt19937_64 rng(7);
    std::string text = "k,g,v,x,junk\n";
    for (int i = 0; i < rows; ++i) {
      const int k = static_cast<int>(rng() % 7), g = static_cast<int>(rng() % 3);
      const int v = static_cast<int>(rng() % 100);
      const double x = static_cast<double>(rng() % 10000) / 100.0;
      text += "key" + std::to_string(k) + "," + std::to_string(g) + "," + (i % 11 == 0 ? "" : std::to_string(v)) +
              "," + std::to_string(x) + ",j" + std::to_string(i) + "\n";
      Row r{"key" + std::to_string(k), g, i % 11 == 0 ? std::nullopt : std::optional<int64_t>(v), x};
      rows_.push_back(r);
    }
    const std::string path = Path("data.csv");
    std::ofstream(path) << text;
    return path;
  }
  struct Row {
    std::string k;
    int64_t g;
    std::optional<int64_t> v;
    double x;
  };
  std::vector<Row> rows_;
};

TEST_F(DataFrameTest, ReadFilterAssignGroupByMatchesReference) {
  CsvOptions opt;
  opt.blocksize = 2000;  // many partitions
  opt.dtype = {{"junk", TypeId::kInt64}};  // never read: would fail to parse
  DataFrame df = read_csv(WriteData(3000), opt);
  ASSERT_GT(df.npartitions(), 10);
  DataFrame sel = df[col("x") > 10.0].assign("y", col("x") * 2 + col("g"));
  for (int split_out : {1, 3}) {
    GroupByOptions go;
    go.split_out = split_out;
    go.split_every = 3;
    Table r = sel.groupby({"k"}, go)
                  .agg({{"v", "sum"}, {"v", "count"}, {"y", "mean"}, {"x", "min"}, {"x", "max"}, {"y", "std"},
                        {"v", "first"}, {"v", "last"}, {"", "size"}})
                  .compute();
    if (split_out > 1) r = dataframe::internal::SortTable(r, {"k"});  // one sorted piece per output partition
    // Reference.
    std::map<std::string, std::vector<const Row*>> groups;
    for (const Row& row : rows_) {
      if (row.x > 10.0) groups[row.k].push_back(&row);
    }
    ASSERT_EQ(r.num_rows(), static_cast<int64_t>(groups.size()));
    int64_t i = 0;
    for (const auto& [k, members] : groups) {
      EXPECT_EQ(r.column("k").StringAt(i), k);
      int64_t sum = 0, count = 0;
      double ysum = 0, xmin = 1e9, xmax = -1e9;
      std::optional<int64_t> first, last;
      for (const Row* m : members) {
        if (m->v) {
          sum += *m->v;
          ++count;
          if (!first) first = m->v;
          last = m->v;
        }
        ysum += m->x * 2 + static_cast<double>(m->g);
        xmin = std::min(xmin, m->x);
        xmax = std::max(xmax, m->x);
      }
      const double ymean = ysum / static_cast<double>(members.size());
      double m2 = 0;
      for (const Row* m : members) m2 += std::pow(m->x * 2 + static_cast<double>(m->g) - ymean, 2);
      EXPECT_EQ(r.column("v_sum").data<int64_t>()[i], sum);
      EXPECT_EQ(r.column("v_count").data<int64_t>()[i], count);
      EXPECT_NEAR(r.column("y_mean").data<double>()[i], ymean, 1e-9);
      EXPECT_NEAR(r.column("y_std").data<double>()[i], std::sqrt(m2 / static_cast<double>(members.size() - 1)), 1e-9);
      EXPECT_EQ(r.column("x_min").data<double>()[i], xmin);
      EXPECT_EQ(r.column("x_max").data<double>()[i], xmax);
      EXPECT_EQ(r.column("v_first").data<int64_t>()[i], *first);
      EXPECT_EQ(r.column("v_last").data<int64_t>()[i], *last);
      EXPECT_EQ(r.column("size").data<int64_t>()[i], static_cast<int64_t>(members.size()));
      ++i;
    }
  }
}

// min/max of numbers per group: nulls and NaN skipped, a group with none
// gives a null, every numeric width, across partitions (the partials' own
// min/max), with as many groups as rows nearly.
TEST_F(DataFrameTest, CategorizeGivesEveryPartitionOneSortedDictionary) {
  CsvOptions opt;
  opt.blocksize = 2000;  // many partitions, each with its own dictionary of k
  opt.dtype = {{"k", TypeId::kCategory}};
  DataFrame df = read_csv(WriteData(3000), opt).persist();
  ASSERT_GT(df.npartitions(), 10);
  DataFrame cat = df.categorize();  // k and junk (strings), not the numbers
  EXPECT_EQ(cat.schema()[0].type, TypeId::kCategory);
  EXPECT_EQ(cat.schema()[4].type, TypeId::kCategory);
  EXPECT_EQ(cat.schema()[1].type, TypeId::kInt64);
  cat = cat.persist();
  // One sorted dictionary, shared: whole partitions concatenate by code.
  Table all = cat.compute();
  const Column& k = all.column("k");
  ASSERT_TRUE(k.categories_known());
  std::set<std::string> want;
  for (const Row& r : rows_) want.insert(r.k);
  ASSERT_EQ(k.dictionary()->length(), static_cast<int64_t>(want.size()));
  int64_t at = 0;
  for (const std::string& label : want) EXPECT_EQ(k.dictionary()->StringAt(at++), label);
  EXPECT_EQ(all.column("junk").dictionary()->length(), 3000);
  EXPECT_TRUE(all.column("junk").categories_known());
  EXPECT_EQ(all.column("k").Decoded(), df.compute().column("k").Decoded());
  // The same answers as per-partition dictionaries, by tree and by shuffle
  // (whose pieces keep the whole dictionary), filtered or not.
  for (int split_out : {1, 3}) {
    GroupByOptions go;
    go.split_out = split_out;
    auto q = [&](const DataFrame& f) {
      return f[col("x") > 20.0].groupby({"k"}, go).agg({{"v", "sum"}, {"x", "max"}, {"", "size"}}).compute();
    };
    Table got = q(cat), ref = q(df);
    EXPECT_EQ(got, ref) << "split_out " << split_out << "\n" << got << "\n" << ref;
    EXPECT_TRUE(got.column("k").categories_known());
  }
  // Labels of filtered-out rows are not categories.
  Table some = df[col("k") == "key3"].categorize({"k"}).compute();
  EXPECT_EQ(some.column("k").dictionary()->length(), 1);
  // Bad input.
  EXPECT_THAT([&] { df.categorize({"nope"}); }, ThrowsMessage<KeyError>(HasSubstr("no column 'nope'")));
  EXPECT_THAT([&] { df.categorize({"g"}); }, ThrowsMessage<TypeError>(HasSubstr("column 'g' is int64")));
}

TEST(GroupByMinMax, SkipNullsAndNaNAndGiveNullForEmptyGroups) {
  const int64_t n = 5000;
  std::vector<int64_t> key(n), i64(n);
  std::vector<int32_t> i32(n);
  std::vector<double> f64(n);
  std::vector<bool> valid(n);
  for (int64_t r = 0; r < n; ++r) {
    key[r] = (r * 7919) % 1700;  // 1700 groups, about 3 rows each
    i64[r] = (r * 104729) % 10007 - 5000;
    i32[r] = static_cast<int32_t>((r * 31) % 977) - 400;
    f64[r] = (r % 11 == 0) ? std::nan("") : std::sin(static_cast<double>(r)) * 100;
    valid[r] = r % 5 != 0;
  }
  for (int64_t r = 0; r < n; ++r) {
    if (key[r] == 3) valid[r] = false;  // group 3: no valid value at all
  }
  Table t({{"k", Column::FromVector<int64_t>(key)},
           {"a", Column::FromVector<int64_t>(i64, valid)},
           {"b", Column::FromVector<int32_t>(i32, valid)},
           {"c", Column::FromVector<double>(f64, valid)},
           {"f", Column::FromVector<float>(std::vector<float>(f64.begin(), f64.end()), valid)}});
  Table r = from_table(t, 4)
                .groupby({"k"})
                .agg({{"a", "min"}, {"a", "max"}, {"b", "min"}, {"b", "max"}, {"c", "min"}, {"c", "max"}, {"f", "max"}})
                .compute();
  r = dataframe::internal::SortTable(r, {"k"});
  ASSERT_EQ(r.num_rows(), 1700);
  for (int64_t g = 0; g < 1700; ++g) {
    ASSERT_EQ(r.column("k").data<int64_t>()[g], g);
    std::optional<int64_t> amin, amax;
    std::optional<int32_t> bmin, bmax;
    std::optional<double> cmin, cmax;
    std::optional<float> fmax;
    for (int64_t row = 0; row < n; ++row) {
      if (key[row] != g || !valid[row]) continue;
      amin = std::min(amin.value_or(i64[row]), i64[row]);
      amax = std::max(amax.value_or(i64[row]), i64[row]);
      bmin = std::min(bmin.value_or(i32[row]), i32[row]);
      bmax = std::max(bmax.value_or(i32[row]), i32[row]);
      if (std::isnan(f64[row])) continue;
      cmin = std::min(cmin.value_or(f64[row]), f64[row]);
      cmax = std::max(cmax.value_or(f64[row]), f64[row]);
      fmax = std::max(fmax.value_or(static_cast<float>(f64[row])), static_cast<float>(f64[row]));
    }
    auto check = [&](const char* name, auto want) {
      const Column& c = r.column(name);
      ASSERT_EQ(c.IsValid(g), want.has_value()) << name << " group " << g;
      if (want) {
        EXPECT_EQ(c.NumberAt(g), static_cast<double>(*want)) << name << " group " << g;
      }
    };
    check("a_min", amin);
    check("a_max", amax);
    check("b_min", bmin);
    check("b_max", bmax);
    check("c_min", cmin);
    check("c_max", cmax);
    check("f", fmax);  // one aggregation of a column keeps its name
  }
  EXPECT_TRUE(r.column("a_min").IsNull(3));
}

TEST_F(DataFrameTest, HolisticAggregationsAndMultipleKeys) {
  DataFrame df = read_csv(WriteData(2000), [] {
    CsvOptions o;
    o.blocksize = 5000;
    return o;
  }());
  // A var before the median and a std after it: both read the values the
  // median groups (before it reorders them).
  Table r = df.groupby({"k", "g"})
                .agg({{"x", "var", "x_var"}, {"x", "median"}, {"v", "nunique"}, {"x", "quantile", "x_q90", 0.9},
                      {"x", "std", "x_std"}})
                .compute();
  std::map<std::pair<std::string, int64_t>, std::vector<const Row*>> groups;
  for (const Row& row : rows_) groups[{row.k, row.g}].push_back(&row);
  ASSERT_EQ(r.num_rows(), static_cast<int64_t>(groups.size()));
  int64_t i = 0;
  for (const auto& [key, members] : groups) {
    EXPECT_EQ(r.column("k").StringAt(i), key.first);
    EXPECT_EQ(r.column("g").data<int64_t>()[i], key.second);
    std::vector<double> xs;
    std::set<int64_t> vs;
    for (const Row* m : members) {
      xs.push_back(m->x);
      if (m->v) vs.insert(*m->v);
    }
    std::sort(xs.begin(), xs.end());
    auto quantile = [&](double q) {
      const double pos = q * static_cast<double>(xs.size() - 1);
      const size_t lo = static_cast<size_t>(pos);
      const double hi = lo + 1 < xs.size() ? xs[lo + 1] : xs[lo];
      return xs[lo] + (hi - xs[lo]) * (pos - static_cast<double>(lo));
    };
    EXPECT_NEAR(r.column("x_median").data<double>()[i], quantile(0.5), 1e-12);
    EXPECT_NEAR(r.column("x_q90").data<double>()[i], quantile(0.9), 1e-12);
    double mean = 0, m2 = 0;
    for (double x : xs) mean += x / static_cast<double>(xs.size());
    for (double x : xs) m2 += (x - mean) * (x - mean);
    if (xs.size() > 1) {
      const double var = m2 / static_cast<double>(xs.size() - 1);
      EXPECT_NEAR(r.column("x_var").data<double>()[i], var, 1e-9 * (1 + var));
      EXPECT_NEAR(r.column("x_std").data<double>()[i], std::sqrt(var), 1e-9 * (1 + var));
    } else {
      EXPECT_TRUE(r.column("x_var").IsNull(i) && r.column("x_std").IsNull(i));
    }
    EXPECT_EQ(r.column("v").data<int64_t>()[i], static_cast<int64_t>(vs.size()));
    ++i;
  }
}

// Min and max per group over columns without nulls (kept as values) and
// with NaN (kept as rows, so that a group of only NaN is null), through the
// chunk and the combine steps, in the column's own type.
TEST_F(DataFrameTest, MinAndMaxPerGroupWithAndWithoutNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<int64_t> k, i64;
  std::vector<int32_t> i32;
  std::vector<double> clean, holes;
  for (int64_t r = 0; r < 600; ++r) {
    k.push_back(r % 7);
    i64.push_back((r * 7919) % 1001 - 500);
    i32.push_back(static_cast<int32_t>((r * 31) % 97));
    clean.push_back(static_cast<double>((r * 13) % 101) / 3.0);
    holes.push_back(r % 7 == 6 || r % 5 == 0 ? nan : static_cast<double>(r % 89));  // group 6: only NaN
  }
  Column ts = Column::FromVector<int64_t>(i64);
  ts = Column::Make(TypeId::kTimestamp, ts.length(), {}, ts.values());
  const Table t({{"k", Column::FromVector<int64_t>(k)},
                 {"i64", Column::FromVector<int64_t>(i64)},
                 {"i32", Column::FromVector<int32_t>(i32)},
                 {"clean", Column::FromVector<double>(clean)},
                 {"holes", Column::FromVector<double>(holes)},
                 {"ts", ts}});
  GroupByOptions go;
  go.split_out = 2;
  const std::vector<std::string> names = {"i64", "i32", "clean", "holes", "ts"};
  std::vector<Agg> aggs;
  for (const auto& c : names) aggs.emplace_back(c, "min", c + "_min"), aggs.emplace_back(c, "max", c + "_max");
  const Table r = dataframe::internal::SortTable(from_table(t, 4).groupby({"k"}, go).agg(aggs).compute(), {"k"});
  ASSERT_EQ(r.num_rows(), 7);
  EXPECT_EQ(r.column("i32_min").type(), TypeId::kInt32);
  EXPECT_EQ(r.column("ts_max").type(), TypeId::kTimestamp);
  for (int64_t g = 0; g < 7; ++g) {
    for (const auto& c : names) {
      double lo = std::numeric_limits<double>::infinity(), hi = -lo;
      for (int64_t row = 0; row < t.num_rows(); ++row) {
        const double x = t.column(c).NumberAt(row);
        if (k[static_cast<size_t>(row)] != g || x != x) continue;
        lo = std::min(lo, x), hi = std::max(hi, x);
      }
      if (lo > hi) {
        EXPECT_TRUE(r.column(c + "_min").IsNull(g)) << c << " group " << g;
        EXPECT_TRUE(r.column(c + "_max").IsNull(g)) << c << " group " << g;
        continue;
      }
      EXPECT_EQ(r.column(c + "_min").NumberAt(g), lo) << c << " group " << g;
      EXPECT_EQ(r.column(c + "_max").NumberAt(g), hi) << c << " group " << g;
    }
  }
}

// Medians skip nulls and NaN; a group with none left has a null median;
// integer values count as doubles.
TEST_F(DataFrameTest, MediansSkipNullsAndNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Table t({{"k", Column::FromVector<int64_t>({1, 2, 1, 3, 2, 1, 3, 2, 1})},
           {"x", Column::FromVector<double>({5, nan, 1, nan, 4, 3, 7, 2, 100}, {1, 1, 1, 1, 1, 0, 0, 1, 1})},
           {"n", Column::FromVector<int64_t>({10, 20, 30, 40, 50, 60, 70, 80, 90})}});
  GroupByOptions go;
  go.split_out = 2;  // the values are shuffled to the combine tasks
  Table r = dataframe::internal::SortTable(
      from_table(t, 3).groupby({"k"}, go).agg({{"x", "median"}, {"n", "median"}}).compute(), {"k"});
  ASSERT_EQ(r.num_rows(), 3);
  // k=1: x 5, 1, (null), 100 -> 5; k=2: x (NaN), 4, 2 -> 3; k=3: NaN and null -> null.
  EXPECT_EQ(r.column("x").data<double>()[0], 5);
  EXPECT_EQ(r.column("x").data<double>()[1], 3);
  EXPECT_TRUE(r.column("x").IsNull(2));
  EXPECT_EQ(r.column("n").data<double>()[0], 45);  // 10, 30, 60, 90
  EXPECT_EQ(r.column("n").data<double>()[1], 50);
  EXPECT_EQ(r.column("n").data<double>()[2], 55);
}

// Quantiles of groups of many sizes and value patterns (random with many
// repeats, sorted, reversed, organ pipe, all equal, a few distinct) equal
// those read from a sorted copy, with pandas' linear interpolation.
TEST(AggregateRaw, QuantilesMatchASortedReferenceForEveryValuePattern) {
  using dataframe::internal::AggFunc;
  using dataframe::internal::AggSpec;
  std::mt19937_64 rng(11);
  std::vector<int64_t> keys;
  std::vector<double> values;
  std::vector<std::vector<double>> groups;
  const int64_t sizes[] = {1, 2, 3, 24, 25, 26, 100, 999, 1000, 4097};
  for (int pattern = 0; pattern < 6; ++pattern) {
    for (int64_t n : sizes) {
      std::vector<double> g;
      for (int64_t i = 0; i < n; ++i) {
        switch (pattern) {
          case 0: g.push_back(static_cast<double>(rng() % 1000) / 7.0); break;
          case 1: g.push_back(static_cast<double>(i)); break;
          case 2: g.push_back(static_cast<double>(n - i)); break;
          case 3: g.push_back(static_cast<double>(std::min(i, n - i))); break;
          case 4: g.push_back(2.5); break;
          default: g.push_back(static_cast<double>(rng() % 3)); break;
        }
      }
      groups.push_back(g);
    }
  }
  for (size_t k = 0; k < groups.size(); ++k) {
    for (double v : groups[k]) keys.push_back(static_cast<int64_t>(k)), values.push_back(v);
  }
  const Table t({{"k", Column::FromVector<int64_t>(keys)}, {"x", Column::FromVector<double>(values)}});
  for (double q : {0.0, 0.1, 0.5, 0.77, 1.0}) {
    AggSpec a;
    a.column = "x";
    a.func = q == 0.5 ? AggFunc::kMedian : AggFunc::kQuantile;
    a.name = "q";
    a.q = q;
    const Table r = dataframe::internal::AggregateRaw(t, {"k"}, {a}, /*dropna=*/true);
    ASSERT_EQ(r.num_rows(), static_cast<int64_t>(groups.size()));
    for (size_t k = 0; k < groups.size(); ++k) {
      std::vector<double> sorted = groups[k];
      std::sort(sorted.begin(), sorted.end());
      const double pos = q * static_cast<double>(sorted.size() - 1);
      const auto lo = static_cast<size_t>(std::floor(pos));
      const double hi = lo + 1 < sorted.size() ? sorted[lo + 1] : sorted[lo];
      const double want = sorted[lo] + (hi - sorted[lo]) * (pos - static_cast<double>(lo));
      ASSERT_EQ(r.column("k").data<int64_t>()[k], static_cast<int64_t>(k));
      ASSERT_DOUBLE_EQ(r.column("q").data<double>()[k], want) << "group " << k << " q " << q;
    }
  }
}

// Medians, quantiles and stds merged from partials (values states) of any
// split of the rows, combined in two levels, equal those computed from
// all rows at once; a state that is not whole float64 values, or not a
// binary column, is refused with the row or type named.
TEST(MedianPartials, CombinedFromAnySplitMatchTheRawAnswer) {
  using dataframe::internal::AggFunc;
  using dataframe::internal::AggSpec;
  std::mt19937_64 rng(21);
  const int64_t n = 20000;
  std::vector<int64_t> keys;
  std::vector<bool> key_valid, x_valid;
  std::vector<double> x;
  for (int64_t i = 0; i < n; ++i) {
    keys.push_back(static_cast<int64_t>(rng() % 37) - 5);
    key_valid.push_back(rng() % 50 != 0);
    x.push_back(rng() % 40 == 0 ? std::nan("") : static_cast<double>(rng() % 5000) / 3.0);
    x_valid.push_back(rng() % 30 != 0);
  }
  // y: x without nulls (NaN where x has them): the dealing pass that counts
  // from group ids alone and closes NaN's holes after.
  const Table t({{"k", Column::FromVector<int64_t>(keys, key_valid)},
                 {"x", Column::FromVector<double>(x, x_valid)},
                 {"y", Column::FromVector<double>(x)}});
  std::vector<AggSpec> aggs(5);
  aggs[4].column = "y", aggs[4].func = AggFunc::kMedian, aggs[4].name = "medy";
  aggs[0].column = "x", aggs[0].func = AggFunc::kMedian, aggs[0].name = "med";
  aggs[1].column = "x", aggs[1].func = AggFunc::kQuantile, aggs[1].name = "q9", aggs[1].q = 0.9;
  aggs[2].column = "x", aggs[2].func = AggFunc::kStd, aggs[2].name = "sd";
  aggs[3].column = "x", aggs[3].func = AggFunc::kSum, aggs[3].name = "s";
  for (bool dropna : {true, false}) {
    const Table want = dataframe::internal::SortTable(dataframe::internal::AggregateRaw(t, {"k"}, aggs, dropna), {"k"});
    std::vector<Table> chunks;
    const int64_t cuts[] = {0, 3000, 3001, 9000, 15000, n};
    for (int c = 0; c + 1 < 6; ++c) {
      chunks.push_back(dataframe::internal::AggregateChunk(t.Slice(cuts[c], cuts[c + 1] - cuts[c]), {"k"}, aggs, dropna));
    }
    const Table left = dataframe::internal::CombinePartials({chunks[0], chunks[1], chunks[2]}, {"k"}, aggs, dropna);
    const Table right = dataframe::internal::CombinePartials({chunks[3], chunks[4]}, {"k"}, aggs, dropna);
    // The last combine either merges the values states (FinalizePartial
    // selects from them) or answers the quantiles itself.
    for (bool final_quantiles : {false, true}) {
      const Table got = dataframe::internal::SortTable(
          dataframe::internal::FinalizePartial(
              dataframe::internal::CombinePartials({left, right}, {"k"}, aggs, dropna, final_quantiles), {"k"}, aggs),
          {"k"});
      ASSERT_EQ(got.num_rows(), want.num_rows()) << dropna;
      ASSERT_EQ(got.num_rows(), dropna ? 37 : 38);
      for (int64_t r = 0; r < want.num_rows(); ++r) {
        ASSERT_EQ(got.column("k").IsNull(r), want.column("k").IsNull(r));
        if (!want.column("k").IsNull(r)) {
          ASSERT_EQ(got.column("k").data<int64_t>()[r], want.column("k").data<int64_t>()[r]);
        }
        for (const char* c : {"med", "q9", "sd", "s", "medy"}) {
          ASSERT_EQ(got.column(c).IsNull(r), want.column(c).IsNull(r)) << c << " row " << r;
          const double a = got.column(c).data<double>()[r], b = want.column(c).data<double>()[r];
          if (std::string(c) != "sd" && std::string(c) != "s") {
            ASSERT_EQ(a, b) << c << " row " << r << " final " << final_quantiles;
          } else {
            ASSERT_NEAR(a, b, 1e-9 * std::abs(b)) << c << " row " << r;
          }
        }
      }
    }
  }
  // Chunks told the shuffle's parts lay their groups out by part: the
  // shuffle slices them (the values bytes are shared, not copied), and the
  // parts' answers together are the same.
  {
    const Table want = dataframe::internal::SortTable(dataframe::internal::AggregateRaw(t, {"k"}, aggs, true), {"k"});
    std::vector<std::vector<Table>> pieces(3);
    for (int64_t from = 0; from < n; from += 7000) {
      const Table chunk =
          dataframe::internal::AggregateChunk(t.Slice(from, std::min<int64_t>(7000, n - from)), {"k"}, aggs, true, 3);
      const std::vector<Table> parts = dataframe::internal::HashPartition(chunk, {"k"}, 3);
      ASSERT_EQ(parts.size(), 3u);
      int64_t rows = 0;
      for (size_t p = 0; p < 3; ++p) {
        if (parts[p].num_rows() > 0) {
          EXPECT_GE(parts[p].column("med\x1fvalues").values().data(), chunk.column("med\x1fvalues").values().data());
          EXPECT_LT(parts[p].column("med\x1fvalues").values().data(),
                    chunk.column("med\x1fvalues").values().data() + chunk.column("med\x1fvalues").values().size());
        }
        rows += parts[p].num_rows();
        pieces[p].push_back(parts[p]);
      }
      EXPECT_EQ(rows, chunk.num_rows());
    }
    std::vector<Table> answers;
    for (const auto& p : pieces) {
      answers.push_back(dataframe::internal::FinalizePartial(
          dataframe::internal::CombinePartials(p, {"k"}, aggs, true, true), {"k"}, aggs));
    }
    const Table got = dataframe::internal::SortTable(Table::Concat(answers), {"k"});
    ASSERT_EQ(got.num_rows(), want.num_rows());
    // medy also against medians worked out here, not through GroupValues.
    std::map<int64_t, std::vector<double>> ys;
    for (int64_t i = 0; i < n; ++i) {
      if (key_valid[static_cast<size_t>(i)] && !std::isnan(x[static_cast<size_t>(i)])) {
        ys[keys[static_cast<size_t>(i)]].push_back(x[static_cast<size_t>(i)]);
      }
    }
    ASSERT_EQ(static_cast<int64_t>(ys.size()), got.num_rows());
    int64_t row = 0;
    for (auto& [key, v] : ys) {
      std::sort(v.begin(), v.end());
      const size_t m = v.size();
      const double median = m % 2 ? v[m / 2] : v[m / 2 - 1] + (v[m / 2] - v[m / 2 - 1]) * 0.5;
      EXPECT_EQ(got.column("k").data<int64_t>()[row], key);
      EXPECT_DOUBLE_EQ(got.column("medy").data<double>()[row], median) << key;
      ++row;
    }
    for (int64_t r = 0; r < want.num_rows(); ++r) {
      EXPECT_EQ(got.column("k").data<int64_t>()[r], want.column("k").data<int64_t>()[r]);
      EXPECT_EQ(got.column("med").data<double>()[r], want.column("med").data<double>()[r]);
      EXPECT_EQ(got.column("q9").data<double>()[r], want.column("q9").data<double>()[r]);
      EXPECT_EQ(got.column("medy").data<double>()[r], want.column("medy").data<double>()[r]);
      EXPECT_NEAR(got.column("sd").data<double>()[r], want.column("sd").data<double>()[r], 1e-9);
    }
  }
  // A state row of 13 bytes, and a state that is not a binary column.
  const Column bad = Column::FromStrings({std::string(8, 'a'), std::string(13, 'b')});
  dataframe::internal::Grouping g;
  g.group.assign(2, 0);
  g.first_row.assign(1, 0);
  EXPECT_THAT([&] { dataframe::internal::CombineValuesStates({&bad}, g); },
              ThrowsMessage<Error>(HasSubstr("row 1 holds 13 bytes")));
  EXPECT_THAT([&] { dataframe::internal::QuantilesOfState(bad, 0.5); },
              ThrowsMessage<Error>(HasSubstr("row 1 holds 13 bytes")));
  const Column ints = Column::FromVector<int64_t>({1, 2});
  EXPECT_THROW(dataframe::internal::QuantilesOfState(ints, 0.5), TypeError);
}

// A chunk whose keys are nearly all distinct hands on each row as its own
// partial (no grouping); combined, it answers as the grouping path does:
// int sums over nulls, float means over NaN, counts and sizes. Repeated
// keys (a chunk that groups) and the row partials mix in one combine.
TEST(RowStatesChunk, NearlyDistinctKeysAnswerAsGrouping) {
  using dataframe::internal::AggFunc;
  using dataframe::internal::AggSpec;
  const int64_t n = 100000;
  std::mt19937_64 rng(3);
  std::vector<int64_t> k1, k2, v;
  std::vector<double> x;
  std::vector<bool> v_valid;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t key = i < 70000 ? i : static_cast<int64_t>(rng() % 1000);  // the last rows repeat earlier keys
    k1.push_back(key / 7);
    k2.push_back(key % 7);
    v.push_back(static_cast<int64_t>(rng() % 100) - 50);
    v_valid.push_back(rng() % 10 != 0);
    x.push_back(rng() % 13 == 0 ? std::nan("") : static_cast<double>(rng() % 1000) / 8);
  }
  const Table t({{"k1", Column::FromVector<int64_t>(k1)},
                 {"k2", Column::FromVector<int64_t>(k2)},
                 {"v", Column::FromVector<int64_t>(v, v_valid)},
                 {"x", Column::FromVector<double>(x)}});
  const std::vector<AggSpec> aggs = {AggOf("v", AggFunc::kSum, "vs"), AggOf("x", AggFunc::kMean, "xm"),
                                     AggOf("x", AggFunc::kCount, "xc"), AggOf("", AggFunc::kSize, "n"),
                                     AggOf("x", AggFunc::kSum, "xs")};
  const std::vector<std::string> keys = {"k1", "k2"};
  // Row partials of the first 70k rows (all distinct), a grouped partial
  // of the rest (they repeat), combined; against grouping small slices.
  const Table rows_part = dataframe::internal::AggregateChunk(t.Slice(0, 70000), keys, aggs, true);
  EXPECT_EQ(rows_part.num_rows(), 70000);
  // Its keys are the rows' own (not taken per group): the row path ran.
  EXPECT_EQ(rows_part.column("k1").values().data(), t.column("k1").values().data());
  // 20k keys each on ~5 rows spread over the chunk: every first row
  // differs, but the chunk merges 5x, so it groups.
  {
    std::vector<int64_t> spread(static_cast<size_t>(n));
    for (auto& s : spread) s = static_cast<int64_t>(rng() % 20000);
    const Table repeats({{"k1", Column::FromVector<int64_t>(spread)},
                         {"k2", Column::FromVector<int64_t>(std::vector<int64_t>(static_cast<size_t>(n), 0))},
                         {"v", t.column("v")}, {"x", t.column("x")}});
    const Table part = dataframe::internal::AggregateChunk(repeats, keys, aggs, true);
    EXPECT_NE(part.column("k1").values().data(), repeats.column("k1").values().data());
    EXPECT_LT(part.num_rows(), n / 2);
  }
  const Table grouped_part = dataframe::internal::AggregateChunk(t.Slice(70000, n - 70000), keys, aggs, true);
  EXPECT_LT(grouped_part.num_rows(), 1001);
  const Table got = dataframe::internal::SortTable(
      dataframe::internal::FinalizePartial(
          dataframe::internal::CombinePartials({rows_part, grouped_part}, keys, aggs, true), keys, aggs),
      keys);
  std::vector<Table> small;
  for (int64_t from = 0; from < n; from += 10000) {
    small.push_back(dataframe::internal::AggregateChunk(t.Slice(from, 10000), keys, aggs, true));
  }
  const Table want = dataframe::internal::SortTable(
      dataframe::internal::FinalizePartial(dataframe::internal::CombinePartials(small, keys, aggs, true), keys, aggs),
      keys);
  ASSERT_EQ(got.num_rows(), want.num_rows());
  for (const std::string& c : got.names()) {
    ASSERT_EQ(got.column(c).type(), want.column(c).type()) << c;
    for (int64_t r = 0; r < got.num_rows(); ++r) {
      ASSERT_EQ(got.column(c).IsNull(r), want.column(c).IsNull(r)) << c << " row " << r;
      if (got.column(c).IsValid(r)) {
        ASSERT_DOUBLE_EQ(got.column(c).NumberAt(r), want.column(c).NumberAt(r)) << c << " row " << r;
      }
    }
  }
}

TEST_F(DataFrameTest, CorrelationPerGroupMergesPartialsExactly) {
  std::mt19937_64 rng(5);
  std::vector<int64_t> k, x;
  std::vector<double> y;
  for (int i = 0; i < 3000; ++i) {
    k.push_back(static_cast<int64_t>(rng() % 5));
    x.push_back(static_cast<int64_t>(rng() % 100));
    y.push_back(static_cast<double>(x.back()) * 0.3 + static_cast<double>(rng() % 1000) / 10.0);
  }
  k.push_back(9), x.push_back(1), y.push_back(2);  // a group of one pair: null
  Table t({{"k", Column::FromVector<int64_t>(k)}, {"x", Column::FromVector<int64_t>(x)}, {"y", Column::FromVector<double>(y)}});
  for (int split_out : {1, 2}) {
    GroupByOptions go;
    go.split_out = split_out;
    Table r = dataframe::internal::SortTable(from_table(t, 7).groupby({"k"}, go).agg({Agg::Corr("x", "y", "r")}).compute(), {"k"});
    ASSERT_EQ(r.num_rows(), 6);
    for (int64_t g = 0; g < 5; ++g) {
      double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
      for (size_t i = 0; i < k.size(); ++i) {
        if (k[i] != g) continue;
        const double a = static_cast<double>(x[i]), b = y[i];
        n += 1, sx += a, sy += b, sxx += a * a, syy += b * b, sxy += a * b;
      }
      const double want = (n * sxy - sx * sy) / std::sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
      EXPECT_NEAR(r.column("r").data<double>()[g], want, 1e-9);
    }
    EXPECT_TRUE(r.column("r").IsNull(5));
  }
  EXPECT_THAT([&] { from_table(t).groupby({"k"}).agg({Agg::Corr("x", "nope")}); }, ThrowsMessage<KeyError>(HasSubstr("'nope'")));
}

TEST_F(DataFrameTest, ProjectionPushdownReadsOnlyUsedColumns) {
  CsvOptions opt;
  opt.dtype = {{"junk", TypeId::kInt64}};
  DataFrame df = read_csv(WriteData(100), opt);
  EXPECT_NO_THROW((df[{"k", "v"}].compute()));
  EXPECT_NO_THROW(df.assign("j2", col("junk") + 1)[{"k"}].compute());  // the assign is never read
  EXPECT_THAT([&] { df.compute(); }, ThrowsMessage<TaskError>(HasSubstr("'j0' is not a valid int64")));
}

TEST_F(DataFrameTest, TransformsPersistHeadAndPrinting) {
  Table t({{"a", Column::FromVector<int64_t>({3, 1, 2, 5}, {true, true, false, true})},
           {"s", Column::FromStrings({"x", "y", "z", std::nullopt})}});
  DataFrame df = from_table(t, 2);
  EXPECT_EQ(df.npartitions(), 2);
  EXPECT_THAT(df.ToString(), HasSubstr("skein.DataFrame<npartitions=2>"));
  EXPECT_THAT(df.ToString(), HasSubstr("s  string"));
  Table r = df.rename({{"a", "b"}}).fillna(0, {"b"}).assign("c", col("b") * 10).dropna().compute();
  EXPECT_EQ(r.names(), (std::vector<std::string>{"b", "s", "c"}));
  EXPECT_EQ(r.num_rows(), 3);
  EXPECT_EQ(r.column("c").data<int64_t>()[2], 0);
  DataFrame p = df.drop({"s"}).astype({{"a", TypeId::kFloat64}}).persist();
  EXPECT_EQ(p.schema(), (Schema{{"a", TypeId::kFloat64}}));
  EXPECT_EQ(p.head(1).num_rows(), 1);
  EXPECT_EQ(df.head(3).column("s").StringAt(2), "z");
  Table doubled = df.map_partitions([](const Table& part) { return part.With("a", (col("a") * 2).Evaluate(part)); })
                      .compute();
  EXPECT_EQ(doubled.column("a").data<int64_t>()[3], 10);
  EXPECT_THAT([&] { df.map_partitions([](const Table& part) { return part.Select({"a"}); }).compute(); },
              ThrowsMessage<TaskError>(HasSubstr("meta says")));
}

TEST_F(DataFrameTest, ReadJsonLinesInPartitionsWithPushdown) {
  std::string text;
  int64_t want = 0;
  for (int i = 0; i < 400; ++i) {
    text += "{\"k\": \"g" + std::to_string(i % 4) + "\", \"v\": " + std::to_string(i) + ", \"junk\": {\"deep\": [" +
            std::to_string(i) + "]}}\n";
    if (i % 4 == 1) want += i;
  }
  std::ofstream(Path("events.jsonl")) << text;
  JsonOptions opt;
  opt.blocksize = 1000;
  DataFrame df = read_json(Path("events.jsonl"), opt);
  EXPECT_GT(df.npartitions(), 5);
  Table r = df[col("k") == "g1"].groupby({"k"}).agg({{"v", "sum"}}).compute();
  ASSERT_EQ(r.num_rows(), 1);
  EXPECT_EQ(r.column("v").data<int64_t>()[0], want);
  EXPECT_EQ(df.compute().num_rows(), 400);
  EXPECT_EQ(df.compute().column("junk").StringAt(3), "{\"deep\":[3]}");
  EXPECT_THAT([&] { read_json(Path("nothing-*.jsonl")); }, ThrowsMessage<IOError>(HasSubstr("no files match")));
}

TEST_F(DataFrameTest, ErrorsNameTheColumnOrFile) {
  DataFrame df = from_table(Table({{"a", Column::FromVector<int64_t>({1})}, {"s", Column::FromStrings({"x"})}}));
  EXPECT_THAT([&] { df[{"nope"}]; }, ThrowsMessage<KeyError>(HasSubstr("'nope'")));
  EXPECT_THAT([&] { df[col("s") > 1]; }, ThrowsMessage<TypeError>(HasSubstr("cannot compare string")));
  EXPECT_THAT([&] { df[col("a") + 1]; }, ThrowsMessage<TypeError>(HasSubstr("not bool")));
  EXPECT_THAT([&] { df.groupby({"zz"}); }, ThrowsMessage<KeyError>(HasSubstr("'zz'")));
  EXPECT_THAT([&] { df.groupby({"a"}).agg({{"s", "sum"}}); }, ThrowsMessage<TypeError>(HasSubstr("sum of column 's'")));
  EXPECT_THAT([&] { df.groupby({"a"}).agg({{"s", "bogus"}}); }, ThrowsMessage<Error>(HasSubstr("unknown aggregation 'bogus'")));
  EXPECT_THAT([&] { read_csv(Path("none-*.csv")); }, ThrowsMessage<IOError>(HasSubstr("no files match")));
  std::ofstream(Path("bad.csv")) << "a,b\n1,2\n3,4\n5\n";
  EXPECT_THAT([&] { read_csv(Path("bad.csv")); },  // found while inferring types
              ThrowsMessage<IOError>(AllOf(HasSubstr("bad.csv"), HasSubstr("line 4"))));
  CsvOptions few;
  few.sample_rows = 1;
  EXPECT_THAT([&] { read_csv(Path("bad.csv"), few).compute(); },  // found by the partition's task
              ThrowsMessage<TaskError>(AllOf(HasSubstr("bad.csv"), HasSubstr("line 4"))));
  // Deep in a file of many blocks: the block's task counts the lines before
  // it only once it has an error to name.
  {
    std::ofstream out(Path("deep.csv"));
    out << "a,b\n";
    for (int i = 0; i < 3000; ++i) out << i << "," << (i == 2500 ? "oops" : std::to_string(i)) << "\n";
  }
  CsvOptions blocks;
  blocks.blocksize = 1000;
  blocks.sample_rows = 10;
  EXPECT_THAT([&] { read_csv(Path("deep.csv"), blocks).compute(); },
              ThrowsMessage<TaskError>(AllOf(HasSubstr("IOError"), HasSubstr("deep.csv"), HasSubstr("line 2502:"))));
}


// Wide int64 keys, many rows: whether the table starts sized for every row
// (a sample of nearly distinct keys) or grows from a guess (a sample of
// repeats followed by many distinct keys), ids are first-seen and exact.
TEST(GroupRows, WideIntegerKeysGroupExactlyWhetherPresizedOrGrown) {
  using dataframe::internal::GroupRows;
  const int64_t rows = 60000;
  std::mt19937_64 rng(5);
  std::vector<int64_t> distinct_first, repeats_first;
  for (int64_t i = 0; i < rows; ++i) {
    const auto wide = static_cast<int64_t>(rng() >> 1);
    distinct_first.push_back(i < 30000 ? wide : distinct_first[static_cast<size_t>(i % 1000)]);
    repeats_first.push_back(i < 8000 ? (i % 3) * 1'000'000'007LL : wide);
  }
  for (const auto* keys : {&distinct_first, &repeats_first}) {
    const Column c = Column::FromVector(*keys);
    const auto g = GroupRows({&c}, /*dropna=*/true);
    std::unordered_map<int64_t, int32_t> seen;
    std::vector<int64_t> first;
    ASSERT_EQ(g.group.size(), static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) {
      auto [it, fresh] = seen.emplace((*keys)[static_cast<size_t>(i)], static_cast<int32_t>(seen.size()));
      if (fresh) first.push_back(i);
      ASSERT_EQ(g.group[static_cast<size_t>(i)], it->second) << "row " << i;
    }
    EXPECT_EQ(std::vector<int64_t>(g.first_row.begin(), g.first_row.end()), first);
  }
}

// Small-range integer keys group through a direct table sized from the
// column's bound when it has one (built value by value), from a pass over
// the values otherwise: the same ids and first rows either way, including
// rows taken from a wider column (whose bound is wider than their values).
TEST(GroupRows, SmallIntegerKeysGroupTheSameWithOrWithoutAKnownBound) {
  using dataframe::internal::GroupRows;
  std::vector<int64_t> keys;
  std::vector<bool> valid;
  for (int64_t i = 0; i < 5000; ++i) {
    keys.push_back(1000 + (i * 37) % 501);
    valid.push_back(i % 13 != 0);
  }
  const Column bounded = Column::FromVector(keys, valid);
  ASSERT_TRUE(bounded.int_bounds().has_value());
  const Column unbounded = Column::Make(TypeId::kInt64, bounded.length(), bounded.validity(), bounded.values());
  ASSERT_FALSE(unbounded.int_bounds().has_value());
  std::vector<int64_t> middle;
  for (int64_t i = 100; i < 400; ++i) middle.push_back(i);
  const Column part = bounded.Take(middle);
  const Column part_raw = Column::Make(TypeId::kInt64, part.length(), part.validity(), part.values());
  for (bool dropna : {true, false}) {
    const auto a = GroupRows({&bounded}, dropna), b = GroupRows({&unbounded}, dropna);
    EXPECT_EQ(std::vector<int32_t>(a.group.begin(), a.group.end()), std::vector<int32_t>(b.group.begin(), b.group.end()));
    EXPECT_EQ(a.first_row, b.first_row);
    EXPECT_EQ(a.num_groups(), dropna ? 501 : 502);
    const auto c = GroupRows({&part}, dropna), d = GroupRows({&part_raw}, dropna);
    EXPECT_EQ(std::vector<int32_t>(c.group.begin(), c.group.end()), std::vector<int32_t>(d.group.begin(), d.group.end()));
    EXPECT_EQ(c.first_row, d.first_row);
  }
}

// Category keys group by their labels whatever order the dictionary holds
// them in: ids number the distinct labels (in no promised order), and
// each group's first row is where its label first appears.
TEST(GroupRows, CategoryCodesInAnyOrderGroupByLabel) {
  using dataframe::internal::GroupRows;
  CategoryBuilder fresh;
  const std::vector<std::string> labels = {"b", "a", "b", "c", "a", "d", "c", "b"};
  for (const std::string& l : labels) fresh.Append(l);
  const Column in_order = fresh.Finish();
  // The same labels with the dictionary reversed: codes 3, 2, 3, 1, ...
  std::vector<std::optional<std::string>> reversed = {"d", "c", "a", "b"};
  ColumnBuilder codes(TypeId::kCategory);
  for (const std::string& l : labels) {
    const auto at = std::find(reversed.begin(), reversed.end(), std::optional<std::string>(l)) - reversed.begin();
    codes.Append(static_cast<int32_t>(at));
  }
  const Column raw = codes.Finish();
  const Column out_of_order = Column::Make(TypeId::kCategory, raw.length(), {}, raw.values(), {},
                                           std::make_shared<const Column>(Column::FromStrings(reversed)));
  const std::map<std::string, int64_t> first = {{"b", 0}, {"a", 1}, {"c", 3}, {"d", 5}};
  for (const Column* c : {&in_order, &out_of_order}) {
    const auto g = GroupRows({c}, /*dropna=*/true);
    ASSERT_EQ(g.num_groups(), 4);
    std::map<int32_t, std::string> label_of;
    for (size_t i = 0; i < labels.size(); ++i) {
      const int32_t id = g.group[i];
      ASSERT_TRUE(id >= 0 && id < 4) << "row " << i;
      auto [it, fresh] = label_of.emplace(id, labels[i]);
      EXPECT_EQ(it->second, labels[i]) << "row " << i << " shares id " << id << " with another label";
    }
    for (const auto& [id, label] : label_of) EXPECT_EQ(g.first_row[static_cast<size_t>(id)], first.at(label)) << label;
  }
}

// GroupRows against a row-by-row reference: category keys whose dictionary
// holds unused labels, small-range integers (negative ones included) of both
// widths, keys with nulls and keys of a wide range, alone and packed
// together; one id per distinct key (ids dense, in no promised order),
// each group's first row the key's first appearance, nulls dropped or
// grouped.
TEST(GroupRows, PackedKeysMatchAReference) {
  using dataframe::internal::GroupRows;
  using dataframe::internal::Grouping;
  const int64_t rows = 3000;
  std::mt19937_64 rng(11);
  CategoryBuilder cats;
  cats.Intern("never-used");  // a dictionary entry no row carries
  std::vector<int64_t> a, d, e;
  std::vector<int32_t> b;
  std::vector<bool> d_valid;
  for (int64_t i = 0; i < rows; ++i) {
    cats.Append("label" + std::to_string(rng() % 5));
    a.push_back(static_cast<int64_t>(rng() % 7) - 3);
    b.push_back(100 + static_cast<int32_t>(rng() % 5));
    d.push_back(static_cast<int64_t>(rng() % 4));
    d_valid.push_back(rng() % 10 != 0);
    e.push_back(static_cast<int64_t>(rng() % 3) * 1'000'000'000'000LL);
  }
  const Column c = cats.Finish(), ac = Column::FromVector(a), bc = Column::FromVector(b),
               dc = Column::FromVector(d, d_valid), ec = Column::FromVector(e);
  auto text = [](const Column& col, int64_t i) -> std::string {
    if (col.IsNull(i)) return "<null>";
    return col.type() == TypeId::kCategory ? std::string(col.StringAt(i)) : std::to_string(col.NumberAt(i));
  };
  const std::vector<std::vector<const Column*>> cases = {
      {&c, &ac}, {&ac, &bc, &c}, {&c, &dc}, {&dc, &c, &ac}, {&ec, &ac}, {&bc, &ec, &c}, {&ac}, {&c}};
  for (bool dropna : {true, false}) {
    for (const auto& keys : cases) {
      SCOPED_TRACE(testing::Message() << keys.size() << " keys, dropna " << dropna);
      const Grouping g = GroupRows(keys, dropna);
      std::map<std::string, int32_t> id_of;  // key -> the id GroupRows gave its first row
      std::map<int32_t, int64_t> first;     // id -> that first row
      ASSERT_EQ(g.group.size(), static_cast<size_t>(rows));
      for (int64_t i = 0; i < rows; ++i) {
        std::string key;
        bool any_null = false;
        for (const Column* k : keys) {
          any_null = any_null || k->IsNull(i);
          key += text(*k, i) + "|";
        }
        if (dropna && any_null) {
          ASSERT_EQ(g.group[static_cast<size_t>(i)], -1) << "row " << i;
          continue;
        }
        const int32_t id = g.group[static_cast<size_t>(i)];
        ASSERT_TRUE(id >= 0 && id < g.num_groups()) << "row " << i;
        auto [it, fresh] = id_of.emplace(key, id);
        if (fresh) {
          ASSERT_TRUE(first.emplace(id, i).second) << "row " << i << ": id " << id << " is another key's too";
        }
        ASSERT_EQ(id, it->second) << "row " << i << " key " << key;
      }
      ASSERT_EQ(static_cast<int64_t>(first.size()), g.num_groups());
      for (const auto& [id, row] : first) EXPECT_EQ(g.first_row[static_cast<size_t>(id)], row) << "id " << id;
    }
  }
}

// SumInOnePass against per-column reference sums for every mix of int64
// and float64 lanes (one to seven: several passes of three), with NaN in
// the floats, rows in no group, and counts asked for or not.
TEST(SumInOnePass, MatchesPerColumnSumsForAnyMixOfLanes) {
  using dataframe::internal::SumInOnePass;
  const int64_t rows = 5000, groups = 37;
  std::mt19937_64 rng(5);
  PoolScratch<int32_t> group(static_cast<size_t>(rows));
  for (auto& g : group) g = rng() % 9 == 0 ? -1 : static_cast<int32_t>(rng() % groups);
  std::vector<Column> cols;
  for (int c = 0; c < 7; ++c) {
    if ((c * 5) % 3 == 0) {
      std::vector<int64_t> v;
      for (int64_t i = 0; i < rows; ++i) v.push_back(static_cast<int64_t>(rng() % 2001) - 1000);
      cols.push_back(Column::FromVector(v));
    } else {
      std::vector<double> v;
      for (int64_t i = 0; i < rows; ++i) v.push_back(rng() % 7 == 0 ? std::nan("") : static_cast<double>(rng() % 1000) / 8);
      cols.push_back(Column::FromVector(v));
    }
  }
  // Lanes per pass as the cache says (one pass of three here), or split,
  // with the row count in the first pass or alone.
  for (auto [per_pass, count_alone] : {std::pair{0, false}, {1, false}, {2, false}, {1, true}, {3, true}}) {
  dataframe::internal::TEST_ForceSumPasses(per_pass, count_alone);
  for (size_t lanes = 1; lanes <= cols.size(); ++lanes) {
    for (bool counts : {false, true}) {
      SCOPED_TRACE(testing::Message() << lanes << " lanes, counts " << counts << ", per pass " << per_pass
                                      << (count_alone ? ", count alone" : ""));
      std::vector<const Column*> in;
      for (size_t c = 0; c < lanes; ++c) in.push_back(&cols[c]);
      const auto got = SumInOnePass(in, counts, group, groups);
      ASSERT_EQ(got.lanes.size(), lanes);
      std::vector<int64_t> size(groups, 0);
      for (int32_t g : group) size[static_cast<size_t>(std::max(g, 0))] += g >= 0;
      if (counts) {
        EXPECT_EQ(std::vector<int64_t>(got.size.begin(), got.size.end()), size);
      } else {
        EXPECT_TRUE(got.size.empty());
      }
      for (size_t c = 0; c < lanes; ++c) {
        const Column& col = cols[c];
        const auto& lane = got.lanes[c];
        if (col.type() == TypeId::kInt64) {
          std::vector<int64_t> want(groups, 0);
          for (int64_t i = 0; i < rows; ++i) {
            if (group[static_cast<size_t>(i)] >= 0) want[static_cast<size_t>(group[static_cast<size_t>(i)])] += col.data<int64_t>()[i];
          }
          EXPECT_EQ(std::vector<int64_t>(lane.ints.begin(), lane.ints.end()), want) << "lane " << c;
          continue;
        }
        std::vector<double> want(groups, 0);
        std::vector<int64_t> n(groups, 0);
        for (int64_t i = 0; i < rows; ++i) {
          const int32_t g = group[static_cast<size_t>(i)];
          const double v = col.data<double>()[i];
          if (g < 0 || std::isnan(v)) continue;
          want[static_cast<size_t>(g)] += v;
          ++n[static_cast<size_t>(g)];
        }
        EXPECT_EQ(std::vector<double>(lane.floats.begin(), lane.floats.end()), want) << "lane " << c;
        if (counts) {
          EXPECT_EQ(std::vector<int64_t>(lane.count.begin(), lane.count.end()), n) << "lane " << c;
        }
      }
    }
  }
  }
  dataframe::internal::TEST_ForceSumPasses(0, false);
  // A column it does not take is refused, not summed wrongly.
  const Column with_nulls = Column::FromVector(std::vector<int64_t>(rows, 1), std::vector<bool>(rows, false));
  EXPECT_THAT([&] { SumInOnePass({&cols[0], &with_nulls}, false, group, groups); },
              ThrowsMessage<Error>(HasSubstr("column 1 is not an int64/float64 column without nulls")));
}

// The lanes a sum pass takes: all three while their table fits in three
// quarters of L2, fewer where only a narrower table fits, the row count in
// a pass of its own where it does not fit beside one lane, and all three
// again where even one lane's table would not fit (it misses L2 anyway).
TEST(SumInOnePass, SplitsLanesOnlyWhereANarrowerTableFitsInL2) {
  using dataframe::internal::PlanSumPasses;
  using Plan = dataframe::internal::SumPassPlan;
  const size_t mib = 1 << 20;
  EXPECT_EQ(PlanSumPasses(3, false, 100000, 4 * mib), (Plan{3, false}));  // 2.4 MB in 3 MiB
  EXPECT_EQ(PlanSumPasses(3, false, 100000, 3 * mib), (Plan{2, false}));  // 1.6 MB in 2.25 MiB
  EXPECT_EQ(PlanSumPasses(3, false, 100000, 2 * mib), (Plan{1, false}));  // q5 on a 2 MiB L2: 0.8 MB each
  EXPECT_EQ(PlanSumPasses(3, false, 100000, 1 * mib), (Plan{3, false}));  // not even 0.8 MB fits 0.75 MiB
  EXPECT_EQ(PlanSumPasses(3, false, 1000000, 2 * mib), (Plan{3, false}));
  EXPECT_EQ(PlanSumPasses(2, true, 100000, 2 * mib), (Plan{1, true}));    // q3: count, sum, sum of 0.8 MB
  EXPECT_EQ(PlanSumPasses(2, true, 50000, 2 * mib), (Plan{2, false}));    // 1.2 MB
  EXPECT_EQ(PlanSumPasses(2, true, 80000, 2 * mib), (Plan{1, false}));    // 1.9 MB, then 1.3 MB and 0.6 MB
  EXPECT_EQ(PlanSumPasses(7, false, 1000, 2 * mib), (Plan{3, false}));
  EXPECT_EQ(PlanSumPasses(3, false, 100, 0), (Plan{3, false}));  // cache unknown
}

// DirectSumChunk (a slot per key value, no grouping) gives the states the
// grouping path gives, for int64 keys with gaps and negatives, int32 keys
// and category keys whose dictionary holds unused labels; it declines
// what it does not answer.
TEST(DirectSumChunk, MatchesTheGroupingPathAndDeclinesWhatItCannotAnswer) {
  using dataframe::internal::AggFunc;
  using dataframe::internal::AggSpec;
  using dataframe::internal::DirectSumChunk;
  const int64_t rows = 3000;
  std::mt19937_64 rng(3);
  std::vector<int64_t> k64, v;
  std::vector<int32_t> k32;
  std::vector<double> x;
  CategoryBuilder cats;
  cats.Intern("unused");
  for (int64_t i = 0; i < rows; ++i) {
    k64.push_back(static_cast<int64_t>(rng() % 40) * 3 - 50);  // gaps between keys, negatives
    k32.push_back(1000 + static_cast<int32_t>(rng() % 17));
    static const char* const kLabels[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"};
    cats.Append(kLabels[rng() % 9]);
    v.push_back(static_cast<int64_t>(rng() % 100) - 20);
    x.push_back(rng() % 11 == 0 ? std::nan("") : static_cast<double>(rng() % 1000) / 4);
  }
  const Table t({{"k64", Column::FromVector(k64)},
                 {"k32", Column::FromVector(k32)},
                 {"kc", cats.Finish()},
                 {"v", Column::FromVector(v)},
                 {"x", Column::FromVector(x)}});
  const std::vector<AggSpec> aggs = {AggOf("v", AggFunc::kSum, "vs"), AggOf("x", AggFunc::kMean, "xm"),
                                     AggOf("v", AggFunc::kMean, "vm"), AggOf("", AggFunc::kSize, "n"),
                                     AggOf("v", AggFunc::kCount, "vc"), AggOf("x", AggFunc::kSum, "xs")};
  // A row's key as text, for matching groups of both results.
  auto key_text = [](const Column& c, int64_t i) {
    return c.type() == TypeId::kCategory ? std::string(c.StringAt(i)) : std::to_string(c.NumberAt(i));
  };
  // The four lanes in passes as the cache says, or a pass each, the count
  // with the first or alone.
  for (auto [per_pass, count_alone] : {std::pair{0, false}, {1, false}, {1, true}, {2, true}}) {
  dataframe::internal::TEST_ForceSumPasses(per_pass, count_alone);
  for (const char* key : {"k64", "k32", "kc"}) {
    SCOPED_TRACE(testing::Message() << key << ", per pass " << per_pass << (count_alone ? ", count alone" : ""));
    const auto direct = DirectSumChunk(t, {key}, aggs);
    ASSERT_TRUE(direct.has_value());
    const Table grouped = [&] {
      // The grouping path: the same aggregations with a min added, which
      // DirectSumChunk declines, then the min dropped.
      std::vector<AggSpec> with_min = aggs;
      with_min.push_back(AggOf("v", AggFunc::kMin, "vmin"));
      EXPECT_FALSE(DirectSumChunk(t, {key}, with_min).has_value());
      return dataframe::internal::AggregateChunk(t, {key}, with_min, /*dropna=*/true);
    }();
    ASSERT_EQ(direct->num_rows(), grouped.num_rows());
    std::map<std::string, int64_t> row_of;
    for (int64_t i = 0; i < grouped.num_rows(); ++i) row_of[key_text(grouped.column(key), i)] = i;
    for (int64_t i = 0; i < direct->num_rows(); ++i) {
      const std::string k = key_text(direct->column(key), i);
      ASSERT_TRUE(row_of.count(k)) << "key " << k;
      const int64_t j = row_of[k];
      for (const std::string& name : direct->names()) {
        if (name == key) continue;
        const Column& col = direct->column(name);
        const Column& other = grouped.column(name);
        ASSERT_EQ(col.type(), other.type()) << name;
        EXPECT_EQ(col.NumberAt(i), other.NumberAt(j)) << name << " of key " << k;
      }
    }
  }
  }
  dataframe::internal::TEST_ForceSumPasses(0, false);
  // Two category keys: a slot per pair of codes, the same states as the
  // grouping path for every pair that occurs.
  {
    CategoryBuilder second;
    second.Intern("never");
    for (int64_t i = 0; i < rows; ++i) second.Append(i % 3 ? "p" : (i % 5 ? "q" : "r"));
    const Table two = t.With("kc2", second.Finish());
    const auto direct = DirectSumChunk(two, {"kc", "kc2"}, aggs);
    ASSERT_TRUE(direct.has_value());
    const Table grouped = [&] {
      std::vector<AggSpec> with_min = aggs;
      with_min.push_back(AggOf("v", AggFunc::kMin, "vmin"));
      return dataframe::internal::AggregateChunk(two, {"kc", "kc2"}, with_min, /*dropna=*/true);
    }();
    ASSERT_EQ(direct->num_rows(), grouped.num_rows());
    std::map<std::string, int64_t> row_of;
    auto pair = [](const Table& x, int64_t i) {
      return std::string(x.column("kc").StringAt(i)) + "|" + std::string(x.column("kc2").StringAt(i));
    };
    for (int64_t i = 0; i < grouped.num_rows(); ++i) row_of[pair(grouped, i)] = i;
    for (int64_t i = 0; i < direct->num_rows(); ++i) {
      ASSERT_TRUE(row_of.count(pair(*direct, i))) << pair(*direct, i);
      const int64_t j = row_of[pair(*direct, i)];
      for (const std::string& name : direct->names()) {
        if (name == "kc" || name == "kc2") continue;
        EXPECT_EQ(direct->column(name).NumberAt(i), grouped.column(name).NumberAt(j)) << name << " of " << pair(*direct, i);
      }
    }
  }
  // Told a hash shuffle into 4 parts follows, the same groups and states
  // come in the order of their parts, so that the shuffle slices them.
  {
    CategoryBuilder second;
    for (int64_t i = 0; i < rows; ++i) second.Append(i % 3 ? "p" : (i % 5 ? "q" : "r"));
    const Table two = t.With("kc2", second.Finish());
    for (const std::vector<std::string>& keys :
         std::vector<std::vector<std::string>>{{"k64"}, {"k32"}, {"kc"}, {"kc", "kc2"}}) {
      SCOPED_TRACE(keys.back());
      const auto plain = DirectSumChunk(two, keys, aggs);
      const auto by_part = DirectSumChunk(two, keys, aggs, 4);
      ASSERT_TRUE(plain.has_value() && by_part.has_value());
      const PoolVector<uint32_t> part = dataframe::internal::HashParts(*by_part, keys, 4);
      EXPECT_TRUE(std::is_sorted(part.begin(), part.end()));
      EXPECT_GT(part.back(), part.front());  // the groups do spread over parts
      const Table a = dataframe::internal::SortTable(*plain, keys), b = dataframe::internal::SortTable(*by_part, keys);
      ASSERT_EQ(a.num_rows(), b.num_rows());
      for (const std::string& name : a.names()) {
        for (int64_t i = 0; i < a.num_rows(); ++i) {
          EXPECT_EQ(key_text(a.column(name), i), key_text(b.column(name), i)) << name << " row " << i;
        }
      }
      const Column& sums = by_part->column("vs\x1fsum");
      for (const Table& piece : dataframe::internal::HashPartition(*by_part, keys, 4)) {
        if (piece.num_rows() * 8 < by_part->num_rows()) continue;  // small slices are copied
        EXPECT_GE(piece.column("vs\x1fsum").values().data(), sums.values().data());
        EXPECT_LT(piece.column("vs\x1fsum").values().data(), sums.values().data() + sums.values().size());
      }
    }
  }
  // Sums alone over many slots: no row count, a slot is reached where its
  // sums have a bit set (keys with gaps: every third value never occurs).
  // Variants: keys whose rows all sum to zero (then the keys are passed
  // again to mark the slots reached), and NaN among the floats (then the
  // lanes are summed again, skipping NaN).
  for (const char* variant : {"plain", "zero sums", "NaN"}) {
    SCOPED_TRACE(variant);
    const int64_t many = 60000;
    std::vector<int64_t> key, a;
    std::vector<double> b;
    for (int64_t i = 0; i < many; ++i) {
      int64_t k = static_cast<int64_t>(rng() % 45000);
      key.push_back(k - k % 3 + 1);
      a.push_back(static_cast<int64_t>(rng() % 50) + 1);
      b.push_back(static_cast<double>(rng() % 64) / 8);
      if (std::string(variant) == "zero sums" && key.back() % 7 == 1) {
        a.back() = i % 2 ? 5 : -5;  // sums of 0 where a key has an even count of rows
        b.back() = i % 2 ? 0.5 : -0.5;
      }
      if (std::string(variant) == "NaN" && i % 13 == 0) b.back() = std::nan("");
    }
    const Table wide_slots({{"k", Column::FromVector(key)}, {"a", Column::FromVector(a)}, {"b", Column::FromVector(b)}});
    const std::vector<AggSpec> sums = {AggOf("a", AggFunc::kSum, "as"), AggOf("b", AggFunc::kSum, "bs")};
    const auto direct = DirectSumChunk(wide_slots, {"k"}, sums);
    ASSERT_TRUE(direct.has_value());
    std::map<int64_t, std::pair<int64_t, double>> want;
    for (int64_t i = 0; i < many; ++i) {
      auto& w = want[key[static_cast<size_t>(i)]];
      w.first += a[static_cast<size_t>(i)];
      if (!std::isnan(b[static_cast<size_t>(i)])) w.second += b[static_cast<size_t>(i)];
    }
    int64_t zero = 0;
    for (const auto& [k, w] : want) zero += w.first == 0 && w.second == 0;
    if (std::string(variant) == "zero sums") EXPECT_GT(zero, 100);  // the case is met
    ASSERT_EQ(direct->num_rows(), static_cast<int64_t>(want.size()));
    int64_t i = 0;
    for (const auto& [k, w] : want) {  // slots come in key order
      EXPECT_EQ(direct->column("k").data<int64_t>()[i], k);
      EXPECT_EQ(direct->column("as\x1fsum").data<int64_t>()[i], w.first) << k;
      EXPECT_EQ(direct->column("bs\x1fsum").data<double>()[i], w.second) << k;
      ++i;
    }
  }
  // Declined: two keys, a key with nulls, a key range far wider than the rows.
  EXPECT_FALSE(DirectSumChunk(t, {"k64", "k32"}, aggs).has_value());
  const Table nulls({{"k", Column::FromVector(std::vector<int64_t>{1, 2, 3}, {true, false, true})},
                     {"v", Column::FromVector(std::vector<int64_t>{1, 2, 3})}});
  EXPECT_FALSE(DirectSumChunk(nulls, {"k"}, {AggOf("v", AggFunc::kSum, "s")}).has_value());
  const Table wide({{"k", Column::FromVector(std::vector<int64_t>{0, 1000000})},
                    {"v", Column::FromVector(std::vector<int64_t>{1, 2})}});
  EXPECT_FALSE(DirectSumChunk(wide, {"k"}, {AggOf("v", AggFunc::kSum, "s")}).has_value());
}

}  // namespace
}  // namespace skein
