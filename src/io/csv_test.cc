// CSV: inference, quoting, nulls, forced types, usecols, dates, block
// planning with quoted newlines, the writer's round trip, and bad input.
#include "skein/io/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <limits>

#include "file_internal.h"
#include "temp_dir_test_util.h"

namespace skein {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class Csv : public io::testing::TempDirTest<> {};

TEST_F(Csv, InfersTypesAndReadsNulls) {
  const std::string p = Write("a.csv",
                              "id,x,flag,name,when\n"
                              "1,0.5,True,alpha,2024-01-02\n"
                              "2,,false,\"be,ta\",2024-01-03 04:05:06\n"
                              "-3,1e3,TRUE,NA,\n");
  CsvOptions opt;
  opt.parse_dates = {"when"};
  Table t = ParseCsvFile(p, opt);
  ASSERT_EQ(t.num_rows(), 3);
  EXPECT_EQ(t.schema(), (Schema{{"id", TypeId::kInt64},
                                {"x", TypeId::kFloat64},
                                {"flag", TypeId::kBool},
                                {"name", TypeId::kString},
                                {"when", TypeId::kTimestamp}}));
  EXPECT_EQ(t.column("id").data<int64_t>()[2], -3);
  EXPECT_TRUE(t.column("x").IsNull(1));
  EXPECT_EQ(t.column("x").data<double>()[2], 1000.0);
  EXPECT_TRUE(t.column("flag").BoolAt(2));
  EXPECT_EQ(t.column("name").StringAt(1), "be,ta");
  EXPECT_TRUE(t.column("name").IsNull(2));
  EXPECT_EQ(t.column("when").Format(1), "2024-01-03 04:05:06");
  EXPECT_EQ(t.column("when").Format(0), "2024-01-02 00:00:00");
  EXPECT_TRUE(t.column("when").IsNull(2));
}

TEST_F(Csv, QuotesWithEmbeddedNewlinesDelimitersAndDoubledQuotes) {
  const std::string p = Write("q.csv", "k;text\r\n1;\"line one\nline \"\"two\"\"\"\r\n\r\n2;plain\r\n");
  CsvOptions opt;
  opt.delimiter = ';';
  Table t = ParseCsvFile(p, opt);
  ASSERT_EQ(t.num_rows(), 2);  // the blank line is skipped
  EXPECT_EQ(t.column("text").StringAt(0), "line one\nline \"two\"");
  EXPECT_EQ(t.column("text").StringAt(1), "plain");
}

TEST_F(Csv, ForcedTypesUsecolsNamesAndCategory) {
  const std::string p = Write("f.csv", "a,b,c\n1,x,7\n2,y,8\n3,x,9\n");
  CsvOptions opt;
  opt.dtype = {{"a", TypeId::kFloat32}, {"b", TypeId::kCategory}, {"c", TypeId::kInt32}};
  opt.usecols = {"c", "b"};
  Table t = ParseCsvFile(p, opt);
  EXPECT_EQ(t.names(), (std::vector<std::string>{"b", "c"}));  // file order, as pandas
  EXPECT_EQ(t.column("b").type(), TypeId::kCategory);
  EXPECT_EQ(t.column("b").dictionary()->length(), 2);
  EXPECT_EQ(t.column("b").StringAt(2), "x");
  EXPECT_EQ(t.column("c").data<int32_t>()[1], 8);
  CsvOptions no_header;
  no_header.header = false;
  Table raw = ParseCsvFile(p, no_header);
  EXPECT_EQ(raw.names(), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(raw.column("0").type(), TypeId::kString);  // "a" is in the first column
}

TEST_F(Csv, BadInputNamesFileLineAndColumn) {
  const std::string ragged = Write("r.csv", "a,b\n1,2\n3\n");
  EXPECT_THAT([&] { ParseCsvFile(ragged); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("r.csv"), HasSubstr("line 3"), HasSubstr("expected 2 fields, found 1"))));
  const std::string typed = Write("t.csv", "a,b\n1,2\n3,x\n");
  CsvOptions opt;
  opt.dtype = {{"b", TypeId::kInt64}};
  EXPECT_THAT([&] { ParseCsvFile(typed, opt); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("line 3"), HasSubstr("column 'b'"), HasSubstr("'x' is not a valid int64"))));
  const std::string open_quote = Write("o.csv", "a\n\"never closed\n");
  EXPECT_THAT([&] { ParseCsvFile(open_quote); }, ThrowsMessage<IOError>(HasSubstr("never closed")));
  EXPECT_THAT([&] { ParseCsvFile(Path("missing.csv")); }, ThrowsMessage<IOError>(HasSubstr("missing.csv")));
  const std::string dup = Write("d.csv", "a,a\n1,2\n");
  EXPECT_THAT([&] { ParseCsvFile(dup); }, ThrowsMessage<IOError>(HasSubstr("appears twice")));
  CsvOptions unknown;
  unknown.usecols = {"zz"};
  EXPECT_THAT([&] { ParseCsvFile(typed, unknown); }, ThrowsMessage<IOError>(HasSubstr("'zz'")));
  const std::string overflow = Write("i.csv", "a\n99999999999999999999\n");
  CsvOptions as_int;
  as_int.dtype = {{"a", TypeId::kInt64}};
  EXPECT_THROW(ParseCsvFile(overflow, as_int), IOError);
  EXPECT_EQ(ParseCsvFile(overflow).column("a").type(), TypeId::kFloat64);  // inferred: too big for int64
}

TEST_F(Csv, BlocksSplitAtRowBoundariesOutsideQuotes) {
  std::string text = "id,s\n";
  for (int i = 0; i < 500; ++i) text += std::to_string(i) + (i % 7 ? ",plain\n" : ",\"multi\nline,\"\"q\"\"\"\n");
  const std::string p = Write("b.csv", text);
  CsvOptions opt;
  opt.blocksize = 300;
  std::vector<CsvBlock> blocks = PlanCsvBlocks(p, opt);
  ASSERT_GT(blocks.size(), 5u);
  CsvSchema schema = InferCsvSchema(text, opt, p);
  std::vector<Table> parts;
  for (const CsvBlock& b : blocks) {
    parts.push_back(ParseCsv(std::string_view(text).substr(static_cast<size_t>(b.begin), static_cast<size_t>(b.end - b.begin)),
                             schema, opt, p, b.first_line));
  }
  Table all = Table::Concat(parts);
  EXPECT_EQ(all, ParseCsvFile(p, opt));
  ASSERT_EQ(all.num_rows(), 500);
  for (int64_t i = 0; i < 500; ++i) ASSERT_EQ(all.column("id").data<int64_t>()[i], i);
  // Only the first block's line is counted when planning; LineAt finds any
  // block's, and an error in a later block parsed through ParseBlock names
  // the file's line, not the block's.
  EXPECT_EQ(blocks.front().first_line, 2);
  const CsvBlock& last = blocks.back();
  EXPECT_EQ(last.first_line, 0);
  EXPECT_EQ(LineAt(p, last.begin), 1 + std::count(text.begin(), text.begin() + last.begin, '\n'));
  CsvSchema ints = schema;
  ints.fields[1].type = TypeId::kInt64;  // "plain" does not parse as an integer
  const std::string_view block =
      std::string_view(text).substr(static_cast<size_t>(last.begin), static_cast<size_t>(last.end - last.begin));
  const int64_t want = LineAt(p, last.begin);  // the block's first row fails
  EXPECT_THAT([&] { ParseBlock(last, [&](int64_t first_line) { return ParseCsv(block, ints, opt, p, first_line); }); },
              ThrowsMessage<IOError>(AllOf(HasSubstr(p), HasSubstr(", line " + std::to_string(want) + ":"))));
}

// A block without quotes or carriage returns takes the reader's fast path
// (fields handed to their columns where they lie); the same rows with
// "\r\n" endings, or with a quoted field, take the general tokenizer. Both
// must give the same table, for every type, null markers, blank lines,
// integers at the edges of int64 and a last line without a newline.
TEST_F(Csv, UnquotedBlocksParseAsTheGeneralTokenizerDoes) {
  const std::vector<std::string> rows = {
      "1,0.5,True,alpha,k1,2024-01-02,7",
      "+5,,false,,k2,,-7",
      "-0,1e3,TRUE,NA,NA,2024-02-29,123456789012345678",
      "",
      "9223372036854775807,-2.25,False,a b c,k1,1999-12-31,-1234567890123456789",
      "-9223372036854775808,nan,true,x;y,k3,2000-01-01,0",
      "17,1.#IND,NA,null,,2001-01-01,NA",
  };
  std::string text;
  for (const auto& r : rows) text += r + "\n";
  text.pop_back();  // the last line has no newline
  CsvOptions opt;
  opt.dtype = {{"k", TypeId::kCategory}, {"small", TypeId::kInt64}};
  opt.parse_dates = {"d"};
  const std::string header = "i,x,flag,s,k,d,small\n";
  const std::string fast = Write("fast.csv", header + text);
  std::string crlf_text = header + text;
  for (size_t at = 0; (at = crlf_text.find('\n', at)) != std::string::npos; at += 2) crlf_text.insert(at, "\r");
  const std::string crlf = Write("crlf.csv", crlf_text);
  std::string quoted_text = header + text;
  quoted_text.replace(quoted_text.find("alpha"), 5, "\"alpha\"");
  const std::string quoted = Write("quoted.csv", quoted_text);

  const Table t = ParseCsvFile(fast, opt);
  ASSERT_EQ(t.num_rows(), 6);  // the blank line is skipped
  EXPECT_EQ(t.column("i").type(), TypeId::kInt64);
  EXPECT_EQ(t.column("i").data<int64_t>()[1], 5);
  EXPECT_EQ(t.column("i").data<int64_t>()[3], std::numeric_limits<int64_t>::max());
  EXPECT_EQ(t.column("i").data<int64_t>()[4], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(t.column("small").data<int64_t>()[2], 123456789012345678);
  EXPECT_EQ(t.column("small").data<int64_t>()[3], -1234567890123456789);
  EXPECT_TRUE(t.column("small").IsNull(5));
  EXPECT_TRUE(t.column("x").IsNull(1));
  EXPECT_TRUE(t.column("x").IsNull(5));  // "1.#IND" is a null marker
  EXPECT_TRUE(t.column("s").IsNull(1));
  EXPECT_EQ(t.column("s").StringAt(3), "a b c");
  EXPECT_EQ(t.column("k").StringAt(3), "k1");
  EXPECT_TRUE(t.column("k").IsNull(2));
  EXPECT_EQ(t, ParseCsvFile(crlf, opt));
  EXPECT_EQ(t, ParseCsvFile(quoted, opt));
  CsvOptions some = opt;
  some.usecols = {"small", "s"};
  EXPECT_EQ(ParseCsvFile(fast, some), ParseCsvFile(crlf, some));
  EXPECT_EQ(ParseCsvFile(fast, some).names(), (std::vector<std::string>{"s", "small"}));
}

// Rows the fast path cannot take (too many or too few fields, a value that
// does not convert) are named as the general tokenizer names them: the
// file's line, counting blank lines, and the column.
TEST_F(Csv, UnquotedBadRowsNameTheirLine) {
  const std::string wide = Write("wide.csv", "a,b\n1,2\n\n3,4,5\n");
  EXPECT_THAT([&] { ParseCsvFile(wide); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("wide.csv"), HasSubstr("line 4"), HasSubstr("found 3"))));
  const std::string narrow = Write("narrow.csv", "a,b,c\n1,2,3\n4,5");
  EXPECT_THAT([&] { ParseCsvFile(narrow); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("line 3"), HasSubstr("expected 3 fields, found 2"))));
  std::string many = "k,v\n";
  for (int i = 0; i < 3000; ++i) many += "id" + std::to_string(i % 50) + "," + std::to_string(i) + "\n";
  many += "id1,12x\n";
  CsvOptions opt;
  opt.dtype = {{"k", TypeId::kCategory}, {"v", TypeId::kInt64}};
  const std::string late = Write("late.csv", many);
  EXPECT_THAT([&] { ParseCsvFile(late, opt); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("line 3002"), HasSubstr("column 'v'"), HasSubstr("'12x'"))));
  const std::string sign_only = Write("sign.csv", "v\n1\n-\n");
  CsvOptions as_int;
  as_int.dtype = {{"v", TypeId::kInt64}};
  EXPECT_THAT([&] { ParseCsvFile(sign_only, as_int); }, ThrowsMessage<IOError>(AllOf(HasSubstr("line 3"), HasSubstr("'-'"))));
}

// Blocks are mapped from the file: any offset reads the right bytes (the
// mapping starts on a page boundary before it), and a range past the end
// of a file that shrank is an IOError naming it, not a fault.
TEST_F(Csv, MappedBlocksReadTheirBytesOrNameAShortFile) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += std::to_string(i) + ",";
  const std::string p = Write("m.csv", text);
  const io::internal::File f = io::internal::File::OpenRead(p);
  for (int64_t offset : {0, 1, 4095, 4096, 4097, 12345}) {
    const Buffer b = f.MapAt(offset, 100);
    EXPECT_EQ(b.view(), std::string_view(text).substr(static_cast<size_t>(offset), 100)) << offset;
  }
  EXPECT_TRUE(f.MapAt(7, 0).empty());
  EXPECT_THAT([&] { f.MapAt(static_cast<int64_t>(text.size()) - 10, 20); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("m.csv"), HasSubstr("truncated"))));
}

// Found by csv_fuzzer: a quote inside an unquoted field is a plain
// character to the parser, so it must not flip the planner's quote state.
TEST_F(Csv, BlockPlanningFollowsTheParsersQuotingRules) {
  std::string text = "a,b\n";
  for (int i = 0; i < 50; ++i) text += "x\"" + std::to_string(i) + ",\"multi\nline\"\r\n";
  const std::string p = Write("mid.csv", text);
  CsvOptions opt;
  opt.blocksize = 16;
  CsvSchema schema = InferCsvSchema(text, opt, p);
  std::vector<Table> parts;
  for (const CsvBlock& b : PlanCsvBlocks(p, opt)) {
    parts.push_back(ParseCsv(std::string_view(text).substr(static_cast<size_t>(b.begin), static_cast<size_t>(b.end - b.begin)),
                             schema, opt, p, b.first_line));
  }
  Table whole = ParseCsvFile(p, opt);
  ASSERT_EQ(whole.num_rows(), 50);
  EXPECT_EQ(whole.column("a").StringAt(7), "x\"7");
  EXPECT_EQ(Table::Concat(parts), whole);
}

TEST_F(Csv, WritesAndReadsBack) {
  Table t({{"i", Column::FromVector<int64_t>({1, 2, 3}, {true, false, true})},
           {"f", Column::FromVector<double>({0.1, 1e-300, -2.5})},
           {"s", Column::FromStrings({"a,b", "say \"hi\"", std::nullopt})},
           {"b", Column::FromBools({true, false, std::nullopt})}});
  const std::string p = Path("out.csv");
  WriteCsv(p, t);
  Table back = ParseCsvFile(p);
  EXPECT_EQ(back, t);  // floats round-trip exactly (shortest repr)
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
}

}  // namespace
}  // namespace skein
