// Columns and tables: building, nulls, slicing, printing, serialization and
// the Arrow C Data Interface both ways.
#include "skein/dataframe/table.h"

#include <atomic>
#include <cstring>
#include <optional>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dataframe/table_serial_internal.h"
#include "dates_internal.h"
#include "skein/core/lent_value.h"
#include "skein/core/serialize.h"
#include "skein/core/value.h"
#include "skein/dataframe/arrow_c.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

Table Sample() {
  ColumnBuilder ts(TypeId::kTimestamp), d(TypeId::kDate);
  int64_t t;
  if (!dates::ParseTimestamp("2024-02-29 13:45:01.5", &t)) throw Error("bad timestamp");
  ts.Append(t);
  ts.AppendNull();
  ts.Append(int64_t{0});
  int32_t day;
  dates::ParseDate("1999-12-31", &day);
  d.Append(day);
  d.Append(int32_t{0});
  d.AppendNull();
  auto dict = std::make_shared<const Column>(Column::FromStrings({"low", "high"}));
  ColumnBuilder codes(TypeId::kCategory);
  codes.Append(int32_t{1});
  codes.AppendNull();
  codes.Append(int32_t{0});
  Column c = codes.Finish();
  Column cat = Column::Make(TypeId::kCategory, 3, c.validity(), c.values(), {}, dict);
  return Table({{"i64", Column::FromVector<int64_t>({1, -2, 3}, {true, false, true})},
                {"i32", Column::FromVector<int32_t>({7, 8, 9})},
                {"f64", Column::FromVector<double>({0.5, std::nan(""), 1e300})},
                {"f32", Column::FromVector<float>({1.5f, 2.5f, 0}, {true, true, false})},
                {"b", Column::FromBools({true, std::nullopt, false})},
                {"s", Column::FromStrings({"héllo", std::nullopt, ""})},
                {"ts", ts.Finish()},
                {"d", d.Finish()},
                {"cat", cat}});
}

TEST(Column, BuildsWithNullsAndReadsBack) {
  Table t = Sample();
  EXPECT_EQ(t.num_rows(), 3);
  const Column& i = t.column("i64");
  EXPECT_EQ(i.null_count(), 1);
  EXPECT_TRUE(i.IsNull(1));
  EXPECT_EQ(i.data<int64_t>()[2], 3);
  EXPECT_THROW(i.data<double>(), TypeError);
  EXPECT_EQ(t.column("s").StringAt(0), "héllo");
  EXPECT_TRUE(t.column("s").IsNull(1));
  EXPECT_EQ(t.column("b").BoolAt(2), false);
  EXPECT_EQ(t.column("cat").StringAt(0), "high");
  EXPECT_EQ(t.column("ts").Format(0), "2024-02-29 13:45:01.5");
  EXPECT_EQ(t.column("d").Format(0), "1999-12-31");
  EXPECT_EQ(t.column("d").Format(2), "NaT");
  EXPECT_EQ(t.column("f32").Format(2), "NaN");
  EXPECT_EQ(t.column("i64").Format(1), "<NA>");
}

TEST(Column, MakeRejectsBuffersThatDoNotFit) {
  EXPECT_THAT([] { Column::Make(TypeId::kInt64, 4, {}, Buffer::Copy("12345678", 8)); },
              ::testing::ThrowsMessage<Error>(HasSubstr("needs 32")));
  int32_t bad[] = {0, 5, 2, 5};
  EXPECT_THAT([&] { Column::Make(TypeId::kString, 3, {}, Buffer::Copy("abcde", 5), Buffer::Copy(bad, sizeof bad)); },
              ::testing::ThrowsMessage<Error>(HasSubstr("offsets decrease at row 1")));
  int32_t past[] = {0, 9};
  EXPECT_THROW(Column::Make(TypeId::kString, 1, {}, Buffer::Copy("abc", 3), Buffer::Copy(past, sizeof past)), Error);
  int32_t code[] = {5};
  auto dict = std::make_shared<const Column>(Column::FromStrings({"a"}));
  const int32_t three[] = {0, 2, 1};
  const int32_t negative[] = {0, -1};
  EXPECT_TRUE(Column::CodesWithin(three, 3, 3));
  EXPECT_FALSE(Column::CodesWithin(three, 3, 2));
  EXPECT_FALSE(Column::CodesWithin(negative, 2, 5));
  EXPECT_FALSE(Column::CodesWithin(negative, 2, int64_t{1} << 40));
  EXPECT_TRUE(Column::CodesWithin(three, 3, int64_t{1} << 40));
  // A length whose buffer sizes would wrap around (a lying header) is refused.
  EXPECT_THAT([&] { Column::Make(TypeId::kCategory, int64_t{1} << 62, {}, Buffer::Copy(code, 4), {}, dict); },
              ::testing::ThrowsMessage<Error>(HasSubstr("implausible length")));
  EXPECT_THAT([&] { Column::Make(TypeId::kCategory, 1, {}, Buffer::Copy(code, 4), {}, dict); },
              ::testing::ThrowsMessage<Error>(HasSubstr("outside its dictionary")));
  // A null row's code is never read: anything goes there. A valid row's
  // bad code is named with its row.
  int32_t codes[] = {0, -7, 0, 3};
  const uint8_t valid = 0b1101;
  EXPECT_THAT([&] { Column::Make(TypeId::kCategory, 4, Buffer::Copy(&valid, 1), Buffer::Copy(codes, 16), {}, dict); },
              ::testing::ThrowsMessage<Error>(HasSubstr("code 3 at row 3")));
  const uint8_t first_two_null = 0b0101;
  const Column ok = Column::Make(TypeId::kCategory, 3, Buffer::Copy(&first_two_null, 1), Buffer::Copy(codes, 12), {}, dict);
  EXPECT_TRUE(ok.IsNull(1));
  EXPECT_EQ(ok.StringAt(2), "a");
}

TEST(Table, SelectSliceTakeFilterConcat) {
  Table t = Sample();
  EXPECT_THAT([&] { t.column("nope"); }, ::testing::ThrowsMessage<KeyError>(HasSubstr("no column 'nope'")));
  Table two = t.Select({"s", "i32"});
  EXPECT_EQ(two.names(), (std::vector<std::string>{"s", "i32"}));
  Table tail = t.Slice(1, 5);
  EXPECT_EQ(tail.num_rows(), 2);
  EXPECT_TRUE(tail.column("s").IsNull(0));
  Table taken = t.Take({2, 0, 2});
  EXPECT_EQ(taken.column("i32").data<int32_t>()[1], 7);
  EXPECT_EQ(taken.column("cat").StringAt(1), "high");
  Table filtered = t.Filter(Column::FromBools({true, std::nullopt, true}));
  EXPECT_EQ(filtered.num_rows(), 2);
  Table both = Table::Concat({t.Select({"i64", "s", "b"}), filtered.Select({"i64", "s", "b"})});
  EXPECT_EQ(both.num_rows(), 5);
  EXPECT_EQ(both.column("s").StringAt(3), "héllo");
  EXPECT_TRUE(both.column("i64").IsNull(1));
  EXPECT_THAT([&] { Table::Concat({t, two}); }, ::testing::ThrowsMessage<Error>(HasSubstr("has schema")));
  EXPECT_THROW(Table({{"a", Column::FromVector<int64_t>({1})}, {"b", Column::FromVector<int64_t>({1, 2})}}), Error);
}

// A category column of `rows` rows over labels "l0".."l<labels-1>", row i
// holding label i % labels, with every 7th row null.
Column Categories(int64_t rows, int64_t labels) {
  std::vector<std::optional<std::string>> names;
  for (int64_t k = 0; k < labels; ++k) names.push_back("l" + std::to_string(k));
  auto dict = std::make_shared<const Column>(Column::FromStrings(names));
  ColumnBuilder codes(TypeId::kCategory);
  for (int64_t i = 0; i < rows; ++i) {
    if (i % 7 == 3) codes.AppendNull();
    else codes.Append(static_cast<int32_t>(i % labels));
  }
  Column c = codes.Finish();
  return Column::Make(TypeId::kCategory, rows, c.validity(), c.values(), {}, dict);
}

// A column made from raw buffers (as one that came over the wire) has no
// bound; IntRange finds the range of its valid values, and a large
// column's copies share what was found: a subset taken from a copy knows
// its parent's range without a pass.
// Slices of an eighth of the rows or more share the parent's bytes;
// smaller ones and categories are copied; either way every row, null and
// string reads as in the parent.
TEST(Column, LargeSlicesShareBytesSmallOnesCopy) {
  std::vector<int64_t> iv;
  std::vector<bool> valid;
  std::vector<std::optional<std::string>> sv;
  std::vector<std::optional<bool>> bv;
  for (int i = 0; i < 100; ++i) {
    iv.push_back(i * 3);
    valid.push_back(i % 7 != 0);
    sv.push_back(i % 5 == 0 ? std::nullopt : std::optional<std::string>(std::string(static_cast<size_t>(i % 4), 'a' + i % 26)));
    bv.push_back(i % 9 == 0 ? std::nullopt : std::optional<bool>(i % 2 == 0));
  }
  const Column ints = Column::FromVector<int64_t>(iv, valid);
  const Column strs = Column::FromStrings(sv);
  const Column bools = Column::FromBools(bv);
  CategoryBuilder cb;
  for (const auto& v : sv) {
    if (v) cb.Append(*v);
    else cb.AppendNull();
  }
  const Column cats = cb.Finish();
  auto within = [](const Column& part, const Column& whole) {
    return part.values().data() >= whole.values().data() &&
           part.values().data() < whole.values().data() + whole.values().size();
  };
  for (auto [offset, length] : {std::pair<int64_t, int64_t>{3, 40}, {8, 50}, {90, 10}, {95, 5}, {0, 100}}) {
    const bool large = length * 8 >= 100;
    const Column i = ints.Slice(offset, length), s = strs.Slice(offset, length), b = bools.Slice(offset, length);
    const Column c = cats.Slice(offset, length);
    ASSERT_EQ(i.length(), length);
    EXPECT_EQ(within(i, ints), large) << offset;
    EXPECT_FALSE(within(c, cats));
    for (int64_t r = 0; r < length; ++r) {
      ASSERT_EQ(i.IsNull(r), ints.IsNull(offset + r)) << offset << " " << r;
      if (i.IsValid(r)) {
        EXPECT_EQ(i.data<int64_t>()[r], iv[static_cast<size_t>(offset + r)]);
      }
      ASSERT_EQ(s.IsNull(r), strs.IsNull(offset + r));
      EXPECT_EQ(s.StringAt(r), strs.StringAt(offset + r));
      ASSERT_EQ(b.IsNull(r), bools.IsNull(offset + r));
      if (b.IsValid(r)) {
        EXPECT_EQ(b.BoolAt(r), bools.BoolAt(offset + r));
      }
      EXPECT_EQ(c.StringAt(r), cats.StringAt(offset + r));
    }
  }
}

TEST(Column, IntRangeIsFoundOnceAndSharedByCopies) {
  for (int64_t rows : {int64_t{100}, int64_t{10000}}) {
    SCOPED_TRACE(rows);
    std::vector<int64_t> v;
    std::vector<bool> valid;
    for (int64_t i = 0; i < rows; ++i) {
      v.push_back((i * 7919) % 1000 - 300);
      valid.push_back(i % 5 != 0);
    }
    v[5] = -100000;  // on a null row: not in the range
    const Column built = Column::FromVector(v, valid);
    const Column raw = Column::Make(TypeId::kInt64, rows, built.validity(), Buffer::Copy(v.data(), v.size() * 8));
    ASSERT_FALSE(raw.int_bounds().has_value());
    const Column copy = raw;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (int64_t i = 0; i < rows; ++i) {
      if (valid[static_cast<size_t>(i)]) lo = std::min(lo, v[static_cast<size_t>(i)]), hi = std::max(hi, v[static_cast<size_t>(i)]);
    }
    const auto r = raw.IntRange();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->lo, lo);
    EXPECT_EQ(r->hi, hi);
    const Column part = copy.Take(std::vector<int64_t>{1, 2, 3});
    if (rows >= 4096) {
      ASSERT_TRUE(part.int_bounds().has_value()) << "the copy shares the range found on the original";
      EXPECT_EQ(part.int_bounds()->lo, lo);
    } else {
      EXPECT_FALSE(part.int_bounds().has_value()) << "small columns keep nothing";
    }
  }
  // No valid value, or not integers: no range.
  EXPECT_FALSE(Column::FromVector(std::vector<int64_t>{1, 2}, {false, false}).IntRange().has_value());
  EXPECT_FALSE(Column::FromVector(std::vector<double>{1, 2}).IntRange().has_value());
  EXPECT_EQ(Column::FromVector(std::vector<int32_t>{7, -3, 4}).IntRange()->lo, -3);
}

TEST(Column, TakeOfCategoriesKeepsOnlyTheLabelsItUsesWhenFew) {
  const Column c = Categories(1000, 500);
  // Rows 0, 5, 10, ...: labels 0, 5, ..., 495 (one in five), nulls kept.
  std::vector<int64_t> every5;
  for (int64_t i = 0; i < 1000; i += 5) every5.push_back(i);
  const Column few = c.Take(every5);
  EXPECT_EQ(few.dictionary()->length(), 100);  // first-seen order: l0, l5, ...
  EXPECT_EQ(few.dictionary()->StringAt(1), "l5");
  ASSERT_EQ(few.length(), 200);
  for (int64_t k = 0; k < few.length(); ++k) {
    const int64_t i = every5[static_cast<size_t>(k)];
    ASSERT_EQ(few.IsNull(k), c.IsNull(i)) << "row " << k;
    if (!few.IsNull(k)) {
      EXPECT_EQ(few.StringAt(k), c.StringAt(i)) << "row " << k;
    }
  }
  // Most labels used: the dictionary is shared, not copied.
  std::vector<int64_t> most;
  for (int64_t i = 0; i < 450; ++i) most.push_back(449 - i);
  const Column many = c.Take(most);
  EXPECT_EQ(many.dictionary().get(), c.dictionary().get());
  for (int64_t k = 0; k < many.length(); ++k) {
    if (!many.IsNull(k)) {
      EXPECT_EQ(many.StringAt(k), c.StringAt(most[static_cast<size_t>(k)]));
    }
  }
  // Missing rows (-1) come out null either way.
  const Column holes = c.Take(std::vector<int64_t>{-1, 11, -1});
  EXPECT_TRUE(holes.IsNull(0));
  EXPECT_EQ(holes.StringAt(1), "l11");
  EXPECT_TRUE(holes.IsNull(2));
}

TEST(Column, ConcatOfCategoriesMergesDictionariesOfManyLabels) {
  // Parts with their own large dictionaries, in different orders and only
  // partly overlapping: the merged dictionary holds each label once, and
  // every row keeps its label (the merge interns labels many at a time,
  // ahead of the table growing under it).
  std::vector<Column> parts;
  for (int part = 0; part < 3; ++part) {
    std::vector<std::optional<std::string>> names;
    for (int64_t k = 0; k < 3000; ++k) {
      const int64_t label = part == 1 ? 2999 - k : k + part * 1000;  // reversed; shifted
      names.push_back("label-" + std::to_string(label));
    }
    auto dict = std::make_shared<const Column>(Column::FromStrings(names));
    ColumnBuilder codes(TypeId::kCategory);
    for (int64_t i = 0; i < 5000; ++i) {
      if ((i + part) % 11 == 0) codes.AppendNull();
      else codes.Append(static_cast<int32_t>((i * 7919 + part) % 3000));
    }
    Column c = codes.Finish();
    parts.push_back(Column::Make(TypeId::kCategory, 5000, c.validity(), c.values(), {}, dict));
  }
  const Column all = Column::Concat({&parts[0], &parts[1], &parts[2]});
  ASSERT_EQ(all.length(), 15000);
  EXPECT_EQ(all.dictionary()->length(), 5000);  // labels 0..4999, each once
  int64_t row = 0;
  for (const Column& p : parts) {
    for (int64_t i = 0; i < p.length(); ++i, ++row) {
      ASSERT_EQ(all.IsNull(row), p.IsNull(i)) << "row " << row;
      if (!p.IsNull(i)) {
        ASSERT_EQ(all.StringAt(row), p.StringAt(i)) << "row " << row;
      }
    }
  }
}

// Integer columns built value by value know a bound on their values; rows
// taken from them keep it, a concat of bounded parts joins them, and a
// column made from raw buffers (whose values nobody looked at) has none.
TEST(Column, WithCategoriesRecodesStringsAndCategoriesToOneDictionary) {
  auto cats = std::make_shared<const Column>(Column::FromStrings({"a", "b", "c", "d"}));
  Column s = Column::FromStrings({"c", std::nullopt, "a", "c", "d"});
  Column cs = s.WithCategories(cats);
  ASSERT_EQ(cs.type(), TypeId::kCategory);
  EXPECT_TRUE(cs.categories_known());
  EXPECT_EQ(cs.dictionary().get(), cats.get());
  EXPECT_EQ(cs.data<int32_t>()[0], 2);
  EXPECT_EQ(cs.data<int32_t>()[4], 3);
  EXPECT_TRUE(cs.IsNull(1));
  EXPECT_EQ(cs.Decoded(), s);
  // A category column over other labels (an unused one included) gets the same codes.
  auto other = std::make_shared<const Column>(Column::FromStrings({"d", "zz", "a", "c"}));
  Column c = Column::Make(TypeId::kCategory, 5, s.validity(),
                          Column::FromVector<int32_t>({3, 0, 2, 3, 0}).values(), {}, other);
  ASSERT_FALSE(c.categories_known());
  Column cc = c.WithCategories(cats);
  EXPECT_EQ(cc.Decoded(), s);
  for (int64_t i : {0, 2, 3, 4}) EXPECT_EQ(cc.data<int32_t>()[i], cs.data<int32_t>()[i]) << "row " << i;
  // Bad input: a value outside the categories, categories listed twice, a number column.
  try {
    Column::FromStrings({"a", "e"}).WithCategories(cats);
    ADD_FAILURE() << "'e' is not a category";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'e' at row 1 is not among the 4 categories"));
  }
  EXPECT_THROW(Column::FromStrings({"x", "x"}).WithCategories(std::make_shared<const Column>(Column::FromStrings({"x", "x"}))),
               Error);
  EXPECT_THROW(Column::FromVector<int64_t>({1}).WithCategories(cats), TypeError);
}

TEST(Column, KnownCategoriesStayWholeThroughSubsetsAndConcatCopiesTheirCodes) {
  auto cats = std::make_shared<const Column>(Column::FromStrings({"a", "b", "c", "d", "e", "f", "g", "h"}));
  std::vector<std::optional<std::string>> rows;
  for (int i = 0; i < 40; ++i) rows.push_back(i % 9 == 4 ? std::nullopt : std::optional<std::string>(std::string(1, "abcdefgh"[i * 5 % 8])));
  Column c = Column::FromStrings(rows).WithCategories(cats);
  // Take of two rows: unknown categories would shrink to the labels used.
  Column two = c.Take(std::vector<int64_t>{3, 0});
  EXPECT_EQ(two.dictionary().get(), cats.get());
  EXPECT_TRUE(two.categories_known());
  std::vector<uint32_t> part;
  for (int i = 0; i < 40; ++i) part.push_back(static_cast<uint32_t>(i * 7 % 3));
  std::vector<Column> parts = c.Split(part, 3);
  std::vector<const Column*> ptrs;
  int64_t at[3] = {0, 0, 0};
  for (const Column& p : parts) {
    EXPECT_EQ(p.dictionary().get(), cats.get());
    EXPECT_TRUE(p.categories_known());
    ptrs.push_back(&p);
  }
  for (int i = 0; i < 40; ++i) {
    const Column& p = parts[part[static_cast<size_t>(i)]];
    const int64_t k = at[part[static_cast<size_t>(i)]]++;
    ASSERT_EQ(p.IsNull(k), c.IsNull(i)) << "row " << i;
    if (!c.IsNull(i)) {
      EXPECT_EQ(p.StringAt(k), c.StringAt(i)) << "row " << i;
    }
  }
  Column back = Column::Concat(ptrs);
  EXPECT_EQ(back.dictionary().get(), cats.get());
  EXPECT_TRUE(back.categories_known());
  EXPECT_EQ(back.null_count(), c.null_count());
  // Equal labels in another object (a worker's own copy): codes copied too,
  // known only when every part is.
  auto copy = std::make_shared<const Column>(cats->Take(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  ASSERT_NE(copy->values().data(), cats->values().data());
  EXPECT_TRUE(Column::SameLabels(*copy, *cats));
  EXPECT_FALSE(Column::SameLabels(*copy, *std::make_shared<const Column>(cats->Take(std::vector<int64_t>{1, 0, 2, 3, 4, 5, 6, 7}))));
  Column theirs = Column::Make(TypeId::kCategory, c.length(), c.validity(), c.values(), {}, copy);
  Column mixed = Column::Concat({&c, &theirs});
  EXPECT_EQ(mixed.dictionary().get(), cats.get());
  EXPECT_FALSE(mixed.categories_known());
  for (int64_t i = 0; i < 80; ++i) {
    if (!mixed.IsNull(i)) {
      EXPECT_EQ(mixed.StringAt(i), c.StringAt(i % 40)) << "row " << i;
    }
  }
  // Serialization keeps the flag.
  Table t({{"c", c}, {"theirs", theirs}});
  Table t2 = Deserialize(Serialize(Value::From(t))).get<Table>();
  EXPECT_TRUE(t2.column("c").categories_known());
  EXPECT_FALSE(t2.column("theirs").categories_known());
  EXPECT_EQ(t2, t);
}

TEST(CategoryBuilder, AppendSoonBuildsTheSameColumnAsAppendInAnyMix) {
  std::vector<std::string> labels;
  for (int i = 0; i < 3000; ++i) labels.push_back("label-" + std::to_string(i * 7919 % 3001));
  CategoryBuilder soon, now;
  uint64_t x = 42;
  for (int row = 0; row < 20000; ++row) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const std::string& s = labels[(x >> 33) % labels.size()];
    switch ((x >> 20) % 50) {
      case 0: soon.AppendNullSoon(); now.AppendNull(); break;  // a null waits its turn
      case 1: soon.AppendNull(); now.AppendNull(); break;      // flushes the waiting rows first
      case 2: soon.Append(s); now.Append(s); break;
      default: soon.AppendSoon(s); now.Append(s); break;
    }
    ASSERT_EQ(soon.length(), row + 1);
  }
  Column a = soon.Finish(), b = now.Finish();
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.dictionary()->length(), b.dictionary()->length());
  for (int64_t i = 0; i < a.length(); ++i) {
    if (a.IsValid(i)) {
      ASSERT_EQ(a.data<int32_t>()[i], b.data<int32_t>()[i]) << "row " << i;
    }
  }
  // Only waiting rows: Finish interns them.
  CategoryBuilder few;
  few.AppendSoon(labels[0]);
  few.AppendNullSoon();
  few.AppendSoon(labels[0]);
  Column f = few.Finish();
  ASSERT_EQ(f.length(), 3);
  EXPECT_TRUE(f.IsNull(1));
  EXPECT_EQ(f.StringAt(2), labels[0]);
  EXPECT_EQ(f.dictionary()->length(), 1);
}

TEST(Column, StringHashesAreComputedOnceAndAgreeForEqualStrings) {
  Column s = Column::FromStrings({"x", std::nullopt, "yy", "x", ""});
  auto h = s.StringHashes();
  ASSERT_EQ(h->size(), 5u);
  EXPECT_EQ((*h)[0], (*h)[3]);
  EXPECT_EQ((*h)[1], (*h)[4]);  // nulls hash as ""
  EXPECT_NE((*h)[0], (*h)[2]);
  Column copy = s;
  EXPECT_EQ(copy.StringHashes().get(), h.get());
  EXPECT_EQ(s.Take(std::vector<int64_t>{2, 0}).StringHashes()->at(1), (*h)[0]);
  EXPECT_THROW(Column::FromVector<int64_t>({1}).StringHashes(), TypeError);
}

TEST(Column, IntegerBoundsComeFromTheBuilderAndSurviveSubsetsAndConcat) {
  ColumnBuilder b(TypeId::kInt64);
  for (int64_t v : {7, -3, 12}) b.Append(v);
  b.AppendNull();
  const Column c = b.Finish();
  ASSERT_TRUE(c.int_bounds().has_value());
  EXPECT_EQ(c.int_bounds()->lo, -3);
  EXPECT_EQ(c.int_bounds()->hi, 12);

  const Column some = c.Take(std::vector<int64_t>{0, -1});
  ASSERT_TRUE(some.int_bounds().has_value());
  EXPECT_EQ(some.int_bounds()->lo, -3);  // a bound, not the exact range
  EXPECT_TRUE(c.Slice(1, 2).int_bounds().has_value());

  const Column d = Column::FromVector<int64_t>({100, 40});
  const Column both = Column::Concat({&c, &d});
  ASSERT_TRUE(both.int_bounds().has_value());
  EXPECT_EQ(both.int_bounds()->lo, -3);
  EXPECT_EQ(both.int_bounds()->hi, 100);

  const Column raw = Column::Make(TypeId::kInt64, 2, {}, d.values());
  EXPECT_FALSE(raw.int_bounds().has_value());
  EXPECT_FALSE(Column::Concat({&c, &raw}).int_bounds().has_value());
  EXPECT_FALSE(Column::FromVector<double>({1.5}).int_bounds().has_value());
  ColumnBuilder nulls(TypeId::kInt32);
  nulls.AppendNull();
  EXPECT_FALSE(nulls.Finish().int_bounds().has_value());
}

// Rows dealt out to parts keep their order and their nulls, whether the
// values are scattered (fixed width) or taken (strings, categories, bools);
// a part number out of range or a list of the wrong length is an error.
// Parts of over 64 MiB in all are concatenated column by column on
// several threads: every column (ints with nulls, doubles, strings)
// comes out whole and in order.
TEST(Table, LargeConcatOnSeveralThreadsKeepsEveryColumnInOrder) {
  const int64_t rows = 1'200'000;
  std::vector<Table> parts;
  for (int p = 0; p < 3; ++p) {
    std::vector<int64_t> a(rows), b(rows);
    std::vector<double> c(rows);
    std::vector<bool> valid(rows);
    for (int64_t i = 0; i < rows; ++i) {
      a[static_cast<size_t>(i)] = p * rows + i;
      b[static_cast<size_t>(i)] = -i;
      c[static_cast<size_t>(i)] = static_cast<double>(i) / 4 + p;
      valid[static_cast<size_t>(i)] = (i + p) % 7 != 0;
    }
    std::vector<std::optional<std::string>> s(100, "part" + std::to_string(p));
    parts.push_back(Table({{"a", Column::FromVector(a)},
                           {"b", Column::FromVector(b, valid)},
                           {"c", Column::FromVector(c)},
                           {"s", Column::FromStrings(s).Take(std::vector<int64_t>(static_cast<size_t>(rows), p))}}));
  }
  size_t bytes = 0;
  for (const Table& t : parts) bytes += t.nbytes();
  ASSERT_GE(bytes, size_t{64} << 20);
  const Table all = Table::Concat(parts);
  ASSERT_EQ(all.num_rows(), 3 * rows);
  for (int64_t i = 0; i < 3 * rows; i += 99'991) {
    const int64_t p = i / rows, j = i % rows;
    EXPECT_EQ(all.column("a").data<int64_t>()[i], i);
    EXPECT_EQ(all.column("b").IsValid(i), (j + p) % 7 != 0) << i;
    if (all.column("b").IsValid(i)) {
      EXPECT_EQ(all.column("b").data<int64_t>()[i], -j);
    }
    EXPECT_EQ(all.column("c").data<double>()[i], static_cast<double>(j) / 4 + static_cast<double>(p));
    EXPECT_EQ(all.column("s").StringAt(i), "part" + std::to_string(p));
  }
}

TEST(Table, SplitDealsRowsToPartsInOrder) {
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<bool> valid;
  std::vector<std::optional<std::string>> names;
  std::vector<std::optional<bool>> flags;
  std::vector<uint32_t> part;
  for (int64_t i = 0; i < 1000; ++i) {
    ints.push_back(i * 3);
    reals.push_back(static_cast<double>(i) / 4);
    valid.push_back(i % 7 != 0);
    names.push_back(i % 5 == 0 ? std::nullopt : std::optional<std::string>("n" + std::to_string(i % 40)));
    flags.push_back(i % 11 == 0 ? std::nullopt : std::optional<bool>(i % 3 == 0));
    part.push_back(static_cast<uint32_t>((i * 2654435761u) % 3));
  }
  CategoryBuilder cat;
  for (const auto& n : names) {
    if (n) cat.Append(*n);
    else cat.AppendNull();
  }
  const Table t({{"i", Column::FromVector<int64_t>(ints, valid)},
                 {"x", Column::FromVector<double>(reals)},
                 {"s", Column::FromStrings(names)},
                 {"c", cat.Finish()},
                 {"b", Column::FromBools(flags)}});
  const std::vector<Table> pieces = t.Split(part, 4);  // part 3 gets no rows
  ASSERT_EQ(pieces.size(), 4u);
  EXPECT_EQ(pieces[3].num_rows(), 0);
  std::vector<int64_t> at(4, 0);
  for (int64_t i = 0; i < t.num_rows(); ++i) {
    const uint32_t p = part[static_cast<size_t>(i)];
    const int64_t r = at[p]++;
    for (int c = 0; c < t.num_columns(); ++c) {
      ASSERT_EQ(pieces[p].column(c).Format(r), t.column(c).Format(i)) << "row " << i << " column " << c;
    }
  }
  for (size_t p = 0; p < 4; ++p) EXPECT_EQ(pieces[p].num_rows(), at[p]);
  ASSERT_TRUE(pieces[0].column("i").int_bounds().has_value());
  EXPECT_THAT([&] { t.Split(part, 2); }, ThrowsMessage<Error>(HasSubstr("part 2 of 2")));
  EXPECT_THAT([&] { t.Split(std::vector<uint32_t>(3, 0), 2); }, ThrowsMessage<Error>(HasSubstr("3 part numbers for 1000 rows")));
}

TEST(Table, PrintsLikePandas) {
  Table t({{"a", Column::FromVector<int64_t>({1, 20})}, {"name", Column::FromStrings({"x", std::nullopt})}});
  EXPECT_EQ(t.ToString(), "    a  name\n0   1     x\n1  20  <NA>\n");
  std::vector<int64_t> many(100);
  for (int i = 0; i < 100; ++i) many[static_cast<size_t>(i)] = i;
  std::string s = Table({{"v", Column::FromVector<int64_t>(many)}}).ToString(4);
  EXPECT_THAT(s, HasSubstr("..."));
  EXPECT_THAT(s, HasSubstr("[100 rows x 1 columns]"));
  EXPECT_THAT(s, HasSubstr("99"));
}

TEST(Table, SerializesThroughFrames) {
  Table t = Sample();
  Serialized s = Serialize(Value::From(t));
  Table back = Deserialize(s).get<Table>();
  EXPECT_EQ(back, t);
  std::string packed = Pack(s);
  for (size_t cut : {packed.size() / 2, packed.size() - 3}) {
    EXPECT_THROW(Deserialize(Unpack(std::string_view(packed).substr(0, cut), "cut")), SerializationError);
  }
}

// Lent parts (as a cluster lends a dataframe's partitions to compute()):
// counts what the concatenation brings here whole and what it copies in
// place.
class CountingLent final : public LentValue {
 public:
  explicit CountingLent(const Serialized& s) : CountingLent(LendFrames(s)) {}
  Buffer Frame(size_t i) const override {
    ++brought_.at(i);
    return inner_->Frame(i);
  }
  // Frames brought here whole, and bytes copied in place.
  const std::vector<int>& brought() const { return brought_; }
  uint64_t copied() const { return copied_; }

 private:
  explicit CountingLent(LentValuePtr inner)
      : LentValue(inner->type(), inner->header(), inner->frame_sizes()),
        inner_(std::move(inner)),
        brought_(frame_sizes().size(), 0) {}
  void DoCopy(std::span<const Copy> copies) const override {
    inner_->CopyOut(copies);
    for (const Copy& c : copies) copied_ += c.size;
  }
  LentValuePtr inner_;
  mutable std::vector<int> brought_;
  mutable std::atomic<uint64_t> copied_{0};
};

std::vector<LentValuePtr> Lend(const std::vector<Table>& parts) {
  std::vector<LentValuePtr> out;
  for (const Table& t : parts) out.push_back(std::make_shared<CountingLent>(Serialize(Value::From(t))));
  return out;
}

TEST(ConcatLent, GivesWhatConcatGivesForEveryType) {
  const Table t = Sample();
  // Every type with nulls (brought here and concatenated), an empty part, a slice.
  std::vector<Table> parts = {t, t.Slice(0, 0), t.Slice(1, 2), t};
  EXPECT_EQ(dataframe::internal::ConcatLent(Lend(parts)), Table::Concat(parts));
  EXPECT_EQ(dataframe::internal::ConcatLent(Lend({t})), t);
  const std::vector<Table> empties = {t.Slice(0, 0), t.Slice(2, 0)};
  EXPECT_EQ(dataframe::internal::ConcatLent(Lend(empties)), Table::Concat(empties));
  EXPECT_EQ(dataframe::internal::ConcatLent({}), Table());
  // Categories over different dictionaries: one dictionary, codes remapped.
  auto cat = [](std::vector<std::optional<std::string>> labels) {
    return Table({{"k", Column::FromStrings(labels).WithCategories(
                            std::make_shared<const Column>(Column::FromStrings({labels.rbegin(), labels.rend()})))},
                  {"v", Column::FromVector<int64_t>(std::vector<int64_t>(labels.size(), 4))}});
  };
  parts = {cat({"a", "b", "c"}), cat({"c", "d"}), cat({"e", "a", "b"})};
  const Table joined = dataframe::internal::ConcatLent(Lend(parts));
  EXPECT_EQ(joined, Table::Concat(parts));
  EXPECT_EQ(joined.column("k").StringAt(5), "e");
}

TEST(ConcatLent, CopiesColumnsOfFixedWidthWithoutNullsStraightToTheirPlace) {
  auto dict = std::make_shared<const Column>(Column::FromStrings({"x", "y", "z"}));
  std::vector<Table> parts;
  const int64_t rows = 1'500'000;  // 84 MB in all: on several threads
  for (int p = 0; p < 3; ++p) {
    std::vector<int64_t> a(rows);
    std::vector<double> b(rows);
    std::vector<int32_t> codes(rows);
    for (int64_t i = 0; i < rows; ++i) {
      a[static_cast<size_t>(i)] = p * rows + i;
      b[static_cast<size_t>(i)] = static_cast<double>(i) / 8;
      codes[static_cast<size_t>(i)] = static_cast<int32_t>((i + p) % 3);
    }
    Column k = Column::Make(TypeId::kCategory, rows, {}, Column::FromVector(codes).values(), {}, dict, true);
    parts.push_back(Table({{"a", Column::FromVector(a)},
                           {"b", Column::FromVector(b)},
                           {"k", k},
                           {"s", Column::FromStrings(std::vector<std::optional<std::string>>(static_cast<size_t>(rows), "s" + std::to_string(p)))}}));
  }
  std::vector<LentValuePtr> lent = Lend(parts);
  const Table all = dataframe::internal::ConcatLent(lent);
  EXPECT_EQ(all, Table::Concat(parts));
  EXPECT_TRUE(all.column("k").categories_known());
  uint64_t copied = 0;
  for (const LentValuePtr& l : lent) {
    const auto& c = static_cast<const CountingLent&>(*l);
    copied += c.copied();
    // Frames: a, b, k's codes, k's labels and offsets, s's bytes and offsets.
    EXPECT_EQ(c.brought(), (std::vector<int>{0, 0, 0, 1, 1, 1, 1}));
  }
  EXPECT_EQ(copied, static_cast<uint64_t>(3 * rows) * (8 + 8 + 4));
}

TEST(ConcatLent, PartsThatAreNotTablesOrDisagreeOrLieAreErrors) {
  const Table t = Sample();
  try {
    dataframe::internal::ConcatLent({LendHere(Value::From(t)), LendHere(Value::From(int64_t{5}))});
    ADD_FAILURE() << "an int64 concatenated as a table";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("part 1 is a int64"));
  }
  try {
    dataframe::internal::ConcatLent(Lend({t, t.Select({"i64", "i32"})}));
    ADD_FAILURE() << "parts of two schemas";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("part 1 has schema"));
  }
  // A part whose int64 column's values frame is shorter than its rows, and
  // one whose category codes point past its dictionary.
  const Table ints({{"n", Column::FromVector<int64_t>({1, 2, 3})}});
  Serialized short_values = Serialize(Value::From(ints));
  short_values.frames[0] = short_values.frames[0].Slice(0, 16);
  EXPECT_THROW(dataframe::internal::ConcatLent(
                   {LendHere(Value::From(ints)), std::make_shared<CountingLent>(short_values)}),
               SerializationError);
  // Row counts that would wrap the sizes computed from them (found by
  // table_lent_fuzzer): the header of {n: int64} says 2^62 rows.
  Serialized huge = Serialize(Value::From(ints));
  const int64_t lie = int64_t{1} << 62;
  std::memcpy(huge.header.data(), &lie, 8);
  std::memcpy(huge.header.data() + 26, &lie, 8);  // rows, count, "n", type, then the column's length
  EXPECT_THAT([&] { Deserialize(huge); }, ::testing::ThrowsMessage<SerializationError>(HasSubstr("implausible row count")));
  const int64_t three = 3;
  std::memcpy(huge.header.data(), &three, 8);  // the table's count honest, the column's a lie
  EXPECT_THAT([&] { dataframe::internal::ConcatLent({LendFrames(huge), LendFrames(huge)}); },
              ::testing::ThrowsMessage<SerializationError>(HasSubstr("a column of 4611686018427387904 rows")));
  auto dict = std::make_shared<const Column>(Column::FromStrings({"p", "q"}));
  const Table cats({{"k", Column::Make(TypeId::kCategory, 2, {}, Column::FromVector<int32_t>({0, 1}).values(), {}, dict)}});
  Serialized bad_codes = Serialize(Value::From(cats));
  bad_codes.frames[0] = Column::FromVector<int32_t>({1, 7}).values();
  try {
    dataframe::internal::ConcatLent({LendHere(Value::From(cats)), std::make_shared<CountingLent>(bad_codes)});
    ADD_FAILURE() << "codes past the dictionary";
  } catch (const SerializationError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'k'"));
  }
}

TEST(ArrowC, ExportsZeroCopyAndImportsBack) {
  Table t = Sample();
  ArrowSchema schema;
  ArrowArray array;
  ExportTable(t, &schema, &array);
  EXPECT_STREQ(schema.format, "+s");
  ASSERT_EQ(schema.n_children, 9);
  EXPECT_STREQ(schema.children[5]->format, "u");
  EXPECT_STREQ(schema.children[6]->format, "tsn:");
  EXPECT_STREQ(schema.children[8]->dictionary->format, "u");
  // Zero copy: the exported values are the column's own bytes.
  EXPECT_EQ(array.children[0]->buffers[1], t.column("i64").values().data());
  EXPECT_EQ(array.children[0]->null_count, 1);
  Table back = ImportTable(&schema, &array);
  EXPECT_EQ(schema.release, nullptr);
  EXPECT_EQ(array.release, nullptr);
  EXPECT_EQ(back, t);
  EXPECT_EQ(back.column("s").values().data(), t.column("s").values().data());
}

TEST(ArrowC, ImportsOffsetsAndOtherTimestampUnits) {
  Column c = Column::FromVector<int64_t>({10, 20, 30, 40}, {true, false, true, true});
  ArrowSchema s;
  ArrowArray a;
  ExportColumn(c, "x", &s, &a);
  a.offset = 1;
  a.length = 3;
  const std::string us = "tsu:";
  s.format = us.c_str();
  Column back = ImportColumn(&s, &a);
  EXPECT_EQ(back.type(), TypeId::kTimestamp);
  EXPECT_TRUE(back.IsNull(0));
  EXPECT_EQ(back.data<int64_t>()[1], 30000);
}

TEST(ArrowC, RejectsWhatItCannotRead) {
  Column c = Column::FromVector<int64_t>({1});
  ArrowSchema s;
  ArrowArray a;
  ExportColumn(c, "weird", &s, &a);
  const std::string f = "+l";
  s.format = f.c_str();
  EXPECT_THAT([&] { ImportColumn(&s, &a); }, ::testing::ThrowsMessage<IOError>(HasSubstr("column 'weird'")));
  EXPECT_EQ(a.release, nullptr);  // released even on error
  ExportColumn(c, "short", &s, &a);
  a.n_buffers = 1;
  EXPECT_THAT([&] { ImportColumn(&s, &a); }, ::testing::ThrowsMessage<IOError>(HasSubstr("needs 2 buffers")));
}

TEST(Dates, ParseAndFormatRoundTrip) {
  int32_t d;
  EXPECT_TRUE(dates::ParseDate("2000-02-29", &d));
  EXPECT_EQ(dates::FormatDate(d), "2000-02-29");
  EXPECT_FALSE(dates::ParseDate("1900-02-29", &d));
  EXPECT_FALSE(dates::ParseDate("2021-13-01", &d));
  EXPECT_TRUE(dates::ParseDate("1969-12-31", &d));
  EXPECT_EQ(d, -1);
  int64_t ns;
  EXPECT_TRUE(dates::ParseTimestamp("1969-12-31T23:59:59.999999999Z", &ns));
  EXPECT_EQ(ns, -1);
  EXPECT_EQ(dates::FormatTimestamp(-1), "1969-12-31 23:59:59.999999999");
  EXPECT_FALSE(dates::ParseTimestamp("2020-01-01 25:00", &ns));
  EXPECT_FALSE(dates::ParseTimestamp("2020-01-01 10:00:00.", &ns));
}

}  // namespace
}  // namespace skein
