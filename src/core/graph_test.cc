// Graphs: validation errors name the keys; index, ordering and DOT output.
#include "skein/core/graph.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "skein/core/order.h"

namespace skein {
namespace {

using ::testing::HasSubstr;

SKEIN_REGISTER("test.graph.inc", [](int64_t x) { return x + 1; });
SKEIN_REGISTER("test.graph.sum", [](std::vector<int64_t> xs) {
  int64_t s = 0;
  for (int64_t x : xs) s += x;
  return s;
});

Task Inc(const Key& k) { return Task::Call("test.graph.inc", {Arg::Ref(k)}); }

TEST(Graph, DuplicateKeyIsAnError) {
  Graph g;
  g.Add("x", Task::FromValue(1));
  try {
    g.Add("x", Task::FromValue(2));
    FAIL();
  } catch (const GraphError& e) {
    EXPECT_THAT(e.what(), HasSubstr("duplicate key x"));
  }
}

TEST(Graph, MissingDependencyNamesBothKeys) {
  Graph g;
  g.Add(Key("y", {1}), Inc(Key("x", {0})));
  try {
    g.Validate();
    FAIL();
  } catch (const GraphError& e) {
    EXPECT_THAT(e.what(), HasSubstr("task ('y', 1) depends on ('x', 0), which is not in the graph"));
  }
}

TEST(Graph, CycleNamesTheKeysInvolved) {
  Graph g;
  g.Add("a", Inc("c"));
  g.Add("b", Inc("a"));
  g.Add("c", Inc("b"));
  g.Add("ok", Task::FromValue(1));
  try {
    g.Validate({"a"});
    FAIL();
  } catch (const GraphError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cycle"));
    EXPECT_THAT(e.what(), HasSubstr("a -> c -> b -> a"));
  }
  EXPECT_NO_THROW(g.Validate({"ok"}));  // the cycle is not needed for "ok"
}

TEST(Graph, UnknownOutputAndUnregisteredOpAreNamed) {
  Graph g;
  g.Add("x", Task::Call("test.graph.not_registered", {Arg(1)}));
  EXPECT_THROW(g.Validate({"nope"}), KeyError);
  try {
    g.Validate({"x"});
    FAIL();
  } catch (const OpError& e) {
    EXPECT_THAT(e.what(), HasSubstr("task x uses operation 'test.graph.not_registered'"));
  }
}

TEST(GraphIndex, DeduplicatesDependenciesButKeepsReferences) {
  Graph g;
  g.Add("x", Task::FromValue(2));
  g.Add("s", Task::Call("test.graph.sum", {Arg::List({Arg::Ref("x"), Arg::Ref("x"), Arg(1)})}));
  GraphIndex ix = GraphIndex::Build(g);
  EXPECT_EQ(ix.DepsOf(1).size(), 1u);
  EXPECT_EQ(ix.RefsOf(1).size(), 2u);
  EXPECT_EQ(ix.UsersOf(0).size(), 1u);
}

TEST(Order, IsTopologicalAndFinishesSubtreesFirst) {
  // Two independent sums of 4 leaves each, then a total.
  Graph g;
  for (int s = 0; s < 2; ++s) {
    std::vector<Arg> refs;
    for (int i = 0; i < 4; ++i) {
      g.Add(Key("leaf", {s, i}), Task::FromValue(i));
      refs.push_back(Arg::Ref(Key("leaf", {s, i})));
    }
    g.Add(Key("part", {s}), Task::Call("test.graph.sum", {Arg::List(refs)}));
  }
  g.Add("total", Task::Call("test.graph.sum", {Arg::List({Arg::Ref(Key("part", {0})), Arg::Ref(Key("part", {1}))})}));
  GraphIndex ix = GraphIndex::Build(g);
  std::vector<uint32_t> outs = {g.IndexOf("total")};
  std::vector<uint32_t> order = Order(g, ix, outs);
  ASSERT_EQ(order.size(), g.size());
  std::vector<size_t> pos(g.size());
  for (size_t p = 0; p < order.size(); ++p) pos[order[p]] = p;
  for (uint32_t i = 0; i < g.size(); ++i) {
    for (uint32_t d : ix.DepsOf(i)) EXPECT_LT(pos[d], pos[i]);
  }
  // Depth first: part 0 is done before any leaf of part 1 starts.
  EXPECT_LT(pos[g.IndexOf(Key("part", {0}))], pos[g.IndexOf(Key("leaf", {1, 0}))]);
}

TEST(Graph, DotHasOneNodePerTaskAndOneEdgePerDependency) {
  Graph g;
  g.Add("x", Task::FromValue(1));
  g.Add("y", Inc("x"));
  std::string dot = g.ToDot({"y"});
  EXPECT_THAT(dot, HasSubstr("digraph"));
  EXPECT_THAT(dot, HasSubstr("n0 -> n1"));
  EXPECT_THAT(dot, HasSubstr("test.graph.inc"));
  EXPECT_EQ(std::count(dot.begin(), dot.end(), '>'), 1);
}

}  // namespace
}  // namespace skein
