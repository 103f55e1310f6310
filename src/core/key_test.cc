// Keys: Dask-style printing, equality, hashing, ordering, copies.
#include "skein/core/key.h"

#include <gtest/gtest.h>

#include <unordered_set>

namespace skein {
namespace {

TEST(Key, StringAndTupleKeysPrintLikeDask) {
  EXPECT_EQ(Key("total").ToString(), "total");
  EXPECT_EQ(Key("x", {0, 3}).ToString(), "('x', 0, 3)");
  EXPECT_EQ(Key("x").At({}).ToString(), "('x',)");
}

TEST(Key, StringKeyDiffersFromTupleWithSameName) {
  EXPECT_NE(Key("x"), Key("x").At({}));
  EXPECT_NE(Key("x", {1}), Key("x", {1, 0}));
  EXPECT_EQ(Key("x", {1, 2}), Key("x").At({1, 2}));
}

TEST(Key, HashesAgreeWithEquality) {
  std::unordered_set<Key> set;
  Key base("chunk");
  for (int64_t i = 0; i < 1000; ++i) set.insert(base.At({i, i % 7}));
  EXPECT_EQ(set.size(), 1000u);
  EXPECT_TRUE(set.count(Key("chunk", {5, 5})));
  EXPECT_FALSE(set.count(Key("chunk", {5, 4})));
}

TEST(Key, ManyIndicesLiveOnTheHeapAndCopyDeeply) {
  Key k("arr", {1, 2, 3, 4, 5});
  Key copy = k;
  Key moved = std::move(copy);
  EXPECT_EQ(moved, k);
  EXPECT_EQ(moved.ToString(), "('arr', 1, 2, 3, 4, 5)");
  copy = moved;  // reuse of a moved-from key
  EXPECT_EQ(copy.rank(), 5u);
}

TEST(Key, OrdersByNameThenIndices) {
  EXPECT_LT(Key("a"), Key("b"));
  EXPECT_LT(Key("x"), Key("x", {0}));
  EXPECT_LT(Key("x", {0, 9}), Key("x", {1, 0}));
  EXPECT_FALSE(Key("x", {1}) < Key("x", {1}));
}

}  // namespace
}  // namespace skein
