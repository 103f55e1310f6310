// AddTreeReduction: shape, keys, and bad arguments.
#include "skein/core/reduction.h"

#include <gtest/gtest.h>

#include "skein/local/scheduler.h"

namespace skein {
namespace {

const OpPtr kSum = RegisterOp("test.reduction.sum", [](std::vector<int64_t> xs) {
  int64_t s = 0;
  for (int64_t x : xs) s += x;
  return s;
});

std::vector<Key> Leaves(Graph* g, int64_t n) {
  std::vector<Key> keys;
  for (int64_t i = 0; i < n; ++i) {
    keys.push_back(Key("x", {i}));
    g->Add(keys.back(), Task::FromValue(i));
  }
  return keys;
}

TEST(TreeReduction, CombinesSplitEveryAtATimeUntilOneTaskRemains) {
  Graph g;
  Key root = AddTreeReduction(&g, Leaves(&g, 100), kSum, "sum", 8);
  // 100 -> 13 -> 2 -> 1 combining tasks.
  EXPECT_EQ(g.size(), 100u + 13 + 2 + 1);
  EXPECT_EQ(root, Key("sum-2", {0}));
  EXPECT_EQ(g.at(Key("sum-0", {12})).Dependencies().size(), 4u);  // the ragged last group
  EXPECT_EQ(Get(g, {root})[0], Value(4950));
}

TEST(TreeReduction, SingleInputStillCombinesOnce) {
  Graph g;
  Key root = AddTreeReduction(&g, Leaves(&g, 1), kSum, "sum");
  EXPECT_EQ(root, Key("sum-0", {0}));
  EXPECT_EQ(Get(g, {root})[0], Value(0));
}

TEST(TreeReduction, RejectsNoInputsAndTooSmallSplitEvery) {
  Graph g;
  EXPECT_THROW(AddTreeReduction(&g, {}, kSum, "sum"), Error);
  EXPECT_THROW(AddTreeReduction(&g, Leaves(&g, 3), kSum, "sum", 1), Error);
}

}  // namespace
}  // namespace skein
