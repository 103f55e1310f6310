// Cull, fuse and inline keep results identical and requested keys intact.
#include "skein/core/optimize.h"

#include <gtest/gtest.h>

#include "skein/local/scheduler.h"

namespace skein {
namespace {

SKEIN_REGISTER("test.opt.inc", [](int64_t x) { return x + 1; });
SKEIN_REGISTER("test.opt.add", [](int64_t a, int64_t b) { return a + b; });
const OpPtr kGetItem = RegisterOp("test.opt.getitem", [](const ValueList& l, int64_t i) { return l.at(static_cast<size_t>(i)); },
                                  OpOptions{.cheap = true});

Graph Chain(int length) {
  Graph g;
  g.Add(Key("c", {0}), Task::FromValue(0));
  for (int i = 1; i < length; ++i) g.Add(Key("c", {i}), Task::Call("test.opt.inc", {Arg::Ref(Key("c", {i - 1}))}));
  return g;
}

TEST(Cull, KeepsOnlyWhatOutputsNeed) {
  Graph g = Chain(5);
  g.Add("unused", Task::Call("test.opt.inc", {Arg::Ref(Key("c", {4}))}));
  Graph c = Cull(g, {Key("c", {2})});
  EXPECT_EQ(c.size(), 3u);
  EXPECT_FALSE(c.Contains("unused"));
}

TEST(Fuse, CollapsesLinearChainsUnderTheLastKey) {
  Graph g = Chain(10);
  Graph f = Fuse(g, {Key("c", {9})});
  EXPECT_EQ(f.size(), 2u);  // the literal c0 is not an op, the 9 incs become one task
  EXPECT_TRUE(f.Contains(Key("c", {9})));
  EXPECT_EQ(Get(f, {Key("c", {9})})[0], Value(9));
  // Height limit: at most 4 tasks per fused chain.
  EXPECT_EQ(Fuse(g, {Key("c", {9})}, 4).size(), 1u + 3u);
}

TEST(Fuse, DoesNotFuseAcrossOutputsOrFanOut) {
  Graph g = Chain(4);
  g.Add("other", Task::Call("test.opt.inc", {Arg::Ref(Key("c", {2}))}));  // c2 has two users
  Graph f = Fuse(g, {Key("c", {3}), Key("other")});
  EXPECT_TRUE(f.Contains(Key("c", {2})));
  auto r = Get(f, {Key("c", {3}), Key("other")});
  EXPECT_EQ(r[0], Value(3));
  EXPECT_EQ(r[1], Value(3));
}

TEST(Inline, SubstitutesLiteralsAndCheapOps) {
  Graph g;
  g.Add("two", Task::FromValue(2));
  g.Add("list", Task::FromValue(ValueList{10, 20, 30}));
  g.Add("item", Task::Call(kGetItem, {Arg::Ref("list"), Arg(1)}));
  g.Add("out", Task::Call("test.opt.add", {Arg::Ref("item"), Arg::Ref("two")}));
  Graph in = Inline(g, {"out"});
  EXPECT_EQ(in.size(), 1u);
  EXPECT_EQ(Get(in, {Key("out")})[0], Value(22));
  EXPECT_EQ(Get(g, {Key("out")})[0], Value(22));
}

SKEIN_REGISTER("test.opt.size", [](const std::string& s, int64_t k) { return static_cast<int64_t>(s.size()) + k; });

TEST(Inline, LargeLiteralsUsedByManyTasksStayKeys) {
  const std::string big(100000, 'x');
  Graph g;
  g.Add("big", Task::FromValue(big));
  g.Add("small", Task::FromValue(std::string("abc")));
  for (int i = 0; i < 3; ++i) {
    g.Add(Key("use", {i}), Task::Call("test.opt.size", {Arg::Ref("big"), Arg(int64_t{i})}));
    g.Add(Key("tiny", {i}), Task::Call("test.opt.size", {Arg::Ref("small"), Arg(int64_t{i})}));
  }
  std::vector<Key> outs;
  for (int i = 0; i < 3; ++i) outs.insert(outs.end(), {Key("use", {i}), Key("tiny", {i})});
  Graph in = Inline(g, outs);
  EXPECT_TRUE(in.Contains("big"));     // 100 kB, three users: sent once, shared
  EXPECT_FALSE(in.Contains("small"));  // a few bytes: copied into each user
  auto r = Get(in, outs);
  EXPECT_EQ(r[4], Value(int64_t{100002}));
  EXPECT_EQ(r[5], Value(int64_t{5}));
  // One user: inlined whatever its size.
  Graph one;
  one.Add("big", Task::FromValue(big));
  one.Add("use", Task::Call("test.opt.size", {Arg::Ref("big"), Arg(int64_t{1})}));
  Graph in1 = Inline(one, {"use"});
  EXPECT_FALSE(in1.Contains("big"));
  EXPECT_EQ(Get(in1, {Key("use")})[0], Value(int64_t{100001}));
}

TEST(Optimize, MinGainSkipsRewritesThatRemoveTooLittle) {
  Graph g = Chain(3);
  for (int i = 0; i < 100; ++i) g.Add(Key("solo", {i}), Task::FromValue(i));
  std::vector<Key> outs = {Key("c", {2})};
  for (int i = 0; i < 100; ++i) outs.push_back(Key("solo", {i}));
  OptimizeOptions o;
  o.cull = false;
  o.inline_cheap = false;
  EXPECT_EQ(Optimize(g, outs, o).size(), 102u);  // c1 fuses into c2
  o.min_gain = 0.5;
  EXPECT_EQ(Optimize(g, outs, o).size(), 103u);  // 1 of 103 removed: not worth it
}

}  // namespace
}  // namespace skein
