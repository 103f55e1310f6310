// Keys and tasks through bytes and back; malformed bytes are refused.
#include "skein/core/wire.h"

#include <gtest/gtest.h>

#include "skein/core/op.h"

namespace skein {
namespace {

SKEIN_REGISTER("test.wire.add", [](int64_t a, int64_t b) { return a + b; });

TEST(Wire, KeysRoundTrip) {
  for (const Key& k : {Key("total"), Key("x").At({0, 3}), Key("deep", {1, 2, 3, 4, 5}), Key("")}) {
    EXPECT_EQ(DecodeKey(EncodeKey(k), "key"), k) << k;
  }
}

TEST(Wire, TaskWithListsNestedTasksAndParamsRoundTrips) {
  Task inner = Task::Call("test.wire.add", {Arg::Ref("a"), Arg(2)});
  Task t = Task::Call("test.wire.add",
                      {Arg::Nested(inner, Key("inner")), Arg::List({Arg::Ref(Key("x").At({1})), Arg("s")})},
                      Value(ValueMap{{"axis", Value(1)}}));
  Task back = DecodeTask(EncodeTask(t, "t"), "task t");
  EXPECT_EQ(back.ToString(), t.ToString());
  EXPECT_EQ(back.Dependencies(), t.Dependencies());
  ASSERT_TRUE(back.op()->resolved());
  // And it runs: inner = a + 2 with a = 5.
  Task simple = DecodeTask(EncodeTask(inner, "inner"), "inner");
  std::vector<Value> refs{Value(5)};
  EXPECT_EQ(RunTask(simple, refs, Key("inner")).as<int64_t>(), 7);
}

TEST(Wire, LiteralAndAliasTasks) {
  EXPECT_EQ(DecodeTask(EncodeTask(Task::FromValue(Value(3.5)), "v"), "v").ToString(), "3.5");
  Task alias = DecodeTask(EncodeTask(Task::Alias("y"), "v"), "v");
  EXPECT_EQ(alias.Dependencies(), std::vector<Key>{Key("y")});
}

TEST(Wire, UnknownOperationDecodesUnresolvedAndFailsWhenRun) {
  Task t = Task::Call("test.wire.nobody_registered_this", {Arg(1)});
  Task back = DecodeTask(EncodeTask(t, "k"), "k");
  EXPECT_FALSE(back.op()->resolved());
  std::vector<Value> none;
  try {
    RunTask(back, none, Key("k"));
    FAIL();
  } catch (const OpError& e) {
    EXPECT_NE(std::string(e.what()).find("test.wire.nobody_registered_this"), std::string::npos) << e.what();
  }
}

TEST(Wire, LambdasCannotTravel) {
  Task t = Task::Call(LocalOp([](int64_t x) { return x; }), {Arg(1)});
  try {
    EncodeTask(t, "lam");
    FAIL();
  } catch (const OpError& e) {
    EXPECT_NE(std::string(e.what()).find("SKEIN_REGISTER"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lam"), std::string::npos);
  }
}

TEST(Wire, MalformedBytesAreSerializationErrors) {
  std::string good = EncodeTask(Task::Call("test.wire.add", {Arg(1), Arg(2)}), "t");
  for (size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_THROW(DecodeTask(std::string_view(good).substr(0, cut), "task t"), SerializationError) << cut;
  }
  EXPECT_THROW(DecodeTask(good + "x", "task t"), SerializationError);
  std::string bad_tag = good;
  bad_tag[0] = 9;
  EXPECT_THROW(DecodeTask(bad_tag, "task t"), SerializationError);
  // Nesting deeper than the cap is refused, not recursed into.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += std::string("\x02\x01\x00\x00\x00\x00\x00\x00\x00", 9);
  std::string task = std::string("\x00", 1) + std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8) + deep;
  EXPECT_THROW(DecodeTask(task, "deep"), SerializationError);
  // A key claiming a huge rank.
  std::string key = EncodeKey(Key("x").At({1}));
  key[key.size() - 12] = '\x7f';
  EXPECT_THROW(DecodeKey(key, "key"), SerializationError);
}

}  // namespace
}  // namespace skein
