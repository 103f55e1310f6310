// JSON lines: inference, missing keys, nested values as JSON text, forced
// types, usecols, and errors naming the file and line.
#include "skein/io/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "temp_dir_test_util.h"

namespace skein {
namespace {

using ::testing::HasSubstr;
using ::testing::ThrowsMessage;

class Json : public io::testing::TempDirTest<> {};

TEST_F(Json, InfersTypesNullsAndNestedValues) {
  const std::string p = Write("a.jsonl",
                              "{\"id\": 1, \"x\": 0.5, \"ok\": true, \"name\": \"al\\\"pha\", \"tags\": [1, 2]}\n"
                              "\n"
                              "{\"id\": 2, \"x\": 3, \"name\": null, \"tags\": {\"k\": \"v\"}}\n"
                              "{\"x\": null, \"ok\": false, \"id\": 3, \"extra\": \"late\"}\n");
  Table t = ParseJsonFile(p);
  EXPECT_EQ(t.schema(), (Schema{{"id", TypeId::kInt64}, {"x", TypeId::kFloat64}, {"ok", TypeId::kBool},
                                {"name", TypeId::kString}, {"tags", TypeId::kString}, {"extra", TypeId::kString}}));
  ASSERT_EQ(t.num_rows(), 3);
  EXPECT_EQ(t.column("x").data<double>()[1], 3.0);
  EXPECT_TRUE(t.column("x").IsNull(2));
  EXPECT_TRUE(t.column("ok").IsNull(1));  // missing key
  EXPECT_EQ(t.column("name").StringAt(0), "al\"pha");
  EXPECT_TRUE(t.column("name").IsNull(1));
  EXPECT_EQ(t.column("tags").StringAt(0), "[1,2]");
  EXPECT_EQ(t.column("tags").StringAt(1), "{\"k\":\"v\"}");
  EXPECT_EQ(t.column("extra").StringAt(2), "late");
}

TEST_F(Json, ForcedTypesUsecolsAndDates) {
  const std::string p = Write("b.jsonl", "{\"d\": \"2024-02-29\", \"n\": 5, \"s\": \"a\"}\n{\"d\": \"2023-01-01\", \"n\": 6, \"s\": \"b\"}\n");
  JsonOptions opt;
  opt.dtype = {{"d", TypeId::kDate}, {"n", TypeId::kFloat64}, {"s", TypeId::kCategory}};
  opt.usecols = {"d", "s"};
  Table t = ParseJsonFile(p, opt);
  EXPECT_EQ(t.names(), (std::vector<std::string>{"d", "s"}));
  EXPECT_EQ(t.column("d").Format(0), "2024-02-29");
  EXPECT_EQ(t.column("s").type(), TypeId::kCategory);
}

TEST_F(Json, BadInputNamesFileAndLine) {
  EXPECT_THAT([&] { ParseJsonFile(Write("c.jsonl", "{\"a\": 1}\n{\"a\": 2,}\n")); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("c.jsonl"), HasSubstr("line 2"), HasSubstr("invalid JSON"))));
  EXPECT_THAT([&] { ParseJsonFile(Write("d.jsonl", "{\"a\": 1}\n[1]\n")); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("line 2"), HasSubstr("not a JSON object"))));
  JsonOptions few;
  few.sample_rows = 1;
  EXPECT_THAT([&] { ParseJsonFile(Write("e.jsonl", "{\"a\": 1}\n{\"a\": \"x\"}\n"), few); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("line 2"), HasSubstr("column 'a'"), HasSubstr("not a valid int64"))));
  EXPECT_THAT([&] { ParseJsonFile(Write("f.jsonl", "{\"a\": 1}\n{\"b\": 2}\n"), few); },
              ThrowsMessage<IOError>(AllOf(HasSubstr("line 2"), HasSubstr("key 'b'"))));
  EXPECT_THAT([&] { ParseJsonFile(Write("g.jsonl", "{\"a\": 1, \"a\": 2}\n")); }, ThrowsMessage<IOError>(HasSubstr("twice")));
  EXPECT_THAT([&] { ParseJsonFile(Path("missing.jsonl")); }, ThrowsMessage<IOError>(HasSubstr("missing.jsonl")));
}

}  // namespace
}  // namespace skein
