// Column expressions: arithmetic and comparison type rules, nulls,
// strings, dates, isin/between, where/mask/fillna, casting, encoding, and
// the errors for type mismatches and unknown columns.
#include "skein/dataframe/expr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "dates_internal.h"

namespace skein {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

Table Frame() {
  ColumnBuilder ts(TypeId::kTimestamp);
  int64_t t;
  dates::ParseTimestamp("2024-03-10 17:30:00", &t);  // a Sunday
  ts.Append(t);
  dates::ParseTimestamp("1999-12-31 00:00:00", &t);  // a Friday
  ts.Append(t);
  ts.AppendNull();
  return Table({{"i", Column::FromVector<int64_t>({1, -7, 3}, {true, true, false})},
                {"j", Column::FromVector<int32_t>({2, 2, 0})},
                {"f", Column::FromVector<double>({0.5, std::nan(""), 2.0})},
                {"s", Column::FromStrings({"Apple", "banana", std::nullopt})},
                {"b", Column::FromBools({true, false, true})},
                {"ts", ts.Finish()}});
}

std::vector<std::optional<double>> Nums(const Column& c) {
  std::vector<std::optional<double>> out;
  for (int64_t i = 0; i < c.length(); ++i) {
    if (c.IsNull(i)) out.push_back(std::nullopt);
    else out.push_back(c.NumberAt(i));
  }
  return out;
}

TEST(Expr, ArithmeticFollowsPandasTypes) {
  Table t = Frame();
  Column sum = (col("i") + col("j")).Evaluate(t);
  EXPECT_EQ(sum.type(), TypeId::kInt64);
  EXPECT_EQ(Nums(sum), (std::vector<std::optional<double>>{3, -5, std::nullopt}));
  EXPECT_EQ((col("i") / 2).Evaluate(t).type(), TypeId::kFloat64);
  EXPECT_EQ(Nums((col("i") / 2).Evaluate(t))[1], -3.5);
  EXPECT_EQ(Nums(floordiv(col("i"), 2).Evaluate(t))[1], -4);  // floors, as Python
  EXPECT_EQ(Nums((col("i") % 3).Evaluate(t))[1], 2);
  EXPECT_EQ(Nums((col("j") % 0).Evaluate(t))[0], std::nullopt);  // integer division by zero: null
  EXPECT_EQ((col("j") * 2).Evaluate(t).type(), TypeId::kInt64);
  EXPECT_EQ(Nums((-col("i")).Evaluate(t))[1], 7);
  EXPECT_EQ(Nums(col("i").abs().Evaluate(t))[1], 7);
  EXPECT_EQ(Nums((col("f") * col("i")).Evaluate(t))[0], 0.5);
}

TEST(Expr, ComparisonsAndLogicWithNulls) {
  Table t = Frame();
  Column gt = (col("i") > 0).Evaluate(t);
  EXPECT_EQ(Nums(gt), (std::vector<std::optional<double>>{1, 0, std::nullopt}));
  Column both = ((col("i") > 0) & col("b")).Evaluate(t);
  EXPECT_EQ(Nums(both), (std::vector<std::optional<double>>{1, 0, std::nullopt}));
  EXPECT_EQ(Nums((~col("b") | (col("j") == 0)).Evaluate(t)), (std::vector<std::optional<double>>{0, 1, 1}));
  EXPECT_EQ(Nums(col("f").isnull().Evaluate(t)), (std::vector<std::optional<double>>{0, 1, 0}));  // NaN counts as null
  EXPECT_EQ(Nums(col("i").isin({1, 3}).Evaluate(t)), (std::vector<std::optional<double>>{1, 0, 0}));
  EXPECT_EQ(Nums(col("j").between(1, 2).Evaluate(t)), (std::vector<std::optional<double>>{1, 1, 0}));
  EXPECT_EQ(Nums((col("s") == "Apple").Evaluate(t)), (std::vector<std::optional<double>>{1, 0, std::nullopt}));
  EXPECT_EQ(Nums((col("s") < "b").Evaluate(t)), (std::vector<std::optional<double>>{1, 0, std::nullopt}));
  EXPECT_EQ(Nums(col("s").isin({"banana"}).Evaluate(t)), (std::vector<std::optional<double>>{0, 1, 0}));
  EXPECT_EQ(Nums((col("ts") >= "2000-01-01").Evaluate(t)), (std::vector<std::optional<double>>{1, 0, std::nullopt}));
  Column cat = col("s").astype(TypeId::kCategory).Evaluate(t);
  EXPECT_EQ(cat.type(), TypeId::kCategory);
  Table with = t.With("c", cat);
  EXPECT_EQ(Nums((col("c") == "banana").Evaluate(with)), (std::vector<std::optional<double>>{0, 1, std::nullopt}));
  EXPECT_EQ(Nums((col("c") != "kiwi").Evaluate(with)), (std::vector<std::optional<double>>{1, 1, std::nullopt}));
}

TEST(Expr, StringAndDatetimeMethods) {
  Table t = Frame();
  Column lower = col("s").str().lower().Evaluate(t);
  EXPECT_EQ(lower.StringAt(0), "apple");
  EXPECT_TRUE(lower.IsNull(2));
  EXPECT_EQ(col("s").str().upper().Evaluate(t).StringAt(1), "BANANA");
  EXPECT_EQ(Nums(col("s").str().len().Evaluate(t)), (std::vector<std::optional<double>>{5, 6, std::nullopt}));
  EXPECT_EQ(Nums(col("s").str().contains("nan").Evaluate(t)), (std::vector<std::optional<double>>{0, 1, std::nullopt}));
  EXPECT_EQ(Nums(col("s").str().startswith("App").Evaluate(t))[0], 1);
  EXPECT_EQ(col("s").str().slice(1, -1).Evaluate(t).StringAt(1), "anan");
  EXPECT_EQ(col("s").str().slice(-3).Evaluate(t).StringAt(0), "ple");
  EXPECT_EQ(col("s").str().replace("an", "AN").Evaluate(t).StringAt(1), "bANANa");
  EXPECT_EQ(Nums(col("ts").dt().year().Evaluate(t)), (std::vector<std::optional<double>>{2024, 1999, std::nullopt}));
  EXPECT_EQ(Nums(col("ts").dt().month().Evaluate(t))[0], 3);
  EXPECT_EQ(Nums(col("ts").dt().day().Evaluate(t))[1], 31);
  EXPECT_EQ(Nums(col("ts").dt().hour().Evaluate(t))[0], 17);
  EXPECT_EQ(Nums(col("ts").dt().dayofweek().Evaluate(t)), (std::vector<std::optional<double>>{6, 4, std::nullopt}));
}

TEST(Expr, WhereMaskFillnaAstype) {
  Table t = Frame();
  EXPECT_EQ(Nums(col("i").where(col("b"), 0).Evaluate(t)), (std::vector<std::optional<double>>{1, 0, std::nullopt}));
  EXPECT_EQ(Nums(col("j").mask(col("b"), -1).Evaluate(t)), (std::vector<std::optional<double>>{-1, 2, -1}));
  EXPECT_EQ(Nums(col("f").fillna(9).Evaluate(t)), (std::vector<std::optional<double>>{0.5, 9, 2}));
  EXPECT_EQ(col("s").fillna("?").Evaluate(t).StringAt(2), "?");
  EXPECT_EQ(col("i").astype(TypeId::kString).Evaluate(t).StringAt(1), "-7");
  Table txt({{"n", Column::FromStrings({"12", "x"})}});
  EXPECT_THAT([&] { col("n").astype(TypeId::kInt64).Evaluate(txt); },
              ThrowsMessage<TypeError>(AllOf(HasSubstr("'x'"), HasSubstr("row 1"))));
  EXPECT_EQ(Nums(col("f").astype(TypeId::kInt64).Evaluate(t)), (std::vector<std::optional<double>>{0, std::nullopt, 2}));
}

TEST(Expr, MismatchesAndUnknownColumnsAreClearErrors) {
  Table t = Frame();
  EXPECT_THAT([&] { (col("s") + 1).Evaluate(t); },
              ThrowsMessage<TypeError>(AllOf(HasSubstr("(col(s) + 1)"), HasSubstr("arithmetic on string and int64"))));
  EXPECT_THAT([&] { (col("s") > 3).Evaluate(t); }, ThrowsMessage<TypeError>(HasSubstr("cannot compare string with int64")));
  EXPECT_THAT([&] { (col("i") & col("b")).Evaluate(t); }, ThrowsMessage<TypeError>(HasSubstr("needs bool operands")));
  EXPECT_THAT([&] { col("nope").Evaluate(t); }, ThrowsMessage<KeyError>(HasSubstr("'nope'")));
  EXPECT_THAT([&] { col("i").dt().year().Evaluate(t); }, ThrowsMessage<TypeError>(HasSubstr("dt.year")));
  EXPECT_THAT([&] { (col("ts") > "yesterday").Evaluate(t); }, ThrowsMessage<TypeError>(HasSubstr("'yesterday'")));
}

TEST(Expr, EncodesColumnsAndRejectsGarbage) {
  Expr e = (((col("i") + 1.5) > col("f")) & col("s").str().slice(1, 3).isin({"pp", "an"})) | col("ts").dt().year().isnull();
  Expr back = Expr::Decode(e.Encode());
  EXPECT_EQ(back.ToString(), e.ToString());
  Table t = Frame();
  EXPECT_TRUE(back.Evaluate(t) == e.Evaluate(t));
  EXPECT_EQ(e.Columns(), (std::vector<std::string>{"i", "f", "s", "ts"}));
  std::string bytes = e.Encode();
  for (size_t cut = 0; cut < bytes.size(); cut += 7) EXPECT_THROW(Expr::Decode(bytes.substr(0, cut)), Error);
  std::string bad = bytes;
  bad[0] = static_cast<char>(200);
  EXPECT_THROW(Expr::Decode(bad), Error);
}

}  // namespace
}  // namespace skein
