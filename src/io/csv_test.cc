// CSV: inference, quoting, nulls, forced types, usecols, dates, block
// planning with quoted newlines, the writer's round trip, and bad input.
#include "skein/io/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

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
