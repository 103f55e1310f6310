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
