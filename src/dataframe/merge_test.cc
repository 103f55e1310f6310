// merge: the join kernel's pandas semantics (how, duplicates, null keys,
// several keys, suffixes, key types), and the three plans (broadcast,
// shuffle, partition-wise) giving the same rows as one join of the wholes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "groupby_internal.h"
#include "join_internal.h"
#include "plan_internal.h"
#include "skein/dataframe/dataframe.h"

namespace skein {
namespace {

using dataframe::internal::HashJoin;
using dataframe::internal::JoinHow;
using dataframe::internal::JoinSpec;
using dataframe::internal::SortTable;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

Table Left() {
  return Table({{"k", Column::FromVector<int64_t>({1, 2, 2, 3, 0}, {true, true, true, true, false})},
                {"v", Column::FromStrings({"a", "b", "c", "d", "e"})}});
}
Table Right() {
  return Table({{"k", Column::FromVector<int32_t>({2, 3, 3, 4, 0}, {true, true, true, true, false})},
                {"v", Column::FromVector<double>({20, 30, 31, 40, 99})}});
}

JoinSpec On(const std::string& k, JoinHow how) {
  JoinSpec s;
  s.left_on = s.right_on = {k};
  s.how = how;
  return s;
}

TEST(JoinKernel, HowDuplicatesNullsAndSuffixes) {
  Table inner = HashJoin(Left(), Right(), On("k", JoinHow::kInner));
  // 2 matches 20 twice (b, c), 3 matches 30 and 31, null matches null (pandas).
  EXPECT_EQ(inner.names(), (std::vector<std::string>{"k", "v_x", "v_y"}));
  ASSERT_EQ(inner.num_rows(), 5);
  EXPECT_EQ(inner.column("v_x").StringAt(0), "b");
  EXPECT_EQ(inner.column("v_y").data<double>()[3], 31);
  EXPECT_TRUE(inner.column("k").IsNull(4));
  EXPECT_EQ(inner.column("k").type(), TypeId::kInt64);  // int32 widened to compare
  Table left = HashJoin(Left(), Right(), On("k", JoinHow::kLeft));
  ASSERT_EQ(left.num_rows(), 6);  // a has no match: null right side
  EXPECT_EQ(left.column("v_x").StringAt(0), "a");
  EXPECT_TRUE(left.column("v_y").IsNull(0));
  Table right = HashJoin(Left(), Right(), On("k", JoinHow::kRight));
  ASSERT_EQ(right.num_rows(), 6);  // 4 has no match, last, with its key
  EXPECT_EQ(right.column("k").data<int64_t>()[5], 4);
  EXPECT_TRUE(right.column("v_x").IsNull(5));
  Table outer = HashJoin(Left(), Right(), On("k", JoinHow::kOuter));
  EXPECT_EQ(outer.num_rows(), 7);
  EXPECT_EQ(outer.column("k").data<int64_t>()[6], 4);
}

// When every left row comes out once and in order (a left join, or an
// inner one where all rows match, on unique right keys), the left columns
// are shared with the input, not copied; otherwise they are taken. Either
// way the values are right.
TEST(JoinKernel, LeftColumnsAreSharedWhenEachLeftRowComesOutOnceInOrder) {
  const Table l({{"k", Column::FromVector<int64_t>({3, 1, 2, 9})}, {"s", Column::FromStrings({"c", "a", "b", "z"})}});
  const Table r({{"k", Column::FromVector<int64_t>({1, 2, 3})}, {"w", Column::FromVector<double>({10, 20, 30})}});
  const Table left = HashJoin(l, r, On("k", JoinHow::kLeft));
  ASSERT_EQ(left.num_rows(), 4);
  EXPECT_EQ(left.column("s").values().data(), l.column("s").values().data());  // shared
  EXPECT_EQ(left.column("k").values().data(), l.column("k").values().data());
  EXPECT_EQ(left.column("w").data<double>()[0], 30);
  EXPECT_TRUE(left.column("w").IsNull(3));
  // Inner: row 9 has no match, so the rest are taken (and are right).
  const Table inner = HashJoin(l, r, On("k", JoinHow::kInner));
  ASSERT_EQ(inner.num_rows(), 3);
  EXPECT_NE(inner.column("s").values().data(), l.column("s").values().data());
  EXPECT_EQ(inner.column("s").StringAt(2), "b");
  EXPECT_EQ(inner.column("k").data<int64_t>()[2], 2);
  EXPECT_EQ(inner.column("w").data<double>()[2], 20);
  // Inner where all match: shared again.
  const Table all = HashJoin(l.Slice(0, 3), r, On("k", JoinHow::kInner));
  EXPECT_EQ(all.column("w").data<double>()[1], 10);
  EXPECT_EQ(all.column("k").data<int64_t>()[0], 3);
  // A duplicated right key repeats left rows: taken.
  const Table dup = HashJoin(l, Table({{"k", Column::FromVector<int64_t>({1, 1})}}), On("k", JoinHow::kLeft));
  ASSERT_EQ(dup.num_rows(), 5);
  EXPECT_EQ(dup.column("s").StringAt(1), "a");
  EXPECT_EQ(dup.column("s").StringAt(2), "a");
  EXPECT_EQ(dup.column("s").StringAt(4), "z");
}

TEST(JoinKernel, SeveralKeysDifferentNamesAndTypeErrors) {
  Table a({{"x", Column::FromStrings({"p", "q", "p"})}, {"y", Column::FromVector<int64_t>({1, 1, 2})},
           {"w", Column::FromVector<int64_t>({10, 11, 12})}});
  Table b({{"x2", Column::FromStrings({"p", "p"})}, {"y2", Column::FromVector<int64_t>({2, 1})},
           {"z", Column::FromVector<int64_t>({7, 8})}});
  JoinSpec s;
  s.left_on = {"x", "y"};
  s.right_on = {"x2", "y2"};
  Table r = HashJoin(a, b, s);
  ASSERT_EQ(r.num_rows(), 2);
  EXPECT_EQ(r.names(), (std::vector<std::string>{"x", "y", "w", "x2", "y2", "z"}));
  EXPECT_EQ(r.column("w").data<int64_t>()[0], 10);
  EXPECT_EQ(r.column("z").data<int64_t>()[0], 8);
  JoinSpec bad;
  bad.left_on = {"x"};
  bad.right_on = {"z"};
  EXPECT_THAT([&] { HashJoin(a, b, bad); },
              ThrowsMessage<TypeError>(AllOf(HasSubstr("'x' is string"), HasSubstr("'z' is int64"))));
  EXPECT_THROW(dataframe::internal::JoinHowFromName("cross"), Error);
}

// Text keys where a side is a category join as codes of one dictionary:
// against strings (labels the dictionary lacks, nulls), against a category
// over other labels, and two categories over the same labels, every how
// gives the rows a join of the decoded strings gives, in the same order.
TEST(JoinKernel, CategoryKeysJoinAsCodesLikeTheirLabels) {
  std::mt19937_64 rng(9);
  const char* const labels[] = {"a", "b", "c", "d", "e", "f", "x", "y"};
  CategoryBuilder lb, rb, same;
  lb.Intern("never-used");
  rb.Intern("z");
  std::vector<std::optional<std::string>> right_strings;
  std::vector<int64_t> lv, rv;
  for (int i = 0; i < 300; ++i) {
    if (i % 17 == 0) {
      lb.AppendNull();
    } else {
      lb.Append(labels[rng() % 6]);  // a-f
    }
    lv.push_back(i);
  }
  for (int i = 0; i < 40; ++i) {
    const char* l = labels[2 + rng() % 6];  // c-y: some only on the right
    if (i % 9 == 0) {
      right_strings.push_back(std::nullopt);
      rb.AppendNull();
    } else {
      right_strings.push_back(l);
      rb.Append(l);
    }
    rv.push_back(1000 + i);
  }
  const Column left_key = lb.Finish();
  const Table left({{"k", left_key}, {"lv", Column::FromVector(lv)}});
  const Column same_dict = left_key.Take(std::vector<int64_t>{3, 1, 4, 1, 5});
  const std::vector<Table> rights = {
      Table({{"k", Column::FromStrings(right_strings)}, {"rv", Column::FromVector(rv)}}),
      Table({{"k", rb.Finish()}, {"rv", Column::FromVector(rv)}}),
      Table({{"k", same_dict}, {"rv", Column::FromVector<int64_t>({1, 2, 3, 4, 5})}})};
  auto decoded = [](const Table& t) { return t.With("k", t.column("k").Decoded()); };
  auto text = [](const Column& c, int64_t i) {
    if (c.IsNull(i)) return std::string("<null>");
    return c.type() == TypeId::kString || c.type() == TypeId::kCategory ? std::string(c.StringAt(i))
                                                                         : std::to_string(c.NumberAt(i));
  };
  for (size_t v = 0; v < rights.size(); ++v) {
    for (JoinHow how : {JoinHow::kInner, JoinHow::kLeft, JoinHow::kRight, JoinHow::kOuter}) {
      SCOPED_TRACE(testing::Message() << "right " << v << ", how " << static_cast<int>(how));
      for (bool swap : {false, true}) {  // the category on the left, then on the right
        const Table& a = swap ? rights[v] : left;
        const Table& b = swap ? left : rights[v];
        const Table got = HashJoin(a, b, On("k", how));
        const Table want = HashJoin(decoded(a), decoded(b), On("k", how));
        ASSERT_EQ(got.num_rows(), want.num_rows()) << "swap " << swap;
        ASSERT_EQ(got.names(), want.names());
        for (const std::string& name : got.names()) {
          for (int64_t i = 0; i < got.num_rows(); ++i) {
            ASSERT_EQ(text(got.column(name), i), text(want.column(name), i)) << name << " row " << i << " swap " << swap;
          }
        }
      }
    }
  }
}

// A bigger pair of tables with duplicate keys on both sides.
std::pair<Table, Table> Random(int nl, int nr) {
  std::mt19937_64 rng(3);
  std::vector<int64_t> lk, lv, rk, rv;
  for (int i = 0; i < nl; ++i) lk.push_back(static_cast<int64_t>(rng() % 50)), lv.push_back(i);
  for (int i = 0; i < nr; ++i) rk.push_back(static_cast<int64_t>(rng() % 60)), rv.push_back(1000 + i);
  return {Table({{"k", Column::FromVector<int64_t>(lk)}, {"a", Column::FromVector<int64_t>(lv)}}),
          Table({{"k", Column::FromVector<int64_t>(rk)}, {"b", Column::FromVector<int64_t>(rv)}})};
}

Table Sorted(const Table& t) {
  std::vector<std::string> cols = t.names();
  return SortTable(t, cols);
}

TEST(Merge, EveryPlanMatchesOneJoinOfTheWholes) {
  auto [l, r] = Random(700, 300);
  for (std::string how : {"inner", "left", "right", "outer"}) {
    MergeOptions opt;
    opt.how = how;
    opt.on = {"k"};
    const Table want = Sorted(HashJoin(l, r, On("k", dataframe::internal::JoinHowFromName(how))));
    // Shuffle: both sides in several partitions.
    DataFrame shuffled = merge(from_table(l, 4), from_table(r, 3), opt);
    EXPECT_EQ(shuffled.npartitions(), 4);
    EXPECT_EQ(Sorted(shuffled.compute()), want) << how;
    // Broadcast (inner, left) or shuffle (right, outer) with a one-partition right side.
    EXPECT_EQ(Sorted(merge(from_table(l, 5), from_table(r, 1), opt).compute()), want) << how;
    // Partition-wise: both sides hash-partitioned on k by a groupby shuffle.
    GroupByOptions g;
    g.split_out = 3;
    DataFrame lg = from_table(l, 4).groupby({"k"}, g).agg({{"a", "sum"}});
    DataFrame rg = from_table(r, 2).groupby({"k"}, g).agg({{"b", "max"}});
    ASSERT_EQ(lg.node()->partitioned_on, std::vector<std::string>{"k"});
    DataFrame pw = merge(lg[col("a") > 0], rg, opt);
    EXPECT_EQ(pw.npartitions(), 3);
    const Table pw_want = Sorted(HashJoin(lg.compute(), rg.compute(), On("k", dataframe::internal::JoinHowFromName(how))));
    EXPECT_EQ(Sorted(pw.compute()), pw_want) << how;
    // No shuffle layer in the partition-wise plan: its tasks are the two
    // groupbys' and one merge task per partition.
    size_t merges = 0, splits = 0;
    const Graph graph = pw.graph();
    for (const Key& key : graph.keys()) {
      merges += key.name().rfind("merge-", 0) == 0;
      splits += key.name().rfind("hash-split-", 0) == 0;
    }
    EXPECT_EQ(merges, 3u);
    EXPECT_EQ(splits, 6u);  // the groupbys' own shuffles only (4 + 2 input partitions)
  }
}

TEST(Merge, ErrorsAtBuildTime) {
  DataFrame a = from_table(Table({{"k", Column::FromStrings({"x"})}, {"v", Column::FromVector<int64_t>({1})}}));
  DataFrame b = from_table(Table({{"k", Column::FromVector<int64_t>({1})}, {"w", Column::FromVector<int64_t>({2})}}));
  EXPECT_THAT([&] { merge(a, b); }, ThrowsMessage<TypeError>(HasSubstr("cannot be joined")));
  MergeOptions o;
  o.on = {"nope"};
  EXPECT_THAT([&] { merge(a, b, o); }, ThrowsMessage<KeyError>(HasSubstr("'nope'")));
  o.on = {"k"};
  o.how = "sideways";
  EXPECT_THAT([&] { merge(a, b, o); }, ThrowsMessage<Error>(HasSubstr("sideways")));
  DataFrame c = from_table(Table({{"z", Column::FromVector<int64_t>({1})}}));
  EXPECT_THAT([&] { merge(a, c); }, ThrowsMessage<Error>(HasSubstr("no column names in common")));
}

}  // namespace
}  // namespace skein
